//go:build !amd64 || purego

package cpu

// Without assembly the float32 LayerNorm row kernels are the pure-Go twins
// of layernorm_vec.go; lnCandidates lists none.

func lnCandidates() []*lnKernels { return nil }
