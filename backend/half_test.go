package backend

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// The oracles here decode 16-bit formats from their definitions and round
// by searching the sorted list of representable values for the nearest
// (ties to the even bit pattern): nothing is shared with half.go.

// halfValue decodes IEEE binary16 bits: 1 sign, 5 exponent (bias 15) and
// 10 fraction bits.
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10&0x1f), float64(h&0x3ff)
	switch e {
	case 0:
		return sign * m * math.Exp2(-24)
	case 0x1f:
		if m != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	}
	return sign * (1 + m/1024) * math.Exp2(float64(e-15))
}

// bf16Value decodes bfloat16 bits: 1 sign, 8 exponent (bias 127) and 7
// fraction bits.
func bf16Value(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>7&0xff), float64(h&0x7f)
	switch e {
	case 0:
		return sign * m * math.Exp2(-133)
	case 0xff:
		if m != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	}
	return sign * (1 + m/128) * math.Exp2(float64(e-127))
}

// format is a 16-bit float format for the oracle: value decodes bits, inf
// is the +Inf pattern (the finite non-negative patterns 0..inf-1 are in
// increasing order of value), beyond is the value the pattern inf would
// have if the exponent went on (rounding there overflows to Inf).
type format struct {
	name   string
	value  func(uint16) float64
	inf    uint16
	beyond float64
}

var (
	binary16 = format{"float16", halfValue, 0x7c00, 65536}
	bfloat16 = format{"bfloat16", bf16Value, 0x7f80, 0x1p128}
)

// nearest rounds x to the format by neighbour search, ties to even.
func (f format) nearest(x float64) uint16 {
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	if x >= f.beyond {
		return sign | f.inf
	}
	val := func(b int) float64 {
		if b == int(f.inf) {
			return f.beyond
		}
		return f.value(uint16(b))
	}
	b := sort.Search(int(f.inf)+1, func(i int) bool { return val(i) > x }) - 1
	lo, hi := x-val(b), val(b+1)-x
	if hi < lo || (hi == lo && b&1 == 1) {
		b++
	}
	return sign | uint16(b)
}

func (f format) isNaN(h uint16) bool { return math.IsNaN(f.value(h)) }

func TestFloat16Decode(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got, want := float64(Float16ToFloat32(h)), halfValue(h)
		if math.IsNaN(want) != math.IsNaN(got) || !math.IsNaN(want) && (got != want || math.Signbit(got) != math.Signbit(want)) {
			t.Fatalf("Float16ToFloat32(%#04x) = %v, want %v", h, got, want)
		}
	}
}

func TestBFloat16Decode(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got, want := float64(BFloat16ToFloat32(h)), bf16Value(h)
		if math.IsNaN(want) != math.IsNaN(got) || !math.IsNaN(want) && (got != want || math.Signbit(got) != math.Signbit(want)) {
			t.Fatalf("BFloat16ToFloat32(%#04x) = %v, want %v", h, got, want)
		}
	}
}

// Every 16-bit pattern survives widening and narrowing; NaNs stay NaN.
func TestHalfRoundTrip(t *testing.T) {
	for _, c := range []struct {
		f    format
		to   func(uint16) float32
		from func(float32) uint16
	}{
		{binary16, Float16ToFloat32, Float32ToFloat16},
		{bfloat16, BFloat16ToFloat32, Float32ToBFloat16},
	} {
		for i := 0; i < 1<<16; i++ {
			h := uint16(i)
			back := c.from(c.to(h))
			if c.f.isNaN(h) {
				if !c.f.isNaN(back) {
					t.Fatalf("%s: NaN %#04x came back as %#04x, not a NaN", c.f.name, h, back)
				}
				continue
			}
			if back != h {
				t.Fatalf("%s: %#04x came back as %#04x", c.f.name, h, back)
			}
		}
	}
}

// checkRounding compares a conversion with the oracle on one float32.
func checkRounding(t *testing.T, f format, conv func(float32) uint16, x float32) bool {
	t.Helper()
	got := conv(x)
	if math.IsNaN(float64(x)) {
		if !f.isNaN(got) {
			t.Errorf("%s(NaN %#08x) = %#04x, not a NaN", f.name, math.Float32bits(x), got)
			return false
		}
		return true
	}
	if want := f.nearest(float64(x)); got != want {
		t.Errorf("%s(%v = %#08x) = %#04x (%v), want %#04x (%v)", f.name, x, math.Float32bits(x), got, f.value(got), want, f.value(want))
		return false
	}
	return true
}

