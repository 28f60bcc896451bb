//go:build amd64 && !purego

package cpu

//go:generate go run -C ../../_gen ./elementwise -table ../backend/cpu/vecmath_table_amd64.go -out ../backend/cpu/vecmath_amd64.s -stubs ../backend/cpu/vecmath_stub_amd64.go -pkg cpu

// The float32 elementwise kernels in assembly (vecmath_amd64.s, generated
// by _gen/elementwise; vecmath_table_amd64.go names them by op). They use
// AVX-512 (F, DQ, BW, VL), or AVX2 with FMA3 (hasAVX512, hasAVX2:
// gemm_amd64.go).
var (
	vecAVX512 = vecAsmAVX512.wrap("AVX512")
	vecAVX2   = vecAsmAVX2.wrap("AVX2")
)

// vecCandidates lists the float32 kernel tables this CPU runs, best first.
func vecCandidates() []*vecKernels[float32] {
	var ks []*vecKernels[float32]
	if hasAVX512 {
		ks = append(ks, vecAVX512)
	}
	if hasAVX2 {
		ks = append(ks, vecAVX2)
	}
	return ks
}
