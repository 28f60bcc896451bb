package cpu

// Conformance of the sliding-window kernels (Unfold, Fold, MaxPool)
// against direct loops written here from the definitions in package
// backend: every window, every tap, its input position computed from
// stride, padding and dilation. Sources are contiguous, transposed and
// step-sliced.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

type winCase struct {
	in    []int // [N, C, S…]
	k, s  []int
	p, d  []int
	pools []int // MaxPool output spatial sizes (nil: OutSize)
}

func (c winCase) window() backend.Window {
	return backend.Window{Kernel: c.k, Stride: c.s, Padding: c.p, Dilation: c.d}
}

func (c winCase) String() string {
	return fmt.Sprintf("in%v_k%v_s%v_p%v_d%v", c.in, c.k, c.s, c.p, c.d)
}

var winCases = []winCase{
	{in: []int{2, 3, 5, 4}, k: []int{3, 2}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}},
	{in: []int{1, 2, 7, 6}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}},
	{in: []int{2, 2, 9, 8}, k: []int{3, 2}, s: []int{2, 3}, p: []int{1, 0}, d: []int{2, 3}},
	{in: []int{1, 1, 4, 4}, k: []int{1, 1}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}},
	{in: []int{1, 3, 3, 3}, k: []int{3, 3}, s: []int{1, 1}, p: []int{2, 2}, d: []int{1, 1}},
	{in: []int{3, 2, 11}, k: []int{3}, s: []int{2}, p: []int{1}, d: []int{2}},
	{in: []int{1, 4, 6}, k: []int{2}, s: []int{1}, p: []int{0}, d: []int{1}},
	{in: []int{1, 1, 2, 2}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, // no window fits
	// three spatial dims (conv_nd.go)
	{in: []int{1, 2, 4, 5, 3}, k: []int{2, 3, 2}, s: []int{1, 2, 1}, p: []int{1, 0, 1}, d: []int{1, 1, 2}},
	{in: []int{2, 1, 3, 3, 4}, k: []int{3, 1, 2}, s: []int{2, 1, 1}, p: []int{1, 0, 0}, d: []int{1, 1, 1}},
}

// refTap is the input position of tap j of window o along one dim, and
// whether it lies inside [0, n).
func refTap(o, j, n, s, p, d int) (int, bool) {
	i := o*s - p + j*d
	return i, i >= 0 && i < n
}

// refOut is the number of windows, from the definition: every o ≥ 0
// whose last tap is inside the padded input.
func refOut(n, k, s, p, d int) int {
	o := 0
	for o*s+(k-1)*d <= n-1+2*p {
		o++
	}
	return o
}

// refWindows walks every (window, tap) pair: grid is the window grid,
// kernel the taps; inside reports the input multi-index when it is not
// padding.
func refWindows(c winCase, grid []int, fn func(win, tap []int, in []int, inside bool)) {
	sp := c.in[2:]
	forEachIndex(grid, func(win []int) {
		forEachIndex(c.k, func(tap []int) {
			in := make([]int, len(sp))
			ok := true
			for d := range sp {
				i, inside := refTap(win[d], tap[d], sp[d], c.s[d], c.p[d], c.d[d])
				in[d], ok = i, ok && inside
			}
			fn(win, tap, in, ok)
		})
	})
}

func (c winCase) grid() []int {
	g := make([]int, len(c.k))
	for d := range g {
		g[d] = refOut(c.in[2+d], c.k[d], c.s[d], c.p[d], c.d[d])
	}
	return g
}

func TestWindowOutSize(t *testing.T) {
	for _, c := range winCases {
		w := c.window()
		for d, want := range c.grid() {
			if got := w.OutSize(d, c.in[2+d]); got != want {
				t.Errorf("%v: OutSize(%d) = %d, want %d", c, d, got, want)
			}
		}
	}
}

func TestUnfold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range winCases {
		for _, dt := range []backend.DType{f32, f64} {
			for _, lk := range []layoutKind{lkContig, lkTrans, lkStep} {
				name := fmt.Sprintf("%v/%v/%v", c, dt, lk)
				src := newOperand(t, dt, lk, c.in, genFor(dt, rng, -2, 2))
				grid := c.grid()
				k, l := numel(c.k), numel(grid)
				shape := []int{c.in[0], c.in[1] * k, l}
				dst, _ := newOutput(t, dt, lkContig, shape, rng)
				be.Unfold(dst.view(), src.view(), c.window())
				want := make([]float64, numel(shape))
				for n := 0; n < c.in[0]; n++ {
					for ch := 0; ch < c.in[1]; ch++ {
						refWindows(c, grid, func(win, tap, in []int, inside bool) {
							if inside {
								want[linear(shape, []int{n, ch*k + linear(c.k, tap), linear(grid, win)})] = src.at(append([]int{n, ch}, in...))
							}
						})
					}
				}
				for i, got := range dst.values() {
					if got != want[i] {
						t.Fatalf("%s: element %d = %v, want %v", name, i, got, want[i])
					}
				}
			}
		}
	}
}

func TestFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range winCases {
		for _, dt := range []backend.DType{f32, f64} {
			for _, lk := range []layoutKind{lkContig, lkTrans, lkStep} {
				name := fmt.Sprintf("%v/%v/%v", c, dt, lk)
				grid := c.grid()
				k, l := numel(c.k), numel(grid)
				cshape := []int{c.in[0], c.in[1] * k, l}
				src := newOperand(t, dt, lk, cshape, genFor(dt, rng, -2, 2))
				dst, _ := newOutput(t, dt, lkContig, c.in, rng)
				be.Fold(dst.view(), src.view(), c.window())
				want := make([]float64, numel(c.in))
				mag := make([]float64, numel(c.in))
				for n := 0; n < c.in[0]; n++ {
					for ch := 0; ch < c.in[1]; ch++ {
						refWindows(c, grid, func(win, tap, in []int, inside bool) {
							if inside {
								v := src.at([]int{n, ch*k + linear(c.k, tap), linear(grid, win)})
								at := linear(c.in, append([]int{n, ch}, in...))
								want[at] += v
								mag[at] += math.Abs(v)
							}
						})
					}
				}
				for i, got := range dst.values() {
					if !near(got, want[i], 0, rtolOf(dt)*4*mag[i]) {
						t.Fatalf("%s: element %d = %v, want %v", name, i, got, want[i])
					}
				}
			}
		}
	}
}

// Fold is Unfold's adjoint: ⟨Unfold x, y⟩ = ⟨x, Fold y⟩, in float64.
func TestFoldIsUnfoldAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range winCases {
		grid := c.grid()
		cshape := []int{c.in[0], c.in[1] * numel(c.k), numel(grid)}
		x := newOperand(t, f64, lkContig, c.in, genFor(f64, rng, -1, 1))
		y := newOperand(t, f64, lkContig, cshape, genFor(f64, rng, -1, 1))
		ux, _ := newOutput(t, f64, lkContig, cshape, rng)
		fy, _ := newOutput(t, f64, lkContig, c.in, rng)
		be.Unfold(ux.view(), x.view(), c.window())
		be.Fold(fy.view(), y.view(), c.window())
		dot := func(a, b []float64) (s float64) {
			for i := range a {
				s += a[i] * b[i]
			}
			return s
		}
		lhs, rhs := dot(ux.values(), y.values()), dot(x.values(), fy.values())
		if math.Abs(lhs-rhs) > 1e-12*(1+math.Abs(lhs)) {
			t.Errorf("%v: <Unfold x, y> = %v, <x, Fold y> = %v", c, lhs, rhs)
		}
	}
}

var poolCases = []winCase{
	{in: []int{2, 3, 5, 4}, k: []int{2, 2}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}},
	{in: []int{1, 2, 7, 6}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}},
	// ceil mode: one more window along each dim, hanging over the end
	{in: []int{1, 2, 7, 6}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}, pools: []int{4, 4}},
	{in: []int{2, 2, 9, 8}, k: []int{3, 2}, s: []int{1, 3}, p: []int{1, 1}, d: []int{2, 3}},
	{in: []int{3, 2, 11}, k: []int{3}, s: []int{2}, p: []int{1}, d: []int{2}},
	{in: []int{1, 1, 5}, k: []int{2}, s: []int{2}, p: []int{0}, d: []int{1}, pools: []int{3}},
}

func TestMaxPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range poolCases {
		for _, dt := range []backend.DType{f32, f64} {
			for _, lk := range []layoutKind{lkContig, lkTrans, lkStep} {
				name := fmt.Sprintf("%v/%v/%v", c, dt, lk)
				// a coarse grid of values, so windows hold ties
				src := newOperand(t, dt, lk, c.in, genDiscrete(dt, rng))
				grid := c.pools
				if grid == nil {
					grid = c.grid()
				}
				oshape := append([]int{c.in[0], c.in[1]}, grid...)
				vals, _ := newOutput(t, dt, lkContig, oshape, rng)
				idx, _ := newOutput(t, i64, lkContig, oshape, rng)
				be.MaxPool(vals.view(), idx.view(), src.view(), c.window())
				wantV := make([]float64, numel(oshape))
				wantI := make([]int, numel(oshape))
				seen := make([]bool, numel(oshape))
				for n := 0; n < c.in[0]; n++ {
					for ch := 0; ch < c.in[1]; ch++ {
						refWindows(c, grid, func(win, tap, in []int, inside bool) {
							if !inside {
								return
							}
							at := linear(oshape, append([]int{n, ch}, win...))
							v := src.at(append([]int{n, ch}, in...))
							if !seen[at] || v > wantV[at] {
								wantV[at], wantI[at], seen[at] = v, linear(c.in[2:], in), true
							}
						})
					}
				}
				gv, gi := vals.values(), idx.values()
				for i := range wantV {
					if gv[i] != wantV[i] || int(gi[i]) != wantI[i] {
						t.Fatalf("%s: window %d = %v at %v, want %v at %v", name, i, gv[i], gi[i], wantV[i], wantI[i])
					}
				}
			}
		}
	}
}

