package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// vecTables is every float32 kernel table this machine runs: the pure-Go
// twins and each assembly instruction set cpuid reports.
func vecTables() []*vecKernels[float32] {
	return append([]*vecKernels[float32]{goVec32()}, vecCandidates()...)
}

// ulpErr is the distance of got from the exact value want in float32 ulps
// at want (2⁻¹⁴⁹ below the normal range); NaN matches NaN, and a want
// that rounds to ±Inf (or is) must be met exactly.
func ulpErr(got float32, want float64) float64 {
	switch {
	case math.IsNaN(want) || math.IsNaN(float64(got)):
		if math.IsNaN(want) && math.IsNaN(float64(got)) {
			return 0
		}
		return math.Inf(1)
	case math.IsInf(float64(float32(want)), 0):
		if float64(got) == float64(float32(want)) {
			return 0
		}
		return math.Inf(1)
	}
	ulp := 0x1p-149
	if a := math.Abs(want); a >= 0x1p-126 {
		_, e := math.Frexp(a)
		ulp = math.Ldexp(1, e-24)
	}
	return math.Abs(float64(got)-want) / ulp
}

// vecMathCases are the transcendental kernels, their float64 references
// and the error bounds documented in vecmath.go.
var vecMathCases = []struct {
	k     vecUn
	name  string
	ref   func(float64) float64
	bound float64 // ulps
	a, b  float32 // the kernel's scalars
}{
	{vuExp, "exp", math.Exp, 1, 0, 0},
	{vuLog, "log", math.Log, 1, 0, 0},
	{vuTanh, "tanh", math.Tanh, 2, 0, 0},
	{vuSigmoid, "sigmoid", sigmoid, 2.5, 0, 0},
	{vuSilu, "silu", func(x float64) float64 { return x * sigmoid(x) }, 3, 0, 0},
	{vuGelu, "gelu", func(x float64) float64 { return x * math.Erfc(-x/math.Sqrt2) / 2 }, 6, 0, 0},
	{vuGeluTanh, "gelu tanh", geluTanhRef, 3, 0, 0},
	{vuErf, "erf", math.Erf, 2.5, 0, 0},
	{vuFloor, "floor", math.Floor, 0, 0, 0},
	{vuCeil, "ceil", math.Ceil, 0, 0, 0},
	{vuRound, "round", math.RoundToEven, 0, 0, 0},
	{vuLog1p, "log1p", math.Log1p, 1.5, 0, 0},
	{vuSin, "sin", math.Sin, 0.501, 0, 0},
	{vuCos, "cos", math.Cos, 0.501, 0, 0},
	{vuSoftplus, "softplus", func(x float64) float64 { return softplus64(x, 1, 20) }, 2, 1, 20},
	{vuCube, "cube", func(x float64) float64 { return math.Pow(x, 3) }, 0.501, 0, 0},
	{vuInvSquare, "invsquare", func(x float64) float64 { return math.Pow(x, -2) }, 0.501, 0, 0},
	{vuInvSqrt, "invsqrt", func(x float64) float64 { return math.Pow(x, -0.5) }, 0.501, 0, 0},
	{vuPow, "pow 2.5", func(x float64) float64 { return math.Pow(x, 2.5) }, 0.501, 2.5, 0},
	{vuPow, "pow 0.3", func(x float64) float64 { return math.Pow(x, 0.3) }, 0.501, 0.3, float32(0.3 - float64(float32(0.3)))},
	{vuPow, "pow -1.7", func(x float64) float64 { return math.Pow(x, -1.7) }, 0.501, -1.7, float32(-1.7 - float64(float32(-1.7)))},
	{vuPow, "pow 7", func(x float64) float64 { return math.Pow(x, 7) }, 0.501, 7, 0},
	{vuHardsigmoid, "hardsigmoid", func(x float64) float64 { return hardClamp(x) / 6 }, 1, 0, 0},
	{vuHardswish, "hardswish", hardswishRef, 2, 0, 0},
	{vuElu, "elu", func(x float64) float64 { return elu64(x, 1, 1) }, 0.501, 1, 1},
	// SELU's constants, as float32 scalars: the reference takes the same
	{vuElu, "selu", func(x float64) float64 { return elu64(x, float64(float32(seluA)), float64(float32(seluS))) }, 0.501, seluA, seluS},
	{vuLeakyGrad, "leaky grad", func(x float64) float64 { return leakyGrad(x, float64(float32(0.01))) }, 0, 0.01, 0},
	// exp32's ulp and the product's rounding, a·b rounded to float32
	// first; below −87.3 eˣ is denormal, which the product by a·b > 1
	// makes normal again with the denormal's last bit
	{vuEluGrad, "elu grad", func(x float64) float64 { return eluGrad64(x, 1, 1) }, 2, 1, 1},
	{vuEluGrad, "selu grad", func(x float64) float64 {
		if x > 0 {
			return float64(float32(seluS))
		}
		return math.Exp(x) * float64(float32(seluA)*float32(seluS))
	}, 2, seluA, seluS},
}

