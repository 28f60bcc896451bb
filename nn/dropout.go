package nn

import (
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// Dropout zeroes each element of its input with probability P while
// training and scales the others by 1/(1−P), so that nothing needs
// rescaling at evaluation, where it is the identity (torch.nn.Dropout).
// Any shape. Masks come from Generator, or tensor.DefaultGenerator() when
// it is nil. It embeds [Mode]: [Eval] switches it off.
type Dropout struct {
	Mode
	P         float64
	Generator *tensor.Generator
}

// NewDropout returns a Dropout layer with drop probability p (torch's
// default is 0.5), in training mode. gen, when given, draws the masks.
func NewDropout(p float64, gen ...*tensor.Generator) *Dropout {
	if !(p >= 0 && p <= 1) {
		layerPanic("Dropout", tensor.ErrShape, "dropout probability has to be between 0 and 1, but got %v", p)
	}
	d := &Dropout{P: p}
	if len(gen) > 0 {
		d.Generator = gen[0]
	}
	return d
}

// Forward applies dropout in training mode and returns x in eval mode.
func (d *Dropout) Forward(x *tensor.Tensor) *tensor.Tensor {
	return F.Dropout(x, d.P, d.Training(), d.Generator)
}
