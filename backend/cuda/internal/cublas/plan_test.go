package cublas

import (
	"math/rand"
	"testing"
)

// colMajorGemm is cuBLAS's documented gemm semantics on host memory:
// C[i + j·ldc] = Σ_l op(A)(i, l)·op(B)(l, j), op(X)(r, c) = X[r + c·ld]
// for N and X[c + r·ld] for T.
func colMajorGemm(g Gemm, a, b []float64, c []float64) {
	at := func(x []float64, op Operation, ld, r, col int) float64 {
		if op == OpN {
			return x[r+col*ld]
		}
		return x[col+r*ld]
	}
	for i := 0; i < g.M; i++ {
		for j := 0; j < g.N; j++ {
			s := 0.0
			for l := 0; l < g.K; l++ {
				s += at(a, g.TransA, g.LdA, i, l) * at(b, g.TransB, g.LdB, l, j)
			}
			c[i+j*g.LdC] = s
		}
	}
}

// layout returns a random storage for a rows×cols matrix: row-major,
// transposed, or padded, and the Operand describing it.
func layout(r *rand.Rand, rows, cols int) (Operand, []float64) {
	pad := r.Intn(3)
	var o Operand
	switch r.Intn(3) {
	case 0: // row-major, maybe padded rows
		o = Operand{rows, cols, cols + pad, 1}
	case 1: // column-major (a transposed view), maybe padded
		o = Operand{rows, cols, 1, rows + pad}
	default: // not expressible: both strides > 1
		o = Operand{rows, cols, 2 * cols, 2}
	}
	n := (rows-1)*o.RowStride + (cols-1)*o.ColStride + 1
	buf := make([]float64, n)
	for i := range buf {
		buf[i] = float64(r.Intn(19) - 9)
	}
	return o, buf
}

func TestPlanMatchesRowMajorProduct(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	tried, planned := 0, 0
	for iter := 0; iter < 3000; iter++ {
		M, K, N := 1+r.Intn(5), 1+r.Intn(5), 1+r.Intn(5)
		oa, a := layout(r, M, K)
		ob, b := layout(r, K, N)
		g, okA, okB := Plan(oa, ob, N)
		tried++
		expressible := func(o Operand) bool {
			return o.ColStride == 1 || o.RowStride == 1 || o.Rows == 1 || o.Cols == 1
		}
		if okA != expressible(oa) || okB != expressible(ob) {
			t.Fatalf("Plan(%+v, %+v): ok %v %v, want %v %v", oa, ob, okA, okB, expressible(oa), expressible(ob))
		}
		if !okA || !okB {
			continue
		}
		planned++
		c := make([]float64, M*N)
		colMajorGemm(g, b, a, c) // cuBLAS's A is our B, its B our A
		for i := 0; i < M; i++ {
			for j := 0; j < N; j++ {
				want := 0.0
				for l := 0; l < K; l++ {
					want += a[i*oa.RowStride+l*oa.ColStride] * b[l*ob.RowStride+j*ob.ColStride]
				}
				if c[i*N+j] != want {
					t.Fatalf("M%d K%d N%d A%+v B%+v plan %+v: C[%d,%d] = %v, want %v", M, K, N, oa, ob, g, i, j, c[i*N+j], want)
				}
			}
		}
	}
	if planned < tried/3 {
		t.Fatalf("only %d of %d cases planned", planned, tried)
	}
}