// geluTanhRef is GELU's tanh form ½·x·(1 + tanh(u)), u = √(2/π)·(x +
// 0.044715·x³), in float64 as x·σ(2u) = x/(1 + e^{−2u}): the same value,
// without the cancellation of 1 + tanh(u) for x < 0
// (TestGeluTanhRef checks the two agree where the first does not cancel).
func geluTanhRef(x float64) float64 {
	u := math.Sqrt(2/math.Pi) * (x + 0.044715*x*x*x)
	if math.IsInf(x, -1) {
		return math.NaN() // torch's −Inf·(1 + tanh(−Inf))
	}
	return x * sigmoid(2*u)
}

// hardswishRef is x·min(max(x + 3, 0), 6)/6 with torch's float32
// overflow: beyond float32's range x·6 is +Inf before the division.
func hardswishRef(x float64) float64 {
	p := x * hardClamp(x)
	if p > math.MaxFloat32 {
		return math.Inf(1)
	}
	return p / 6
}

// SELU's alpha and scale (Klambauer et al., 2017).
const (
	seluA = 1.6732632423543772848170429916717
	seluS = 1.0507009873554804934193349852946
)

// sweep32 is every step-th float32 bit pattern (both signs, denormals,
// ±Inf and NaNs included) and the special values.
func sweep32(step uint64) []float32 {
	xs := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		0x1p-149, -0x1p-149, 0x1p-126, 0x1.fffffcp-127, math.MaxFloat32, -math.MaxFloat32,
		88.72283, 88.72284, 89, -87.33655, -103.97208, -103.97209, -104, -200, 100, 1000, -1000,
		0.625, -0.625, 0.62499994, 0.9, -0.9, 1.2727922, -1.2727922, 9.01, 10, 20, -14.1, -13.5}
	for b := uint64(0); b < 1<<32; b += step {
		xs = append(xs, math.Float32frombits(uint32(b)))
	}
	// and densely over [−16, 16], where these functions do their work
	for x := float32(-16); x < 16; x += 1.0 / 4096 {
		xs = append(xs, x)
	}
	return xs
}

// TestVecGradAccuracy bounds the derivative kernels of SiLU, GELU and
// GELU's tanh form, sums of two terms that cancel where the derivative
// crosses 0 (near −1.28, −0.75 and −0.75), by their condition: within bound·2⁻²⁴·(|a| + |b|)
// of the float64 value a + b, the terms taken in float64 as well. Away
// from the crossings that is a few ulps of the result.
func TestVecGradAccuracy(t *testing.T) {
	step := uint64(331)
	if testing.Short() {
		step = 40009
	}
	xs := sweep32(step)
	got := make([]float32, len(xs))
	cases := []struct {
		k     vecUn
		name  string
		terms func(x float64) (a, b float64)
		bound float64
	}{
		{vuSiluGrad, "silu grad", func(x float64) (float64, float64) {
			s := sigmoid(x)
			return s, s * x * sigmoid(-x)
		}, 4},
		{vuGeluGrad, "gelu grad", func(x float64) (float64, float64) {
			return math.Erfc(-x/math.Sqrt2) / 2, x * math.Exp(-x*x/2) / math.Sqrt(2*math.Pi)
		}, 6},
		// σ(v) + x·σ(v)·σ(−v)·v′ with v = 2u, the derivative of x·σ(v)
		{vuGeluTanhGrad, "gelu tanh grad", func(x float64) (float64, float64) {
			v := 2 * math.Sqrt(2/math.Pi) * (x + 0.044715*x*x*x)
			dv := 2 * math.Sqrt(2/math.Pi) * (1 + 3*0.044715*x*x)
			return sigmoid(v), x * sigmoid(v) * sigmoid(-v) * dv
		}, 6},
	}
	for _, c := range cases {
		for _, tbl := range vecTables() {
			tbl.un[c.k](got, xs, 0, 0)
			worst, at := 0.0, float32(0)
			for i, x := range xs {
				a, b := c.terms(float64(x))
				want := a + b
				if math.IsNaN(want) || math.IsInf(float64(x), 0) {
					// NaN in, NaN out; at ±Inf the limits (0 and 1) or NaN (Inf·0)
					continue
				}
				// where the terms are denormal, what is left is absolute:
				// φ or e^x near 2⁻¹⁴⁹ and times x
				scale := max((math.Abs(a)+math.Abs(b))*0x1p-24, (1+math.Abs(float64(x)))*0x1p-149)
				e := math.Abs(float64(got[i])-want) / scale
				if e > worst || math.IsNaN(e) {
					worst, at = e, x
				}
			}
			t.Logf("%s/%s: max error %.3f (units of 2⁻²⁴ of the terms) at %v", c.name, tbl.name, worst, at)
			if !(worst <= c.bound) {
				t.Errorf("%s/%s: error %.3f at x = %v; bound %v", c.name, tbl.name, worst, at, c.bound)
			}
		}
	}
}

