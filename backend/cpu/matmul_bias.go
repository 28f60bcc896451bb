package cpu

import "github.com/tapir-ml/tapir/backend"

var _ backend.BiasMatMuler = (*CPU)(nil)

// MatMulBias implements backend.BiasMatMuler: it sets dst[b] =
// a[b]·b[b] + bias, the 1-d bias [N] (any stride) added to every row:
// the forward of a Linear layer (torch's addmm with a broadcast bias).
// Operands are as MatMul's. With a SIMD
// kernel and short rows (fewer than biasPrefillCols), dst's rows are
// first set to the bias and the packed GEMM adds the product into them;
// longer rows get the bias added after the product, row by row with the
// vector kernel while they are in cache. A product computed transposed
// (rowATransposed: x·Wᵀ on a small batch) starts its scratch rows from
// the bias. Either way the result is the product and the bias summed, up
// to the order of the bias's addition.
func (*CPU) MatMulBias(dst, a, b, bias backend.View) {
	switch a.DType() {
	case backend.Float32:
		matmulBiasFloat[float32](dst, a, b, bias)
	case backend.Float64:
		matmulBiasFloat[float64](dst, a, b, bias)
	default:
		panic(badDType("matmul_bias", a.DType()))
	}
}

func matmulBiasFloat[T float](dst, a, b, bias backend.View) {
	ad, batch, m, k, abs, ars, acs := batchMats[T](a)
	bd, _, _, n, bbs, brs, bcs := batchMats[T](b)
	cd, _, _, _, cbs, crs, ccs := batchMats[T](dst)
	if len(bias.Shape) != 1 || bias.Shape[0] != n {
		panic("cpu: matmul_bias: the bias does not fit the product's columns")
	}
	bv := mat[T]{slice[T](bias.Storage), bias.Offset, 1, n, 0, bias.Strides[0]}
	kn := kernelFor[T]()
	if kn == nil || m == 0 || n == 0 || m*n*k <= smallGemmSIMD {
		// no packed kernel to add into C: the product, then the bias
		matmulFloat[T](dst, a, b)
		for i := 0; i < batch; i++ {
			addBiasRows(mat[T]{cd, dst.Offset + i*cbs, m, n, crs, ccs}, bv)
		}
		return
	}
	threads := 1
	if m*n*k >= simdParallelGemm {
		threads = NumThreads()
	}
	prefill := n < biasPrefillCols
	for i := 0; i < batch; i++ {
		C := mat[T]{cd, dst.Offset + i*cbs, m, n, crs, ccs}
		A, B := mat[T]{ad, a.Offset + i*abs, m, k, ars, acs}, mat[T]{bd, b.Offset + i*bbs, k, n, brs, bcs}
		if rowATransposed(kn, C, A, B) {
			gemmTransposedRowA(kn, C, A, B, threads, &bv)
			continue
		}
		if prefill {
			setBiasRows(C, bv)
		}
		gemmPackedInto(kn, C, A, B, threads, prefill)
		if !prefill {
			addBiasRows(C, bv)
		}
	}
}

// biasPrefillCols is the row length from which MatMulBias adds the bias
// after the product, with the vector kernel on rows the product has just
// left in cache, instead of writing it into C first: in the MLP step
// (bench's BenchmarkMLPModuleStep) the prefill saved 7–14 µs of 60 on the
// 128×10 classifier, whose 10-element rows the elementwise add handles
// slowly, and cost 0–10 µs on the 128×512 layers, where it writes the
// whole output once more before the kernel runs.
const biasPrefillCols = 64

// setBiasRows sets every row of C to the row vector bias (1×C.cols).
func setBiasRows[T float](C, bias mat[T]) {
	if C.cs == 1 && bias.cs == 1 {
		src := bias.data[bias.off : bias.off+C.cols]
		for i := 0; i < C.rows; i++ {
			o := C.off + i*C.rs
			copy(C.data[o:o+C.cols], src)
		}
		return
	}
	for i := 0; i < C.rows; i++ {
		for j := 0; j < C.cols; j++ {
			C.data[C.off+i*C.rs+j*C.cs] = bias.at(0, j)
		}
	}
}

// addBiasRows adds the row vector bias (1×C.cols) to every row of C.
func addBiasRows[T float](C, bias mat[T]) {
	if C.rows == 0 || C.cols == 0 {
		return
	}
	if C.cs == 1 && bias.cs == 1 {
		add := vecFor[T]().bin[vbAdd]
		src := bias.data[bias.off : bias.off+C.cols]
		for i := 0; i < C.rows; i++ {
			row := C.data[C.off+i*C.rs : C.off+i*C.rs+C.cols]
			add(row, row, src)
		}
		return
	}
	for i := 0; i < C.rows; i++ {
		for j := 0; j < C.cols; j++ {
			C.data[C.off+i*C.rs+j*C.cs] += bias.at(0, j)
		}
	}
}
