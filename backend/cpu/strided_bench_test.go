package cpu

// Benchmarks of elementwise ops on non-contiguous views (transposes,
// steps, broadcasts, permutations, short inner runs) at about 1M float32
// elements on one thread, against the contiguous add as the reference
// rate. bench/strided_torch.py times the same cases in PyTorch; both
// report nanoseconds per element.

import (
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// stridedView is v's storage seen through shape, strides and offset.
func stridedView(v backend.View, shape, strides []int, off int) backend.View {
	return backend.View{Storage: v.Storage, Layout: backend.Layout{Shape: shape, Strides: strides, Offset: off}}
}

// benchPerElem runs fn and reports CPU nanoseconds per output element,
// steadier than wall time on a shared machine.
func benchPerElem(b *testing.B, n int, fn func()) {
	defer SetNumThreads(SetNumThreads(1))
	t0 := processCPU()
	for b.Loop() {
		fn()
	}
	b.ReportMetric((processCPU()-t0)*1e9/float64(b.N)/float64(n), "cpu-ns/elem")
}

// zeroView is a contiguous view of zeros, for dtypes Random does not fill.
func zeroView(b *testing.B, dt backend.DType, shape ...int) backend.View {
	s, err := be.Alloc(dt, numel(shape))
	if err != nil {
		b.Fatal(err)
	}
	return backend.View{Storage: s, Layout: backend.Contiguous(shape)}
}

func BenchmarkStrided(b *testing.B) {
	const n = 1024
	x := benchView(b, f32, n, n)
	y := benchView(b, f32, n, n)
	dst := benchView(b, f32, n, n)
	wide := benchView(b, f32, n, 2*n)
	row := benchView(b, f32, 1, n)
	col := benchView(b, f32, n, 1)
	xT := stridedView(x, []int{n, n}, []int{1, n}, 0)
	step := stridedView(wide, []int{n, n}, []int{2 * n, 2}, 0)
	rowB := stridedView(row, []int{n, n}, []int{0, 1}, 0)
	colB := stridedView(col, []int{n, n}, []int{1, 0}, 0)
	// [64,64,16,16] permuted (0,2,3,1): channels last of a channels-first tensor
	p4 := stridedView(x, []int{64, 16, 16, 64}, []int{16384, 16, 1, 256}, 0)
	y4 := stridedView(y, []int{64, 16, 16, 64}, []int{16384, 1024, 64, 1}, 0)
	d4 := stridedView(dst, []int{64, 16, 16, 64}, []int{16384, 1024, 64, 1}, 0)
	// short runs: a [16,65536] tensor transposed has inner runs of 16
	// in the output; a [65536,16] one transposed reads with stride 16
	tShort := stridedView(x, []int{65536, 16}, []int{1, 65536}, 0)
	yShort := stridedView(y, []int{65536, 16}, []int{16, 1}, 0)
	dShort := stridedView(dst, []int{65536, 16}, []int{16, 1}, 0)
	tLong := stridedView(x, []int{16, 65536}, []int{1, 16}, 0)
	yLong := stridedView(y, []int{16, 65536}, []int{65536, 1}, 0)
	dLong := stridedView(dst, []int{16, 65536}, []int{65536, 1}, 0)
	row16 := stridedView(row, []int{65536, 16}, []int{0, 1}, 0)
	col16 := stridedView(x, []int{65536, 16}, []int{1, 0}, 0)
	d64 := benchView(b, f64, n, n)
	dT := stridedView(dst, []int{n, n}, []int{1, n}, 0) // an in-place op on a transposed view
	none := backend.Scalars{}
	// Where on a transposed value with a contiguous condition
	cond := zeroView(b, bl, n, n)
	be.Binary(backend.Gt, cond, y, benchView(b, f32, n, n))
	condShort := stridedView(cond, []int{65536, 16}, []int{16, 1}, 0)
	// integer ops on a transposed view
	xi := zeroView(b, i32, n, n)
	di := zeroView(b, i32, n, n)
	be.Copy(xi, x)
	xiT := stridedView(xi, []int{n, n}, []int{1, n}, 0)
	diStep := stridedView(zeroView(b, i32, n, 2*n), []int{n, n}, []int{2 * n, 2}, 0)
	// a stepped output: no stride-1 dim
	dStep := stridedView(wide, []int{n, n}, []int{2 * n, 2}, 0)
	// a [1024, 16] + [1024, 1] column broadcast
	col1k := stridedView(x, []int{1024, 16}, []int{1, 0}, 0)
	y1k := stridedView(y, []int{1024, 16}, []int{16, 1}, 0)
	d1k := stridedView(dst, []int{1024, 16}, []int{16, 1}, 0)
	cases := []struct {
		name string
		fn   func()
	}{
		{"add_contig", func() { be.Binary(backend.Add, dst, x, y) }},
		{"add_T", func() { be.Binary(backend.Add, dst, xT, y) }},
		{"add_step2", func() { be.Binary(backend.Add, dst, step, y) }},
		{"add_row", func() { be.Binary(backend.Add, dst, y, rowB) }},
		{"add_col", func() { be.Binary(backend.Add, dst, y, colB) }},
		{"exp_T", func() { be.Unary(backend.Exp, dst, xT, none) }},
		{"relu_T", func() { be.Unary(backend.ReLU, dst, xT, none) }},
		{"mul_perm4d", func() { be.Binary(backend.Mul, d4, p4, y4) }},
		{"add_T_65536x16", func() { be.Binary(backend.Add, dShort, tShort, yShort) }},
		{"add_T_16x65536", func() { be.Binary(backend.Add, dLong, tLong, yLong) }},
		{"add_row16", func() { be.Binary(backend.Add, dShort, yShort, row16) }},
		{"add_col16", func() { be.Binary(backend.Add, dShort, yShort, col16) }},
		{"cast_T_f64", func() { be.Copy(d64, xT) }},
		{"add_into_T", func() { be.Binary(backend.Add, dT, x, y) }},
		{"where_contig", func() { be.Where(dst, cond, x, y) }},
		{"where_T", func() { be.Where(dst, cond, xT, y) }},
		{"where_into_T", func() { be.Where(dT, cond, x, y) }},
		{"where_row16", func() { be.Where(dShort, condShort, row16, yShort) }},
		{"log1p_T", func() { be.Unary(backend.Log1p, dst, xT, none) }},
		{"neg_i32_T", func() { be.Unary(backend.Neg, di, xiT, none) }},
		{"neg_i32", func() { be.Unary(backend.Neg, di, xi, none) }},
		{"add_into_step2", func() { be.Binary(backend.Add, dStep, x, y) }},
		{"exp_into_step2", func() { be.Unary(backend.Exp, dStep, x, none) }},
		{"neg_into_step2", func() { be.Unary(backend.Neg, dStep, x, none) }},
		{"floor_into_step2", func() { be.Unary(backend.Floor, dStep, x, none) }},
		{"neg_i32_into_step2", func() { be.Unary(backend.Neg, diStep, xi, none) }},
		{"add_col_1024x16", func() { be.Binary(backend.Add, d1k, y1k, col1k) }},
	}
	for _, c := range cases {
		m := n * n
		if c.name == "add_col_1024x16" {
			m = 1024 * 16
		}
		b.Run(c.name, func(b *testing.B) { benchPerElem(b, m, c.fn) })
	}
}
