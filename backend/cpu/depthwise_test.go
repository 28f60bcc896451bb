package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// Depthwise convolutions (depthwise.go) against the float64 window sums
// of refConv, through the backend.Convolver methods, so the dispatch is
// tested with the kernels: strides, dilations, paddings wider than the
// kernel, 1-d inputs, kernels wider than the input, empty dims, strided
// operands, one goroutine and three.
var depthwiseCases = []convCase{
	{winCase{in: []int{2, 5, 9, 8}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 5, 5},
	{winCase{in: []int{3, 4, 9, 11}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}}, 4, 4},
	{winCase{in: []int{2, 3, 10, 9}, k: []int{3, 2}, s: []int{2, 3}, p: []int{2, 0}, d: []int{2, 3}}, 3, 3},
	{winCase{in: []int{1, 6, 7, 7}, k: []int{5, 5}, s: []int{1, 1}, p: []int{2, 2}, d: []int{1, 1}}, 6, 6},
	{winCase{in: []int{2, 2, 4, 4}, k: []int{3, 3}, s: []int{1, 1}, p: []int{3, 3}, d: []int{1, 1}}, 2, 2},
	{winCase{in: []int{2, 2, 2, 3}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 2, 2},
	{winCase{in: []int{2, 3, 1, 1}, k: []int{1, 1}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 3, 3},
	{winCase{in: []int{3, 4, 13}, k: []int{3}, s: []int{2}, p: []int{1}, d: []int{2}}, 4, 4},
	{winCase{in: []int{2, 1, 6, 5}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 1, 1},
	{winCase{in: []int{0, 3, 5, 5}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 3, 3},
	{winCase{in: []int{2, 2, 2, 2}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 2, 2}, // no window fits
	// rows as long as a real layer's
	{winCase{in: []int{2, 3, 14, 56}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 3, 3},
}

func TestDepthwiseConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	defer func(v bool) { vecOff = v }(vecOff)
	for _, cfg := range []struct {
		threads int
		goOnly  bool // the pure-Go row kernels
	}{{1, false}, {3, false}, {1, true}, {3, true}} {
		vecOff = cfg.goOnly
		threads := cfg.threads
		for _, c := range depthwiseCases {
			for _, dt := range []backend.DType{f32, f64} {
				for _, lk := range []layoutKind{lkContig, lkTrans, lkStep} {
					t.Run(fmt.Sprintf("t%d/go=%v/%v/%v/%v", threads, cfg.goOnly, c, dt, lk), func(t *testing.T) {
						s := convShapeOf("test", backend.Contiguous(c.in), c.window(), c.groups, c.cout)
						if !useDepthwise(s) {
							t.Fatalf("%v does not take the depthwise path", c)
						}
						old := SetNumThreads(threads)
						defer SetNumThreads(old)
						checkConv(t, rng, c, dt, lk)
					})
				}
			}
		}
	}
}

// The weight gradient of each channel is summed over the images in order
// by one goroutine, so it has the same bits for any number of threads.
func TestDepthwiseWeightGradientThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	c := convCase{winCase{in: []int{7, 5, 12, 10}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 5, 5}
	wshape, yshape := []int{c.cout, numel(c.k)}, []int{c.in[0], c.cout, numel(c.grid())}
	x := newOperand(t, f32, lkContig, c.in, genFor(f32, rng, -1, 1))
	dy := newOperand(t, f32, lkContig, yshape, genFor(f32, rng, -1, 1))
	var first []float64
	for _, threads := range []int{1, 2, 3, 8} {
		old := SetNumThreads(threads)
		dw, _ := newOutput(t, f32, lkContig, wshape, rng)
		be.ConvBackwardWeight(dw.view(), dy.view(), x.view(), c.window(), c.groups)
		SetNumThreads(old)
		got := dw.values()
		if first == nil {
			first = got
			continue
		}
		for i := range got {
			if got[i] != first[i] {
				t.Fatalf("%d threads: element %d = %v, 1 thread gave %v", threads, i, got[i], first[i])
			}
		}
	}
}

// Cases that are not depthwise keep the GEMM paths.
func TestDepthwiseDispatch(t *testing.T) {
	for _, c := range []struct {
		c, cout, groups int
		want            bool
	}{
		{4, 4, 4, true}, {1, 1, 1, true}, {4, 8, 4, false}, {8, 4, 4, false}, {4, 4, 2, false}, {4, 4, 1, false},
	} {
		s := convShapeOf("test", backend.Contiguous([]int{1, c.c, 5, 5}), backend.Window{Kernel: []int{3, 3}, Stride: []int{1, 1}, Padding: []int{1, 1}, Dilation: []int{1, 1}}, c.groups, c.cout)
		if got := useDepthwise(s); got != c.want {
			t.Errorf("C=%d, Cout=%d, groups=%d: useDepthwise = %v, want %v", c.c, c.cout, c.groups, got, c.want)
		}
	}
}

// The row kernels, assembly and Go, against float64 sums at every length
// 1…200 (whole blocks of 64, partial vectors, single lanes), with guard
// bands after every output that must come back untouched.
func TestDepthwiseRowKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	const guard = 40
	sentinel := float32(math.Inf(-1))
	kernels := []struct {
		name string
		on   bool
		taps func(o, x []float32, offs []int, w []float32)
		axpy func(o, x []float32, a float32)
		dot  func(x, y []float32) float32
	}{
		{"go", true, dwTapsGo[float32], dwAxpyGo[float32], dwDotGo[float32]},
		{"asm", hasDepthwiseAsm, dwTapsAsm, dwAxpyAsm, dwDotAsm},
	}
	randf := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.Float64()*2 - 1)
		}
		return v
	}
	offs := []int{0, 1, 2, 37, 38, 39, 74, 75, 76}
	for _, k := range kernels {
		if !k.on {
			t.Logf("%s kernels not available on this CPU", k.name)
			continue
		}
		for n := 1; n <= 200; n++ {
			x, y := randf(76+n+guard), randf(n+guard)
			w := randf(len(offs))
			tol := 1e-5 * float64(len(offs)+n)
			// taps
			o := append(randf(n), make([]float32, guard)...)
			for i := n; i < len(o); i++ {
				o[i] = sentinel
			}
			k.taps(o[:n], x[:76+n], offs, w)
			for i := 0; i < n; i++ {
				var want float64
				for t, off := range offs {
					want += float64(w[t]) * float64(x[off+i])
				}
				if math.Abs(float64(o[i])-want) > tol {
					t.Fatalf("%s taps n=%d: o[%d] = %v, want %v", k.name, n, i, o[i], want)
				}
			}
			checkGuard(t, k.name+" taps", o, n, sentinel)
			// axpy
			o0 := randf(n)
			o = append(append([]float32(nil), o0...), make([]float32, guard)...)
			for i := n; i < len(o); i++ {
				o[i] = sentinel
			}
			a := float32(rng.Float64()*2 - 1)
			k.axpy(o[:n], x[:n], a)
			for i := 0; i < n; i++ {
				want := float64(o0[i]) + float64(a)*float64(x[i])
				if math.Abs(float64(o[i])-want) > 1e-6 {
					t.Fatalf("%s axpy n=%d: o[%d] = %v, want %v", k.name, n, i, o[i], want)
				}
			}
			checkGuard(t, k.name+" axpy", o, n, sentinel)
			// dot, with values past n that must not count
			var want float64
			for i := 0; i < n; i++ {
				want += float64(x[i]) * float64(y[i])
			}
			if got := k.dot(x[:n], y); math.Abs(float64(got)-want) > tol {
				t.Fatalf("%s dot n=%d = %v, want %v", k.name, n, got, want)
			}
		}
	}
}

func checkGuard(t *testing.T, what string, o []float32, n int, sentinel float32) {
	t.Helper()
	for i := n; i < len(o); i++ {
		if o[i] != sentinel {
			t.Fatalf("%s n=%d: wrote o[%d] past the end", what, n, i)
		}
	}
}