// siluDenormal is where e^x, a factor of silu(x), leaves the normal range.
const siluDenormal = -87.33655

func TestVecMathAccuracy(t *testing.T) {
	step := uint64(331)
	if testing.Short() {
		step = 40009
	}
	xs := sweep32(step)
	got := make([]float32, len(xs))
	for _, c := range vecMathCases {
		want := make([]float64, len(xs))
		for i, x := range xs {
			want[i] = c.ref(float64(x))
		}
		for _, tbl := range vecTables() {
			tbl.un[c.k](got, xs, c.a, c.b)
			worst, at := 0.0, float32(0)
			for i, g := range got {
				if c.k == vuSilu && xs[i] < siluDenormal && !math.IsInf(float64(xs[i]), -1) {
					// e^x is denormal: the bound is absolute, |x|·2⁻¹⁴⁹
					if !(math.Abs(float64(g)-want[i]) <= math.Abs(float64(xs[i]))*0x1p-149) {
						t.Errorf("silu/%s(%v) = %v, want %v ± |x|·2⁻¹⁴⁹", tbl.name, xs[i], g, want[i])
					}
					continue
				}
				if e := ulpErr(g, want[i]); e > worst || math.IsNaN(e) {
					worst, at = e, xs[i]
				}
			}
			t.Logf("%s/%s: max error %.3f ulp at %v (%d values)", c.name, tbl.name, worst, at, len(xs))
			if !(worst <= c.bound) {
				i := 0
				for i = range xs {
					if xs[i] == at || (at != at && xs[i] != xs[i]) {
						break
					}
				}
				t.Errorf("%s/%s: error %.3f ulp at x = %v (%#x): got %v, want %v; documented bound %v ulp",
					c.name, tbl.name, worst, at, math.Float32bits(at), got[i], want[i], c.bound)
			}
		}
	}
}

