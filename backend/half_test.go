package backend

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend/internal/halfref"
)

// The oracle (package halfref) decodes 16-bit formats from their
// definitions and rounds by searching the representable values for the
// nearest: nothing is shared with half.go.

var (
	binary16 = halfref.Float16
	bfloat16 = halfref.BFloat16
)

// Every bit pattern widens to the value the format defines.
func TestHalfDecode(t *testing.T) {
	for _, c := range []struct {
		f  halfref.Format
		to func(uint16) float32
	}{{binary16, Float16ToFloat32}, {bfloat16, BFloat16ToFloat32}} {
		for i := 0; i < 1<<16; i++ {
			h := uint16(i)
			got, want := float64(c.to(h)), c.f.Value(h)
			if math.IsNaN(want) != math.IsNaN(got) || !math.IsNaN(want) && (got != want || math.Signbit(got) != math.Signbit(want)) {
				t.Fatalf("%s: decoding %#04x gave %v, want %v", c.f.Name, h, got, want)
			}
		}
	}
}

// Every 16-bit pattern survives widening and narrowing; NaNs stay NaN.
func TestHalfRoundTrip(t *testing.T) {
	for _, c := range []struct {
		f    halfref.Format
		to   func(uint16) float32
		from func(float32) uint16
	}{
		{binary16, Float16ToFloat32, Float32ToFloat16},
		{bfloat16, BFloat16ToFloat32, Float32ToBFloat16},
	} {
		for i := 0; i < 1<<16; i++ {
			h := uint16(i)
			back := c.from(c.to(h))
			if c.f.IsNaN(h) {
				if !c.f.IsNaN(back) {
					t.Fatalf("%s: NaN %#04x came back as %#04x, not a NaN", c.f.Name, h, back)
				}
				continue
			}
			if back != h {
				t.Fatalf("%s: %#04x came back as %#04x", c.f.Name, h, back)
			}
		}
	}
}

// checkRounding compares a conversion with the oracle on one float32.
func checkRounding(t *testing.T, f halfref.Format, conv func(float32) uint16, x float32) bool {
	t.Helper()
	got := conv(x)
	if math.IsNaN(float64(x)) {
		if !f.IsNaN(got) {
			t.Errorf("%s(NaN %#08x) = %#04x, not a NaN", f.Name, math.Float32bits(x), got)
			return false
		}
		return true
	}
	if want := f.Nearest(float64(x)); got != want {
		t.Errorf("%s(%v = %#08x) = %#04x (%v), want %#04x (%v)", f.Name, x, math.Float32bits(x), got, f.Value(got), want, f.Value(want))
		return false
	}
	return true
}

// float32s to try: random bit patterns over the whole range, random values
// inside the format's range, and for every pair of adjacent finite values
// the midpoint (a tie) and its float32 neighbours on either side.
func roundingInputs(f halfref.Format, rng *rand.Rand) []float32 {
	var xs []float32
	for i := 0; i < 100000; i++ {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	maxExp := math.Log2(f.Beyond)
	for i := 0; i < 100000; i++ {
		// log-uniform from below the smallest subnormal to past overflow
		e := -160 + (maxExp+162)*rng.Float64()
		if f.Inf == binary16.Inf {
			e = -27 + (maxExp+29)*rng.Float64()
		}
		x := float32(math.Exp2(e))
		if rng.IntN(2) == 0 {
			x = -x
		}
		xs = append(xs, x)
	}
	for b := 0; b < int(f.Inf); b++ {
		lo := f.Value(uint16(b))
		hi := f.Beyond
		if b+1 < int(f.Inf) {
			hi = f.Value(uint16(b + 1))
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
