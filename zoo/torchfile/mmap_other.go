//go:build !unix

package torchfile

import (
	"errors"
	"os"
)

// mmapFile is not available here: files are read with ReadAt.
func mmapFile(*os.File, int64) ([]byte, error) { return nil, errors.New("torchfile: no mmap") }

func munmap([]byte) error { return nil }
