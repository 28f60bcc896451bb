//go:build amd64 && !purego

package cpu

import (
	"math"
	"testing"
)

// TestVecExpScalef: the AVX-512 kernels apply 2ⁿ in e^x with one
// VSCALEFPS, the AVX2 kernels (and the twin exp32) with two
// multiplications by normal powers of two. Both round p·2ⁿ once, so the
// two tables must agree bit for bit on every kernel built on e^x, over
// every 13th float32 for exp (every 61st for the others, every 4099th in
// -short): denormal results, overflow to +Inf, ±Inf and NaN inputs
// included. (With step 1, every float32, exp agreed too: 47 s.) The
// accuracy of both against float64 math is TestVecMathAccuracy's.
func TestVecExpScalef(t *testing.T) {
	if !hasAVX512 || !hasAVX2 {
		t.Skip("needs both the AVX-512 and the AVX2 kernels")
	}
	expStep, step := uint64(13), uint64(61)
	if testing.Short() {
		expStep, step = 4099, 4099
	}
	ks := []struct {
		k    vecUn
		name string
	}{{vuExp, "exp"}, {vuSigmoid, "sigmoid"}, {vuSilu, "silu"}, {vuTanh, "tanh"}, {vuGelu, "gelu"}, {vuErf, "erf"}}
	z, y := vecAVX512, vecAVX2
	const chunk = 1 << 16
	xs := make([]float32, 0, chunk)
	a, b := make([]float32, chunk), make([]float32, chunk)
	for _, k := range ks {
		step := step
		if k.k == vuExp {
			step = expStep
		}
		bad := 0
		for lo := uint64(0); lo < 1<<32; lo += chunk * step {
			xs = xs[:0]
			for v := lo; v < min(lo+chunk*step, 1<<32); v += step {
				xs = append(xs, math.Float32frombits(uint32(v)))
			}
			z.un[k.k](a[:len(xs)], xs, 0, 0)
			y.un[k.k](b[:len(xs)], xs, 0, 0)
			for i, x := range xs {
				if p, q := a[i], b[i]; math.Float32bits(p) != math.Float32bits(q) && !(p != p && q != q) {
					t.Errorf("%s(%v = %#x): AVX512 %v (%#x), AVX2 %v (%#x)", k.name, x, math.Float32bits(x), p, math.Float32bits(p), q, math.Float32bits(q))
					if bad++; bad > 10 {
						t.FailNow()
					}
				}
			}
		}
	}
}
