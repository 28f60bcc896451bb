package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// nearestIndices are torch's nearest indices from in to out elements
// (o reads ⌊o·in/out⌋), or with random any indices in any order.
func nearestIndices(rng *rand.Rand, in, out int, random bool) []int {
	idx := make([]int, out)
	for o := range idx {
		idx[o] = o * in / out
		if random {
			idx[o] = rng.IntN(in)
		}
	}
	return idx
}

// TestInterpolateNearestKernels checks InterpolateNearest against its
// definition, bit for bit, and InterpolateNearestBackward against the
// sums of the output gradient's elements that read each input element
// in float64, to within the rounding of those sums in the element type
// (eps·(taps + 2) times the sum of their magnitudes), for one and two
// spatial dims: 2× upscaling (the doubling path) at widths 1…40,
// upscaling and downscaling by other factors, size-1 dims, random
// indices in any order (repeated and unread elements), channels-last
// inputs, empty batches and enough planes to split over threads, with
// the vector kernels and without. Nothing outside the outputs is
// written.
func TestInterpolateNearestKernels(t *testing.T) {
	type tc struct {
		in, out              []int // [N, C, S…] and the output's spatial size
		random, channelsLast bool
	}
	var cases []tc
	for w := 1; w <= 40; w += 1 + w/8 {
		cases = append(cases, tc{in: []int{1, 2, 3, w}, out: []int{6, 2 * w}})
		cases = append(cases, tc{in: []int{2, 1, w}, out: []int{2 * w}})
	}
	cases = append(cases,
		tc{in: []int{2, 3, 5, 4}, out: []int{7, 9}},
		tc{in: []int{1, 2, 9, 7}, out: []int{4, 3}},
		tc{in: []int{2, 2, 6, 7}, out: []int{10, 4}},
		tc{in: []int{1, 2, 1, 1}, out: []int{3, 5}},
		tc{in: []int{2, 2, 4, 5}, out: []int{1, 1}},
		tc{in: []int{2, 3, 6, 7}, out: []int{9, 8}, random: true},
		tc{in: []int{3, 2, 7}, out: []int{9}, random: true},
		tc{in: []int{2, 3, 4, 5}, out: []int{8, 10}, channelsLast: true},
		tc{in: []int{2, 3, 5}, out: []int{10}, channelsLast: true},
		tc{in: []int{2, 3, 5, 6}, out: []int{11, 7}, random: true, channelsLast: true},
		tc{in: []int{0, 3, 4, 5}, out: []int{8, 10}},
		tc{in: []int{4, 32, 20, 24}, out: []int{40, 48}},
	)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kernels := range []string{"vector", "loops"} {
		if kernels == "loops" {
			defer setVec(setVec(nil, true))
		}
		for _, c := range cases {
			name := fmt.Sprintf("%s/%v_to_%v", kernels, c.in, c.out)
			if c.random {
				name += "/random"
			}
			if c.channelsLast {
				name += "/channels_last"
			}
			index := make([][]int, len(c.out))
			for d, o := range c.out {
				index[d] = nearestIndices(rng, c.in[2+d], o, c.random)
			}
			t.Run(name+"/float32", func(t *testing.T) {
				testNearestKernels[float32](t, rng, backend.Float32, c.in, index, c.channelsLast)
			})
			t.Run(name+"/float64", func(t *testing.T) {
				testNearestKernels[float64](t, rng, backend.Float64, c.in, index, c.channelsLast)
			})
		}
	}
}

func testNearestKernels[T float](t *testing.T, rng *rand.Rand, dt backend.DType, in []int, index [][]int, channelsLast bool) {
	eps := math.Nextafter(1, 2) - 1
	if dt == backend.Float32 {
		eps = float64(math.Nextafter32(1, 2) - 1)
	}
	nsp := len(index)
	out := []int{in[0], in[1]}
	for _, idx := range index {
		out = append(out, len(idx))
	}
	// the multi-index (n·C + c, spatial…) of flat element e of shape
	split := func(e int, shape []int) []int {
		m := make([]int, len(shape))
		for d := len(shape) - 1; d >= 0; d-- {
			m[d], e = e%shape[d], e/shape[d]
		}
		return m
	}
	x := newInterpOperand[T](t, rng, dt, in, channelsLast, true)
	y := newInterpOperand[T](t, rng, dt, out, false, false)
	be.InterpolateNearest(y.v, x.v, index)
	y.checkGuards(t, "forward")
	for e := range backend.Numel(out) {
		m := split(e, out)
		src := append([]int(nil), m...)
		for d := range nsp {
			src[2+d] = index[d][m[2+d]]
		}
		if got, want := y.buf[y.v.Offset+e], x.at(src...); math.Float64bits(float64(got)) != math.Float64bits(float64(want)) {
			t.Fatalf("forward %v = %v, want %v", m, got, want)
		}
	}

	g := newInterpOperand[T](t, rng, dt, out, false, true)
	dx := newInterpOperand[T](t, rng, dt, in, false, false)
	be.InterpolateNearestBackward(dx.v, g.v, index)
	dx.checkGuards(t, "backward")
	want, mag, taps := make([]float64, backend.Numel(in)), make([]float64, backend.Numel(in)), make([]int, backend.Numel(in))
	for e := range backend.Numel(out) {
		m := split(e, out)
		i := m[0]*in[1] + m[1]
		for d := range nsp {
			i = i*in[2+d] + index[d][m[2+d]]
		}
		v := float64(g.buf[g.v.Offset+e])
		want[i] += v
		mag[i] += math.Abs(v)
		taps[i]++
	}
	for i, w := range want {
		if d := math.Abs(float64(dx.buf[dx.v.Offset+i]) - w); !(d <= eps*float64(taps[i]+2)*mag[i]) {
			t.Fatalf("backward [%d] = %v, want %v (taps %d)", i, dx.buf[dx.v.Offset+i], w, taps[i])
		}
	}
}

// TestInterpolateNearestBadInput: operands that do not fit the indices
// are a caller's bug, reported by a panic naming the shapes.
func TestInterpolateNearestBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := newInterpOperand[float32](t, rng, backend.Float32, []int{1, 2, 4, 4}, false, true)
	y := newInterpOperand[float32](t, rng, backend.Float32, []int{1, 2, 2, 3}, false, false)
	for _, c := range []struct {
		name  string
		index [][]int
	}{
		{"dims", [][]int{{0, 1, 2}}},
		{"count", [][]int{{0, 1}, {0, 1}}},
		{"range", [][]int{{0, 1}, {0, 1, 4}}},
		{"negative", [][]int{{0, -1}, {0, 1, 2}}},
	} {
		for _, f := range []func(){
			func() { be.InterpolateNearest(y.v, x.v, c.index) },
			func() { be.InterpolateNearestBackward(x.v, y.v, c.index) },
		} {
			func() {
				defer func() {
					if r := recover(); r == nil || !containsAll(fmt.Sprint(r), "[1 2 2 3]", "[1 2 4 4]") {
						t.Errorf("%s: panic %v", c.name, r)
					}
				}()
				f()
			}()
		}
	}
}
