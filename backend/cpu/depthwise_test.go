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
	// channel multipliers 2 and 4: Cout = m·C, groups = C
	{winCase{in: []int{2, 3, 9, 11}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}}, 6, 3},
	{winCase{in: []int{2, 2, 7, 8}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 8, 2},
	{winCase{in: []int{3, 2, 13}, k: []int{3}, s: []int{2}, p: []int{1}, d: []int{2}}, 6, 2},
	{winCase{in: []int{2, 3, 10, 9}, k: []int{3, 2}, s: []int{2, 3}, p: []int{2, 0}, d: []int{2, 3}}, 9, 3},
	{winCase{in: []int{0, 3, 5, 5}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 6, 3},
	{winCase{in: []int{2, 2, 2, 2}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 4, 2}, // no window fits
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
	for _, c := range []convCase{
		{winCase{in: []int{7, 5, 12, 10}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 5, 5},
		{winCase{in: []int{7, 5, 12, 10}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}}, 10, 5}, // multiplier 2
	} {
		checkDepthwiseWeightThreads(t, rng, c)
	}
}

func checkDepthwiseWeightThreads(t *testing.T, rng *rand.Rand, c convCase) {
	t.Helper()
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
		{4, 4, 4, true}, {1, 1, 1, true}, {4, 8, 4, true}, {4, 16, 4, true}, {4, 20, 4, false},
		{8, 4, 4, false}, {4, 4, 2, false}, {4, 4, 1, false}, {4, 8, 2, false},
	} {
		s := convShapeOf("test", backend.Contiguous([]int{1, c.c, 5, 5}), backend.Window{Kernel: []int{3, 3}, Stride: []int{1, 1}, Padding: []int{1, 1}, Dilation: []int{1, 1}}, c.groups, c.cout)
		if got := useDepthwise(s); got != c.want {
			t.Errorf("C=%d, Cout=%d, groups=%d: useDepthwise = %v, want %v", c.c, c.cout, c.groups, got, c.want)
		}
	}
}

// The row kernels, assembly and Go, against float64 sums in index loops
// at every length 1…200 (whole blocks of 64 and 16, partial vectors,
// single lanes) and around 256 and 512 (the opmask counts' low byte wraps
// there), on one row and on three rows whose taps overlap (a row stride
// below the taps' span, as in a padded plane), with guard bands after
// every output that must come back untouched.
func TestDepthwiseRowKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	const guard = 40
	sentinel := float32(math.Inf(-1))
	kernels := []struct {
		name string
		on   bool
		taps func(o, x []float32, offs []int, w []float32, n, rows, xs, os int)
		dot  func(acc, g, p []float32, offs []int, n, rows, ps int)
	}{
		{"go", true, dwTapsGo[float32], dwDotGo[float32]},
		{"asm", hasDepthwiseAsm, dwTapsAsm, dwDotAsm},
	}
	randf := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.Float64()*2 - 1)
		}
		return v
	}
	// guarded is v followed by guard sentinels, cut to v's length.
	guarded := func(v []float32) []float32 {
		g := append(v, make([]float32, guard)...)
		for i := len(v); i < len(g); i++ {
			g[i] = sentinel
		}
		return g
	}
	offs := []int{0, 1, 2, 37, 38, 39, 74, 75, 76}
	k := len(offs)
	for _, kn := range kernels {
		if !kn.on {
			t.Logf("%s kernels not available on this CPU", kn.name)
			continue
		}
		for _, n := range rowKernelLengths() {
			for _, rows := range []int{1, 3} {
				const xs = 40
				what := fmt.Sprintf("%s n=%d rows=%d", kn.name, n, rows)
				span := (rows-1)*xs + 76 + n
				x, w := randf(span+guard), randf(k)
				tol := 1e-5 * float64(k+n)
				// taps
				os := n + 3 // gaps between the output rows
				o := guarded(randf(rows * os))
				o0 := append([]float32(nil), o...)
				kn.taps(o[:(rows-1)*os+n], x[:span], offs, w, n, rows, xs, os)
				for r := 0; r < rows; r++ {
					for i := 0; i < n; i++ {
						var want float64
						for t, off := range offs {
							want += float64(w[t]) * float64(x[r*xs+off+i])
						}
						if got := o[r*os+i]; math.Abs(float64(got)-want) > tol {
							t.Fatalf("%s taps: o[%d][%d] = %v, want %v", what, r, i, got, want)
						}
					}
				}
				for i, v := range o {
					if i%os >= n && v != o0[i] {
						t.Fatalf("%s taps: wrote o[%d] between or after the rows", what, i)
					}
				}
				g := randf(rows*n + guard)
				// dot, with values of g past rows·n that must not count
				acc0 := randf(dwLanes * k)
				wantAcc := make([]float64, len(acc0))
				for i, v := range acc0 {
					wantAcc[i] = float64(v)
				}
				for r := 0; r < rows; r++ {
					for t, off := range offs {
						for i := 0; i < n; i++ {
							wantAcc[dwLanes*t+i%dwLanes] += float64(g[r*n+i]) * float64(x[r*xs+off+i])
						}
					}
				}
				acc := guarded(append([]float32(nil), acc0...))
				kn.dot(acc[:len(acc0)], g, x[:span], offs, n, rows, xs)
				for i, v := range wantAcc {
					if math.Abs(float64(acc[i])-v) > tol*float64(rows) {
						t.Fatalf("%s dot: acc[%d] = %v, want %v", what, i, acc[i], v)
					}
				}
				checkGuard(t, what+" dot", acc, len(acc0), sentinel)
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

// rowKernelLengths are the row lengths the kernel tests run: all of
// 1…200, and those around 256 and 512, where a count's low byte (all
// that BZHI reads) wraps to 0.
func rowKernelLengths() []int {
	var ns []int
	for n := 1; n <= 200; n++ {
		ns = append(ns, n)
	}
	for _, c := range []int{256, 512} {
		for n := c - 33; n <= c+33; n++ {
			ns = append(ns, n)
		}
	}
	return ns
}

// dwSplit2 and dwMerge2, assembly and Go, against index loops at lengths
// 0…200 and around 256 and 512 (odd and even: a gets the odd length's
// last value), on one row and on three rows at strides wider than the
// rows; every element of the buffers that is no output (guard bands
// before and after, the gaps between rows) must come back untouched.
func TestDepthwisePairKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	const guard = 40
	sentinel := float32(math.Inf(-1))
	kernels := []struct {
		name  string
		on    bool
		split func(a, b, r []float32, n, rows, rs, qs int)
		merge func(r, a, b []float32, n, rows, rs, qs int)
	}{
		{"go", true, dwSplit2Go[float32], dwMerge2Go[float32]},
		{"asm", hasDepthwiseAsm, dwSplit2Asm, dwMerge2Asm},
	}
	// guarded returns rows rows of m values at stride st in the middle of
	// buf, everything else sentinels.
	guarded := func(m, rows, st int) (o, buf []float32) {
		buf = make([]float32, guard+rows*st+guard)
		for i := range buf {
			buf[i] = sentinel
		}
		return buf[guard:], buf
	}
	// check fails where buf changed outside its rows of m values.
	check := func(t *testing.T, what string, buf []float32, m, st int) {
		t.Helper()
		for i, v := range buf {
			j := i - guard
			out := j >= 0 && j < len(buf)-2*guard && j%st < m
			if !out && v != sentinel {
				t.Fatalf("%s: wrote %d outside the output", what, j)
			}
		}
	}
	for _, k := range kernels {
		if !k.on {
			t.Logf("%s kernels not available on this CPU", k.name)
			continue
		}
		for _, n := range append([]int{0}, rowKernelLengths()...) {
			if n == 0 && k.name == "asm" {
				continue // the Asm wrappers take non-empty rows; dwSplit2 returns first
			}
			for _, rows := range []int{1, 3} {
				rs, qs := n+5, (n+1)/2+3
				what := fmt.Sprintf("%s n=%d rows=%d", k.name, n, rows)
				r := make([]float32, rows*rs)
				for i := range r {
					r[i] = float32(rng.Float64()*2 - 1)
				}
				a, abuf := guarded((n+1)/2, rows, qs)
				b, bbuf := guarded(n/2, rows, qs)
				k.split(a, b, r, n, rows, rs, qs)
				for y := 0; y < rows; y++ {
					for i := 0; i < n; i++ {
						got := a[y*qs+i/2]
						if i%2 == 1 {
							got = b[y*qs+i/2]
						}
						if want := r[y*rs+i]; got != want {
							t.Fatalf("%s split: row %d column %d = %v, want %v", what, y, i, got, want)
						}
					}
				}
				check(t, what+" split even", abuf, (n+1)/2, qs)
				check(t, what+" split odd", bbuf, n/2, qs)
				m, mbuf := guarded(n, rows, rs)
				k.merge(m, a, b, n, rows, rs, qs)
				for y := 0; y < rows; y++ {
					for i := 0; i < n; i++ {
						if got, want := m[y*rs+i], r[y*rs+i]; got != want {
							t.Fatalf("%s merge: row %d column %d = %v, want %v", what, y, i, got, want)
						}
					}
				}
				check(t, what+" merge", mbuf, n, rs)
			}
		}
	}
}
