package tensor_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// sgdLoop is torch.optim.SGD's step for float64 values, in the order
// backend.FusedOptimizer documents.
func sgdLoop(p, g, buf []float64, h tensor.SGDHyper) {
	for i := range p {
		d := g[i]
		if h.Maximize {
			d = -d
		}
		if h.WeightDecay != 0 {
			d += p[i] * h.WeightDecay
		}
		if h.Momentum != 0 {
			if h.First {
				buf[i] = d
			} else {
				buf[i] = buf[i]*h.Momentum + d*(1-h.Dampening)
			}
			if h.Nesterov {
				d += buf[i] * h.Momentum
			} else {
				d = buf[i]
			}
		}
		p[i] += d * -h.LR
	}
}

// adamLoop is torch.optim.Adam's (AdamW's) step for float64 values.
func adamLoop(p, g, m, v, x []float64, h tensor.AdamHyper) {
	bc1 := 1 - math.Pow(h.Beta1, h.Step)
	bc2 := math.Sqrt(1 - math.Pow(h.Beta2, h.Step))
	for i := range p {
		d := g[i]
		if h.Maximize {
			d = -d
		}
		if h.Decoupled && h.WeightDecay != 0 {
			p[i] *= 1 - h.LR*h.WeightDecay
		} else if h.WeightDecay != 0 {
			d += p[i] * h.WeightDecay
		}
		m[i] = m[i]*h.Beta1 + d*(1-h.Beta1)
		v[i] = v[i]*h.Beta2 + d*(1-h.Beta2)*d
		den := v[i]
		if h.AMSGrad {
			x[i] = math.Max(x[i], v[i])
			den = x[i]
		}
		p[i] += m[i] * -(h.LR / bc1) / (math.Sqrt(den)/bc2 + h.Eps)
	}
}

func f64(v ...float64) *tensor.Tensor { return tensor.FromSlice(v, 2, 3) }

func sameF64(t *testing.T, what string, got *tensor.Tensor, want []float64) {
	t.Helper()
	for i, g := range got.Float64s() {
		if math.Float64bits(g) != math.Float64bits(want[i]) {
			t.Errorf("%s[%d] = %v, want %v", what, i, g, want[i])
			return
		}
	}
}

func TestFusedSGD(t *testing.T) {
	pv := []float64{1, -2, 3, 0.5, -0.25, 4}
	gv := []float64{0.3, 0.1, -0.7, 2, -1, 0.01}
	bv := []float64{0.2, -0.2, 0.1, 1, 0, -3}
	for _, h := range []tensor.SGDHyper{
		{LR: 0.1},
		{LR: 0.1, Momentum: 0.9, First: true},
		{LR: 0.1, Momentum: 0.9, Dampening: 0.2, WeightDecay: 0.05},
		{LR: 0.1, Momentum: 0.5, Nesterov: true, Maximize: true, WeightDecay: 0.1},
	} {
		p, g, buf := f64(pv...), f64(gv...), f64(bv...)
		wp, wb := append([]float64{}, pv...), append([]float64{}, bv...)
		sgdLoop(wp, gv, wb, h)
		vp, vb, vg := p.Version(), buf.Version(), g.Version()
		if !tensor.FusedSGD(p, g, buf, h) {
			t.Fatalf("%+v: the fused step did not run", h)
		}
		sameF64(t, fmt.Sprintf("%+v p", h), p, wp)
		if h.Momentum != 0 {
			sameF64(t, fmt.Sprintf("%+v buf", h), buf, wb)
			if buf.Version() == vb {
				t.Errorf("%+v: buf's version not bumped", h)
			}
		} else if buf.Version() != vb {
			t.Errorf("%+v: buf's version bumped without momentum", h)
		}
		if p.Version() == vp || g.Version() != vg {
			t.Errorf("%+v: versions p %d→%d, g %d→%d", h, vp, p.Version(), vg, g.Version())
		}
	}
}

func TestFusedAdam(t *testing.T) {
	pv := []float64{1, -2, 3, 0.5, -0.25, 4}
	gv := []float64{0.3, 0.1, -0.7, 2, -1, 0.01}
	mv := []float64{0.2, -0.2, 0.1, 1, 0, -3}
	vv := []float64{0.04, 0.5, 0.01, 1, 0, 2}
	xv := []float64{0.1, 0.1, 0.1, 0.1, 3, 0.1}
	for _, h := range []tensor.AdamHyper{
		{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1},
		{LR: 0.05, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, Step: 4, WeightDecay: 0.1, AMSGrad: true, Maximize: true},
		{LR: 0.05, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 2, WeightDecay: 0.01, Decoupled: true},
	} {
		p, g, m, v, x := f64(pv...), f64(gv...), f64(mv...), f64(vv...), f64(xv...)
		wp, wm, wv, wx := append([]float64{}, pv...), append([]float64{}, mv...), append([]float64{}, vv...), append([]float64{}, xv...)
		adamLoop(wp, gv, wm, wv, wx, h)
		ver := []uint64{p.Version(), m.Version(), v.Version(), x.Version()}
		if !tensor.FusedAdam(p, g, m, v, x, h) {
			t.Fatalf("%+v: the fused step did not run", h)
		}
		what := fmt.Sprintf("%+v", h)
		sameF64(t, what+" p", p, wp)
		sameF64(t, what+" m", m, wm)
		sameF64(t, what+" v", v, wv)
		if h.AMSGrad {
			sameF64(t, what+" vmax", x, wx)
		}
		for i, o := range []*tensor.Tensor{p, m, v, x} {
			if bumped := o.Version() != ver[i]; bumped != (i < 3 || h.AMSGrad) {
				t.Errorf("%s: operand %d version bumped: %v", what, i, bumped)
			}
		}
	}
}

