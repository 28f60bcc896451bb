package functional

import (
	"math"

	"github.com/tapir-ml/tapir/tensor"
)

// SDPAOptions are ScaledDotProductAttention's options; the zero value is
// torch's default (no mask, no dropout, not causal, scale 1/√E).
type SDPAOptions struct {
	// Mask, when not nil, broadcasts to [*, L, S]. A Bool mask marks with
	// true the keys that take part (as torch 2.x); a floating mask is
	// added to the scores.
	Mask *tensor.Tensor
	// DropoutP is the dropout probability applied to the attention
	// weights (always, as torch's functional form does: pass 0 in eval).
	DropoutP float64
	// IsCausal masks out keys after the query's position: query i sees
	// keys j ≤ i (a lower-triangular [L, S] mask). It cannot be combined
	// with Mask.
	IsCausal bool
	// Scale multiplies the scores; 0 means 1/√E.
	Scale float64
	// Generator draws the dropout mask; nil means tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// ScaledDotProductAttention is softmax(q·kᵀ·scale + mask)·v
// (torch.nn.functional.scaled_dot_product_attention of torch 2.x): q is
// [*, L, E], k [*, S, E], v [*, S, Ev], with leading dims that broadcast;
// the result is [*, L, Ev]. A query whose keys are all masked out gets
// NaN, as in torch. It is written with MatMul and Softmax; a fused kernel
// (flash attention) would avoid materializing the [*, L, S] scores.
func ScaledDotProductAttention(q, k, v *tensor.Tensor, opt ...SDPAOptions) *tensor.Tensor {
	const op = "scaled_dot_product_attention"
	var o SDPAOptions
	if len(opt) > 0 {
		o = opt[0]
	}
	if q.Dim() < 2 || k.Dim() < 2 || v.Dim() < 2 || q.Size(-1) != k.Size(-1) || k.Size(-2) != v.Size(-2) {
		panicOp(op, tensor.ErrShape, "query %v, key %v and value %v do not fit: want [*, L, E], [*, S, E], [*, S, Ev]",
			q.Shape(), k.Shape(), v.Shape())
	}
	if o.IsCausal && o.Mask != nil {
		panicOp(op, tensor.ErrShape, "a mask (shape %v) cannot be combined with is_causal", o.Mask.Shape())
	}
	scale := o.Scale
	if scale == 0 {
		scale = 1 / math.Sqrt(float64(q.Size(-1)))
	}
	scores := q.MatMul(k.Transpose(-1, -2)).MulScalar(scale)
	l, s := q.Size(-2), k.Size(-2)
	negInf := tensor.FullOf(scores.DType(), math.Inf(-1)).ToDevice(scores.Device())
	switch {
	case o.IsCausal:
		i := tensor.Arange(0, float64(l), 1).Reshape(l, 1)
		j := tensor.Arange(0, float64(s), 1).Reshape(1, s)
		scores = tensor.Where(j.Le(i).ToDevice(scores.Device()), scores, negInf)
	case o.Mask != nil && o.Mask.DType() == tensor.Bool:
		checkMask(op, o.Mask, scores)
		scores = tensor.Where(o.Mask, scores, negInf)
	case o.Mask != nil && o.Mask.DType().IsFloat():
		checkMask(op, o.Mask, scores)
		scores = scores.Add(o.Mask)
	case o.Mask != nil:
		panicOp(op, tensor.ErrDType, "mask must be Bool or floating point, not %v", o.Mask.DType())
	}
	attn := scores.Softmax(-1)
	if o.DropoutP > 0 {
		attn = Dropout(attn, o.DropoutP, true, o.Generator)
	}
	return attn.MatMul(v)
}

// checkMask panics unless mask's last two dims broadcast to the scores'
// [L, S]; the leading dims broadcast as for any elementwise op.
func checkMask(op string, mask, scores *tensor.Tensor) {
	ok := true
	for i := 1; i <= min(2, mask.Dim()); i++ {
		if m := mask.Size(-i); m != 1 && m != scores.Size(-i) {
			ok = false
		}
	}
	if !ok {
		panicOp(op, tensor.ErrShape, "mask of shape %v does not broadcast to the attention scores %v", mask.Shape(), scores.Shape())
	}
}
