package cpu

import (
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// Fused optimizer steps (backend.FusedOptimizer): one pass over a
// contiguous float32 or float64 parameter and its state, in the order of
// the formulas documented there, each operation rounded in the element
// type. The explicit T(…) conversions around products keep a compiler that
// fuses multiply-adds (Go may, on arm64 and others) from skipping a
// rounding that the composed update performs. These loops are the
// reference and the float64 path; float32 steps run the assembly twins of
// optim_vec.go where the CPU has them (optVecFor).

var _ backend.FusedOptimizer = (*CPU)(nil)

// Elements per goroutine when a step runs in parallel: an Adam element
// costs about ten cycles (a square root and two divisions), an SGD one a
// few, so these chunks take tens of microseconds, far more than starting a
// goroutine.
const (
	sgdGrain  = 1 << 14
	adamGrain = 1 << 13
)

// fusedOperands reports whether the views are all contiguous with one
// float32 or float64 dtype and one element count (nil storages skipped),
// and returns that element count. Views of different sizes or dtypes are
// a caller's bug and panic.
func fusedOperands(op string, p backend.View, others ...backend.View) (n int, ok bool) {
	dt := p.DType()
	n = p.Numel()
	if !p.IsContiguous() {
		ok = false
	} else {
		ok = dt == backend.Float32 || dt == backend.Float64
	}
	for _, o := range others {
		if o.Storage == nil {
			continue
		}
		if o.DType() != dt {
			panic("cpu: " + op + ": operands of dtypes " + dt.String() + " and " + o.DType().String())
		}
		if o.Numel() != n {
			panic("cpu: " + op + ": operands of different sizes")
		}
		if !o.IsContiguous() {
			ok = false
		}
	}
	return n, ok
}

// elems is the n contiguous elements of v, or nil for a nil storage.
func elems[T float](v backend.View, n int) []T {
	if v.Storage == nil {
		return nil
	}
	return slice[T](v.Storage)[v.Offset : v.Offset+n : v.Offset+n]
}

// SGDStep implements backend.FusedOptimizer.
func (*CPU) SGDStep(p, g, buf backend.View, h backend.SGDHyper) bool {
	if h.Momentum == 0 {
		buf.Storage = nil
	} else if buf.Storage == nil {
		panic("cpu: sgd step: momentum without a buffer")
	}
	n, ok := fusedOperands("sgd step", p, g, buf)
	if !ok {
		return false
	}
	switch p.DType() {
	case backend.Float32:
		sgdRun(elems[float32](p, n), elems[float32](g, n), elems[float32](buf, n), h)
	default:
		sgdRun(elems[float64](p, n), elems[float64](g, n), elems[float64](buf, n), h)
	}
	return true
}

// AdamStep implements backend.FusedOptimizer.
func (*CPU) AdamStep(p, g, m, v, vmax backend.View, h backend.AdamHyper) bool {
	if !h.AMSGrad {
		vmax.Storage = nil
	} else if vmax.Storage == nil {
		panic("cpu: adam step: amsgrad without max_exp_avg_sq")
	}
	n, ok := fusedOperands("adam step", p, g, m, v, vmax)
	if !ok {
		return false
	}
	switch p.DType() {
	case backend.Float32:
		adamRun(elems[float32](p, n), elems[float32](g, n), elems[float32](m, n), elems[float32](v, n), elems[float32](vmax, n), h)
	default:
		adamRun(elems[float64](p, n), elems[float64](g, n), elems[float64](m, n), elems[float64](v, n), elems[float64](vmax, n), h)
	}
	return true
}

// sgdScalars are SGDHyper's scalars in the element type.
type sgdScalars[T float] struct {
	negLR, mu, damp1, wd           T
	momentum, nesterov, max, first bool
}

func sgdRun[T float](p, g, buf []T, h backend.SGDHyper) {
	s := sgdScalars[T]{negLR: -T(h.LR), mu: T(h.Momentum), damp1: T(1 - h.Dampening), wd: T(h.WeightDecay),
		momentum: h.Momentum != 0, nesterov: h.Nesterov, max: h.Maximize, first: h.First}
	if k := optVecFor[T](); k != nil {
		s32 := any(&s).(*sgdScalars[float32])
		sgdVec32(k, any(p).([]float32), any(g).([]float32), any(buf).([]float32), s32)
		return
	}
	n := len(p)
	if n < 2*sgdGrain || NumThreads() == 1 {
		sgdKernel(p, g, buf, &s)
		return
	}
	sc := s // a copy that the goroutines share; s stays on the stack
	parallelFor(n, sgdGrain, func(lo, hi int) {
		var b []T
		if buf != nil {
			b = buf[lo:hi]
		}
		sgdKernel(p[lo:hi], g[lo:hi], b, &sc)
	})
}

// sgdKernel runs the SGD formula over one chunk. The common cases (plain
// SGD, and momentum without Nesterov, weight decay or maximize after the
// first step) have loops of their own, free of per-element tests.
func sgdKernel[T float](p, g, buf []T, s *sgdScalars[T]) {
	g = g[:len(p)]
	negLR, mu, damp1, wd := s.negLR, s.mu, s.damp1, s.wd
	switch {
	case !s.momentum && !s.max && wd == 0:
		for i, d := range g {
			p[i] += T(d * negLR)
		}
		return
	case s.momentum && !s.first && !s.nesterov && !s.max && wd == 0:
		buf = buf[:len(p)]
		for i, d := range g {
			b := T(buf[i]*mu) + T(d*damp1)
			buf[i] = b
			p[i] += T(b * negLR)
		}
		return
	}
	if s.momentum {
		buf = buf[:len(p)]
	}
	for i, d := range g {
		if s.max {
			d = -d
		}
		if wd != 0 {
			d += T(p[i] * wd)
		}
		if s.momentum {
			b := d
			if !s.first {
				b = T(buf[i]*mu) + T(d*damp1)
			}
			buf[i] = b
			if s.nesterov {
				d += T(b * mu)
			} else {
				d = b
			}
		}
		p[i] += T(d * negLR)
	}
}

// adamScalars are AdamHyper's scalars in the element type.
type adamScalars[T float] struct {
	b1, b2, omb1, omb2, eps, wd, decay, negStep, bc2s T
	// rbc2 is 1/bc2s in float64, used for float32 only (recip): see
	// adamDen.
	rbc2                           float64
	recip, decoupled, amsgrad, max bool
}

// adamDen is T(√v / bc2s) + ε. For float32 the quotient is computed as
// float32(float64(√v)·(1/float64(bc2s))), a multiplication instead of a
// division, with the same result: a quotient x/c of two float32 numbers
// lies at least 2⁻⁵⁰ (relatively) away from every midpoint between
// neighbouring float32 numbers (were x/c = m, a 25-bit midpoint, then
// x = m·c would need more than 24 bits; otherwise |x − m·c| is at least
// the unit of m·c's 49-bit product), while the float64 reciprocal and
// product are within 2⁻⁵² of x/c, so both round to the same float32.
// TestOptimReciprocalDivision checks this on random and edge operands.
func adamDen[T float](vi T, s *adamScalars[T]) T {
	if s.recip {
		return T(float64(sqrtT(vi))*s.rbc2) + s.eps
	}
	return T(sqrtT(vi)/s.bc2s) + s.eps
}

func adamRun[T float](p, g, m, v, vmax []T, h backend.AdamHyper) {
	stepSize, bc2s := h.BiasCorrections()
	s := adamScalars[T]{b1: T(h.Beta1), b2: T(h.Beta2), omb1: T(1 - h.Beta1), omb2: T(1 - h.Beta2),
		eps: T(h.Eps), negStep: T(-stepSize), bc2s: T(bc2s),
		decoupled: h.Decoupled && h.WeightDecay != 0, amsgrad: h.AMSGrad, max: h.Maximize}
	var z T
	if _, ok := any(z).(float32); ok {
		s.recip, s.rbc2 = true, 1/float64(s.bc2s)
	}
	if s.decoupled {
		s.decay = T(1 - h.LR*h.WeightDecay)
	} else {
		s.wd = T(h.WeightDecay)
	}
	if k := optVecFor[T](); k != nil {
		s32 := any(&s).(*adamScalars[float32])
		adamVec32(k, any(p).([]float32), any(g).([]float32), any(m).([]float32), any(v).([]float32), any(vmax).([]float32), s32)
		return
	}
	n := len(p)
	if n < 2*adamGrain || NumThreads() == 1 {
		adamKernel(p, g, m, v, vmax, &s)
		return
	}
	sc := s // a copy that the goroutines share; s stays on the stack
	parallelFor(n, adamGrain, func(lo, hi int) {
		var x []T
		if vmax != nil {
			x = vmax[lo:hi]
		}
		adamKernel(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], x, &sc)
	})
}

