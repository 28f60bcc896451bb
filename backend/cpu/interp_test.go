package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// interpGuard fills the memory around the kernels' operands; a kernel
// that writes outside its output changes it.
const interpGuard = 1234.5

// interpOperand is a [N, C, S…] view of a fresh buffer with guard
// elements before and after, laid out channels-last ([N, S…, C] in
// memory) when channelsLast is set, and its elements as float64.
type interpOperand[T float] struct {
	v   backend.View
	buf []T
}

func newInterpOperand[T float](t *testing.T, rng *rand.Rand, dt backend.DType, shape []int, channelsLast, fill bool) interpOperand[T] {
	t.Helper()
	const pad = 3
	n := backend.Numel(shape)
	s, err := be.Alloc(dt, pad+n+pad)
	if err != nil {
		t.Fatal(err)
	}
	buf := slice[T](s)
	for i := range buf {
		buf[i] = interpGuard
		if fill && i >= pad && i < pad+n {
			buf[i] = T(rng.NormFloat64())
		}
	}
	st := backend.ContiguousStrides(shape)
	if channelsLast && n > 0 {
		// memory order N, S…, C
		acc := shape[1]
		for d := len(shape) - 1; d >= 2; d-- {
			st[d] = acc
			acc *= shape[d]
		}
		st[1], st[0] = 1, acc
	}
	return interpOperand[T]{backend.View{Storage: s, Layout: backend.Layout{Shape: shape, Strides: st, Offset: pad}}, buf}
}

// at is the element at multi-index idx.
func (o interpOperand[T]) at(idx ...int) T {
	p := o.v.Offset
	for d, i := range idx {
		p += i * o.v.Strides[d]
	}
	return o.buf[p]
}

// checkGuards fails if an element outside the view's span changed.
func (o interpOperand[T]) checkGuards(t *testing.T, what string) {
	t.Helper()
	n := backend.Numel(o.v.Shape)
	for i, v := range o.buf {
		if (i < o.v.Offset || i >= o.v.Offset+n) && v != interpGuard {
			t.Fatalf("%s: guard element %d is %v", what, i, v)
		}
	}
}

// kernelTaps are random taps from in to out elements: torch's linear
// interpolation taps (monotone, neighbouring indices), or with random any
// indices in any order and weights of any sign.
func kernelTaps(rng *rand.Rand, in, out int, random bool) ([]int, []float64) {
	idx, w := make([]int, 2*out), make([]float64, 2*out)
	for o := range out {
		if random {
			idx[2*o], idx[2*o+1] = rng.IntN(in), rng.IntN(in)
			w[2*o], w[2*o+1] = rng.NormFloat64(), rng.NormFloat64()
			continue
		}
		src := max((float64(o)+0.5)*float64(in)/float64(out)-0.5, 0)
		i0 := int(src)
		idx[2*o], idx[2*o+1] = i0, min(i0+1, in-1)
		w[2*o+1] = src - float64(i0)
		w[2*o] = 1 - w[2*o+1]
	}
	return idx, w
}

// TestInterpolateLinearKernels checks InterpolateLinear against its
// definition evaluated directly (along W, then H, each blend rounded as
// two products and a sum in the element type), bit for bit, and
// InterpolateLinearBackward against the transposed sums in float64, for
// one and two spatial dims: output widths 1…40 (the vector kernels'
// tails), upscaling and downscaling, size-1 dims, random taps in any
// order (the row cache's evictions), channels-last inputs and output
// gradients, empty batches, and enough planes to split over threads,
// with the vector kernels and with their Go twins. Nothing outside the
// outputs is written.
func TestInterpolateLinearKernels(t *testing.T) {
	type tc struct {
		in, out              []int // [N, C, S…] and the output's spatial size
		random, channelsLast bool
	}
	var cases []tc
	for w := 1; w <= 40; w++ {
		cases = append(cases, tc{in: []int{1, 2, 3, 1 + w%7}, out: []int{2 + w%3, w}})
		cases = append(cases, tc{in: []int{2, 1, 1 + w%5}, out: []int{w}})
	}
	cases = append(cases,
		tc{in: []int{2, 3, 5, 6}, out: []int{3, 4}},
		tc{in: []int{1, 2, 1, 1}, out: []int{3, 5}},
		tc{in: []int{2, 2, 4, 5}, out: []int{1, 1}},
		tc{in: []int{2, 3, 6, 7}, out: []int{9, 8}, random: true},
		tc{in: []int{3, 2, 7}, out: []int{9}, random: true},
		tc{in: []int{2, 3, 4, 5}, out: []int{8, 10}, channelsLast: true},
		tc{in: []int{2, 3, 5}, out: []int{9}, channelsLast: true},
		tc{in: []int{2, 3, 5, 6}, out: []int{11, 7}, random: true, channelsLast: true},
		tc{in: []int{0, 3, 4, 5}, out: []int{8, 10}},
		tc{in: []int{4, 32, 20, 24}, out: []int{40, 48}},
	)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, kernels := range []string{"simd", "go"} {
		if kernels == "go" {
			defer setVec(setVec(nil, false))
		}
		for _, c := range cases {
			name := fmt.Sprintf("%s/%v_to_%v", kernels, c.in, c.out)
			if c.random {
				name += "/random"
			}
			if c.channelsLast {
				name += "/channels_last"
			}
			t.Run(name+"/float32", func(t *testing.T) {
				testInterpKernels[float32](t, rng, backend.Float32, c.in, c.out, c.random, c.channelsLast, 1e-5)
			})
			t.Run(name+"/float64", func(t *testing.T) {
				testInterpKernels[float64](t, rng, backend.Float64, c.in, c.out, c.random, c.channelsLast, 1e-12)
			})
		}
	}
}

