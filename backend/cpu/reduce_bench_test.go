package cpu

// Benchmarks of the fast paths of Reduce, ArgReduce, MaxPool, ScatterAdd
// (max-pool backward), Unfold and Fold at training sizes, each run with
// the fast paths off ("generic") and on ("fast"). The matching PyTorch
// timings come from torch ops on the same shapes (see the report of the
// change that added them).

import (
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

func benchView(b *testing.B, dt backend.DType, shape ...int) backend.View {
	n := numel(shape)
	s, err := be.Alloc(dt, n)
	if err != nil {
		b.Fatal(err)
	}
	v := backend.View{Storage: s, Layout: backend.Contiguous(shape)}
	spec := backend.RandomSpec{Dist: backend.Normal, A: 0, B: 1, Seed: 1}
	if dt == i64 {
		spec = backend.RandomSpec{Dist: backend.Integer, A: 0, B: 1}
	}
	be.Random(v, spec)
	return v
}

func benchBoth(b *testing.B, bytes int64, fn func()) {
	for _, mode := range []string{"generic", "fast"} {
		b.Run(mode, func(b *testing.B) {
			old := fastKernels
			fastKernels = mode == "fast"
			defer func() { fastKernels = old }()
			b.SetBytes(bytes)
			t0 := processCPU()
			for b.Loop() {
				fn()
			}
			// on a shared machine CPU time is steadier than wall time
			b.ReportMetric((processCPU()-t0)*1e6/float64(b.N), "cpu-us/op")
		})
	}
}

func BenchmarkReduceFast(b *testing.B) {
	for _, c := range []struct {
		name     string
		src, dst []int
		op       backend.ReduceOp
	}{
		{"bn_sum_128x32x28x28", []int{128, 32, 28, 28}, []int{1, 32, 1, 1}, backend.ReduceSum},
		{"last_sum_4096x512", []int{4096, 512}, []int{4096, 1}, backend.ReduceSum},
		{"last_max_4096x512", []int{4096, 512}, []int{4096, 1}, backend.ReduceMax},
		{"batch_sum_128x512", []int{128, 512}, []int{1, 512}, backend.ReduceSum},
		{"full_sum_128x32x28x28", []int{128, 32, 28, 28}, []int{1, 1, 1, 1}, backend.ReduceSum},
	} {
		b.Run(c.name, func(b *testing.B) {
			src := benchView(b, f32, c.src...)
			dst := benchView(b, f32, c.dst...)
			benchBoth(b, int64(4*numel(c.src)), func() { be.Reduce(c.op, dst, src) })
		})
	}
}

func BenchmarkArgReduceFast(b *testing.B) {
	for _, sh := range [][]int{{4096, 10}, {4096, 512}} {
		b.Run(shapeName(sh), func(b *testing.B) {
			src := benchView(b, f32, sh...)
			vals := benchView(b, f32, sh[0], 1)
			idx := benchView(b, i64, sh[0], 1)
			benchBoth(b, int64(4*numel(sh)), func() { be.ArgReduce(backend.ArgMax, vals, idx, src, 1) })
		})
	}
}

func win2(k, s, p int) backend.Window {
	return backend.Window{Kernel: []int{k, k}, Stride: []int{s, s}, Padding: []int{p, p}, Dilation: []int{1, 1}}
}

// benchPool runs fn with the generic kernels ("generic"), the pure-Go
// fast paths ("go") and the assembly of the 2×2 windows ("fast"; the
// same as "go" for other windows and without assembly).
func benchPool(b *testing.B, bytes int64, fn func()) {
	for _, mode := range []string{"generic", "go", "fast"} {
		b.Run(mode, func(b *testing.B) {
			oldF, oldA := fastKernels, poolAsmOff
			fastKernels, poolAsmOff = mode != "generic", mode != "fast"
			defer func() { fastKernels, poolAsmOff = oldF, oldA }()
			b.SetBytes(bytes)
			t0 := processCPU()
			for b.Loop() {
				fn()
			}
			b.ReportMetric((processCPU()-t0)*1e6/float64(b.N), "cpu-us/op")
		})
	}
}

func BenchmarkMaxPoolFast(b *testing.B) {
	for _, c := range []struct {
		name string
		in   []int
		w    backend.Window
	}{
		{"2x2s2_128x32x28x28", []int{128, 32, 28, 28}, win2(2, 2, 0)},
		{"2x2s2_128x32x26x26", []int{128, 32, 26, 26}, win2(2, 2, 0)}, // LeNet's first pool
		{"2x2s2_128x64x11x11", []int{128, 64, 11, 11}, win2(2, 2, 0)}, // and its second
		{"2x2s2_4x32x26x26", []int{4, 32, 26, 26}, win2(2, 2, 0)},     // in L2
		{"2x2s2_4x64x11x11", []int{4, 64, 11, 11}, win2(2, 2, 0)},
		{"3x3s2p1_32x64x56x56", []int{32, 64, 56, 56}, win2(3, 2, 1)},
		{"3x3s1p1_32x64x56x56", []int{32, 64, 56, 56}, win2(3, 1, 1)},
	} {
		b.Run(c.name, func(b *testing.B) {
			src := benchView(b, f32, c.in...)
			o := []int{c.in[0], c.in[1], c.w.OutSize(0, c.in[2]), c.w.OutSize(1, c.in[3])}
			vals, idx := benchView(b, f32, o...), benchView(b, i64, o...)
			benchPool(b, int64(4*numel(c.in)), func() { be.MaxPool(vals, idx, src, c.w) })
		})
	}
}

// BenchmarkMaxPoolBackwardFast is the max-pool gradient: "composed" as
// the tensor package took it before MaxPoolBackward (zeros of the
// input's shape, then a ScatterAdd of the output gradient into the
// argmax positions of each plane; the tensor package also copied the
// zeros), and "kernel", MaxPoolBackward.
func BenchmarkMaxPoolBackwardFast(b *testing.B) {
	for _, c := range []struct {
		name string
		in   []int
	}{
		{"128x32x28x28", []int{128, 32, 28, 28}},
		{"128x32x26x26", []int{128, 32, 26, 26}},
		{"128x64x11x11", []int{128, 64, 11, 11}},
	} {
		b.Run(c.name, func(b *testing.B) {
			in := c.in
			w := win2(2, 2, 0)
			src := benchView(b, f32, in...)
			o := []int{in[0], in[1], in[2] / 2, in[3] / 2}
			vals, idx := benchView(b, f32, o...), benchView(b, i64, o...)
			be.MaxPool(vals, idx, src, w)
			g := benchView(b, f32, o...)
			dst := benchView(b, f32, in...)
			m, plane := o[2]*o[3], in[2]*in[3]
			g3 := backend.View{Storage: g.Storage, Layout: backend.Contiguous([]int{in[0], in[1], m})}
			idx3 := backend.View{Storage: idx.Storage, Layout: backend.Contiguous([]int{in[0], in[1], m})}
			dst3 := backend.View{Storage: dst.Storage, Layout: backend.Contiguous([]int{in[0], in[1], plane})}
			b.Run("composed", func(b *testing.B) {
				benchBoth(b, int64(4*numel(in)), func() {
					be.Fill(dst3, 0)
					if err := be.ScatterAdd(dst3, 2, idx3, g3); err != nil {
						b.Fatal(err)
					}
				})
			})
			b.Run("kernel", func(b *testing.B) {
				benchPool(b, int64(4*numel(in)), func() {
					if err := be.MaxPoolBackward(dst, g, idx); err != nil {
						b.Fatal(err)
					}
				})
			})
		})
	}
}

func BenchmarkUnfoldFoldFast(b *testing.B) {
	for _, c := range []struct {
		name string
		in   []int
		w    backend.Window
	}{
		{"3x3p1_32x64x56x56", []int{32, 64, 56, 56}, win2(3, 1, 1)},
		{"1x1_32x64x56x56", []int{32, 64, 56, 56}, win2(1, 1, 0)},
		{"lenet2_3x3_128x32x13x13", []int{128, 32, 13, 13}, win2(3, 1, 0)},
		{"lenet_5x5_128x6x14x14", []int{128, 6, 14, 14}, win2(5, 1, 0)},
		{"3x3s2p1_32x64x28x28", []int{32, 64, 28, 28}, win2(3, 2, 1)},
	} {
		oh, ow := c.w.OutSize(0, c.in[2]), c.w.OutSize(1, c.in[3])
		cs := []int{c.in[0], c.in[1] * c.w.KernelSize(), oh * ow}
		x := benchView(b, f32, c.in...)
		cols := benchView(b, f32, cs...)
		b.Run("unfold_"+c.name, func(b *testing.B) {
			benchBoth(b, int64(4*numel(cs)), func() { be.Unfold(cols, x, c.w) })
		})
		b.Run("fold_"+c.name, func(b *testing.B) {
			benchBoth(b, int64(4*numel(cs)), func() { be.Fold(x, cols, c.w) })
		})
		be.Release(x.Storage)
		be.Release(cols.Storage)
	}
}
