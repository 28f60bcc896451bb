package backendtest

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/tapir-ml/tapir/backend"
)

// philox is Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel
// random numbers: as easy as 1, 2, 3", SC 2011), written from the paper:
// ten rounds of two 32×32→64-bit multiplications whose high halves are
// mixed with the other two words and the round key, the key bumped by
// the Weyl constants between rounds.
func philox(ctr [4]uint32, key [2]uint32) [4]uint32 {
	const (
		mulA, mulB   = 0xD2511F53, 0xCD9E8D57
		weylA, weylB = 0x9E3779B9, 0xBB67AE85
		rounds       = 10
	)
	for r := 0; r < rounds; r++ {
		hiA, loA := bits.Mul32(mulA, ctr[0])
		hiB, loB := bits.Mul32(mulB, ctr[2])
		ctr = [4]uint32{hiB ^ ctr[1] ^ key[0], loB, hiA ^ ctr[3] ^ key[1], loA}
		key[0] += weylA
		key[1] += weylB
	}
	return ctr
}

// randomBlock is RandomSpec's block n under seed as two 64-bit numbers.
func randomBlock(seed, n uint64) (u0, u1 uint64) {
	w := philox([4]uint32{uint32(n), uint32(n >> 32), 0, 0}, [2]uint32{uint32(seed), uint32(seed >> 32)})
	return uint64(w[0]) | uint64(w[1])<<32, uint64(w[2]) | uint64(w[3])<<32
}

// randomRef is the draw RandomSpec describes, element by element, as the
// bits of dt.
func randomRef(dt backend.DType, spec backend.RandomSpec, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		u0, u1 := randomBlock(spec.Seed, spec.Offset+uint64(i/2))
		u := u0
		if i%2 == 1 {
			u = u1
		}
		switch spec.Dist {
		case backend.Integer:
			hi, _ := bits.Mul64(u, uint64(int64(spec.B)-int64(spec.A)))
			out[i] = uint64(int64(spec.A) + int64(hi))
		case backend.Uniform:
			var v float64
			if dt == f32 {
				v = spec.A + (spec.B-spec.A)*float64(u>>40)*0x1p-24
				f, top := float32(v), float32(spec.B)
				if f >= top && spec.B > spec.A {
					f = math.Nextafter32(top, float32(math.Inf(-1)))
				}
				out[i] = uint64(math.Float32bits(f))
				continue
			}
			v = spec.A + (spec.B-spec.A)*float64(u>>11)*0x1p-53
			if v >= spec.B && spec.B > spec.A {
				v = math.Nextafter(spec.B, math.Inf(-1))
			}
			out[i] = math.Float64bits(v)
		case backend.Normal:
			v0 := float64((u0>>11)+1) * 0x1p-53
			v1 := float64(u1>>11) * 0x1p-53
			r := math.Sqrt(-2 * math.Log(v0))
			z := math.Cos(2 * math.Pi * v1)
			if i%2 == 1 {
				z = math.Sin(2 * math.Pi * v1)
			}
			out[i] = encode(dt, spec.A+spec.B*r*z)
		}
	}
	return out
}

// testRandom checks Random against randomRef: Uniform and Integer bit
// for bit (they are exact arithmetic on the stream), Normal within Tol/16
// per element of A + B·r (it goes through log, sqrt, sin and cos, whose
// last bit IEEE does not fix), and that a draw continued at Offset +
// Blocks(n) is the rest of one longer draw.
func testRandom(c *ctx) {
	type dcase struct {
		name string
		dt   backend.DType
		spec backend.RandomSpec
	}
	var cases []dcase
	for _, dt := range c.types(f32, f64) {
		cases = append(cases,
			dcase{"uniform", dt, backend.RandomSpec{Dist: backend.Uniform, A: -1, B: 3}},
			dcase{"uniform_unit", dt, backend.RandomSpec{Dist: backend.Uniform, A: 0, B: 1}},
			// a range so narrow that many draws round to B and must step below it
			dcase{"uniform_narrow", dt, backend.RandomSpec{Dist: backend.Uniform, A: 1, B: 1 + 0x1p-50}},
			dcase{"normal", dt, backend.RandomSpec{Dist: backend.Normal, A: 0.5, B: 2}},
		)
		if dt == f32 {
			cases[len(cases)-2].spec.B = 1 + 0x1p-21
		}
	}
	if c.has(i64) {
		cases = append(cases,
			dcase{"integer", i64, backend.RandomSpec{Dist: backend.Integer, A: -5, B: 17}},
			dcase{"integer_wide", i64, backend.RandomSpec{Dist: backend.Integer, A: -1 << 40, B: 1 << 52}},
		)
	}
	sizes := []int{0, 1, 2, 7, 64, 1001}
	if c.big() {
		sizes = append(sizes, 70001)
	}
	for _, k := range cases {
		c.run(k.name+"/"+k.dt.String(), func(c *ctx) {
			for _, n := range sizes {
				for _, seedOff := range [][2]uint64{{c.rng.Uint64(), c.rng.Uint64N(1 << 20)}, {0, 0}, {1<<63 | 12345, 1<<32 - 3}} {
					spec := k.spec
					spec.Seed, spec.Offset = seedOff[0], seedOff[1]
					what := fmt.Sprintf("Random %d elements, seed %#x offset %d", n, spec.Seed, spec.Offset)
					dst := c.output(k.dt, kPad, []int{n})
					c.s.be.Random(dst.view(), spec)
					if c.written(what, dst) {
						c.checkRandom(what, k.dt, dst, spec, randomRef(k.dt, spec, n))
					}
				}
			}
			// continuation: n1 then n2 elements at Offset+Blocks(n1) are
			// one draw of n1+n2 when n1 is even
			for _, n1 := range []int{2, 8, 100} {
				spec := k.spec
				spec.Seed, spec.Offset = c.rng.Uint64(), c.rng.Uint64N(1<<40)
				n2 := 9
				what := fmt.Sprintf("Random continued after %d elements at offset %d", n1, spec.Offset)
				first := c.output(k.dt, kContig, []int{n1})
				c.s.be.Random(first.view(), spec)
				next := spec
				next.Offset += backend.Blocks(n1)
				second := c.output(k.dt, kContig, []int{n2})
				c.s.be.Random(second.view(), next)
				if !c.written(what, first) || !c.written(what, second) {
					continue
				}
				whole := randomRef(k.dt, spec, n1+n2)
				c.checkRandom(what+" (first part)", k.dt, first, spec, whole[:n1])
				c.checkRandom(what+" (second part)", k.dt, second, next, whole[n1:])
			}
		})
	}
}

func (c *ctx) checkRandom(what string, dt backend.DType, dst *operand, spec backend.RandomSpec, want []uint64) {
	got := dst.values()
	reported := 0
	for i, g := range got {
		w := decode(dt, want[i])
		ok := g == w
		if spec.Dist == backend.Normal {
			// the scale of A + B·r·z is |A| + |B|·(r+1), and |B·r·z| = |w−A|
			scale := math.Abs(spec.A) + math.Abs(w-spec.A) + math.Abs(spec.B)
			ok = math.Abs(g-w) <= c.tol(dt)/4*scale
		}
		if spec.Dist == backend.Uniform && ok && !(g >= spec.A && g < spec.B) {
			ok = false
		}
		if !ok {
			if reported < maxReports {
				c.Errorf("%s: element %d: got %v, want %v", what, i, g, w)
			}
			reported++
		}
	}
	if reported > maxReports {
		c.Errorf("%s: %d of %d elements wrong in all", what, reported, len(got))
	}
}
