//go:build !unix

package safetensors

import (
	"errors"
	"os"
)

// mmapFile is not available here: Open reads with ReadAt instead.
func mmapFile(*os.File, int64) ([]byte, error) {
	return nil, errors.New("safetensors: memory mapping is not supported on this system")
}

func munmap([]byte) error { return nil }

// syncDir does nothing: directories cannot be synced here (Windows), and
// a rename is as durable as the file system makes it.
func syncDir(string) error { return nil }
