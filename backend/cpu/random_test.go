package cpu

import (
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// Known-answer vectors for Philox4x32-10 from Random123's kat_vectors
// (Salmon et al., SC 2011).
func TestPhiloxKnownAnswers(t *testing.T) {
	cases := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		if got := Philox(c.ctr, c.key); got != c.want {
			t.Errorf("Philox(%#x, %#x) = %#x, want %#x", c.ctr, c.key, got, c.want)
		}
	}
}

// specBlock is the RandomSpec mapping's block n under seed, computed from
// Philox: the counter is the 64-bit block number as its low and high
// words (the upper two words 0), the key the seed's low and high words.
func specBlock(seed, n uint64) (u0, u1 uint64) {
	w := Philox([4]uint32{uint32(n), uint32(n >> 32), 0, 0}, [2]uint32{uint32(seed), uint32(seed >> 32)})
	return uint64(w[0]) | uint64(w[1])<<32, uint64(w[2]) | uint64(w[3])<<32
}

// specValue is element i of a draw as backend.RandomSpec documents it,
// with an absolute tolerance for the Normal case (whose sin/cos may be
// evaluated differently).
func specValue(spec backend.RandomSpec, dt backend.DType, i int) (want, atol float64) {
	u0, u1 := specBlock(spec.Seed, spec.Offset+uint64(i/2))
	u := u0
	if i%2 == 1 {
		u = u1
	}
	switch spec.Dist {
	case backend.Uniform:
		if dt == f32 {
			return float64(float32(spec.A + (spec.B-spec.A)*float64(u>>40)*0x1p-24)), 0
		}
		return spec.A + (spec.B-spec.A)*float64(u>>11)*0x1p-53, 0
	case backend.Integer:
		// A + ⌊u·(B−A) / 2⁶⁴⌋ in exact arithmetic
		p := new(big.Int).Mul(new(big.Int).SetUint64(u), big.NewInt(int64(spec.B)-int64(spec.A)))
		p.Rsh(p, 64)
		return float64(int64(spec.A) + p.Int64()), 0
	}
	v0 := float64((u0>>11)+1) * 0x1p-53
	v1 := float64(u1>>11) * 0x1p-53
	r := math.Sqrt(-2 * math.Log(v0))
	z := r * math.Cos(2*math.Pi*v1)
	if i%2 == 1 {
		z = r * math.Sin(2*math.Pi*v1)
	}
	want = spec.A + spec.B*z
	atol = 1e-12 * math.Abs(spec.B) * (r + 1)
	if dt == f32 {
		return float64(float32(want)), 1e-6 * math.Abs(spec.B) * (r + 1)
	}
	return want, atol
}

func drawRandom(t *testing.T, dt backend.DType, n int, spec backend.RandomSpec) operand {
	t.Helper()
	o := newOperand(t, dt, lkContig, []int{n}, func() float64 { return 0 })
	be.Random(o.view(), spec)
	return o
}

type randomCase struct {
	dt   backend.DType
	spec backend.RandomSpec
}

var randomCases = []randomCase{
	{f32, backend.RandomSpec{Dist: backend.Uniform, A: -2, B: 3}},
	{f64, backend.RandomSpec{Dist: backend.Uniform, A: 1, B: 1.5}},
	{f32, backend.RandomSpec{Dist: backend.Normal, A: 0, B: 1}},
	{f64, backend.RandomSpec{Dist: backend.Normal, A: 2, B: 0.5}},
	{i64, backend.RandomSpec{Dist: backend.Integer, A: -5, B: 7}},
	{i64, backend.RandomSpec{Dist: backend.Integer, A: -1e15, B: 3e15}},
}

func TestRandomMapping(t *testing.T) {
	for _, c := range randomCases {
		for _, seed := range []uint64{0, 42, 0x0123456789abcdef} {
			// offsets past 2³² exercise the counter's high word
			for _, off := range []uint64{0, 5, 1<<32 - 1, 0x123456789} {
				for _, n := range []int{0, 1, 2, 7, 64} {
					spec := c.spec
					spec.Seed, spec.Offset = seed, off
					o := drawRandom(t, c.dt, n, spec)
					for i := 0; i < n; i++ {
						want, atol := specValue(spec, c.dt, i)
						if got := o.at([]int{i}); !near(got, want, rtolOf(c.dt), atol) {
							t.Errorf("%v %+v n=%d: element %d = %v, want %v", c.dt, spec, n, i, got, want)
						}
					}
				}
			}
		}
	}
}

// The 0-d draw and a view at an offset into a larger buffer.
func TestRandomViews(t *testing.T) {
	for _, c := range randomCases {
		spec := c.spec
		spec.Seed, spec.Offset = 7, 3
		o := newOperand(t, c.dt, lkContig, []int{}, func() float64 { return 0 })
		be.Random(o.view(), spec)
		if want, atol := specValue(spec, c.dt, 0); !near(o.at(nil), want, rtolOf(c.dt), atol) {
			t.Errorf("%v 0-d: got %v, want %v", c.dt, o.at(nil), want)
		}
		s, _ := be.Alloc(c.dt, 20)
		v := operand{dt: c.dt, buf: s.(*Buffer), l: backend.Layout{Shape: []int{2, 5}, Strides: []int{5, 1}, Offset: 6}}
		for i := 0; i < 20; i++ {
			setBits(v.buf, i, encode(c.dt, 99))
		}
		be.Random(v.view(), spec)
		for i := 0; i < 20; i++ {
			got := decode(c.dt, getBits(v.buf, i))
			if i < 6 || i >= 16 {
				if got != 99 {
					t.Errorf("%v: element %d outside the view written", c.dt, i)
				}
				continue
			}
			if want, atol := specValue(spec, c.dt, i-6); !near(got, want, rtolOf(c.dt), atol) {
				t.Errorf("%v view: element %d = %v, want %v", c.dt, i-6, got, want)
			}
		}
	}
}

