package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// The fused steps against the same update composed from this backend's
// Unary and Binary kernels in torch's order (what package optim does
// without the fused path): the bits must agree, on the serial and the
// parallel path.

// optimSizes cross the parallel thresholds (2·adamGrain, 2·sgdGrain; the
// assembly's are lowered to these by forOptKernels).
var optimSizes = []int{0, 1, 3, 17, 100, 2*adamGrain + 13, 2*sgdGrain + 7}

// ovec is a contiguous 1-d operand at an offset into a padded buffer, so
// a kernel that ignores the offset or writes past the end is caught.
type ovec struct {
	buf *Buffer
	v   backend.View
}

// optPad is the guard band on either side: more than a vector (16
// float32 lanes), so a vector load or store that overreaches the operand
// lands in it.
const optPad = 19

func newOvec(t testing.TB, dt backend.DType, vals []float64) ovec {
	t.Helper()
	st, err := Get().Alloc(dt, len(vals)+2*optPad)
	if err != nil {
		t.Fatal(err)
	}
	b := st.(*Buffer)
	for i := range b.n {
		setF(b, i, 1234.5) // padding
	}
	for i, x := range vals {
		setF(b, optPad+i, x)
	}
	return ovec{b, backend.View{Storage: b, Layout: backend.Layout{Shape: []int{len(vals)}, Strides: []int{1}, Offset: optPad}}}
}

func setF(b *Buffer, i int, x float64) {
	if b.dt == backend.Float32 {
		Float32s(b)[i] = float32(x)
	} else {
		Float64s(b)[i] = x
	}
}

// bits is every element of the buffer, padding included, as float64 bits.
func (o ovec) bits() []uint64 {
	out := make([]uint64, o.buf.n)
	for i := range out {
		if o.buf.dt == backend.Float32 {
			out[i] = math.Float64bits(float64(Float32s(o.buf)[i]))
		} else {
			out[i] = math.Float64bits(Float64s(o.buf)[i])
		}
	}
	return out
}

func (o ovec) clone(t testing.TB) ovec {
	n := o.v.Shape[0]
	vals := make([]float64, n)
	b := o.bits()
	for i := range vals {
		vals[i] = math.Float64frombits(b[optPad+i])
	}
	return newOvec(t, o.buf.dt, vals)
}

func randVals(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * rng.NormFloat64()
	}
	return v
}

// composed runs the ops of package optim's composed updates on views.
type composed struct{ c *CPU }

func (k composed) muls(x backend.View, a float64) {
	k.c.Unary(backend.MulScalar, x, x, backend.Scalars{A: a})
}
func (k composed) adds(x backend.View, a float64) {
	k.c.Unary(backend.AddScalar, x, x, backend.Scalars{A: a})
}
func (k composed) bin(op backend.BinaryOp, y, x backend.View) { k.c.Binary(op, y, y, x) }

// copyTo sets dst to src.
func (k composed) copyTo(dst, src backend.View) { k.c.Copy(dst, src) }

// sgdComposed is optim's sgdUpdate on views; t and u are scratch.
func sgdComposed(p, g, buf, t, u, d backend.View, h backend.SGDHyper) {
	k := composed{Get()}
	grad := g
	if h.Maximize || h.WeightDecay != 0 {
		k.copyTo(d, g)
		if h.Maximize {
			k.c.Unary(backend.Neg, d, d, backend.Scalars{})
		}
		if h.WeightDecay != 0 {
			k.copyTo(t, p)
			k.muls(t, h.WeightDecay)
			k.bin(backend.Add, d, t)
		}
		grad = d
	}
	if h.Momentum != 0 {
		if h.First {
			k.copyTo(buf, grad)
		} else {
			k.muls(buf, h.Momentum)
			k.copyTo(t, grad)
			k.muls(t, 1-h.Dampening)
			k.bin(backend.Add, buf, t)
		}
		if h.Nesterov {
			k.copyTo(d, grad)
			k.copyTo(t, buf)
			k.muls(t, h.Momentum)
			k.bin(backend.Add, d, t)
			grad = d
		} else {
			grad = buf
		}
	}
	k.copyTo(u, grad)
	k.muls(u, -h.LR)
	k.bin(backend.Add, p, u)
}

