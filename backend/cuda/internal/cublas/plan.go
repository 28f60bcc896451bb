package cublas

// Operand describes a row-major matrix of rows×cols whose element (i, j)
// is at offset i·RowStride + j·ColStride.
type Operand struct {
	Rows, Cols           int
	RowStride, ColStride int
}

// asColumnMajorTransposed expresses the row-major matrix X as cuBLAS
// sees it when asked for Xᵀ: either Xᵀ stored column-major (op N) or X
// stored column-major and transposed (op T), with its leading dimension.
// ok is false when neither fits (the caller copies X contiguous first).
func asColumnMajorTransposed(x Operand) (op Operation, ld int, ok bool) {
	// X row-major with unit column stride is Xᵀ column-major, ld = row stride
	if x.ColStride == 1 || x.Cols <= 1 {
		ld = x.RowStride
		if x.Rows <= 1 {
			ld = max(x.Cols, 1)
		}
		if ld >= max(x.Cols, 1) {
			return OpN, ld, true
		}
	}
	// X with unit row stride is X column-major, ld = column stride
	if x.RowStride == 1 || x.Rows <= 1 {
		ld = x.ColStride
		if x.Cols <= 1 {
			ld = max(x.Rows, 1)
		}
		if ld >= max(x.Rows, 1) {
			return OpT, ld, true
		}
	}
	return 0, 0, false
}

// Plan maps the row-major product C = A·B (A M×K, B K×N, C M×N with
// unit column stride and row stride ldc ≥ N) onto a column-major cuBLAS
// call computing Cᵀ = Bᵀ·Aᵀ. Offsets (A, B, C) are left to the caller.
// ok is false if A or B needs a contiguous copy first.
func Plan(a, b Operand, ldc int) (g Gemm, okA, okB bool) {
	g.M, g.N, g.K = b.Cols, a.Rows, a.Cols // cuBLAS m×n result is Cᵀ: N×M
	g.TransA, g.LdA, okB = asColumnMajorTransposed(b)
	g.TransB, g.LdB, okA = asColumnMajorTransposed(a)
	g.LdC = max(ldc, 1)
	return g, okA, okB
}