func TestMaxPoolNaNAndInf(t *testing.T) {
	for _, dt := range []backend.DType{f32, f64} {
		// one window of four: NaN wins wherever it is; -Inf everywhere
		// keeps the first position
		for _, tc := range []struct {
			in   []float64
			want float64
			at   int
		}{
			{[]float64{1, math.NaN(), 3, 2}, math.NaN(), 1},
			{[]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1), math.Inf(-1)}, math.Inf(-1), 0},
			{[]float64{2, 5, 5, 1}, 5, 1},
		} {
			vals := tc.in
			src := newOperand(t, dt, lkContig, []int{1, 1, 2, 2}, func() float64 { v := vals[0]; vals = vals[1:]; return v })
			v, _ := newOutput(t, dt, lkContig, []int{1, 1, 1, 1}, rand.New(rand.NewPCG(1, 1)))
			i, _ := newOutput(t, i64, lkContig, []int{1, 1, 1, 1}, rand.New(rand.NewPCG(1, 1)))
			be.MaxPool(v.view(), i.view(), src.view(), backend.Window{Kernel: []int{2, 2}, Stride: []int{2, 2}, Padding: []int{0, 0}, Dilation: []int{1, 1}})
			got, at := v.values()[0], int(i.values()[0])
			if !near(got, tc.want, 0, 0) || at != tc.at {
				t.Errorf("%v %v: max %v at %d, want %v at %d", dt, tc.in, got, at, tc.want, tc.at)
			}
		}
	}
}

func TestWindowKernelsRejectIntegers(t *testing.T) {
	src := newOperand(t, i64, lkContig, []int{1, 1, 3}, func() float64 { return 1 })
	w := backend.Window{Kernel: []int{2}, Stride: []int{1}, Padding: []int{0}, Dilation: []int{1}}
	for name, f := range map[string]func(){
		"unfold": func() { be.Unfold(src.view(), src.view(), w) },
		"fold":   func() { be.Fold(src.view(), src.view(), w) },
		"max":    func() { be.MaxPool(src.view(), src.view(), src.view(), w) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s of Int64 did not panic", name)
				}
			}()
			f()
		}()
	}
}

// Large enough operands split over goroutines must give the same bits as
// one goroutine (which the tests above check against the definitions).
func TestWindowKernelsParallel(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	c := winCase{in: []int{4, 8, 30, 31}, k: []int{3, 3}, s: []int{1, 2}, p: []int{1, 1}, d: []int{1, 1}}
	grid := c.grid()
	cshape := []int{c.in[0], c.in[1] * numel(c.k), numel(grid)}
	oshape := append([]int{c.in[0], c.in[1]}, grid...)
	x := newOperand(t, f32, lkStep, c.in, genFor(f32, rng, -1, 1))
	y := newOperand(t, f32, lkTrans, cshape, genFor(f32, rng, -1, 1))
	run := func(threads int) (u, f, v, i []float64) {
		old := SetNumThreads(threads)
		defer SetNumThreads(old)
		uo, _ := newOutput(t, f32, lkContig, cshape, rng)
		fo, _ := newOutput(t, f32, lkContig, c.in, rng)
		vo, _ := newOutput(t, f32, lkContig, oshape, rng)
		io, _ := newOutput(t, i64, lkContig, oshape, rng)
		be.Unfold(uo.view(), x.view(), c.window())
		be.Fold(fo.view(), y.view(), c.window())
		be.MaxPool(vo.view(), io.view(), x.view(), c.window())
		return uo.values(), fo.values(), vo.values(), io.values()
	}
	u1, f1, v1, i1 := run(1)
	u4, f4, v4, i4 := run(4)
	for name, pair := range map[string][2][]float64{"unfold": {u1, u4}, "fold": {f1, f4}, "maxpool": {v1, v4}, "indices": {i1, i4}} {
		for j := range pair[0] {
			if pair[0][j] != pair[1][j] {
				t.Fatalf("%s: element %d is %v on 1 goroutine, %v on 4", name, j, pair[0][j], pair[1][j])
			}
		}
	}
}