// The special values match Go's math after rounding to float32.
func TestVecMathSpecial(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	big := float32(1e30)
	cases := []struct {
		k       vecUn
		in, out []float32
	}{
		{vuExp, []float32{0, -200, 100, nan, inf, -inf, -104, 89, 0x1p-149}, []float32{1, 0, inf, nan, inf, 0, 0, inf, 1}},
		{vuLog, []float32{1, 0, float32(math.Copysign(0, -1)), -1, inf, -inf, nan, 0x1p-149}, []float32{0, -inf, -inf, nan, inf, nan, nan, float32(math.Log(0x1p-149))}},
		{vuTanh, []float32{0, inf, -inf, nan, 10, -10}, []float32{0, 1, -1, nan, 1, -1}},
		{vuSigmoid, []float32{0, inf, -inf, nan, 100, -1000}, []float32{0.5, 1, 0, nan, 1, 0}},
		{vuSilu, []float32{0, inf, nan, 100}, []float32{0, inf, nan, 100}},
		{vuGelu, []float32{0, inf, -inf, nan, 30, -30}, []float32{0, inf, nan, nan, 30, float32(math.Copysign(0, -1))}},
		// torch's NaN at −Inf (−Inf·0) and, for the derivative, at ±Inf
		{vuGeluTanh, []float32{0, negZero, inf, -inf, nan, 30, -30, math.MaxFloat32, -math.MaxFloat32, 0x1p-149, -0x1p-149},
			[]float32{0, negZero, inf, nan, nan, 30, negZero, math.MaxFloat32, negZero, 0, negZero}},
		{vuGeluTanhGrad, []float32{0, negZero, inf, -inf, nan, 30, -30, math.MaxFloat32, -math.MaxFloat32},
			[]float32{0.5, 0.5, nan, nan, nan, 1, negZero, 1, negZero}},
		{vuErf, []float32{0, inf, -inf, nan, 5, -5}, []float32{0, 1, -1, nan, 1, -1}},
		{vuFloor, []float32{-0.5, negZero, 0.5, 2.5, -2.5, inf, -inf, nan, 0x1p30 + 128}, []float32{-1, negZero, 0, 2, -3, inf, -inf, nan, 0x1p30 + 128}},
		{vuCeil, []float32{-0.5, negZero, 0.5, 2.5, -2.5, inf, -inf, nan}, []float32{negZero, negZero, 1, 3, -2, inf, -inf, nan}},
		{vuRound, []float32{-0.5, 0.5, 1.5, 2.5, -2.5, 0.49999997, inf, nan}, []float32{negZero, 0, 2, 2, -2, 0, inf, nan}},
		{vuLog1p, []float32{0, negZero, -1, -2, inf, -inf, nan, 0x1p-149, -0x1p-30}, []float32{0, negZero, -inf, nan, inf, nan, nan, 0x1p-149, -0x1p-30}},
		{vuSin, []float32{0, negZero, inf, -inf, nan, 0x1p-149, big, math.MaxFloat32}, []float32{0, negZero, nan, nan, nan, 0x1p-149, float32(math.Sin(float64(big))), float32(math.Sin(math.MaxFloat32))}},
		{vuCos, []float32{0, negZero, inf, -inf, nan, big, 0x1p24, 0x1p24 + 2}, []float32{1, 1, nan, nan, nan, float32(math.Cos(float64(big))), float32(math.Cos(0x1p24)), float32(math.Cos(0x1p24 + 2))}},
	}
	for _, tbl := range vecTables() {
		for _, c := range cases {
			got := make([]float32, len(c.in))
			tbl.un[c.k](got, c.in, 0, 0)
			for i := range got {
				w, g := c.out[i], got[i]
				if !(g == w || g != g && w != w) || math.Signbit(float64(g)) != math.Signbit(float64(w)) && w == w {
					t.Errorf("%s: kernel %d(%v) = %v, want %v", tbl.name, c.k, c.in[i], g, w)
				}
			}
		}
	}
}

