package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// slidingDim are torch's sliding windows of one dim of size n: kernel k,
// stride s, padding p, out windows, each window's divisor counting the
// padding (but not what a ceil-mode window hangs past it), or with
// exclude only the taps inside the input.
func slidingDim(n, k, s, p, out int, exclude bool) backend.AvgPoolDim {
	w := backend.AvgPoolDim{Start: make([]int, out), End: make([]int, out), Divisor: make([]float64, out)}
	for o := range out {
		start := o*s - p
		end := min(start+k, n+p)
		w.Start[o], w.End[o] = max(start, 0), min(end, n)
		w.Divisor[o] = float64(end - start)
		if exclude {
			w.Divisor[o] = float64(w.End[o] - w.Start[o])
		}
	}
	return w
}

// adaptiveDim are adaptive pooling's bins from n to out elements.
func adaptiveDim(n, out int) backend.AvgPoolDim {
	w := backend.AvgPoolDim{Start: make([]int, out), End: make([]int, out), Divisor: make([]float64, out)}
	for o := range out {
		w.Start[o], w.End[o] = o*n/out, ((o+1)*n+out-1)/out
		w.Divisor[o] = float64(w.End[o] - w.Start[o])
	}
	return w
}

// randomDim are out windows anywhere in [0, n], empty ones and
// overlapping ones among them, with divisors of either sign.
func randomDim(rng *rand.Rand, n, out int) backend.AvgPoolDim {
	w := backend.AvgPoolDim{Start: make([]int, out), End: make([]int, out), Divisor: make([]float64, out)}
	for o := range out {
		a, b := rng.IntN(n+1), rng.IntN(n+1)
		w.Start[o], w.End[o] = min(a, b), max(a, b)
		w.Divisor[o] = (0.5 + rng.Float64()) * float64(1-2*rng.IntN(2))
	}
	return w
}

// avgPoolRef is AvgPool by its definition in float64 for a contiguous
// x of shape [P, S…]: the output, and for each output the sum of the
// magnitudes of its terms (for an error bound) and its box's size.
func avgPoolRef(x []float64, in []int, dims []backend.AvgPoolDim) (y, mag []float64, taps []int) {
	nsp := len(dims)
	out := make([]int, nsp)
	for d := range dims {
		out[d] = len(dims[d].Start)
	}
	plane, oplane := backend.Numel(in[1:]), backend.Numel(out)
	y, mag, taps = make([]float64, in[0]*oplane), make([]float64, in[0]*oplane), make([]int, in[0]*oplane)
	o := make([]int, nsp)
	for p := range in[0] {
		for j := range oplane {
			r := j
			for d := nsp - 1; d >= 0; d-- {
				o[d], r = r%out[d], r/out[d]
			}
			div := 1.0
			for d := range dims {
				div *= dims[d].Divisor[o[d]]
			}
			var s, m float64
			n := 0
			var walk func(d, base int)
			walk = func(d, base int) {
				if d == nsp {
					s += x[p*plane+base]
					m += math.Abs(x[p*plane+base])
					n++
					return
				}
				for i := dims[d].Start[o[d]]; i < dims[d].End[o[d]]; i++ {
					walk(d+1, base*in[1+d]+i)
				}
			}
			walk(0, 0)
			y[p*oplane+j], mag[p*oplane+j], taps[p*oplane+j] = s/div, m/math.Abs(div), n
		}
	}
	return y, mag, taps
}

// avgPoolBackRef is AvgPoolBackward by its definition in float64: the
// input gradient, and for each input element the sum of the magnitudes
// of its terms and their number.
func avgPoolBackRef(g []float64, in []int, dims []backend.AvgPoolDim) (dx, mag []float64, taps []int) {
	nsp := len(dims)
	out := make([]int, nsp)
	for d := range dims {
		out[d] = len(dims[d].Start)
	}
	plane, oplane := backend.Numel(in[1:]), backend.Numel(out)
	dx, mag, taps = make([]float64, in[0]*plane), make([]float64, in[0]*plane), make([]int, in[0]*plane)
	o := make([]int, nsp)
	for p := range in[0] {
		for j := range oplane {
			r := j
			for d := nsp - 1; d >= 0; d-- {
				o[d], r = r%out[d], r/out[d]
			}
			div := 1.0
			for d := range dims {
				div *= dims[d].Divisor[o[d]]
			}
			v := g[p*oplane+j] / div
			var walk func(d, base int)
			walk = func(d, base int) {
				if d == nsp {
					dx[p*plane+base] += v
					mag[p*plane+base] += math.Abs(v)
					taps[p*plane+base]++
					return
				}
				for i := dims[d].Start[o[d]]; i < dims[d].End[o[d]]; i++ {
					walk(d+1, base*in[1+d]+i)
				}
			}
			walk(0, 0)
		}
	}
	return dx, mag, taps
}

