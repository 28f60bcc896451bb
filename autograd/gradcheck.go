package autograd

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/tensor"
)

// GradCheckOptions tune GradCheck; zero fields take torch.autograd.gradcheck's
// defaults.
type GradCheckOptions struct {
	Eps  float64 // finite-difference step (default 1e-6)
	Atol float64 // absolute tolerance (default 1e-5)
	Rtol float64 // relative tolerance (default 1e-3)
	// GradGrad also checks second derivatives: the gradient of a random
	// projection of the first backward pass (computed with CreateGraph)
	// against its finite differences, as torch's gradgradcheck does.
	GradGrad bool
}

// GradCheck compares the gradients backward computes for f against
// central finite differences, for every element of every input that
// requires grad, and returns an error describing the first mismatch
// (|analytic − numeric| > Atol + Rtol·|numeric|). Inputs that require
// grad must be Float64 and must not overlap in memory (no expanded
// inputs). f must be deterministic. A panic from f or from backward is
// returned as an error when it is a *tensor.Error.
func GradCheck(f func(in []*tensor.Tensor) *tensor.Tensor, in []*tensor.Tensor, opt ...GradCheckOptions) (err error) {
	o := GradCheckOptions{Eps: 1e-6, Atol: 1e-5, Rtol: 1e-3}
	if len(opt) > 0 {
		if opt[0].Eps > 0 {
			o.Eps = opt[0].Eps
		}
		if opt[0].Atol > 0 {
			o.Atol = opt[0].Atol
		}
		if opt[0].Rtol > 0 {
			o.Rtol = opt[0].Rtol
		}
		o.GradGrad = opt[0].GradGrad
	}
	if e := tensor.Try(func() { err = gradCheck(f, in, o) }); e != nil {
		return fmt.Errorf("gradcheck: %w", e)
	}
	if err == nil && o.GradGrad {
		if e := tensor.Try(func() { err = gradGradCheck(f, in, o) }); e != nil {
			return fmt.Errorf("gradgradcheck: %w", e)
		}
	}
	return err
}

func gradCheck(f func(in []*tensor.Tensor) *tensor.Tensor, in []*tensor.Tensor, o GradCheckOptions) error {
	var wrt []*tensor.Tensor
	var wrtIdx []int
	for i, t := range in {
		if !t.RequiresGrad() {
			continue
		}
		if t.DType() != tensor.Float64 {
			return fmt.Errorf("gradcheck: input %d is %v; use Float64 inputs for finite differences", i, t.DType())
		}
		for _, s := range t.Strides() {
			if s == 0 && t.Numel() > 1 {
				return fmt.Errorf("gradcheck: input %d (shape %v, strides %v) overlaps itself in memory", i, t.Shape(), t.Strides())
			}
		}
		wrt = append(wrt, t)
		wrtIdx = append(wrtIdx, i)
	}
	if len(wrt) == 0 {
		return fmt.Errorf("gradcheck: no input requires grad")
	}
	out := f(in)
	if !out.RequiresGrad() {
		return fmt.Errorf("gradcheck: the output does not require grad")
	}
	if !out.DType().IsFloat() {
		return fmt.Errorf("gradcheck: the output is %v", out.DType())
	}
	nOut := out.Numel()
	// analytic Jacobian, one backward pass per output element
	analytic := make([][][]float64, len(wrt)) // [input][elem][out]
	for k, t := range wrt {
		analytic[k] = make([][]float64, t.Numel())
		for i := range analytic[k] {
			analytic[k][i] = make([]float64, nOut)
		}
	}
	for j := 0; j < nOut; j++ {
		onehot := make([]float64, nOut)
		onehot[j] = 1
		g := tensor.FromSlice(onehot, out.Shape()...).To(out.DType())
		gs := Grad([]*tensor.Tensor{out}, wrt, []*tensor.Tensor{g}, GradOptions{RetainGraph: true, AllowUnused: true})
		for k, gk := range gs {
			if gk == nil {
				continue
			}
			if !sameShape(gk.Shape(), wrt[k].Shape()) {
				return fmt.Errorf("gradcheck: gradient of input %d has shape %v, want %v", wrtIdx[k], gk.Shape(), wrt[k].Shape())
			}
			for i, v := range gk.Float64s() {
				analytic[k][i][j] = v
			}
		}
	}
	// numeric Jacobian by central differences (f runs with grad mode as
	// the caller has it: the second-order check's f runs a backward pass)
	eval := func() []float64 { return f(in).Float64s() }
	for k, t := range wrt {
		for i := 0; i < t.Numel(); i++ {
			elem := element(t, i)
			x0 := elem.Item()
			NoGrad(func() { elem.FillIn(x0 + o.Eps) })
			plus := eval()
			NoGrad(func() { elem.FillIn(x0 - o.Eps) })
			minus := eval()
			NoGrad(func() { elem.FillIn(x0) })
			for j := 0; j < nOut; j++ {
				num := (plus[j] - minus[j]) / (2 * o.Eps)
				an := analytic[k][i][j]
				if math.IsNaN(an) != math.IsNaN(num) || math.Abs(an-num) > o.Atol+o.Rtol*math.Abs(num) {
					return fmt.Errorf("gradcheck: Jacobian mismatch for input %d, element %d, output element %d: analytic %.10g, numeric %.10g", wrtIdx[k], i, j, an, num)
				}
			}
		}
	}
	return nil
}

// gradGradCheck checks the derivative of the first backward pass: for a
// fixed random cotangent v and projection w, h(x) = Σ w·∂⟨f(x), v⟩/∂x is a
// scalar whose gradient needs backward-of-backward.
func gradGradCheck(f func(in []*tensor.Tensor) *tensor.Tensor, in []*tensor.Tensor, o GradCheckOptions) error {
	gen := tensor.NewGenerator(12345)
	var v *tensor.Tensor
	var ws []*tensor.Tensor
	NoGrad(func() {
		out := f(in)
		v = gen.Normal(tensor.Float64, 0, 1, out.Shape()...)
		for _, t := range in {
			if t.RequiresGrad() {
				ws = append(ws, gen.Normal(tensor.Float64, 0, 1, t.Shape()...))
			}
		}
	})
	h := func(x []*tensor.Tensor) *tensor.Tensor {
		var wrt []*tensor.Tensor
		for _, t := range x {
			if t.RequiresGrad() {
				wrt = append(wrt, t)
			}
		}
		out := f(x)
		gs := Grad([]*tensor.Tensor{out}, wrt, []*tensor.Tensor{v.To(out.DType())}, GradOptions{CreateGraph: true, AllowUnused: true})
		var total *tensor.Tensor
		for k, g := range gs {
			if g == nil {
				continue
			}
			s := g.Mul(ws[k]).Sum()
			if total == nil {
				total = s
			} else {
				total = total.Add(s)
			}
		}
		if total == nil || !total.RequiresGrad() {
			// the first derivative does not depend on the inputs: a
			// constant whose gradient is zero; nothing more to check
			return nil
		}
		return total
	}
	if probe := h(in); probe == nil {
		return nil
	}
	return gradCheck(h, in, o)
}

// element returns a 0-d view of the i-th element (row-major) of t.
func element(t *tensor.Tensor, i int) *tensor.Tensor {
	shape := t.Shape()
	v := t.Detach()
	for d := len(shape) - 1; d >= 0; d-- {
		idx := i % shape[d]
		i /= shape[d]
		v = v.Select(d, idx)
	}
	return v
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