// float32s to try: random bit patterns over the whole range, random values
// inside the format's range, and for every pair of adjacent finite values
// the midpoint (a tie) and its float32 neighbours on either side.
func roundingInputs(f format, rng *rand.Rand) []float32 {
	var xs []float32
	for i := 0; i < 100000; i++ {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	maxExp := math.Log2(f.beyond)
	for i := 0; i < 100000; i++ {
		// log-uniform from below the smallest subnormal to past overflow
		e := -160 + (maxExp+162)*rng.Float64()
		if f.inf == binary16.inf {
			e = -27 + (maxExp+29)*rng.Float64()
		}
		x := float32(math.Exp2(e))
		if rng.IntN(2) == 0 {
			x = -x
		}
		xs = append(xs, x)
	}
	for b := 0; b < int(f.inf); b++ {
		lo := f.value(uint16(b))
		hi := f.beyond
		if b+1 < int(f.inf) {
			hi = f.value(uint16(b + 1))
		}
		mid := float32((lo + hi) / 2) // exact: one bit more than the format
		if float64(mid) != (lo+hi)/2 {
			continue // midpoints below float32's subnormal resolution
		}
		for _, x := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, float32(math.Inf(1)))} {
			xs = append(xs, x, -x)
		}
	}
	return xs
}

var float32Edges = []float32{
	0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
	math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 0x1p-126,
	1, -1, 1.5, 0.1, 1.0 / 3,
	65504, 65519, 65519.996, 65520, 65536, -65520, 1e5,
	0x1p-24, 0x1p-25, 0x1p-25 * 1.0000001, 3 * 0x1p-26, 3 * 0x1p-25, 5 * 0x1p-25, 0x1p-14, 0x1p-14 * (1 - 0x1p-11), 0x1p-15,
	1 + 0x1p-11, 1 + 3*0x1p-11, 1 + 0x1p-11 + 0x1p-20, 2048 + 1, 2048 + 3,
	1 + 0x1p-8, 1 + 3*0x1p-8, 256 + 1, 3.3895314e38, 3.3961776e38, 3.4e38,
	float32(math.NaN()), math.Float32frombits(0x7f800001), math.Float32frombits(0xff800001),
	math.Float32frombits(0x7fc00000), math.Float32frombits(0x7fffffff), math.Float32frombits(0x7f802000),
}

func TestFloat32ToFloat16(t *testing.T) {
	// a few answers by hand, then the oracle everywhere
	hand := []struct {
		x    float32
		want uint16
	}{
		{65504, 0x7bff}, {65519, 0x7bff}, {65520, 0x7c00}, {-65520, 0xfc00}, {1e5, 0x7c00},
		{0x1p-24, 0x0001}, {0x1p-25, 0x0000}, {0x1p-25 * 1.0000001, 0x0001}, {3 * 0x1p-26, 0x0001}, {3 * 0x1p-25, 0x0002}, {5 * 0x1p-25, 0x0002},
		{0x1p-14, 0x0400}, {1, 0x3c00}, {1 + 0x1p-11, 0x3c00}, {1 + 3*0x1p-11, 0x3c02},
		{float32(math.Copysign(0, -1)), 0x8000}, {-2, 0xc000}, {float32(math.Inf(-1)), 0xfc00},
	}
	for _, c := range hand {
		if got := Float32ToFloat16(c.x); got != c.want {
			t.Errorf("Float32ToFloat16(%v) = %#04x, want %#04x", c.x, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	bad := 0
	for _, x := range append(float32Edges, roundingInputs(binary16, rng)...) {
		if !checkRounding(t, binary16, Float32ToFloat16, x) {
			if bad++; bad > 10 {
				t.Fatal("too many failures")
			}
		}
	}
}

func TestFloat32ToBFloat16(t *testing.T) {
	hand := []struct {
		x    float32
		want uint16
	}{
		{1, 0x3f80}, {1 + 0x1p-8, 0x3f80}, {1 + 3*0x1p-8, 0x3f82}, {1 + 0x1p-8 + 0x1p-20, 0x3f81},
		{math.MaxFloat32, 0x7f80}, {3.3895314e38, 0x7f7f}, {-2, 0xc000},
		{math.SmallestNonzeroFloat32, 0x0000}, {float32(math.Inf(1)), 0x7f80},
	}
	for _, c := range hand {
		if got := Float32ToBFloat16(c.x); got != c.want {
			t.Errorf("Float32ToBFloat16(%v) = %#04x, want %#04x", c.x, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	bad := 0
	for _, x := range append(float32Edges, roundingInputs(bfloat16, rng)...) {
		if !checkRounding(t, bfloat16, Float32ToBFloat16, x) {
			if bad++; bad > 10 {
				t.Fatal("too many failures")
			}
		}
	}
}
