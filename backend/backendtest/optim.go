package backendtest

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// The optional fused optimizer steps (backend.FusedOptimizer), checked
// only on a backend that implements them, against float64 references
// written from torch 1.13's torch.optim.SGD, Adam and AdamW documentation
// (the algorithm boxes), independently of the formulas' rounding order:
// the tolerance of each result is the base tolerance times the sum of the
// magnitudes of the terms it is computed from, so only the rounding, not
// the order, may differ.
//
// Contiguous Float32 and Float64 operands (at offset 0 or not) must be
// accepted; strided ones may be declined, with nothing written, or must
// be computed right. Nothing outside the operands' views may change, and
// the gradient never.

func testFusedOptimizer(c *ctx) {
	fo, ok := c.s.be.(backend.FusedOptimizer)
	if !ok {
		c.Logf("%s does not implement backend.FusedOptimizer", c.s.be.Name())
		return
	}
	for _, dt := range c.types(floatTypes...) {
		c.run("SGDStep/"+dt.String(), func(c *ctx) { c.fusedSGD(fo, dt) })
		c.run("AdamStep/"+dt.String(), func(c *ctx) { c.fusedAdam(fo, dt) })
	}
}

// fusedShapes are the parameter shapes; past the -short cut, one large
// enough that a backend splits it over threads or blocks.
func (c *ctx) fusedShapes() [][]int {
	s := [][]int{{}, {1}, {7}, {3, 5}, {0}, {2, 0}}
	if c.big() {
		s = append(s, []int{70, 1001})
	}
	return s
}

// fusedKinds are the layouts: those that must be accepted first.
var fusedKinds = []kind{kContig, kPad, kPerm, kGap}

func mustAccept(k kind) bool { return k == kContig || k == kPad }

// sgdRef is torch.optim.SGD's step in float64 for one element: the new
// parameter and buffer, and the magnitudes that bound their rounding.
func sgdRef(p, g, buf float64, h backend.SGDHyper) (np, nb, mp, mb float64) {
	if h.Maximize {
		g = -g
	}
	d, md := g+h.WeightDecay*p, math.Abs(g)+math.Abs(h.WeightDecay*p)
	if h.Momentum != 0 {
		if h.First {
			nb, mb = d, md
		} else {
			nb = h.Momentum*buf + (1-h.Dampening)*d
			mb = math.Abs(h.Momentum*buf) + math.Abs(1-h.Dampening)*md
		}
		if h.Nesterov {
			d, md = d+h.Momentum*nb, md+math.Abs(h.Momentum)*mb
		} else {
			d, md = nb, mb
		}
	}
	return p - h.LR*d, nb, math.Abs(p) + math.Abs(h.LR)*md, mb
}

func (c *ctx) sgdHypers() []backend.SGDHyper {
	var hs []backend.SGDHyper
	for _, mom := range []float64{0, 0.9} {
		for _, damp := range []float64{0, 0.3} {
			for _, nest := range []bool{false, true} {
				if nest && (mom == 0 || damp != 0) {
					continue // torch requires momentum and no dampening
				}
				for _, wd := range []float64{0, 0.1} {
					for _, mx := range []bool{false, true} {
						for _, first := range []bool{false, true} {
							if mom == 0 && (first || damp != 0) {
								continue
							}
							hs = append(hs, backend.SGDHyper{LR: 0.05, Momentum: mom, Dampening: damp,
								WeightDecay: wd, Nesterov: nest, Maximize: mx, First: first})
						}
					}
				}
			}
		}
	}
	return hs
}

func (c *ctx) fusedSGD(fo backend.FusedOptimizer, dt backend.DType) {
	tol := c.tol(dt)
	for _, h := range c.sgdHypers() {
		for _, k := range fusedKinds {
			for _, sh := range c.fusedShapes() {
				if k != kContig && numel(sh) > 1000 {
					continue
				}
				what := fmt.Sprintf("SGDStep %v %v %+v", k, sh, h)
				p := c.input(dt, k, sh, c.uniform(-3, 3))
				g := c.input(dt, k, sh, c.uniform(-3, 3))
				var buf *operand
				bv := backend.View{}
				if h.Momentum != 0 {
					buf = c.input(dt, k, sh, c.uniform(-2, 2))
					bv = buf.view()
				}
				pin, gin := p.values(), g.values()
				var bin []float64
				if buf != nil {
					bin = buf.values()
				}
				if !fo.SGDStep(p.view(), g.view(), bv, h) {
					if mustAccept(k) {
						c.Errorf("%s: declined contiguous operands", what)
					}
					c.unchanged(what+" (declined) p", p)
					if buf != nil {
						c.unchanged(what+" (declined) buf", buf)
					}
					c.unchanged(what+" (declined) g", g)
					continue
				}
				c.unchanged(what+" g", g)
				n := len(pin)
				wp, wb, mp, mb := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
				for i := range n {
					b := 0.0
					if bin != nil {
						b = bin[i]
					}
					wp[i], wb[i], mp[i], mb[i] = sgdRef(pin[i], gin[i], b, h)
				}
				if c.written(what+" p", p) {
					c.check(what+" p", p, wp, magTol(mp, 8*tol), 0)
				}
				if buf != nil && c.written(what+" buf", buf) {
					c.check(what+" buf", buf, wb, magTol(mb, 8*tol), 0)
				}
			}
		}
	}
}

