//go:build !linux

package torchfile

// release does nothing where madvise is not used: mapped pages stay
// resident until the file is unmapped at the end of Load.
func release(mem []byte, off, n int64) {}