// adamComposed is optim's adamUpdate on views; d, t, u are scratch.
func adamComposed(p, g, m, v, vmax, d, t, u backend.View, h backend.AdamHyper) {
	k := composed{Get()}
	if h.Decoupled && h.WeightDecay != 0 {
		k.muls(p, 1-h.LR*h.WeightDecay)
	}
	grad := g
	l2 := h.WeightDecay
	if h.Decoupled {
		l2 = 0
	}
	if h.Maximize || l2 != 0 {
		k.copyTo(d, g)
		if h.Maximize {
			k.c.Unary(backend.Neg, d, d, backend.Scalars{})
		}
		if l2 != 0 {
			k.copyTo(t, p)
			k.muls(t, l2)
			k.bin(backend.Add, d, t)
		}
		grad = d
	}
	k.muls(m, h.Beta1)
	k.copyTo(t, grad)
	k.muls(t, 1-h.Beta1)
	k.bin(backend.Add, m, t)
	k.muls(v, h.Beta2)
	k.copyTo(t, grad)
	k.muls(t, 1-h.Beta2)
	k.bin(backend.Mul, t, grad)
	k.bin(backend.Add, v, t)
	stepSize, bc2s := h.BiasCorrections()
	den := v
	if h.AMSGrad {
		k.bin(backend.Maximum, vmax, v)
		den = vmax
	}
	k.copyTo(t, den)
	k.c.Unary(backend.Sqrt, t, t, backend.Scalars{})
	k.c.Unary(backend.DivScalar, t, t, backend.Scalars{A: bc2s})
	k.adds(t, h.Eps)
	k.copyTo(u, m)
	k.muls(u, -stepSize)
	k.bin(backend.Div, u, t)
	k.bin(backend.Add, p, u)
}

func sameOvec(t *testing.T, what string, got, want ovec) bool {
	t.Helper()
	g, w := got.bits(), want.bits()
	for i := range w {
		if g[i] != w[i] {
			t.Errorf("%s: element %d (storage) = %v, composed %v", what, i-optPad, math.Float64frombits(g[i]), math.Float64frombits(w[i]))
			return false
		}
	}
	return true
}

// sgdHypers covers every option and their combinations.
func sgdHypers() []backend.SGDHyper {
	var hs []backend.SGDHyper
	for mask := range 32 {
		h := backend.SGDHyper{LR: 0.03}
		if mask&1 != 0 {
			h.Momentum = 0.9
		}
		if mask&2 != 0 {
			h.Dampening = 0.25
		}
		if mask&4 != 0 {
			h.Nesterov = h.Momentum != 0 && h.Dampening == 0
		}
		if mask&8 != 0 {
			h.WeightDecay = 0.07
		}
		if mask&16 != 0 {
			h.Maximize = true
		}
		hs = append(hs, h)
	}
	return hs
}