// vecOpRefs is each kernel as float32 arithmetic, element by element:
// what every table must produce bit for bit (for the transcendental ones,
// the twin itself, within an ulp).
var vecUnRefs = [numVecUn]func(x, a, b float32) float32{
	vuAdds:         func(x, a, _ float32) float32 { return x + a },
	vuRsubs:        func(x, a, _ float32) float32 { return a - x },
	vuMuls:         func(x, a, _ float32) float32 { return x * a },
	vuDivs:         func(x, a, _ float32) float32 { return x / a },
	vuRdivs:        func(x, a, _ float32) float32 { return a / x },
	vuMaxs:         func(x, a, _ float32) float32 { return maxNaN(x, a) },
	vuMaxsr:        func(x, a, _ float32) float32 { return maxNaN(a, x) },
	vuMins:         func(x, a, _ float32) float32 { return minNaN(x, a) },
	vuMinsr:        func(x, a, _ float32) float32 { return minNaN(a, x) },
	vuNeg:          func(x, _, _ float32) float32 { return -x },
	vuAbs:          func(x, _, _ float32) float32 { return abs32(x) },
	vuSquare:       func(x, _, _ float32) float32 { return x * x },
	vuRelu:         func(x, _, _ float32) float32 { return clampRef(x, 0, float32(math.Inf(1))) },
	vuSqrt:         func(x, _, _ float32) float32 { return float32(math.Sqrt(float64(x))) },
	vuRsqrt:        func(x, _, _ float32) float32 { return 1 / float32(math.Sqrt(float64(x))) },
	vuRecip:        func(x, _, _ float32) float32 { return 1 / x },
	vuClamp:        func(x, a, b float32) float32 { return clampRef(x, a, b) },
	vuLeaky:        func(x, a, _ float32) float32 { return leaky(x, a) },
	vuSign:         func(x, _, _ float32) float32 { return signRef(x) },
	vuExp:          func(x, _, _ float32) float32 { return exp32(x) },
	vuLog:          func(x, _, _ float32) float32 { return log32(x) },
	vuTanh:         func(x, _, _ float32) float32 { return tanh32(x) },
	vuSigmoid:      func(x, _, _ float32) float32 { return sigmoid32(x) },
	vuSilu:         func(x, _, _ float32) float32 { return silu32(x) },
	vuGelu:         func(x, _, _ float32) float32 { return gelu32(x) },
	vuErf:          func(x, _, _ float32) float32 { return erf32(x) },
	vuFloor:        func(x, _, _ float32) float32 { return float32(math.Floor(float64(x))) },
	vuCeil:         func(x, _, _ float32) float32 { return float32(math.Ceil(float64(x))) },
	vuRound:        func(x, _, _ float32) float32 { return float32(math.RoundToEven(float64(x))) },
	vuLog1p:        func(x, _, _ float32) float32 { return log1p32(x) },
	vuSin:          func(x, _, _ float32) float32 { return sin32(x) },
	vuCos:          func(x, _, _ float32) float32 { return cos32(x) },
	vuSoftplus:     func(x, a, b float32) float32 { return softplus32(x, a, b) },
	vuCube:         func(x, _, _ float32) float32 { return float32(math.Pow(float64(x), 3)) },
	vuInvSquare:    func(x, _, _ float32) float32 { return float32(math.Pow(float64(x), -2)) },
	vuInvSqrt:      func(x, _, _ float32) float32 { return float32(math.Pow(float64(x), -0.5)) },
	vuPow:          pow32,
	vuHardsigmoid:  func(x, _, _ float32) float32 { return hardClamp(x) / 6 },
	vuHardswish:    func(x, _, _ float32) float32 { return x * hardClamp(x) / 6 },
	vuElu:          elu32,
	vuLeakyGrad:    func(x, a, _ float32) float32 { return leakyGrad(x, a) },
	vuEluGrad:      eluGrad32,
	vuSiluGrad:     func(x, _, _ float32) float32 { return siluGrad32(x) },
	vuGeluGrad:     func(x, _, _ float32) float32 { return geluGrad32(x) },
	vuGeluTanh:     func(x, _, _ float32) float32 { return geluTanh32(x) },
	vuGeluTanhGrad: func(x, _, _ float32) float32 { return geluTanhGrad32(x) },
}

// signRef is sign written with branches: 1, −1, or x·0.
func signRef(x float32) float32 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x * 0
}

// clampRef is the generic kernel's clamp: NaN bounds are ignored, a NaN
// x stays, and −0 stays −0.
func clampRef(x, a, b float32) float32 {
	if x < a {
		x = a
	}
	if x > b {
		x = b
	}
	return x
}

func leaky(x, a float32) float32 {
	if x > 0 {
		return x
	}
	return x * a
}

var vecBinRefs = [numVecBin]func(x, y float32) float32{
	vbAdd: func(x, y float32) float32 { return x + y },
	vbSub: func(x, y float32) float32 { return x - y },
	vbMul: func(x, y float32) float32 { return x * y },
	vbDiv: func(x, y float32) float32 { return x / y },
	vbMax: maxNaN[float32],
	vbMin: minNaN[float32],
	vbReluGrad: func(g, y float32) float32 {
		if y <= 0 {
			return 0
		}
		return g
	},
	// torch's hardsigmoid_backward and hardswish_backward, as written there
	vbHardsigmoidGrad: func(g, x float32) float32 {
		if x > -3 && x < 3 {
			return g / 6
		}
		return 0
	},
	vbHardswishGrad: func(g, x float32) float32 {
		if x < -3 {
			return 0
		}
		if x <= 3 {
			return g * ((x / 3) + 0.5)
		}
		return g
	},
	// torch's sigmoid_backward and tanh_backward at the output y
	vbSigmoidGrad: func(g, y float32) float32 {
		d := g * (1 - y)
		return d * y
	},
	vbTanhGrad: func(g, y float32) float32 {
		y2 := y * y
		return g * (1 - y2)
	},
}

