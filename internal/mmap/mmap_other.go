//go:build !unix

package mmap

import (
	"errors"
	"os"
)

// Supported reports whether File can map files on this system.
const Supported = false

// File is not available here: it returns an error, and callers read with
// ReadAt instead.
func File(*os.File, int64) ([]byte, error) {
	return nil, errors.New("mmap: memory mapping is not supported on this system")
}

// Unmap does nothing here.
func Unmap([]byte) error { return nil }
