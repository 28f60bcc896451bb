package cpu

// Benchmarks of Where (contiguous and with a one-value operand), Sign
// and small broadcast ops, per CPU microsecond, with allocations: the
// costs the typed loops and the allocation-free iteration cut.

import (
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

func benchCPU(b *testing.B, fn func()) {
	b.ReportAllocs()
	t0 := processCPU()
	for b.Loop() {
		fn()
	}
	b.ReportMetric((processCPU()-t0)*1e6/float64(b.N), "cpu-us/op")
}

func BenchmarkWhereSign(b *testing.B) {
	const n = 1 << 20
	x := benchView(b, f32, n)
	y := benchView(b, f32, n)
	dst := benchView(b, f32, n)
	cs, _ := be.Alloc(backend.Bool, n)
	cond := backend.View{Storage: cs, Layout: backend.Contiguous([]int{n})}
	be.Binary(backend.Gt, cond, x, y)
	zs, _ := be.Alloc(f32, 1)
	be.Fill(backend.View{Storage: zs, Layout: backend.Contiguous([]int{1})}, 0)
	zero := backend.View{Storage: zs, Layout: backend.Layout{Shape: []int{n}, Strides: []int{0}}}
	b.Run("where_1M", func(b *testing.B) { benchCPU(b, func() { be.Where(dst, cond, x, y) }) })
	b.Run("where_1M_scalar", func(b *testing.B) { benchCPU(b, func() { be.Where(dst, cond, x, zero) }) })
	b.Run("sign_1M", func(b *testing.B) { benchCPU(b, func() { be.Unary(backend.Sign, dst, x, backend.Scalars{}) }) })
}

func BenchmarkSmallOps(b *testing.B) {
	m := benchView(b, f32, 16, 32)
	r := benchView(b, f32, 1, 32)
	rb := backend.View{Storage: r.Storage, Layout: backend.Layout{Shape: []int{16, 32}, Strides: []int{0, 1}}}
	dst := benchView(b, f32, 16, 32)
	t16 := benchView(b, f32, 16)
	d16 := benchView(b, f32, 16)
	mt := backend.View{Storage: m.Storage, Layout: backend.Layout{Shape: []int{32, 16}, Strides: []int{1, 32}}}
	dt := benchView(b, f32, 32, 16)
	rs := benchView(b, f32, 1, 32)
	b.Run("alloc_16", func(b *testing.B) {
		benchCPU(b, func() { s, _ := be.Alloc(f32, 16); be.Release(s) })
	})
	b.Run("add_16", func(b *testing.B) { benchCPU(b, func() { be.Binary(backend.Add, d16, t16, t16) }) })
	b.Run("add_bcast_16x32+1x32", func(b *testing.B) { benchCPU(b, func() { be.Binary(backend.Add, dst, m, rb) }) })
	b.Run("copy_transpose_32x16", func(b *testing.B) { benchCPU(b, func() { be.Copy(dt, mt) }) })
	b.Run("sum_batch_16x32", func(b *testing.B) { benchCPU(b, func() { be.Reduce(backend.ReduceSum, rs, m) }) })
}
