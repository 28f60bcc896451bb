package tensor

import (
	"errors"
	"runtime"
	"strings"

	"github.com/tapir-ml/tapir/backend"
)

// crossEntropyAttr is the attrs of FusedCrossEntropy's node.
type crossEntropyAttr struct {
	Ignore int64
	Mean   bool
	Kept   int // rows whose target is not Ignore
}

// crossEntropyOff makes FusedCrossEntropy decline, so that callers
// compose; tests set it to compare the two.
var crossEntropyOff bool

// FusedCrossEntropy is the cross entropy of logits [N, C] against class
// indices target [N] (Int64, Int32 or Uint8): over the rows i whose
// target t_i is not ignoreIndex, logsumexp(logits[i]) − logits[i, t_i],
// averaged over those rows (mean) or summed, as a 0-d tensor of the
// logits' dtype. It is torch's cross_entropy for class-index targets
// without class weights or label smoothing, computed and recorded as one
// op: one pass over each row forward and one backward (the softmax less
// the one-hot target, scaled), with the composed differentiable form as
// its backward when the backward pass is itself recorded. A mean over no
// kept rows is NaN, and its gradient 0, as torch's.
//
// It returns false, having done nothing, where the logits' backend has
// no such kernel (backend.CrossEntropier) or their dtype is not Float32
// or Float64; the caller then composes LogSoftmax and a gather, as
// nn/functional.CrossEntropy does. Shapes that do not fit and targets
// outside [0, C) panic with ErrShape, ErrDType or ErrIndex.
func FusedCrossEntropy(logits, target *Tensor, ignoreIndex int64, mean bool) (*Tensor, bool) {
	const op = "cross_entropy"
	if logits.Dim() != 2 || target.Dim() != 1 || target.shape[0] != logits.shape[0] {
		fail(op, ErrShape, "logits %v and target %v: want [N, C] and [N]", logits.shape, target.shape)
	}
	switch target.DType() {
	case Int64, Int32, Uint8:
	default:
		fail(op, ErrDType, "class-index targets must be integers, not %v", target.DType())
	}
	if target.Device() != logits.Device() {
		fail(op, ErrDevice, "logits on %v and target on %v", logits.Device(), target.Device())
	}
	dt := logits.DType()
	k, ok := logits.be().(backend.CrossEntropier)
	if crossEntropyOff || !ok || (dt != Float32 && dt != Float64) {
		return nil, false
	}
	x := logits.Contiguous()
	t := target
	if t.DType() != Int64 {
		t = t.To(Int64)
	}
	t = t.Contiguous()
	lse := emptyOn(op, x.be(), dt, x.shape[:1])
	sum, kept, err := k.CrossEntropy(lse.view(), x.view(), t.view(), ignoreIndex)
	runtime.KeepAlive(x)
	runtime.KeepAlive(t)
	if err != nil {
		kind := ErrShape
		if errors.Is(err, backend.ErrIndex) {
			kind = ErrIndex
		}
		fail(op, kind, "%s (input %v)", strings.TrimSuffix(err.Error(), ": "+backend.ErrIndex.Error()), logits.shape)
	}
	v := sum
	if mean {
		v = sum / float64(kept)
	}
	out := fullOf(dt, logits.Device(), v, nil)
	if needsGrad(logits) {
		record(opCrossEntropy, crossEntropyAttr{ignoreIndex, mean, kept}, []*Tensor{logits}, []*Tensor{out}, x, t, lse)
	}
	return out, true
}
