package cpu

// The n-dim window loops (conv_nd.go) run on the one- and two-dim cases
// agree bit for bit with the two-dim loops of conv.go (the same orders of
// taps and additions); the reference tests of conv_test.go check them on
// three-dim windows.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

func TestWindowNDMatches2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	cases := append(append([]winCase(nil), winCases...), convFastCases...)
	for _, c := range cases {
		if len(c.k) > 2 || raceEnabled && numel(c.in) > 1000 {
			continue // the parallel sizes are the 2-d tests' business under race
		}
		w := c.window()
		cs := colsShape(c)
		for _, dt := range []backend.DType{f32, f64} {
			for _, lk := range []layoutKind{lkContig, lkTrans, lkStep} {
				name := fmt.Sprintf("%v/%v/%v", c, dt, lk)
				gen := func() float64 {
					if rng.IntN(15) == 0 {
						return []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1)}[rng.IntN(5)]
					}
					return rng.Float64()*4 - 2
				}
				x := newOperand(t, dt, lk, c.in, gen)
				cols := newOperand(t, dt, lk, cs, gen)
				same := func(op string, a, b []uint64) {
					t.Helper()
					for i := range a {
						if a[i] != b[i] && !(math.IsNaN(decode(dt, a[i])) && math.IsNaN(decode(dt, b[i]))) {
							t.Fatalf("%s %s: [%d] nd %v, 2-d %v", op, name, i, decode(dt, a[i]), decode(dt, b[i]))
						}
					}
				}
				// Unfold
				u1, _ := newOutput(t, dt, lkContig, cs, rng)
				u2, _ := newOutput(t, dt, lkContig, cs, rng)
				f1, _ := newOutput(t, dt, lkContig, c.in, rng)
				f2, _ := newOutput(t, dt, lkContig, c.in, rng)
				osh := append([]int{c.in[0], c.in[1]}, c.grid()...)
				v1, _ := newOutput(t, dt, lkContig, osh, rng)
				v2, _ := newOutput(t, dt, lkContig, osh, rng)
				i1, _ := newOutput(t, i64, lkContig, osh, rng)
				i2, _ := newOutput(t, i64, lkContig, osh, rng)
				if dt == f32 {
					unfoldND[float32](u1.view(), x.view(), w)
					foldND[float32](f1.view(), cols.view(), w)
					maxPoolND[float32](v1.view(), i1.view(), x.view(), w)
				} else {
					unfoldND[float64](u1.view(), x.view(), w)
					foldND[float64](f1.view(), cols.view(), w)
					maxPoolND[float64](v1.view(), i1.view(), x.view(), w)
				}
				be.Unfold(u2.view(), x.view(), w)
				be.Fold(f2.view(), cols.view(), w)
				same("unfold", u1.snapshot(), u2.snapshot())
				same("fold", f1.snapshot(), f2.snapshot())
				fits := true // every window holds a tap inside the input
				for d := range c.k {
					fits = fits && 2*c.p[d] < c.k[d]
				}
				if fits {
					be.MaxPool(v2.view(), i2.view(), x.view(), w)
					same("max_pool", v1.snapshot(), v2.snapshot())
					same("max_pool indices", i1.snapshot(), i2.snapshot())
				}
			}
		}
	}
}
