// Package halfref is the test oracle for the 16-bit float formats: it
// decodes bits from the formats' definitions and rounds by searching the
// sorted representable values for the nearest one (ties to the even bit
// pattern). It shares nothing with the conversions it checks
// (backend/half.go), and only tests import it.
package halfref

import (
	"math"
	"sort"
)

// Format is a 16-bit float format. The finite non-negative bit patterns
// 0…Inf-1 are in increasing order of value; Beyond is the value the
// pattern Inf would have if the exponent went on, so rounding at or past
// it overflows to Inf.
type Format struct {
	Name   string
	Value  func(uint16) float64 // the value of a bit pattern
	Inf    uint16               // the +Inf pattern
	Beyond float64
}

// Float16 is IEEE binary16 and BFloat16 is bfloat16.
var (
	Float16  = Format{"float16", float16Value, 0x7c00, 65536}
	BFloat16 = Format{"bfloat16", bfloat16Value, 0x7f80, 0x1p128}
)

// float16Value decodes 1 sign, 5 exponent (bias 15) and 10 fraction bits.
func float16Value(h uint16) float64 {
	return decode(h, 10, 0x1f, 15)
}

// bfloat16Value decodes 1 sign, 8 exponent (bias 127) and 7 fraction bits.
func bfloat16Value(h uint16) float64 {
	return decode(h, 7, 0xff, 127)
}

func decode(h uint16, fracBits uint, expMask int, bias int) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>fracBits) & expMask
	m := float64(h & (1<<fracBits - 1))
	scale := math.Exp2(float64(fracBits))
	switch e {
	case 0: // subnormal
		return sign * m / scale * math.Exp2(float64(1-bias))
	case expMask:
		if m != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	}
	return sign * (1 + m/scale) * math.Exp2(float64(e-bias))
}

// IsNaN reports whether pattern h is a NaN.
func (f Format) IsNaN(h uint16) bool { return math.IsNaN(f.Value(h)) }

// Nearest rounds x to the format, ties to the even pattern; NaN gives a NaN.
func (f Format) Nearest(x float64) uint16 {
	if math.IsNaN(x) {
		return f.Inf | 1
	}
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	if x >= f.Beyond {
		return sign | f.Inf
	}
	val := func(b int) float64 {
		if b == int(f.Inf) {
			return f.Beyond
		}
		return f.Value(uint16(b))
	}
	b := sort.Search(int(f.Inf)+1, func(i int) bool { return val(i) > x }) - 1
	lo, hi := x-val(b), val(b+1)-x
	if hi < lo || (hi == lo && b&1 == 1) {
		b++
	}
	return sign | uint16(b)
}