func testInterpKernels[T float](t *testing.T, rng *rand.Rand, dt backend.DType, in, outSp []int, random, channelsLast bool, tol float64) {
	nsp := len(outSp)
	out := append(in[:2:2], outSp...)
	index, weight := make([][]int, nsp), make([][]float64, nsp)
	for d := range nsp {
		index[d], weight[d] = kernelTaps(rng, in[2+d], outSp[d], random)
	}
	x := newInterpOperand[T](t, rng, dt, in, channelsLast, true)
	y := newInterpOperand[T](t, rng, dt, out, false, false)
	be.InterpolateLinear(y.v, x.v, index, weight)
	y.checkGuards(t, "forward")
	x.checkGuards(t, "forward input")

	// the definition, one plane at a time: along W into rows, then along H
	h, ho, wo := 1, 1, outSp[nsp-1]
	if nsp == 2 {
		h, ho = in[2], outSp[0]
	}
	tap := func(d, o int) (i0, i1 int, w0, w1 T) {
		return index[d][2*o], index[d][2*o+1], T(weight[d][2*o]), T(weight[d][2*o+1])
	}
	for n := range in[0] {
		for c := range in[1] {
			rows := make([][]T, h)
			for r := range h {
				rows[r] = make([]T, wo)
				for o := range wo {
					i0, i1, w0, w1 := tap(nsp-1, o)
					if nsp == 1 {
						rows[r][o] = T(w0*x.at(n, c, i0)) + T(w1*x.at(n, c, i1))
					} else {
						rows[r][o] = T(w0*x.at(n, c, r, i0)) + T(w1*x.at(n, c, r, i1))
					}
				}
			}
			for oh := range ho {
				for o := range wo {
					var want, got T
					if nsp == 2 {
						i0, i1, w0, w1 := tap(0, oh)
						want, got = T(w0*rows[i0][o])+T(w1*rows[i1][o]), y.at(n, c, oh, o)
					} else {
						want, got = rows[0][o], y.at(n, c, o)
					}
					if math.Float64bits(float64(got)) != math.Float64bits(float64(want)) {
						t.Fatalf("y[%d, %d, %d, %d] = %v, want %v", n, c, oh, o, got, want)
					}
				}
			}
		}
	}

	// the adjoint: dx[…, i…] = Σ g[…, o…]·∏ w over the taps from i to o
	g := newInterpOperand[T](t, rng, dt, out, channelsLast, true)
	dx := newInterpOperand[T](t, rng, dt, in, false, false)
	be.InterpolateLinearBackward(dx.v, g.v, index, weight)
	dx.checkGuards(t, "backward")
	g.checkGuards(t, "backward input")
	hi, wi := 1, in[nsp+1]
	if nsp == 2 {
		hi = in[2]
	}
	for n := range in[0] {
		for c := range in[1] {
			want := make([]float64, hi*wi)
			for oh := range ho {
				hs := [][2]float64{{0, 1}} // (input row, weight)
				if nsp == 2 {
					hs = [][2]float64{{float64(index[0][2*oh]), weight[0][2*oh]}, {float64(index[0][2*oh+1]), weight[0][2*oh+1]}}
				}
				for o := range wo {
					var gv float64
					if nsp == 2 {
						gv = float64(g.at(n, c, oh, o))
					} else {
						gv = float64(g.at(n, c, o))
					}
					for _, hw := range hs {
						for k := range 2 {
							want[int(hw[0])*wi+index[nsp-1][2*o+k]] += hw[1] * weight[nsp-1][2*o+k] * gv
						}
					}
				}
			}
			for i, w := range want {
				var got float64
				if nsp == 2 {
					got = float64(dx.at(n, c, i/wi, i%wi))
				} else {
					got = float64(dx.at(n, c, i))
				}
				if !(math.Abs(got-w) <= tol*(1+math.Abs(w))) {
					t.Fatalf("dx[%d, %d, %d] = %v, want %v", n, c, i, got, w)
				}
			}
		}
	}
}
