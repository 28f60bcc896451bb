package nn

import "github.com/tapir-ml/tapir/tensor"

// Parameter is a tensor that a module learns: a leaf that requires grad.
// It embeds *tensor.Tensor, so every tensor method applies to it directly
// (p.Grad(), p.Shape(), p.MatMul(x)…). Loading a state dict or converting a
// module replaces or overwrites the embedded tensor; code that keeps the
// *Parameter (an optimizer, say) always sees the current one.
type Parameter struct {
	*tensor.Tensor
}

// NewParameter wraps t as a parameter: a detached leaf that requires grad.
func NewParameter(t *tensor.Tensor) *Parameter {
	return &Parameter{Tensor: t.Detach().SetRequiresGrad(true)}
}

// Buffer is module state that is saved and loaded but not learned, such as
// BatchNorm's running statistics. It never requires grad.
type Buffer struct {
	*tensor.Tensor
}

// NewBuffer wraps t as a buffer (detached, no grad).
func NewBuffer(t *tensor.Tensor) *Buffer {
	return &Buffer{Tensor: t.Detach()}
}
