//go:build !amd64 || purego

package cpu

// Without assembly kernels every product takes the pure-Go path of
// gemm.go; gemmCandidates lists none.

func gemmCandidates32() []*microKernel[float32] { return nil }

func gemmCandidates64() []*microKernel[float64] { return nil }

// altKernel returns nil: there is no second tile without assembly.
func altKernel[T float](*microKernel[T]) *microKernel[T] { return nil }

// packTBRun returns nil: no assembly packers.
func packTBRun[T float](*microKernel[T]) (func(dst, src *T, ld, k int), int) { return nil, 0 }
