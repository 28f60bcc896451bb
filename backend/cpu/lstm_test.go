package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// lstmOperand is a [b, n] operand whose rows sit stride n+3 apart after
// an offset of 2, the gaps and the ends filled with a guard value, so
// that a kernel writing outside its rows or reading the wrong row shows.
type lstmOperand struct {
	v   backend.View
	raw []float64 // the whole buffer, as set
}

const lstmGuard = -77.25

func newLSTMOperand(t *testing.T, rng *rand.Rand, dt backend.DType, b, n int, fill bool) lstmOperand {
	t.Helper()
	rs := n + 3
	size := 2 + b*rs + 2
	s, err := be.Alloc(dt, size)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]float64, size)
	for i := range raw {
		raw[i] = lstmGuard
	}
	for r := range b {
		for j := range n {
			if fill {
				raw[2+r*rs+j] = rng.NormFloat64()
			}
		}
	}
	for i, x := range raw {
		setBits(s.(*Buffer), i, encode(dt, x))
	}
	// read back, so the reference sees the values the kernel sees
	for i := range raw {
		raw[i] = decode(dt, getBits(s.(*Buffer), i))
	}
	return lstmOperand{backend.View{Storage: s, Layout: backend.Layout{Shape: []int{b, n}, Strides: []int{rs, 1}, Offset: 2}}, raw}
}

func (o lstmOperand) at(r, j int) float64 { return o.raw[2+r*o.v.Strides[0]+j] }

// got is element (r, j) as the kernel left it.
func (o lstmOperand) got(r, j int) float64 {
	return decode(o.v.DType(), getBits(o.v.Storage.(*Buffer), 2+r*o.v.Strides[0]+j))
}

// checkGuards fails if anything outside o's rows changed.
func (o lstmOperand) checkGuards(t *testing.T, what string) {
	t.Helper()
	rs, n := o.v.Strides[0], o.v.Shape[1]
	for i := range o.raw {
		k := i - 2
		if k >= 0 && k < o.v.Shape[0]*rs && k%rs < n {
			continue
		}
		if got := decode(o.v.DType(), getBits(o.v.Storage.(*Buffer), i)); got != o.raw[i] {
			t.Fatalf("%s: element %d outside the rows changed to %v", what, i, got)
		}
	}
}

func sigm(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// TestLSTMCellKernels checks LSTMCell and LSTMCellBackward against the
// cell's formulas evaluated in float64, element by element, at hidden
// sizes 1…40 (the vector kernels' tails) and batches up to past the
// thread split, with strided rows between guard bands, and with dcPrev
// aliasing dc as FusedLSTM passes it.
func TestLSTMCellKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var sizes [][2]int
	for n := 1; n <= 40; n++ {
		sizes = append(sizes, [2]int{1 + n%4, n})
	}
	sizes = append(sizes, [2]int{0, 8}, [2]int{40, 256}, [2]int{17, 129})
	for _, kernels := range []string{"simd", "go"} {
		if kernels == "go" {
			old, oldOff := setVec(nil, false)
			defer setVec(old, oldOff)
		}
		t.Run(kernels, func(t *testing.T) { testLSTMCellKernels(t, rng, sizes) })
	}
}

func testLSTMCellKernels(t *testing.T, rng *rand.Rand, sizes [][2]int) {
	for _, dt := range []backend.DType{backend.Float32, backend.Float64} {
		tol := 1e-12
		if dt == backend.Float32 {
			tol = 3e-6
		}
		for _, sz := range sizes {
			b, n := sz[0], sz[1]
			t.Run(fmt.Sprintf("%v/B%d_H%d", dt, b, n), func(t *testing.T) {
				gx, hh := newLSTMOperand(t, rng, dt, b, 4*n, true), newLSTMOperand(t, rng, dt, b, 4*n, true)
				cp := newLSTMOperand(t, rng, dt, b, n, true)
				acts, c, h := newLSTMOperand(t, rng, dt, b, 4*n, false), newLSTMOperand(t, rng, dt, b, n, false), newLSTMOperand(t, rng, dt, b, n, false)
				be.LSTMCell(acts.v, c.v, h.v, gx.v, hh.v, cp.v)
				for _, o := range []lstmOperand{acts, c, h, gx, hh, cp} {
					o.checkGuards(t, "forward")
				}
				near := func(what string, r, j int, got, want float64) {
					t.Helper()
					if !(math.Abs(got-want) <= tol*(1+math.Abs(want))) {
						t.Fatalf("%s[%d, %d] = %v, want %v", what, r, j, got, want)
					}
				}
				dout, dhr, dc := newLSTMOperand(t, rng, dt, b, n, true), newLSTMOperand(t, rng, dt, b, n, true), newLSTMOperand(t, rng, dt, b, n, true)
				dcIn := append([]float64(nil), dc.raw...)
				dg := newLSTMOperand(t, rng, dt, b, 4*n, false)
				be.LSTMCellBackward(dg.v, dc.v, acts.v, c.v, cp.v, dout.v, dhr.v, dc.v)
				for _, o := range []lstmOperand{dg, dc, dout, dhr} {
					o.checkGuards(t, "backward")
				}
				for r := range b {
					for j := range n {
						pre := func(k int) float64 { return gx.at(r, k*n+j) + hh.at(r, k*n+j) }
						i, f, g, o := sigm(pre(0)), sigm(pre(1)), math.Tanh(pre(2)), sigm(pre(3))
						cw := f*cp.at(r, j) + i*g
						near("i", r, j, acts.got(r, j), i)
						near("f", r, j, acts.got(r, n+j), f)
						near("g", r, j, acts.got(r, 2*n+j), g)
						near("o", r, j, acts.got(r, 3*n+j), o)
						near("c", r, j, c.got(r, j), cw)
						near("h", r, j, h.got(r, j), o*math.Tanh(cw))
						// backward, from the kernel's own forward values
						i, f, g, o = acts.got(r, j), acts.got(r, n+j), acts.got(r, 2*n+j), acts.got(r, 3*n+j)
						th := math.Tanh(c.got(r, j))
						dh := dout.at(r, j) + dhr.at(r, j)
						dct := dcIn[2+r*dc.v.Strides[0]+j] + dh*o*(1-th*th)
						near("di", r, j, dg.got(r, j), dct*g*i*(1-i))
						near("df", r, j, dg.got(r, n+j), dct*cp.at(r, j)*f*(1-f))
						near("dg", r, j, dg.got(r, 2*n+j), dct*i*(1-g*g))
						near("do", r, j, dg.got(r, 3*n+j), dh*th*o*(1-o))
						near("dcPrev", r, j, dc.got(r, j), dct*f)
					}
				}
			})
		}
	}
}