// TestAvgPoolKernels checks AvgPool and AvgPoolBackward against their
// definitions evaluated in float64, to within the rounding of their sums
// in the element type (eps·(taps + 2) times the sum of the terms'
// magnitudes: the kernels sum in another order), over one, two and three
// spatial dims: 2×2 stride-2 windows (the pairs path) at widths 2…40 (the
// vector kernels' tails), sliding windows with padding, ceil mode and
// excluded padding, adaptive bins that divide and that overlap, random
// windows (empty, overlapping, in any order, divisors of either sign),
// runs of consecutive rows to sum longer than rowSum takes at once,
// size-1 dims, empty batches and enough planes to split over threads,
// with the vector kernels and without. Nothing outside the outputs is
// written.
func TestAvgPoolKernels(t *testing.T) {
	type tc struct {
		name string
		in   []int // [P, S…]
		dims func(rng *rand.Rand) []backend.AvgPoolDim
	}
	var cases []tc
	for w := 2; w <= 40; w += 1 + w/8 {
		cases = append(cases, tc{fmt.Sprintf("pairs/w%d", w), []int{3, 4, w + w%2},
			func(*rand.Rand) []backend.AvgPoolDim {
				return []backend.AvgPoolDim{slidingDim(4, 2, 2, 0, 2, false), slidingDim(w+w%2, 2, 2, 0, (w+w%2)/2, false)}
			}})
		cases = append(cases, tc{fmt.Sprintf("pairs1d/w%d", w), []int{2, w},
			func(*rand.Rand) []backend.AvgPoolDim { return []backend.AvgPoolDim{slidingDim(w, 2, 2, 0, w/2, false)} }})
	}
	cases = append(cases,
		tc{"k3s2p1", []int{4, 7, 8}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{slidingDim(7, 3, 2, 1, 4, false), slidingDim(8, 3, 2, 1, 4, false)}
		}},
		tc{"k3s2p1/exclude/ceil", []int{2, 6, 7}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{slidingDim(6, 3, 2, 1, 4, true), slidingDim(7, 3, 2, 1, 4, true)}
		}},
		tc{"k3s1", []int{3, 9, 10}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{slidingDim(9, 3, 1, 0, 7, false), slidingDim(10, 3, 1, 0, 8, false)}
		}},
		tc{"floor_drops_edge", []int{2, 5, 7}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{slidingDim(5, 2, 2, 0, 2, false), slidingDim(7, 2, 2, 0, 3, false)}
		}},
		tc{"adaptive/divides", []int{3, 56, 56}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{adaptiveDim(56, 7), adaptiveDim(56, 7)}
		}},
		tc{"adaptive/overlaps", []int{3, 7, 5}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{adaptiveDim(7, 3), adaptiveDim(5, 3)}
		}},
		tc{"adaptive/upsample", []int{2, 3, 4}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{adaptiveDim(3, 5), adaptiveDim(4, 7)}
		}},
		tc{"adaptive/global", []int{5, 9, 11}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{adaptiveDim(9, 1), adaptiveDim(11, 1)}
		}},
		tc{"adaptive/runs7", []int{3, 14, 6}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{adaptiveDim(14, 2), adaptiveDim(6, 3)}
		}},
		tc{"adaptive/run130", []int{2, 130, 5}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{adaptiveDim(130, 1), adaptiveDim(5, 2)}
		}},
		tc{"adaptive1d", []int{4, 10}, func(*rand.Rand) []backend.AvgPoolDim { return []backend.AvgPoolDim{adaptiveDim(10, 4)} }},
		tc{"3d/k2", []int{2, 4, 6, 6}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{slidingDim(4, 2, 2, 0, 2, false), slidingDim(6, 2, 2, 0, 3, false), slidingDim(6, 2, 2, 0, 3, false)}
		}},
		tc{"3d/k3s2p1", []int{2, 5, 6, 7}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{slidingDim(5, 3, 2, 1, 3, true), slidingDim(6, 3, 2, 1, 3, false), slidingDim(7, 3, 2, 1, 4, false)}
		}},
		tc{"3d/adaptive", []int{2, 5, 7, 6}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{adaptiveDim(5, 3), adaptiveDim(7, 4), adaptiveDim(6, 4)}
		}},
		tc{"size1", []int{1, 1, 1}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{adaptiveDim(1, 1), adaptiveDim(1, 3)}
		}},
		tc{"random/1d", []int{3, 9}, func(rng *rand.Rand) []backend.AvgPoolDim { return []backend.AvgPoolDim{randomDim(rng, 9, 7)} }},
		tc{"random/2d", []int{3, 6, 8}, func(rng *rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{randomDim(rng, 6, 5), randomDim(rng, 8, 9)}
		}},
		tc{"random/3d", []int{2, 4, 5, 6}, func(rng *rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{randomDim(rng, 4, 3), randomDim(rng, 5, 4), randomDim(rng, 6, 5)}
		}},
		tc{"batch0", []int{0, 6, 6}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{slidingDim(6, 2, 2, 0, 3, false), slidingDim(6, 2, 2, 0, 3, false)}
		}},
		tc{"threads/pairs", []int{64, 24, 32}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{slidingDim(24, 2, 2, 0, 12, false), slidingDim(32, 2, 2, 0, 16, false)}
		}},
		tc{"threads/k3s2p1", []int{48, 28, 28}, func(*rand.Rand) []backend.AvgPoolDim {
			return []backend.AvgPoolDim{slidingDim(28, 3, 2, 1, 14, false), slidingDim(28, 3, 2, 1, 14, false)}
		}},
	)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kernels := range []string{"vector", "loops"} {
		if kernels == "loops" {
			defer setVec(setVec(nil, true))
		}
		for _, c := range cases {
			dims := c.dims(rng)
			t.Run(kernels+"/"+c.name+"/float32", func(t *testing.T) {
				testAvgPoolKernels[float32](t, rng, backend.Float32, c.in, dims)
			})
			t.Run(kernels+"/"+c.name+"/float64", func(t *testing.T) {
				testAvgPoolKernels[float64](t, rng, backend.Float64, c.in, dims)
			})
		}
	}
}