func adamHypers() []backend.AdamHyper {
	var hs []backend.AdamHyper
	for mask := range 32 {
		h := backend.AdamHyper{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
		if mask&1 != 0 {
			h.WeightDecay = 0.05
		}
		if mask&2 != 0 {
			h.Decoupled = true
		}
		if mask&4 != 0 {
			h.AMSGrad = true
		}
		if mask&8 != 0 {
			h.Maximize = true
		}
		if mask&16 != 0 {
			h.Beta1, h.Beta2, h.Eps = 0, 0.5, 1e-3
		}
		hs = append(hs, h)
	}
	return hs
}

// forThreads runs f with one goroutine per kernel and with two, for each
// float32 kernel set (forOptKernels).
func forThreads(t *testing.T, f func(t *testing.T)) {
	forOptKernels(t, func(t *testing.T) {
		for _, n := range []int{1, 2} {
			t.Run(fmt.Sprint("threads", n), func(t *testing.T) {
				old := SetNumThreads(n)
				defer SetNumThreads(old)
				f(t)
			})
		}
	})
}

// forOptKernels runs f with each assembly kernel set this CPU runs
// installed and with the pure-Go loops, the assembly's parallel
// thresholds lowered to the Go loops' so that optimSizes cross them.
func forOptKernels(t *testing.T, f func(t *testing.T)) {
	oldSGD, oldAdam := sgdVecGrain, adamVecGrain
	sgdVecGrain, adamVecGrain = sgdGrain, adamGrain
	defer func() { sgdVecGrain, adamVecGrain = oldSGD, oldAdam }()
	ks := append(optCandidates(), nil)
	if raceEnabled && optVec != nil {
		ks = []*optVecKernels{optVec, nil} // the assembly's alternatives add nothing the detector sees
	}
	for _, k := range ks {
		name := "go"
		if k != nil {
			name = k.name
		}
		t.Run(name, func(t *testing.T) {
			old := setOptimVec(k)
			defer setOptimVec(old)
			f(t)
		})
	}
}

func TestOptimSGDStepMatchesComposed(t *testing.T) {
	forThreads(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, dt := range []backend.DType{backend.Float32, backend.Float64} {
			for _, n := range optimSizes {
				for hi, h := range sgdHypers() {
					if n > 1000 && (hi%5 != 0 || raceEnabled && (NumThreads() == 1 || hi%10 != 0)) {
						continue // the large sizes with a subset; under race, only parallel runs of fewer
					}
					p := newOvec(t, dt, randVals(rng, n, 1))
					buf := newOvec(t, dt, make([]float64, n))
					rp, rbuf := p.clone(t), buf.clone(t)
					scr := [3]ovec{newOvec(t, dt, make([]float64, n)), newOvec(t, dt, make([]float64, n)), newOvec(t, dt, make([]float64, n))}
					for s := range 4 {
						g := newOvec(t, dt, randVals(rng, n, []float64{1, 100, 1e-4, 3}[s]))
						h.First = s == 0
						if !Get().SGDStep(p.v, g.v, buf.v, h) {
							t.Fatalf("%v n=%d: SGDStep declined contiguous operands", dt, n)
						}
						sgdComposed(rp.v, g.v, rbuf.v, scr[0].v, scr[1].v, scr[2].v, h)
						what := fmt.Sprintf("%v n=%d %+v step %d", dt, n, h, s+1)
						if !sameOvec(t, what+" p", p, rp) || !sameOvec(t, what+" buf", buf, rbuf) {
							return
						}
					}
				}
			}
		}
	})
}

func TestOptimAdamStepMatchesComposed(t *testing.T) {
	forThreads(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, dt := range []backend.DType{backend.Float32, backend.Float64} {
			for _, n := range optimSizes {
				for hi, h := range adamHypers() {
					if n > 1000 && (hi%5 != 0 || raceEnabled && (NumThreads() == 1 || hi%10 != 0)) {
						continue
					}
					p := newOvec(t, dt, randVals(rng, n, 1))
					zero := make([]float64, n)
					m, v, vmax := newOvec(t, dt, zero), newOvec(t, dt, zero), newOvec(t, dt, zero)
					rp, rm, rv, rvmax := p.clone(t), m.clone(t), v.clone(t), vmax.clone(t)
					scr := [3]ovec{newOvec(t, dt, zero), newOvec(t, dt, zero), newOvec(t, dt, zero)}
					for s := range 5 {
						g := newOvec(t, dt, randVals(rng, n, []float64{1, 100, 1e-4, 3, 0.5}[s]))
						h.Step = float64(s + 1)
						if !Get().AdamStep(p.v, g.v, m.v, v.v, vmax.v, h) {
							t.Fatalf("%v n=%d: AdamStep declined contiguous operands", dt, n)
						}
						adamComposed(rp.v, g.v, rm.v, rv.v, rvmax.v, scr[0].v, scr[1].v, scr[2].v, h)
						what := fmt.Sprintf("%v n=%d %+v", dt, n, h)
						if !sameOvec(t, what+" p", p, rp) || !sameOvec(t, what+" m", m, rm) ||
							!sameOvec(t, what+" v", v, rv) || !sameOvec(t, what+" vmax", vmax, rvmax) {
							return
						}
					}
				}
			}
		}
	})
}

