//go:build amd64 && !purego

package cpu

// The float32 fused optimizer kernels in assembly (optim_vec.go; generated
// with the elementwise kernels, see vec_amd64.go). They use AVX-512F, or
// AVX2 (hasAVX512, hasAVX2: gemm_amd64.go).
var (
	optKernAVX512 = &optVecKernels{"AVX512", optAVX512}
	optKernAVX2   = &optVecKernels{"AVX2", optAVX2}
)

// optCandidates lists the optimizer kernels this CPU runs, best first.
func optCandidates() []*optVecKernels {
	var ks []*optVecKernels
	if hasAVX512 {
		ks = append(ks, optKernAVX512)
	}
	if hasAVX2 {
		ks = append(ks, optKernAVX2)
	}
	return ks
}
