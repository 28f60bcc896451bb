package onnx

import (
	"github.com/tapir-ml/tapir/tensor"
)

// Loss operators (opset 12 and later), so that an exported training graph
// runs too.

func init() {
	register(opNLLLoss, "NegativeLogLikelihoodLoss")
	register(opSCELoss, "SoftmaxCrossEntropyLoss")
}

// nllLoss is the negative log-likelihood of the classes target (an integer
// tensor [N, d…]) under logp ([N, C, d…]), weighted per class, with
// ignore entries left out and the given reduction.
func nllLoss(c *opCtx, logp, target, weight *tensor.Tensor, reduction string) *tensor.Tensor {
	if logp.Dim() < 2 || target.Dim() != logp.Dim()-1 {
		c.fail("input of shape %v and target of shape %v do not fit", logp.Shape(), target.Shape())
	}
	target = target.To(tensor.Int64)
	keep := c.full(tensor.Bool, 1, target.Shape()...)
	if c.has("ignore_index") {
		keep = target.NeScalar(float64(c.int("ignore_index", 0)))
	}
	safe := tensor.Where(keep, target, c.full(tensor.Int64, 0))
	picked := logp.Gather(1, safe.Unsqueeze(1)).Squeeze(1)
	w := keep.To(logp.DType())
	if weight != nil {
		w = w.Mul(weight.To(logp.DType()).IndexSelect(0, safe.Reshape(-1)).Reshape(safe.Shape()...))
	}
	loss := picked.Mul(w).Neg()
	switch reduction {
	case "none":
		return loss
	case "sum":
		return loss.Sum()
	case "mean":
		return loss.Sum().Div(w.Sum())
	}
	c.fail("unknown reduction %q", reduction)
	return nil
}

func opNLLLoss(c *opCtx) []*tensor.Tensor {
	return one(nllLoss(c, c.x(0), c.x(1), c.opt(2), c.str("reduction", "mean")))
}

func opSCELoss(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	if x.Dim() < 2 {
		c.fail("scores must be [N, C, …], have shape %v", x.Shape())
	}
	logp := x.LogSoftmax(1)
	return []*tensor.Tensor{nllLoss(c, logp, c.x(1), c.opt(2), c.str("reduction", "mean")), logp}
}