// TestOptimSpecialValues: NaN and infinities in the gradient and state go
// through the fused steps as through the composed ones (AMSGrad's maximum
// propagates NaN from either side).
func TestOptimSpecialValues(t *testing.T) {
	forOptKernels(t, testOptimSpecialValues)
}

func testOptimSpecialValues(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	gv := []float64{nan, inf, -inf, 0, math.Copysign(0, -1), 1e-30, 3, -2}
	pv := []float64{1, 2, 3, nan, inf, -1, 0, 5}
	sv := []float64{0, nan, 1, 2, 0, inf, 1e-20, 4}
	for _, dt := range []backend.DType{backend.Float32, backend.Float64} {
		for _, h := range adamHypers() {
			h.Step = 3
			p, g, m, v, x := newOvec(t, dt, pv), newOvec(t, dt, gv), newOvec(t, dt, sv), newOvec(t, dt, sv), newOvec(t, dt, gv)
			rp, rm, rv, rx := p.clone(t), m.clone(t), v.clone(t), x.clone(t)
			z := make([]float64, len(gv))
			Get().AdamStep(p.v, g.v, m.v, v.v, x.v, h)
			adamComposed(rp.v, g.v, rm.v, rv.v, rx.v, newOvec(t, dt, z).v, newOvec(t, dt, z).v, newOvec(t, dt, z).v, h)
			what := fmt.Sprintf("%v %+v", dt, h)
			if !sameOvec(t, what+" p", p, rp) || !sameOvec(t, what+" vmax", x, rx) {
				return
			}
		}
		for _, h := range sgdHypers() {
			p, g, b := newOvec(t, dt, pv), newOvec(t, dt, gv), newOvec(t, dt, sv)
			rp, rb := p.clone(t), b.clone(t)
			z := make([]float64, len(gv))
			Get().SGDStep(p.v, g.v, b.v, h)
			sgdComposed(rp.v, g.v, rb.v, newOvec(t, dt, z).v, newOvec(t, dt, z).v, newOvec(t, dt, z).v, h)
			what := fmt.Sprintf("%v %+v", dt, h)
			if !sameOvec(t, what+" p", p, rp) || !sameOvec(t, what+" buf", b, rb) {
				return
			}
		}
	}
}