// same reports whether got is want bit for bit (any NaN matches any NaN),
// or within tol ulps.
func same(got, want float32, tol float64) bool {
	if got != got || want != want {
		return got != got && want != want
	}
	if tol == 0 {
		return math.Float32bits(got) == math.Float32bits(want)
	}
	return ulpErr(got, float64(want)) <= tol
}

// vecInputs returns n random values with some specials mixed in.
func vecInputs(rng *rand.Rand, n int) []float32 {
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0x1p-140, -1, 1, -3, 3}
	xs := make([]float32, n)
	for i := range xs {
		switch rng.IntN(10) {
		case 0:
			xs[i] = specials[rng.IntN(len(specials))]
		case 1:
			xs[i] = float32(rng.NormFloat64() * 30)
		default:
			xs[i] = float32(rng.NormFloat64() * 3)
		}
	}
	return xs
}

const vecGuard = 37 // elements of vecGuard band on each side of an output

// guarded returns a buffer of n elements with vecGuard bands of a marker
// value around it, and a check that the bands are intact.
func guarded(n int) ([]float32, func() bool) {
	const mark = 0x7fa5a5a5 // a NaN no kernel produces
	buf := make([]float32, n+2*vecGuard)
	for i := range buf {
		buf[i] = math.Float32frombits(mark)
	}
	return buf[vecGuard : vecGuard+n : vecGuard+n], func() bool {
		for i := range vecGuard {
			if math.Float32bits(buf[i]) != mark || math.Float32bits(buf[vecGuard+n+i]) != mark {
				return false
			}
		}
		return true
	}
}

func vecLengths() []int {
	ns := make([]int, 0, 80)
	for n := 0; n <= 70; n++ {
		ns = append(ns, n)
	}
	return append(ns, 127, 128, 129, 1000, 4099, 65537)
}

// Every kernel of every table against the element-by-element reference,
// on lengths 0..70 and some long ones, at unaligned offsets, with vecGuard
// bands around the output.
func TestVecKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	scalars := [][2]float32{{1.25, 2.5}, {-3, 0.5}, {0, 0}, {float32(math.Copysign(0, -1)), 1}, {float32(math.NaN()), 1}}
	for _, tbl := range vecTables() {
		for _, n := range vecLengths() {
			off := rng.IntN(16)
			xb, yb := vecInputs(rng, n+off), vecInputs(rng, n+off)
			x, y := xb[off:], yb[off:]
			for k := vecUn(0); k < numVecUn; k++ {
				tol := 0.0
				if k >= vuExp && tbl.name != "go" {
					tol = 1 // math.FMA's float64 rounding in the twin
				}
				for _, ab := range scalars {
					dst, ok := guarded(n)
					tbl.un[k](dst, x, ab[0], ab[1])
					if !ok() {
						t.Fatalf("%s: kernel %d n=%d wrote outside dst", tbl.name, k, n)
					}
					for i := range dst {
						if w := vecUnRefs[k](x[i], ab[0], ab[1]); !same(dst[i], w, tol) {
							t.Fatalf("%s: kernel %d n=%d (a=%v b=%v): [%d] f(%v) = %v, want %v", tbl.name, k, n, ab[0], ab[1], i, x[i], dst[i], w)
						}
					}
					if k >= vuNeg && k != vuClamp && k != vuLeaky && k != vuSoftplus && k != vuPow && k != vuElu && k != vuLeakyGrad && k != vuEluGrad {
						break // no scalars
					}
				}
			}
			for k := vecBin(0); k < numVecBin; k++ {
				dst, ok := guarded(n)
				tbl.bin[k](dst, x, y)
				if !ok() {
					t.Fatalf("%s: binary kernel %d n=%d wrote outside dst", tbl.name, k, n)
				}
				for i := range dst {
					if w := vecBinRefs[k](x[i], y[i]); !same(dst[i], w, 0) {
						t.Fatalf("%s: binary kernel %d n=%d: [%d] f(%v, %v) = %v, want %v", tbl.name, k, n, i, x[i], y[i], dst[i], w)
					}
				}
			}
			// in place
			for k := vecUn(0); k < numVecUn; k++ {
				z := append([]float32(nil), x...)
				tbl.un[k](z, z, 1.5, 2)
				for i := range z {
					if w := vecUnRefs[k](x[i], 1.5, 2); !same(z[i], w, 1) {
						t.Fatalf("%s: kernel %d n=%d in place: [%d] = %v, want %v", tbl.name, k, n, i, z[i], w)
					}
				}
			}
		}
	}
}

