package cpu

// Non-finite values through the convolutions. The implicit GEMMs compute
// over the padded width, with junk columns (windows that wrap across
// rows) whose dy is zero; a zero there times an Inf or NaN of the other
// operand would make a NaN that no real window has. These tests put ±Inf
// or NaN into one operand at a time (the input at its left and right
// columns, where the wrapped windows read it; dy; the weight) and hold
// forward, input gradient and weight gradient, element for element
// (NaN-ness, infinities with their sign, finite values), to float64 sums
// over the real windows only, written from the definitions in package
// backend: the forward product and the weight gradient multiply the
// zeros Unfold puts in the padding, the input gradient's Fold drops the
// columns' padding taps.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// nonFiniteCases take each stride-1 path: the implicit forward and weight
// gradient, the input gradient through foldBackInput (no padding) and as
// a flipped convolution ("same" padding, whole panels of channels),
// backWeightSmall and the unfolded forward (one input channel), groups,
// dilation, 1-d, a stride-2 case for the generic paths, and the second
// tile.
var nonFiniteCases = []convCase{
	{winCase{in: []int{3, 5, 6, 7}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 6, 1},
	{winCase{in: []int{3, 12, 5, 6}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 12, 1},
	{winCase{in: []int{3, 4, 7, 8}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 5, 1},
	{winCase{in: []int{3, 1, 8, 7}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 8, 1},
	{winCase{in: []int{3, 4, 6, 7}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 6, 2},
	{winCase{in: []int{3, 3, 9, 10}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 2}, d: []int{2, 2}}, 4, 1},
	{winCase{in: []int{3, 4, 11}, k: []int{3}, s: []int{1}, p: []int{1}, d: []int{1}}, 5, 1},
	{winCase{in: []int{3, 3, 7, 8}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}}, 4, 1},
	// 16 channels both ways: the 8×48 tile on AVX-512 (conv_kernel.go),
	// its weight gradient's panels packed in runs of 16
	{winCase{in: []int{3, 16, 5, 6}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 16, 1},
}

// nonFiniteSpot is one operand ("x", "w" or "dy") with special values
// written at some of its elements.
type nonFiniteSpot struct {
	operand string
	nan     bool // NaN; otherwise +Inf and −Inf alternately
}

func (s nonFiniteSpot) String() string {
	if s.nan {
		return s.operand + "NaN"
	}
	return s.operand + "Inf"
}

func TestConvNonFinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	k32, k64 := kernelFor[float32](), kernelFor[float64]()
	defer setKernels(k32, k64)
	kerns := []struct {
		name     string
		k32      *microKernel[float32]
		k64      *microKernel[float64]
		withSIMD bool
	}{
		{"simd", k32, k64, true},
		{"ref", refKernel[float32](5, 8, 12, 24, 10), refKernel[float64](3, 4, 7, 16, 6), false},
	}
	var spots []nonFiniteSpot
	for _, op := range []string{"x", "w", "dy"} {
		spots = append(spots, nonFiniteSpot{op, false}, nonFiniteSpot{op, true})
	}
	for _, kn := range kerns {
		if kn.withSIMD && k32 == nil {
			continue
		}
		setKernels(kn.k32, kn.k64)
		for _, c := range nonFiniteCases {
			for _, dt := range []backend.DType{f32, f64} {
				for _, threads := range []int{1, 3} {
					for _, sp := range spots {
						lk := []layoutKind{lkContig, lkTrans}[rng.IntN(2)]
						name := fmt.Sprintf("%s/%v/%v/t%d/%v/%v", kn.name, c, dt, threads, sp, lk)
						t.Run(name, func(t *testing.T) {
							defer SetNumThreads(SetNumThreads(threads))
							checkConvNonFinite(t, rng, c, dt, lk, sp)
						})
					}
				}
			}
		}
	}
}

// The cases take the paths they are meant for (with the SIMD kernels).
func TestConvNonFiniteDispatch(t *testing.T) {
	if kernelFor[float32]() == nil {
		t.Skip("no SIMD kernel")
	}
	defer SetNumThreads(SetNumThreads(1))
	shape := func(i int) convShape {
		c := nonFiniteCases[i]
		return convShapeOf("test", backend.Contiguous(c.in), c.window(), c.groups, c.cout)
	}
	for _, r := range []struct {
		what string
		ok   bool
	}{
		{"case 0: implicit GEMM", useImplicit[float32](shape(0)) && !useBackWeightSmall[float32](shape(0))},
		{"case 1: flipped input gradient", !useFoldInput[float32](shape(1))},
		{"case 2: fold input gradient", useFoldInput[float32](shape(2))},
		{"case 3: small weight gradient", useBackWeightSmall[float32](shape(3)) && smallRowsForward[float32](shape(3))},
		{"case 7: generic", !useImplicit[float32](shape(7))},
		{"case 8: second tile", altKernel(kernelFor[float32]()) == nil || convBackWeightKernel[float32](shape(8)) != kernelFor[float32]()},
	} {
		if !r.ok {
			t.Errorf("%s not taken", r.what)
		}
	}
}

// plantNonFinite writes sp's special values into o: for the input, one
// element at the first or last column of a row (an element the wrapped
// windows of the padded width read for taps whose real windows never
// do; more of them would let real windows turn every tap of the channel
// NaN and hide a wrong one); for dy and the weight, a few elements
// spread over the operand.
func plantNonFinite(o operand, which string, sp nonFiniteSpot, rng *rand.Rand) {
	if which != sp.operand {
		return
	}
	sign := 1.0
	val := func() float64 {
		if sp.nan {
			return math.NaN()
		}
		sign = -sign
		return math.Inf(int(sign))
	}
	shape := o.l.Shape
	idx := make([]int, len(shape))
	for d := range idx {
		idx[d] = rng.IntN(shape[d])
	}
	if which == "x" {
		last := len(shape) - 1
		idx[last] = []int{0, shape[last] - 1}[rng.IntN(2)]
		o.set(idx, val())
		return
	}
	for range 3 {
		for d := range idx {
			idx[d] = rng.IntN(shape[d])
		}
		o.set(idx, val())
	}
}

func checkConvNonFinite(t *testing.T, rng *rand.Rand, c convCase, dt backend.DType, lk layoutKind, sp nonFiniteSpot) {
	x, w, dy := convOperands(t, rng, c, dt, lk)
	plantNonFinite(x, "x", sp, rng)
	plantNonFinite(w, "w", sp, rng)
	plantNonFinite(dy, "dy", sp, rng)
	wantY, wantDx, wantDw := refConvUnfold(c, x, w, dy)
	y, dx, dw := runConv(t, rng, c, dt, x, w, dy)
	tol := convTol(dt)
	for _, r := range []struct {
		what      string
		got, want []float64
	}{{"forward", y, wantY}, {"input gradient", dx, wantDx}, {"weight gradient", dw, wantDw}} {
		for i := range r.got {
			if !sameConvValue(r.got[i], r.want[i], tol) {
				t.Fatalf("%s: element %d = %v, want %v", r.what, i, r.got[i], r.want[i])
			}
		}
	}
}

// sameConvValue reports whether got is want: both NaN, the same infinity, or
// finite and within tol relative to want.
func sameConvValue(got, want, tol float64) bool {
	switch {
	case math.IsNaN(want):
		return math.IsNaN(got)
	case math.IsInf(want, 0):
		return got == want
	}
	return math.Abs(got-want) <= tol*(1+math.Abs(want))
}

// refConvUnfold is refConv with the padding of Unfold's columns as real
// zeros: the forward product adds weight·0 and the weight gradient dy·0
// for every tap in the padding (NaN where the other factor is not
// finite), as the products over Unfold's columns that define them do.
// The input gradient, a Fold, drops those taps.
func refConvUnfold(c convCase, x, w, dy operand) (y, dx, dw []float64) {
	grid := c.grid()
	k, l := numel(c.k), numel(grid)
	n, cin := c.in[0], c.in[1]
	ci, co := cin/c.groups, c.cout/c.groups
	y = make([]float64, n*c.cout*l)
	dx = make([]float64, numel(c.in))
	dw = make([]float64, c.cout*ci*k)
	for b := 0; b < n; b++ {
		for ch := 0; ch < cin; ch++ {
			g, cg := ch/ci, ch%ci
			refWindows(c.winCase, grid, func(win, tap, in []int, inside bool) {
				li, r := linear(grid, win), cg*k+linear(c.k, tap)
				xv := 0.0
				xi := append([]int{b, ch}, in...)
				if inside {
					xv = x.at(xi)
				}
				for o := g * co; o < (g+1)*co; o++ {
					wv := w.at([]int{o, r})
					gy := dy.at([]int{b, o, li})
					y[(b*c.cout+o)*l+li] += wv * xv
					dw[o*ci*k+r] += gy * xv
					if inside {
						dx[linear(c.in, xi)] += wv * gy
					}
				}
			})
		}
	}
	return y, dx, dw
}
