package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// The squared-difference sum: each assembly kernel bit for bit against
// the twin of its lane count, and every table against a float64
// reference (differences rounded to float32, exact squares) within the
// bound of a reordered sum of positive terms, n·2⁻⁵² relative, on lengths
// 0..70 and long ones, at unaligned offsets, with NaN guard bands; and
// Inf and NaN anywhere propagate.
func TestRedSqDiff(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tbl := range redTables() {
		twin := goRedLanes(tbl.lanes)
		for _, n := range redLengths() {
			for off := range 3 {
				xs, ys := redInputs(rng, n, false), redInputs(rng, n, false)
				x, y := redGuarded(xs, vecGuard+off), redGuarded(ys, vecGuard+2-off)
				got, want := tbl.sqDiff(x, y), twin.sqDiff(xs, ys)
				if math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("%s n=%d off=%d: sum %v, twin %v", tbl.name, n, off, got, want)
				}
				var ref float64
				for i := range xs {
					d := float64(xs[i] - ys[i])
					ref += d * d
				}
				if math.Abs(got-ref) > float64(n+1)*0x1p-52*ref {
					t.Fatalf("%s n=%d: sum %v, reference %v", tbl.name, n, got, ref)
				}
			}
		}
		for _, c := range []struct {
			v    float32
			want float64
		}{{float32(math.Inf(1)), math.Inf(1)}, {float32(math.Inf(-1)), math.Inf(1)}, {float32(math.NaN()), math.NaN()}} {
			for _, n := range []int{1, 17, 40, 100} {
				xs, ys := redInputs(rng, n, false), redInputs(rng, n, false)
				xs[(7*n+3)%n] = c.v
				got := tbl.sqDiff(xs, ys)
				if !(got == c.want || got != got && c.want != c.want) {
					t.Errorf("%s n=%d with %v: sum %v, want %v", tbl.name, n, c.v, got, c.want)
				}
			}
		}
	}
}

// mseModes are the dispatches MSELoss and MSELossBackward must agree
// under: the default (assembly where the CPU has it), the pure-Go twins
// of the vector and reduction kernels, and vecOff (the generic loops for
// the sum; the backward's block kernels are the twins then).
var mseModes = []struct {
	name string
	set  func() func()
}{
	{"default", func() func() { return func() {} }},
	{"go", func() func() {
		k, off := setVec(nil, false)
		r := setRed(nil)
		return func() { setVec(k, off); setRed(r) }
	}},
	{"generic", func() func() {
		k, off := setVec(nil, true)
		return func() { setVec(k, off) }
	}},
}

// The backend's MSELoss and MSELossBackward, under every dispatch and at
// one and two threads, against references written here: the sum of the
// squared rounded differences in float64 (within the bound of a
// reordered sum of positive terms; the twins' and the generic loop's
// orders differ), and torch's backward rounding, (T(norm)·(x − y))·g in
// T, bit for bit, for dx alone, dy alone, and both. Lengths 0..70 and
// past the parallel threshold; float32 and float64; ±Inf and NaN among
// the inputs.
func TestMSELossKernels(t *testing.T) {
	lengths := append(redLengths(), 3*grain+5)
	for _, m := range mseModes {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/threads=%d", m.name, threads), func(t *testing.T) {
				defer m.set()()
				defer SetNumThreads(SetNumThreads(threads))
				rng := rand.New(rand.NewPCG(13, uint64(threads)))
				for _, n := range lengths {
					for _, dt := range []backend.DType{backend.Float32, backend.Float64} {
						testMSELossKernel(t, rng, n, dt)
					}
				}
			})
		}
	}
}

func testMSELossKernel(t *testing.T, rng *rand.Rand, n int, dt backend.DType) {
	t.Helper()
	mk := func(vals []float64) backend.View {
		s, err := theCPU.Alloc(dt, max(n, 1))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if dt == backend.Float32 {
				Float32s(s)[i] = float32(v)
			} else {
				Float64s(s)[i] = v
			}
		}
		return backend.View{Storage: s, Layout: backend.Contiguous([]int{n})}
	}
	get := func(v backend.View) []float64 {
		out := make([]float64, v.Numel())
		for i := range out {
			if dt == backend.Float32 {
				out[i] = float64(Float32s(v.Storage)[v.Offset+i])
			} else {
				out[i] = Float64s(v.Storage)[v.Offset+i]
			}
		}
		return out
	}
	specials := n < 100 && n%5 == 1
	xs, ys := make([]float64, n), make([]float64, n)
	for i := range xs {
		xs[i], ys[i] = rng.NormFloat64()*3, rng.Float64()
		if specials && i == n/2 {
			xs[i] = []float64{math.Inf(1), math.Inf(-1), math.NaN()}[n%3]
		}
	}
	x, y := mk(xs), mk(ys)
	round := func(v float64) float64 {
		if dt == backend.Float32 {
			return float64(float32(v))
		}
		return v
	}
	// the forward: Σ of the squares of the rounded differences
	var ref float64
	for i := range xs {
		d := round(round(xs[i]) - round(ys[i]))
		ref += d * d
	}
	for _, mean := range []bool{false, true} {
		dst := mk([]float64{0})
		dst.Layout = backend.Contiguous(nil)
		theCPU.MSELoss(dst, x, y, mean)
		got, want := get(dst)[0], ref
		if mean {
			want /= float64(n)
		}
		tol := float64(n+1) * 0x1p-52 * math.Abs(want)
		if dt == backend.Float32 {
			tol += math.Abs(want) * 0x1p-24 // the one rounding to float32
		}
		if !(math.Abs(got-want) <= tol || got == want || math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("%v n=%d mean=%v: loss %v, want %v", dt, n, mean, got, want)
		}
	}
	// the backward
	gv := rng.NormFloat64()
	g := mk([]float64{gv})
	g.Layout = backend.Contiguous(nil)
	norm := 2 / float64(max(n, 1))
	for _, which := range []string{"dx", "dy", "both"} {
		var dx, dy backend.View
		if which != "dy" {
			dx = mk(nil)
		}
		if which != "dx" {
			dy = mk(nil)
		}
		theCPU.MSELossBackward(dx, dy, x, y, g, norm)
		var gotX, gotY []float64
		if dx.Storage != nil {
			gotX = get(dx)
		}
		if dy.Storage != nil {
			gotY = get(dy)
		}
		for i := range xs {
			// torch's norm_val * (input - target) * grad_output in T
			want := round(round(round(norm)*round(round(xs[i])-round(ys[i]))) * round(gv))
			if gotX != nil && math.Float64bits(gotX[i]) != math.Float64bits(want) && !(math.IsNaN(gotX[i]) && math.IsNaN(want)) {
				t.Fatalf("%v n=%d %s: dx[%d] = %v, want %v", dt, n, which, i, gotX[i], want)
			}
			if gotY != nil && math.Float64bits(gotY[i]) != math.Float64bits(-want) && !(math.IsNaN(gotY[i]) && math.IsNaN(want)) {
				t.Fatalf("%v n=%d %s: dy[%d] = %v, want %v", dt, n, which, i, gotY[i], -want)
			}
		}
	}
}
