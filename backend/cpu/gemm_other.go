//go:build !amd64 || purego

package cpu

// Without assembly kernels every product takes the pure-Go path of
// gemm.go; gemmCandidates lists none.

func gemmCandidates32() []*microKernel[float32] { return nil }

func gemmCandidates64() []*microKernel[float64] { return nil }
