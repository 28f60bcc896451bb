//go:build !amd64 || purego

package cpu

// Without assembly the float32 reduction kernels are the pure-Go twins of
// reduce_vec.go; redCandidates lists none.

func redCandidates() []*redKernels { return nil }