// Offset counts blocks: a draw at Offset+k continues a draw at Offset
// from its element 2k on.
func TestRandomOffsetShifts(t *testing.T) {
	for _, c := range randomCases {
		spec := c.spec
		spec.Seed = 99
		full := drawRandom(t, c.dt, 21, spec).values()
		for _, k := range []int{1, 4, 10} {
			s := spec
			s.Offset = uint64(k)
			part := drawRandom(t, c.dt, 21-2*k, s).values()
			for i, x := range part {
				if x != full[2*k+i] {
					t.Errorf("%v offset %d: element %d = %v, want element %d of the draw at 0 = %v", c.dt, k, i, x, 2*k+i, full[2*k+i])
				}
			}
		}
		if got := backend.Blocks(21); got != 11 {
			t.Errorf("Blocks(21) = %d, want 11", got)
		}
	}
}

// A draw large enough to be split over goroutines is the same for any
// thread count, and matches the mapping throughout.
func TestRandomThreads(t *testing.T) {
	const n = 300001
	for _, c := range randomCases {
		spec := c.spec
		spec.Seed, spec.Offset = 2024, 11
		var runs [][]uint64
		for _, p := range []int{1, 3} {
			t.Run(fmt.Sprintf("%v/%v/threads=%d", c.dt, c.spec.Dist, p), func(t *testing.T) {
				withThreads(t, p)
				o := drawRandom(t, c.dt, n, spec)
				runs = append(runs, o.snapshot())
				for i := 0; i < n; i += 997 {
					want, atol := specValue(spec, c.dt, i)
					if got := o.at([]int{i}); !near(got, want, rtolOf(c.dt), atol) {
						t.Errorf("element %d = %v, want %v", i, got, want)
					}
				}
				if want, atol := specValue(spec, c.dt, n-1); !near(o.at([]int{n - 1}), want, rtolOf(c.dt), atol) {
					t.Errorf("last element = %v, want %v", o.at([]int{n - 1}), want)
				}
			})
		}
		for i := range runs[0] {
			if runs[0][i] != runs[1][i] {
				t.Errorf("%v %v: element %d differs between 1 and 3 threads", c.dt, c.spec.Dist, i)
				break
			}
		}
	}
}

// Moments of a million draws sit within 5 standard errors of the
// distribution's (the seeds are fixed, so this is deterministic; 5 SE
// would fail by chance about once in 3.5 million seeds).
func TestRandomStatistics(t *testing.T) {
	const n = 1000000
	moments := func(xs []float64) (mean, variance float64) {
		for _, x := range xs {
			mean += x
		}
		mean /= float64(len(xs))
		for _, x := range xs {
			variance += (x - mean) * (x - mean)
		}
		return mean, variance / float64(len(xs)-1)
	}
	cases := []struct {
		dt                backend.DType
		spec              backend.RandomSpec
		mean, vari, kurt4 float64 // kurt4 = E[(x−μ)⁴], for the variance's standard error
	}{
		{f64, backend.RandomSpec{Dist: backend.Uniform, A: 0, B: 1, Seed: 1}, 0.5, 1.0 / 12, 1.0 / 80},
		{f32, backend.RandomSpec{Dist: backend.Uniform, A: -2, B: 2, Seed: 2}, 0, 16.0 / 12, 256.0 / 80},
		{f64, backend.RandomSpec{Dist: backend.Normal, A: 2, B: 3, Seed: 3}, 2, 9, 3 * 81},
		{f32, backend.RandomSpec{Dist: backend.Normal, A: 0, B: 1, Seed: 4, Offset: 1 << 40}, 0, 1, 3},
	}
	for _, c := range cases {
		xs := drawRandom(t, c.dt, n, c.spec).values()
		lo, hi := c.spec.A, c.spec.B
		if c.spec.Dist == backend.Uniform {
			for i, x := range xs {
				if x < lo || x >= hi {
					t.Fatalf("%v %+v: element %d = %v outside [%v, %v)", c.dt, c.spec, i, x, lo, hi)
				}
			}
		}
		mean, vari := moments(xs)
		seMean := math.Sqrt(c.vari / n)
		seVar := math.Sqrt((c.kurt4 - c.vari*c.vari) / n)
		if math.Abs(mean-c.mean) > 5*seMean {
			t.Errorf("%v %+v: mean %v, want %v ± %v", c.dt, c.spec, mean, c.mean, 5*seMean)
		}
		if math.Abs(vari-c.vari) > 5*seVar {
			t.Errorf("%v %+v: variance %v, want %v ± %v", c.dt, c.spec, vari, c.vari, 5*seVar)
		}
	}

	// Integer draws: in range, and every value about equally often
	// (Pearson's χ² with 11 degrees of freedom; 45 is beyond its
	// 99.999% quantile).
	spec := backend.RandomSpec{Dist: backend.Integer, A: -5, B: 7, Seed: 5}
	xs := drawRandom(t, i64, n, spec).values()
	counts := make([]float64, 12)
	for i, x := range xs {
		if x < -5 || x >= 7 || x != math.Trunc(x) {
			t.Fatalf("integer draw %d = %v outside [-5, 7)", i, x)
		}
		counts[int(x)+5]++
	}
	chi2 := 0.0
	for _, c := range counts {
		e := float64(n) / 12
		chi2 += (c - e) * (c - e) / e
	}
	if chi2 > 45 {
		t.Errorf("integer draws: χ² = %v over counts %v", chi2, counts)
	}
}
