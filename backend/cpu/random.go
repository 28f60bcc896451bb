package cpu

import (
	"math"
	"math/bits"

	"github.com/tapir-ml/tapir/backend"
)

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011): a counter-based generator, so element i of a draw
// depends only on (seed, offset, i) and any number of goroutines, or a
// GPU, produce the same stream.

const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox returns the Philox4x32-10 block for counter c and key k.
func Philox(c [4]uint32, k [2]uint32) [4]uint32 {
	for r := 0; r < 10; r++ {
		if r > 0 {
			k[0] += philoxW0
			k[1] += philoxW1
		}
		hi0, lo0 := bits.Mul32(philoxM0, c[0])
		hi1, lo1 := bits.Mul32(philoxM1, c[2])
		c = [4]uint32{hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0}
	}
	return c
}

// block returns the two 64-bit numbers of counter block n under seed.
func block(seed, n uint64) (uint64, uint64) {
	w := Philox([4]uint32{uint32(n), uint32(n >> 32), 0, 0}, [2]uint32{uint32(seed), uint32(seed >> 32)})
	return uint64(w[0]) | uint64(w[1])<<32, uint64(w[2]) | uint64(w[3])<<32
}

// Random implements backend.Backend; see backend.RandomSpec for the
// exact mapping from the stream to values.
func (*CPU) Random(dst backend.View, spec backend.RandomSpec) {
	n := dst.Numel()
	if !dst.IsContiguous() {
		panic("cpu: random: dst must be contiguous")
	}
	switch dst.DType() {
	case backend.Float32:
		d := slice[float32](dst.Storage)[dst.Offset:]
		top := float32(math.Inf(1))
		if spec.Dist == backend.Uniform && spec.B > spec.A {
			top = math.Nextafter32(float32(spec.B), float32(math.Inf(-1)))
		}
		randomFill(n, spec, true, func(i int, v float64) { d[i] = min(float32(v), top) })
	case backend.Float64:
		d := slice[float64](dst.Storage)[dst.Offset:]
		top := math.Inf(1)
		if spec.Dist == backend.Uniform && spec.B > spec.A {
			top = math.Nextafter(spec.B, math.Inf(-1))
		}
		randomFill(n, spec, false, func(i int, v float64) { d[i] = min(v, top) })
	case backend.Int64:
		d := slice[int64](dst.Storage)[dst.Offset:]
		lo, span := int64(spec.A), uint64(int64(spec.B)-int64(spec.A))
		parallelFor((n+1)/2, grain/4, func(blo, bhi int) {
			for b := blo; b < bhi; b++ {
				u0, u1 := block(spec.Seed, spec.Offset+uint64(b))
				h0, _ := bits.Mul64(u0, span)
				d[2*b] = lo + int64(h0)
				if 2*b+1 < n {
					h1, _ := bits.Mul64(u1, span)
					d[2*b+1] = lo + int64(h1)
				}
			}
		})
	default:
		panic(badDType("random", dst.DType()))
	}
}

func randomFill(n int, spec backend.RandomSpec, f32 bool, set func(i int, v float64)) {
	a, b := spec.A, spec.B
	parallelFor((n+1)/2, grain/4, func(blo, bhi int) {
		for k := blo; k < bhi; k++ {
			u0, u1 := block(spec.Seed, spec.Offset+uint64(k))
			var v0, v1 float64
			switch spec.Dist {
			case backend.Uniform:
				v0, v1 = uniform(u0, f32), uniform(u1, f32)
				v0, v1 = a+(b-a)*v0, a+(b-a)*v1
			case backend.Normal:
				r := math.Sqrt(-2 * math.Log(float64((u0>>11)+1)*0x1p-53))
				t := 2 * math.Pi * float64(u1>>11) * 0x1p-53
				s, c := math.Sincos(t)
				v0, v1 = a+b*r*c, a+b*r*s
			}
			set(2*k, v0)
			if 2*k+1 < n {
				set(2*k+1, v1)
			}
		}
	})
}

func uniform(u uint64, f32 bool) float64 {
	if f32 {
		return float64(u>>40) * 0x1p-24
	}
	return float64(u>>11) * 0x1p-53
}