// TestOptimVecLengths runs every float32 kernel set at every length from
// 0 to past the unrolled loops' and the single vectors' strides (64 and
// 16 elements on AVX-512), so each loop, the masked tail and their
// hand-overs meet every hyper-parameter variant; the result must be the
// composed update's, the guard bands (optPad) and the gradient untouched.
func TestOptimVecLengths(t *testing.T) {
	const maxN = 100
	dt := backend.Float32
	forOptKernels(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 12))
		step := 1
		if raceEnabled {
			step = 7 // the race detector sees nothing of the assembly
		}
		for n := 0; n <= maxN; n += step {
			zero := make([]float64, n)
			scr := [3]ovec{newOvec(t, dt, zero), newOvec(t, dt, zero), newOvec(t, dt, zero)}
			for _, h := range sgdHypers() {
				p, buf := newOvec(t, dt, randVals(rng, n, 1)), newOvec(t, dt, zero)
				rp, rbuf := p.clone(t), buf.clone(t)
				for s := range 2 {
					g := newOvec(t, dt, randVals(rng, n, 1))
					gb := g.bits()
					h.First = s == 0
					Get().SGDStep(p.v, g.v, buf.v, h)
					sgdComposed(rp.v, g.v, rbuf.v, scr[0].v, scr[1].v, scr[2].v, h)
					what := fmt.Sprintf("n=%d %+v step %d", n, h, s+1)
					if !sameOvec(t, what+" p", p, rp) || !sameOvec(t, what+" buf", buf, rbuf) || !unchangedBits(t, what+" grad", g.bits(), gb) {
						return
					}
				}
			}
			for _, h := range adamHypers() {
				p := newOvec(t, dt, randVals(rng, n, 1))
				m, v, vmax := newOvec(t, dt, zero), newOvec(t, dt, zero), newOvec(t, dt, zero)
				rp, rm, rv, rvmax := p.clone(t), m.clone(t), v.clone(t), vmax.clone(t)
				for s := range 2 {
					g := newOvec(t, dt, randVals(rng, n, 1))
					gb := g.bits()
					h.Step = float64(s + 1)
					Get().AdamStep(p.v, g.v, m.v, v.v, vmax.v, h)
					adamComposed(rp.v, g.v, rm.v, rv.v, rvmax.v, scr[0].v, scr[1].v, scr[2].v, h)
					what := fmt.Sprintf("n=%d %+v", n, h)
					if !sameOvec(t, what+" p", p, rp) || !sameOvec(t, what+" m", m, rm) || !sameOvec(t, what+" v", v, rv) ||
						!sameOvec(t, what+" vmax", vmax, rvmax) || !unchangedBits(t, what+" grad", g.bits(), gb) {
						return
					}
				}
			}
		}
	})
}

// unchangedBits reports whether an operand's bits (padding included) are
// still want.
func unchangedBits(t *testing.T, what string, got, want []uint64) bool {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: element %d (storage) changed", what, i-optPad)
			return false
		}
	}
	return true
}

// TestOptimDeclines: non-contiguous operands and dtypes without a fused
// kernel are declined with nothing written; mismatched dtypes or sizes
// panic.
func TestOptimDeclines(t *testing.T) {
	vals := []float64{1, 2, 3, 4, 5, 6}
	mk := func(dt backend.DType) ovec { return newOvec(t, dt, vals) }
	p, g, m, v := mk(backend.Float32), mk(backend.Float32), mk(backend.Float32), mk(backend.Float32)
	before := [][]uint64{p.bits(), g.bits(), m.bits(), v.bits()}
	unchanged := func(what string) {
		t.Helper()
		for i, o := range []ovec{p, g, m, v} {
			b := o.bits()
			for j := range b {
				if b[j] != before[i][j] {
					t.Errorf("%s: operand %d written", what, i)
					return
				}
			}
		}
	}
	tr := p.v
	tr.Layout = backend.Layout{Shape: []int{2, 3}, Strides: []int{1, 2}, Offset: optPad}
	gt := g.v
	gt.Layout = tr.Layout
	mt, vt := m.v, v.v
	mt.Layout, vt.Layout = backend.Contiguous([]int{2, 3}), backend.Contiguous([]int{2, 3})
	mt.Offset, vt.Offset = optPad, optPad
	if Get().SGDStep(tr, gt, mt, backend.SGDHyper{LR: 0.1, Momentum: 0.5}) {
		t.Error("SGDStep took a transposed parameter")
	}
	if Get().AdamStep(mt, gt, tr, vt, backend.View{}, backend.AdamHyper{LR: 0.1, Beta1: 0.9, Beta2: 0.99, Step: 1}) {
		t.Error("AdamStep took a transposed state")
	}
	unchanged("declined")

	st, _ := Get().Alloc(backend.Int64, 4)
	iv := backend.View{Storage: st, Layout: backend.Contiguous([]int{4})}
	if Get().SGDStep(iv, iv, backend.View{}, backend.SGDHyper{LR: 1}) {
		t.Error("SGDStep took Int64 operands")
	}
	panics := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", what)
			}
		}()
		f()
	}
	g64 := mk(backend.Float64)
	panics("dtype mismatch", func() { Get().SGDStep(p.v, g64.v, backend.View{}, backend.SGDHyper{LR: 1}) })
	short := g.v
	short.Layout = backend.Contiguous([]int{5})
	panics("size mismatch", func() { Get().AdamStep(p.v, short, m.v, v.v, backend.View{}, backend.AdamHyper{Step: 1}) })
	panics("no buffer", func() { Get().SGDStep(p.v, g.v, backend.View{}, backend.SGDHyper{LR: 1, Momentum: 0.9}) })
	panics("no vmax", func() { Get().AdamStep(p.v, g.v, m.v, v.v, backend.View{}, backend.AdamHyper{AMSGrad: true, Step: 1}) })
	unchanged("panicked")
}