// TestFusedDeclines: operands the fused kernel does not take are left to
// the caller, with nothing written and no version bumped.
func TestFusedDeclines(t *testing.T) {
	h := tensor.AdamHyper{LR: 0.1, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, Step: 1}
	sh := tensor.SGDHyper{LR: 0.1, Momentum: 0.9}
	p := f64(1, 2, 3, 4, 5, 6)
	pT := tensor.FromSlice([]float64{1, 2, 3, 4, 5, 6}, 3, 2).T() // non-contiguous [2 3]
	g := f64(1, 1, 1, 1, 1, 1)
	g32 := g.To(tensor.Float32)
	m, v := tensor.ZerosLike(p), tensor.ZerosLike(p)
	cases := []struct {
		name string
		run  func() bool
	}{
		{"transposed parameter", func() bool { return tensor.FusedSGD(pT, g, m, sh) }},
		{"transposed gradient", func() bool { return tensor.FusedAdam(p, pT, m, v, nil, h) }},
		{"gradient of another dtype", func() bool { return tensor.FusedSGD(p, g32, m, sh) }},
		{"gradient aliasing the parameter", func() bool { return tensor.FusedSGD(p, p, m, sh) }},
		{"state aliasing state", func() bool { return tensor.FusedAdam(p, g, m, m, nil, h) }},
		{"view of the parameter as gradient", func() bool { return tensor.FusedSGD(p, p.Detach(), m, sh) }},
	}
	for _, c := range cases {
		before := []uint64{p.Version(), pT.Version(), m.Version(), v.Version()}
		vals := [][]float64{p.Float64s(), pT.Float64s(), m.Float64s(), v.Float64s()}
		if c.run() {
			t.Errorf("%s: the fused step ran", c.name)
		}
		for i, o := range []*tensor.Tensor{p, pT, m, v} {
			if o.Version() != before[i] {
				t.Errorf("%s: operand %d's version bumped", c.name, i)
			}
			sameF64(t, c.name, o, vals[i])
		}
	}
}

func TestFusedPanics(t *testing.T) {
	p := f64(1, 2, 3, 4, 5, 6)
	h := tensor.AdamHyper{LR: 0.1, Beta1: 0.9, Beta2: 0.99, Step: 1}
	cases := []struct {
		name string
		kind error
		f    func()
	}{
		{"shape", tensor.ErrShape, func() { tensor.FusedSGD(p, tensor.Zeros(6).To(tensor.Float64), nil, tensor.SGDHyper{LR: 1}) }},
		{"state shape", tensor.ErrShape, func() {
			tensor.FusedAdam(p, p.Clone(), tensor.ZerosOf(tensor.Float64, 3, 2), tensor.ZerosLike(p), nil, h)
		}},
		{"no buffer", tensor.ErrShape, func() { tensor.FusedSGD(p, p.Clone(), nil, tensor.SGDHyper{LR: 1, Momentum: 0.5}) }},
		{"no vmax", tensor.ErrShape, func() {
			h := h
			h.AMSGrad = true
			tensor.FusedAdam(p, p.Clone(), tensor.ZerosLike(p), tensor.ZerosLike(p), nil, h)
		}},
		{"int parameter", tensor.ErrDType, func() {
			q := tensor.FromSlice([]int64{1, 2})
			tensor.FusedSGD(q, q.Clone(), nil, tensor.SGDHyper{LR: 1})
		}},
	}
	for _, c := range cases {
		err := tensor.Try(c.f)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.kind)
		}
	}
}

// TestFusedNoAllocations: a fused step on a small parameter allocates
// nothing.
func TestFusedNoAllocations(t *testing.T) {
	p, g := tensor.Randn(64, 32), tensor.Randn(64, 32)
	m, v, x := tensor.ZerosLike(p), tensor.ZerosLike(p), tensor.ZerosLike(p)
	h := tensor.AdamHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1, AMSGrad: true}
	if a := testing.AllocsPerRun(20, func() { tensor.FusedAdam(p, g, m, v, x, h) }); a != 0 {
		t.Errorf("FusedAdam: %v allocations", a)
	}
	sh := tensor.SGDHyper{LR: 0.1, Momentum: 0.9}
	if a := testing.AllocsPerRun(20, func() { tensor.FusedSGD(p, g, m, sh) }); a != 0 {
		t.Errorf("FusedSGD: %v allocations", a)
	}
}

// A training loop can keep its own Adam state and step with FusedAdam.
func ExampleFusedAdam() {
	w := tensor.FromSlice([]float32{1, -1})
	grad := tensor.FromSlice([]float32{0.5, -2})
	m, v := tensor.ZerosLike(w), tensor.ZerosLike(w)
	h := tensor.AdamHyper{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	for step := 1; step <= 2; step++ {
		h.Step = float64(step)
		if !tensor.FusedAdam(w, grad, m, v, nil, h) {
			panic("no fused kernel") // compose the update from in-place ops instead
		}
	}
	fmt.Println(w)
	// Output:
	// tensor([ 0.8000, -0.8000])
}
