//go:build (amd64 || arm64) && !purego

package tensor

// getg returns the address of the calling goroutine's runtime descriptor
// (the g register on arm64, thread-local storage on amd64).
//
//go:noescape
func getg() uintptr

// goroutineKey identifies the calling goroutine among live ones: the
// address of its runtime descriptor, which stays put for the goroutine's
// whole life (descriptors are never moved or freed, only reused after
// the goroutine exits; gradmode.go explains why reuse is safe).
func goroutineKey() uintptr { return getg() }
