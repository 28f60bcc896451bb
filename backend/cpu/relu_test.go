package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// reluSpecials are the values at the edges of ReLU's backward test: both
// zeros, both infinities, NaNs of both signs and with payloads, the
// smallest subnormals and ordinary numbers of both signs.
var reluSpecials = []float32{
	0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(0x7fc00000), math.Float32frombits(0xffc00000),
	math.Float32frombits(0x7f800001), math.Float32frombits(0xff800001),
	math.Float32frombits(0x7fffffff), math.Float32frombits(0xffffffff),
	math.Float32frombits(1), math.Float32frombits(0x80000001), 1, -1, 3.5, -2e-30,
}

// reluGradRef is the kernel's definition per element, in float64, as
// torch computes ReLU's gradient: 0 where y ≤ 0, else g (a NaN y passes
// g).
func reluGradRef(y, g float64) float64 {
	if y <= 0 {
		return 0
	}
	return g
}

// sameBitsNaN compares results bit for bit, any NaN matching any NaN.
func sameBitsNaN(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (a != a && b != b)
}

// TestReLUBackwardKernel sweeps lengths 0..70, longer lengths around the
// parallel split, and offsets, against the per-element definition, bit
// for bit, with special values of y and g, in place (dst = g) and not, in
// float32 and float64.
func TestReLUBackwardKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func() float32 {
		if r.IntN(3) == 0 {
			return reluSpecials[r.IntN(len(reluSpecials))]
		}
		return float32(r.NormFloat64())
	}
	var lengths []int
	for n := 0; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 1023, 1024, 1025, 2065, grain-1, grain+1, 2*grain+5)
	{
		for _, n := range lengths {
			for off := 0; off < 3; off++ {
				check := func(dt backend.DType, get func(s backend.Storage, i int) float64) {
					cpu := Get()
					yb, _ := cpu.Alloc(dt, n+off)
					gb, _ := cpu.Alloc(dt, n+off+1)
					db, _ := cpu.Alloc(dt, n+off+2)
					set := func(s backend.Storage, i int, v float32) {
						if dt == backend.Float32 {
							slice[float32](s)[i] = v
						} else {
							slice[float64](s)[i] = float64(v)
						}
					}
					for i := range n + off {
						set(yb, i, pick())
					}
					for i := range n + off + 1 {
						set(gb, i, pick())
					}
					view := func(s backend.Storage, o int) backend.View {
						return backend.View{Storage: s, Layout: backend.Layout{Shape: []int{n}, Strides: []int{1}, Offset: o}}
					}
					want := make([]float64, n)
					for i := range n {
						want[i] = reluGradRef(get(yb, off+i), get(gb, off+1+i))
					}
					cpu.ReLUBackward(view(db, off+2), view(gb, off+1), view(yb, off))
					cpu.ReLUBackward(view(gb, off+1), view(gb, off+1), view(yb, off)) // in place
					for i := range n {
						if !sameBitsNaN(get(db, off+2+i), want[i]) || !sameBitsNaN(get(gb, off+1+i), want[i]) {
							t.Fatalf("%v n=%d off=%d element %d: y=%v: got %v (in place %v), want %v",
								dt, n, off, i, get(yb, off+i), get(db, off+2+i), get(gb, off+1+i), want[i])
						}
					}
				}
				check(backend.Float32, func(s backend.Storage, i int) float64 { return float64(slice[float32](s)[i]) })
				check(backend.Float64, func(s backend.Storage, i int) float64 { return slice[float64](s)[i] })
			}
		}
	}
}

// BenchmarkReLUBackwardKernel compares the one-pass kernel with the three
// passes it replaces (compare to Bool, convert, multiply) on [128, 512].
func BenchmarkReLUBackwardKernel(b *testing.B) {
	const n = 128 * 512
	cpu := Get()
	mk := func(dt backend.DType) backend.View {
		s, _ := cpu.Alloc(dt, n)
		return backend.View{Storage: s, Layout: backend.Contiguous([]int{128, 512})}
	}
	y, g, d, m, mf := mk(backend.Float32), mk(backend.Float32), mk(backend.Float32), mk(backend.Bool), mk(backend.Float32)
	r := rand.New(rand.NewPCG(1, 2))
	for i, ys, gs := 0, slice[float32](y.Storage), slice[float32](g.Storage); i < n; i++ {
		ys[i], gs[i] = max(0, float32(r.NormFloat64())), float32(r.NormFloat64())
	}
	zero := mk(backend.Float32)
	zero.Strides = []int{0, 0}
	cpu.Fill(zero, 0)
	b.Run("fused", func(b *testing.B) {
		for b.Loop() {
			cpu.ReLUBackward(d, g, y)
		}
	})
	b.Run("composed", func(b *testing.B) {
		for b.Loop() {
			cpu.Binary(backend.Gt, m, y, zero)
			cpu.Copy(mf, m)
			cpu.Binary(backend.Mul, mf, mf, g)
		}
	})
}
