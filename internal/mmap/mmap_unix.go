//go:build unix

package mmap

import (
	"errors"
	"os"
	"syscall"
)

// Supported reports whether File can map files on this system.
const Supported = true

// File maps the first size bytes of f read-only and shared. The mapping
// outlives f's closing; release it with Unmap.
func File(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, errors.New("mmap: cannot map a file of this size")
	}
	return syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
}

// Unmap releases a mapping made by File.
func Unmap(b []byte) error { return syscall.Munmap(b) }