func testAvgPoolKernels[T float](t *testing.T, rng *rand.Rand, dt backend.DType, in []int, dims []backend.AvgPoolDim) {
	eps := math.Nextafter(1, 2) - 1
	if dt == backend.Float32 {
		eps = float64(math.Nextafter32(1, 2) - 1)
	}
	out := []int{in[0]}
	for _, d := range dims {
		out = append(out, len(d.Start))
	}
	check := func(what string, got []T, want, mag []float64, taps []int) {
		t.Helper()
		for i, w := range want {
			if d := math.Abs(float64(got[i]) - w); !(d <= eps*float64(taps[i]+2)*mag[i]) {
				t.Fatalf("%s [%d] = %v, want %v (taps %d, magnitude %v)", what, i, got[i], w, taps[i], mag[i])
			}
		}
	}
	x := newInterpOperand[T](t, rng, dt, in, false, true)
	y := newInterpOperand[T](t, rng, dt, out, false, false)
	be.AvgPool(y.v, x.v, dims)
	y.checkGuards(t, "forward")
	xv := make([]float64, backend.Numel(in))
	for i := range xv {
		xv[i] = float64(x.buf[x.v.Offset+i])
	}
	want, mag, taps := avgPoolRef(xv, in, dims)
	check("forward", y.buf[y.v.Offset:], want, mag, taps)

	g := newInterpOperand[T](t, rng, dt, out, false, true)
	dx := newInterpOperand[T](t, rng, dt, in, false, false)
	be.AvgPoolBackward(dx.v, g.v, dims)
	dx.checkGuards(t, "backward")
	gv := make([]float64, backend.Numel(out))
	for i := range gv {
		gv[i] = float64(g.buf[g.v.Offset+i])
	}
	want, mag, taps = avgPoolBackRef(gv, in, dims)
	check("backward", dx.buf[dx.v.Offset:], want, mag, taps)
}

// TestAvgPoolBadInput: operands that do not fit the windows are a
// caller's bug, reported by a panic naming the shapes.
func TestAvgPoolBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := newInterpOperand[float32](t, rng, backend.Float32, []int{2, 4, 4}, false, true)
	y := newInterpOperand[float32](t, rng, backend.Float32, []int{2, 2, 2}, false, false)
	ok := slidingDim(4, 2, 2, 0, 2, false)
	for _, c := range []struct {
		name string
		dims []backend.AvgPoolDim
	}{
		{"dims", []backend.AvgPoolDim{ok}},
		{"count", []backend.AvgPoolDim{ok, slidingDim(4, 2, 1, 0, 3, false)}},
		{"range", []backend.AvgPoolDim{ok, {Start: []int{0, 3}, End: []int{2, 5}, Divisor: []float64{2, 2}}}},
		{"reversed", []backend.AvgPoolDim{ok, {Start: []int{0, 3}, End: []int{2, 2}, Divisor: []float64{2, 2}}}},
	} {
		for _, f := range []func(){
			func() { be.AvgPool(y.v, x.v, c.dims) },
			func() { be.AvgPoolBackward(x.v, y.v, c.dims) },
		} {
			func() {
				defer func() {
					if r := recover(); r == nil || !containsAll(fmt.Sprint(r), "[2 2 2]", "[2 4 4]") {
						t.Errorf("%s: panic %v", c.name, r)
					}
				}()
				f()
			}()
		}
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