// TestOptimNoAllocations: a fused step below the parallel threshold
// allocates nothing.
func TestOptimNoAllocations(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	n := 1000
	dt := backend.Float32
	p, g, m, v, x := newOvec(t, dt, randVals(rng, n, 1)), newOvec(t, dt, randVals(rng, n, 1)),
		newOvec(t, dt, make([]float64, n)), newOvec(t, dt, make([]float64, n)), newOvec(t, dt, make([]float64, n))
	h := backend.AdamHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, AMSGrad: true, WeightDecay: 0.1, Step: 1}
	if a := testing.AllocsPerRun(20, func() { Get().AdamStep(p.v, g.v, m.v, v.v, x.v, h) }); a != 0 {
		t.Errorf("AdamStep: %v allocations", a)
	}
	sh := backend.SGDHyper{LR: 0.1, Momentum: 0.9, Nesterov: true}
	if a := testing.AllocsPerRun(20, func() { Get().SGDStep(p.v, g.v, m.v, sh) }); a != 0 {
		t.Errorf("SGDStep: %v allocations", a)
	}
}

// TestOptimReciprocalDivision backs adamDen's float32 shortcut: x/c equals
// float32(float64(x)·(1/float64(c))) for the bias corrections Adam
// divides by (√(1−β2^t) for common β2 and t up to 10⁵), random divisors,
// and numerators of every exponent, subnormals and extremes included.
func TestOptimReciprocalDivision(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var cs []float32
	for _, b2 := range []float64{0.999, 0.99, 0.9, 0.5, 0.9999} {
		for step := 1; step <= 100000; step = step*11/10 + 1 {
			cs = append(cs, float32(math.Sqrt(1-math.Pow(b2, float64(step)))))
		}
	}
	for range 200 {
		cs = append(cs, float32(rng.Float64()), math.Float32frombits(rng.Uint32()&0x7fffffff))
	}
	xs := []float32{0, 1, math.MaxFloat32, math.SmallestNonzeroFloat32, 0x1p-126, 3, 1e-30, 1e30}
	n := 2000
	if testing.Short() {
		n = 200
	}
	bad := 0
	for _, c := range cs {
		if c == 0 || math.IsInf(float64(c), 0) || c != c {
			continue
		}
		r := 1 / float64(c)
		try := func(x float32) {
			want := x / c
			got := float32(float64(x) * r)
			if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
				if bad < 5 {
					t.Errorf("%g / %g = %g, by the reciprocal %g", x, c, want, got)
				}
				bad++
			}
		}
		for _, x := range xs {
			try(x)
		}
		for range n {
			try(math.Float32frombits(rng.Uint32() & 0x7fffffff)) // any non-negative float32
			try(float32(rng.Float64() * 2))                      // √v's usual range
		}
	}
}