// sqrtT is the correctly rounded square root in T (the float64 root of a
// float32 rounds to the float32 root; Go compiles this to SQRTSS).
func sqrtT[T float](x T) T { return T(math.Sqrt(float64(x))) }

// adamKernel runs the Adam formula over one chunk; Adam's and AdamW's
// defaults (no L2 term, no AMSGrad, no maximize) have a loop of their own.
func adamKernel[T float](p, g, m, v, vmax []T, s *adamScalars[T]) {
	n := len(p)
	g, m, v = g[:n], m[:n], v[:n]
	b1, b2, omb1, omb2, negStep := s.b1, s.b2, s.omb1, s.omb2, s.negStep
	if !s.amsgrad && !s.max && s.wd == 0 {
		decay, decoupled := s.decay, s.decoupled
		for i, d := range g {
			pi := p[i]
			if decoupled {
				pi = T(pi * decay)
			}
			mi := T(m[i]*b1) + T(d*omb1)
			vi := T(v[i]*b2) + T(T(d*omb2)*d)
			m[i], v[i] = mi, vi
			den := adamDen(vi, s)
			p[i] = pi + T(T(mi*negStep)/den)
		}
		return
	}
	if s.amsgrad {
		vmax = vmax[:n]
	}
	for i, d := range g {
		if s.max {
			d = -d
		}
		pi := p[i]
		if s.decoupled {
			pi = T(pi * s.decay)
		} else if s.wd != 0 {
			d += T(pi * s.wd)
		}
		mi := T(m[i]*b1) + T(d*omb1)
		vi := T(v[i]*b2) + T(T(d*omb2)*d)
		m[i], v[i] = mi, vi
		if s.amsgrad {
			// maximum(vmax, v): vmax when larger or NaN, else v (so a
			// NaN in v propagates too)
			if x := vmax[i]; x > vi || x != x {
				vi = x
			}
			vmax[i] = vi
		}
		den := adamDen(vi, s)
		p[i] = pi + T(T(mi*negStep)/den)
	}
}
