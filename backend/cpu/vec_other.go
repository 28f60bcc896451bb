//go:build !amd64 || purego

package cpu

// Without assembly the float32 elementwise kernels are the pure-Go twins
// of vec.go and vecmath.go; vecCandidates lists none.

func vecCandidates() []*vecKernels[float32] { return nil }
