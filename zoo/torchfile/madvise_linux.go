package torchfile

import (
	"os"
	"syscall"
)

var pageSize = os.Getpagesize()

// release tells the kernel that the process is done with the mapped bytes
// b of a file: their pages leave the process's resident memory (the page
// cache keeps them, and reading them again faults them back in). Loading
// a model then holds the tensors and one storage's pages, not the tensors
// and the whole file.
func release(mem []byte, off, n int64) {
	start := off &^ int64(pageSize-1)
	if n <= 0 || start >= int64(len(mem)) {
		return
	}
	syscall.Madvise(mem[start:off+n], syscall.MADV_DONTNEED)
}