// magTol is the bound r·mag[i].
func magTol(mag []float64, r float64) bound {
	return func(i int) float64 { return r * mag[i] }
}

// adamRef is torch.optim.Adam's (AdamW's, when decoupled) step in float64
// for one element: new p, m, v, vmax, and the magnitudes bounding p, m, v.
func adamRef(p, g, m, v, vmax float64, h backend.AdamHyper) (np, nm, nv, nx, mp, mm, mv float64) {
	if h.Maximize {
		g = -g
	}
	mg := math.Abs(g)
	mpar := math.Abs(p)
	if h.WeightDecay != 0 {
		if h.Decoupled {
			p *= 1 - h.LR*h.WeightDecay
			mpar = math.Abs(p)
		} else {
			g += h.WeightDecay * p
			mg += math.Abs(h.WeightDecay * p)
		}
	}
	nm = h.Beta1*m + (1-h.Beta1)*g
	mm = math.Abs(h.Beta1*m) + (1-h.Beta1)*mg
	nv = h.Beta2*v + (1-h.Beta2)*g*g
	mv = h.Beta2*v + (1-h.Beta2)*mg*mg
	bc1 := 1 - math.Pow(h.Beta1, h.Step)
	bc2 := 1 - math.Pow(h.Beta2, h.Step)
	vhat := nv
	nx = vmax
	if h.AMSGrad {
		nx = math.Max(vmax, nv)
		vhat = nx
	}
	den := math.Sqrt(vhat)/math.Sqrt(bc2) + h.Eps
	upd := h.LR / bc1 * nm / den
	// den's terms are all positive, so its rounding is relative to den
	// itself and adds the quotient's relative error once more
	mupd := 2 * h.LR / bc1 * mm / den
	return p - upd, nm, nv, nx, mpar + mupd, mm, mv
}

func (c *ctx) adamHypers() []backend.AdamHyper {
	var hs []backend.AdamHyper
	for _, betas := range [][2]float64{{0.9, 0.999}, {0, 0.5}} {
		for _, wd := range []float64{0, 0.05} {
			for _, dec := range []bool{false, true} {
				for _, ams := range []bool{false, true} {
					for _, mx := range []bool{false, true} {
						for _, step := range []float64{1, 7} {
							hs = append(hs, backend.AdamHyper{LR: 0.01, Beta1: betas[0], Beta2: betas[1], Eps: 1e-3,
								WeightDecay: wd, Decoupled: dec, AMSGrad: ams, Maximize: mx, Step: step})
						}
					}
				}
			}
		}
	}
	return hs
}

func (c *ctx) fusedAdam(fo backend.FusedOptimizer, dt backend.DType) {
	tol := c.tol(dt)
	for hi, h := range c.adamHypers() {
		for _, k := range fusedKinds {
			for _, sh := range c.fusedShapes() {
				if numel(sh) > 1000 && (k != kContig || hi%3 != 0) {
					continue
				}
				what := fmt.Sprintf("AdamStep %v %v %+v", k, sh, h)
				p := c.input(dt, k, sh, c.uniform(-3, 3))
				g := c.input(dt, k, sh, c.uniform(-3, 3))
				m := c.input(dt, k, sh, c.uniform(-1, 1))
				v := c.input(dt, k, sh, c.uniform(0, 2))
				var x *operand
				xv := backend.View{}
				if h.AMSGrad {
					x = c.input(dt, k, sh, c.uniform(0, 2))
					xv = x.view()
				}
				pin, gin, mIn, vIn := p.values(), g.values(), m.values(), v.values()
				var xin []float64
				if x != nil {
					xin = x.values()
				}
				if !fo.AdamStep(p.view(), g.view(), m.view(), v.view(), xv, h) {
					if mustAccept(k) {
						c.Errorf("%s: declined contiguous operands", what)
					}
					for _, o := range []*operand{p, g, m, v, x} {
						if o != nil {
							c.unchanged(what+" (declined)", o)
						}
					}
					continue
				}
				c.unchanged(what+" g", g)
				n := len(pin)
				w := [4][]float64{make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)}
				mag := [3][]float64{make([]float64, n), make([]float64, n), make([]float64, n)}
				for i := range n {
					xi := 0.0
					if xin != nil {
						xi = xin[i]
					}
					w[0][i], w[1][i], w[2][i], w[3][i], mag[0][i], mag[1][i], mag[2][i] = adamRef(pin[i], gin[i], mIn[i], vIn[i], xi, h)
				}
				if c.written(what+" p", p) {
					c.check(what+" p", p, w[0], magTol(mag[0], 8*tol), 0)
				}
				if c.written(what+" m", m) {
					c.check(what+" m", m, w[1], magTol(mag[1], 8*tol), 0)
				}
				if c.written(what+" v", v) {
					c.check(what+" v", v, w[2], magTol(mag[2], 8*tol), 0)
				}
				if x != nil && c.written(what+" vmax", x) {
					c.check(what+" vmax", x, w[3], magTol(mag[2], 8*tol), 0)
				}
			}
		}
	}
}
