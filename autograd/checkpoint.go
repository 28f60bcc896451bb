package autograd

import "github.com/tapir-ml/tapir/tensor"

// Checkpoint runs f without keeping its intermediate results, and runs it
// again during backward to get them (torch.utils.checkpoint): memory for
// compute. The default generator's state is restored for the rerun, so
// dropout inside f draws the same masks both times (draws by other
// goroutines in between can break this). Gradients of gradients do not
// flow through a checkpoint.
func Checkpoint(f func(in []*tensor.Tensor) []*tensor.Tensor, in ...*tensor.Tensor) []*tensor.Tensor {
	need := false
	for _, t := range in {
		if t.RequiresGrad() {
			need = true
		}
	}
	if !need || !tensor.GradEnabled() {
		return f(in)
	}
	gen := tensor.DefaultGenerator()
	seed, offset := gen.State()
	var outs []*tensor.Tensor
	tensor.WithGradEnabled(false, func() { outs = f(in) })
	return tensor.RecordFunction("Checkpoint", in, outs, nil, func(_, gouts []*tensor.Tensor) []*tensor.Tensor {
		det := make([]*tensor.Tensor, len(in))
		var wrt []*tensor.Tensor
		var wrtIdx []int
		for i, t := range in {
			det[i] = t.Detach()
			if t.RequiresGrad() {
				det[i].SetRequiresGrad(true)
				wrt = append(wrt, det[i])
				wrtIdx = append(wrtIdx, i)
			}
		}
		s, o := gen.State()
		gen.SetState(seed, offset)
		var re []*tensor.Tensor
		tensor.WithGradEnabled(true, func() { re = f(det) })
		gen.SetState(s, o)
		var roots, grads []*tensor.Tensor
		for i, r := range re {
			if r.RequiresGrad() && gouts[i] != nil {
				roots = append(roots, r)
				grads = append(grads, gouts[i])
			}
		}
		res := make([]*tensor.Tensor, len(in))
		if len(roots) == 0 {
			return res
		}
		gs := tensor.RunBackward(roots, grads, wrt, tensor.BackwardOptions{AllowUnused: true})
		for k, i := range wrtIdx {
			res[i] = gs[k]
		}
		return res
	})
}