// The backend's conformance tests, run again under every dispatch: each
// SIMD table, the pure-Go twins, and the generic strided path (vecOff).
func TestElementwiseDispatch(t *testing.T) {
	if raceEnabled {
		t.Skip("a numeric sweep, ten times slower under the race detector; the plain run covers it")
	}
	type mode struct {
		name string
		k    *vecKernels[float32]
		off  bool
	}
	modes := []mode{{"generic", nil, true}, {"go", goVec32(), false}}
	for _, k := range vecCandidates() {
		modes = append(modes, mode{k.name, k, false})
	}
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Unary", TestUnary}, {"UnarySpecialValues", TestUnarySpecialValues},
		{"Binary", TestBinary}, {"BinaryNaN", TestBinaryNaN},
		{"Where", TestWhere}, {"Fill", TestFill}, {"Copy", TestCopy},
		{"CopyFloatToIntOutOfRange", TestCopyFloatToIntOutOfRange}, {"CopyLargeIntToFloat", TestCopyLargeIntToFloat},
		{"Softmax", TestSoftmax}, {"SoftmaxSpecial", TestSoftmaxSpecial},
	}
	for _, m := range modes {
		if testing.Short() && m.name != "generic" && m.name != "go" {
			continue // the default dispatch runs them anyway
		}
		t.Run(m.name, func(t *testing.T) {
			oldK, oldOff := setVec(m.k, m.off)
			defer setVec(oldK, oldOff)
			for _, tc := range tests {
				t.Run(tc.name, tc.fn)
			}
		})
	}
}

// The SIMD tables agree with the pure-Go twins on the contiguous fast
// paths through the backend (relu, add with a broadcast row, softmax on
// the last dim), for odd lengths.
func TestVecDispatchAgrees(t *testing.T) {
	for _, k := range vecCandidates() {
		for _, n := range []int{1, 15, 17, 33, 1000} {
			name := fmt.Sprintf("%s/n=%d", k.name, n)
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			x := vecInputs(rng, n)
			got, want := make([]float32, n), make([]float32, n)
			k.un[vuGelu](got, x, 0, 0)
			goVec32().un[vuGelu](want, x, 0, 0)
			for i := range got {
				if !same(got[i], want[i], 1) {
					t.Errorf("%s: gelu(%v) = %v, twin %v", name, x[i], got[i], want[i])
				}
			}
		}
	}
}

// The power kernels take only positive finite x (checkedRun sends runs with
// any other to the twin, as the accuracy sweep's runs, which hold
// negatives, all go): here each table gets a sweep of positive finite
// float32s, held to the documented bound against math.Pow with the
// exponent the two scalars carry.
func TestVecPowPositive(t *testing.T) {
	step := uint32(331)
	if testing.Short() {
		step = 40009
	}
	var xs []float32
	for b := uint32(1); b < 0x7f800000; b += step {
		xs = append(xs, math.Float32frombits(b))
	}
	got := make([]float32, len(xs))
	for _, p := range []float64{2.5, 0.3, -1.7, 7, 1e-3, -40, 1.0 / 3} {
		a := float32(p)
		b := float32(p - float64(a))
		pe := float64(a) + float64(b)
		for _, tbl := range vecTables() {
			tbl.un[vuPow](got, xs, a, b)
			worst, at := 0.0, float32(0)
			for i, g := range got {
				if e := ulpErr(g, math.Pow(float64(xs[i]), pe)); !(e <= worst) {
					worst, at = e, xs[i]
				}
			}
			t.Logf("pow %v/%s: max error %.4f ulp at %v", p, tbl.name, worst, at)
			if !(worst <= 0.501) {
				t.Errorf("pow %v/%s: error %.4f ulp at x = %v, documented bound 0.501", p, tbl.name, worst, at)
			}
		}
	}
}
