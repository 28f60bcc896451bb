package nn

import (
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// The activation layers wrap the functions of package functional as
// [Layer]s, for use in a [Sequential]. They hold no parameters. Use them
// by pointer (&nn.ReLU{} or nn.NewReLU()): each value then has an
// identity of its own for forward hooks.

// ReLU is max(x, 0) elementwise (torch.nn.ReLU); any shape. With Inplace
// it overwrites its input (torch's inplace=True), which autograd refuses
// for a leaf that requires grad.
type ReLU struct {
	Inplace bool
}

// NewReLU returns a ReLU layer.
func NewReLU() *ReLU { return &ReLU{} }

// Forward applies ReLU to x.
func (r *ReLU) Forward(x *tensor.Tensor) *tensor.Tensor {
	if r.Inplace {
		return x.ReLUIn()
	}
	return F.ReLU(x)
}

// LeakyReLU is x for x ≥ 0 and NegativeSlope·x below (torch.nn.LeakyReLU);
// any shape. [NewLeakyReLU] gives torch's default slope 0.01; the zero
// value's slope is 0.
type LeakyReLU struct {
	NegativeSlope float64
}

// NewLeakyReLU returns a LeakyReLU with the given negative slope, or
// torch's 0.01 when none is given.
func NewLeakyReLU(slope ...float64) *LeakyReLU {
	l := &LeakyReLU{NegativeSlope: 0.01}
	if len(slope) > 0 {
		l.NegativeSlope = slope[0]
	}
	return l
}

// Forward applies LeakyReLU to x.
func (l *LeakyReLU) Forward(x *tensor.Tensor) *tensor.Tensor {
	return F.LeakyReLU(x, l.NegativeSlope)
}

// GELU is x·Φ(x), Φ the standard normal CDF (torch.nn.GELU); any shape.
// Approximate "tanh" uses the tanh approximation; "" or "none" is exact.
type GELU struct {
	Approximate string
}

// NewGELU returns a GELU layer; an argument sets Approximate.
func NewGELU(approximate ...string) *GELU {
	g := &GELU{}
	if len(approximate) > 0 {
		g.Approximate = approximate[0]
	}
	return g
}

// Forward applies GELU to x.
func (g *GELU) Forward(x *tensor.Tensor) *tensor.Tensor { return F.GELU(x, g.Approximate) }

// SiLU is x·σ(x), also called swish (torch.nn.SiLU); any shape.
type SiLU struct {
	_ byte // distinct addresses for distinct layers
}

// NewSiLU returns a SiLU layer.
func NewSiLU() *SiLU { return &SiLU{} }

// Forward applies SiLU to x.
func (*SiLU) Forward(x *tensor.Tensor) *tensor.Tensor { return F.SiLU(x) }

// Tanh is the hyperbolic tangent elementwise (torch.nn.Tanh); any shape.
type Tanh struct {
	_ byte // distinct addresses for distinct layers
}

// NewTanh returns a Tanh layer.
func NewTanh() *Tanh { return &Tanh{} }

// Forward applies tanh to x.
func (*Tanh) Forward(x *tensor.Tensor) *tensor.Tensor { return F.Tanh(x) }

// Sigmoid is the logistic function 1/(1 + e^−x) elementwise
// (torch.nn.Sigmoid); any shape.
type Sigmoid struct {
	_ byte // distinct addresses for distinct layers
}

// NewSigmoid returns a Sigmoid layer.
func NewSigmoid() *Sigmoid { return &Sigmoid{} }

// Forward applies the sigmoid to x.
func (*Sigmoid) Forward(x *tensor.Tensor) *tensor.Tensor { return F.Sigmoid(x) }

// Softmax normalizes exp(x) to sum to 1 along Dim (torch.nn.Softmax);
// any shape, negative Dim counts from the end.
type Softmax struct {
	Dim int
}

// NewSoftmax returns a Softmax over dim.
func NewSoftmax(dim int) *Softmax { return &Softmax{Dim: dim} }

// Forward applies softmax to x along Dim.
func (s *Softmax) Forward(x *tensor.Tensor) *tensor.Tensor { return F.Softmax(x, s.Dim) }

// LogSoftmax is log(softmax(x)) along Dim, computed stably
// (torch.nn.LogSoftmax); any shape.
type LogSoftmax struct {
	Dim int
}

// NewLogSoftmax returns a LogSoftmax over dim.
func NewLogSoftmax(dim int) *LogSoftmax { return &LogSoftmax{Dim: dim} }

// Forward applies log-softmax to x along Dim.
func (s *LogSoftmax) Forward(x *tensor.Tensor) *tensor.Tensor { return F.LogSoftmax(x, s.Dim) }
