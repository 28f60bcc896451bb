package nn

import (
	"fmt"
	"math"

	F "github.com/tapir-ml/tapir/nn/functional"
	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/tensor"
)

// layerPanic panics with a *tensor.Error naming the layer, so that
// tensor.Try recovers a bad layer size like any other programmer error.
func layerPanic(layer string, kind error, format string, args ...any) {
	panic(&tensor.Error{Op: "nn." + layer, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// LinearConfig holds Linear's options; the zero value is torch's default.
type LinearConfig struct {
	NoBias    bool              // no additive bias (torch's bias=False)
	Generator *tensor.Generator // draws the initial weights; nil: tensor.DefaultGenerator()
}

// Linear is y = x·Wᵀ + b (torch.nn.Linear). Input [*, InFeatures],
// output [*, OutFeatures]; Weight is [out, in] as torch stores it and Bias
// [out], or nil with NoBias.
type Linear struct {
	Weight *Parameter
	Bias   *Parameter

	InFeatures, OutFeatures int
}

// uniformBias returns a [n] parameter drawn from U(−1/√fanIn, 1/√fanIn),
// torch's bias initialization for Linear and the convolutions (zeros when
// fanIn is 0).
func uniformBias(n, fanIn int, gen *tensor.Generator) *Parameter {
	b := tensor.Zeros(n)
	if fanIn > 0 {
		bound := 1 / math.Sqrt(float64(fanIn))
		nninit.Uniform(b, -bound, bound, gen)
	}
	return NewParameter(b)
}

// NewLinear returns a Linear layer from in to out features, initialized as
// torch's reset_parameters does: the weight by Kaiming-uniform with
// a = √5, i.e. U(−1/√in, 1/√in), and the bias by U(−1/√in, 1/√in).
func NewLinear(in, out int, cfg ...LinearConfig) *Linear {
	var c LinearConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if in < 0 || out < 0 {
		layerPanic("Linear", tensor.ErrShape, "negative size: in %d, out %d", in, out)
	}
	w := tensor.Zeros(out, in)
	if in > 0 && out > 0 {
		nninit.KaimingUniform(w, math.Sqrt(5), "fan_in", "leaky_relu", c.Generator)
	}
	l := &Linear{Weight: NewParameter(w), InFeatures: in, OutFeatures: out}
	if !c.NoBias {
		l.Bias = uniformBias(out, in, c.Generator)
	}
	return l
}

// Forward maps x [*, in] to [*, out].
func (l *Linear) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim() == 0 || x.Size(-1) != l.InFeatures {
		layerPanic("Linear", tensor.ErrShape, "input %v does not end in in_features %d", x.Shape(), l.InFeatures)
	}
	return F.Linear(x, l.Weight.Tensor, biasTensor(l.Bias))
}

// biasTensor is p's tensor, or nil for a missing bias.
func biasTensor(p *Parameter) *tensor.Tensor {
	if p == nil {
		return nil
	}
	return p.Tensor
}

// Bilinear is y_k = x1ᵀ·W_k·x2 + b_k (torch.nn.Bilinear). Inputs
// [*, In1Features] and [*, In2Features] with the same leading dims,
// output [*, OutFeatures]; Weight is [out, in1, in2] and Bias [out] (nil
// with NoBias). It has two inputs, so it is not a [Layer]: call
// Forward(x1, x2).
type Bilinear struct {
	Weight *Parameter
	Bias   *Parameter

	In1Features, In2Features, OutFeatures int
}

// NewBilinear returns a Bilinear layer initialized as torch does: weight
// and bias from U(−1/√in1, 1/√in1).
func NewBilinear(in1, in2, out int, cfg ...LinearConfig) *Bilinear {
	var c LinearConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if in1 < 0 || in2 < 0 || out < 0 {
		layerPanic("Bilinear", tensor.ErrShape, "negative size: in1 %d, in2 %d, out %d", in1, in2, out)
	}
	w := tensor.Zeros(out, in1, in2)
	bound := 0.0
	if in1 > 0 {
		bound = 1 / math.Sqrt(float64(in1))
	}
	nninit.Uniform(w, -bound, bound, c.Generator)
	l := &Bilinear{Weight: NewParameter(w), In1Features: in1, In2Features: in2, OutFeatures: out}
	if !c.NoBias {
		b := tensor.Zeros(out)
		nninit.Uniform(b, -bound, bound, c.Generator)
		l.Bias = NewParameter(b)
	}
	return l
}

// Forward maps x1 [*, in1] and x2 [*, in2] to [*, out].
func (l *Bilinear) Forward(x1, x2 *tensor.Tensor) *tensor.Tensor {
	return F.Bilinear(x1, x2, l.Weight.Tensor, biasTensor(l.Bias))
}

// Identity returns its input unchanged (torch.nn.Identity): a placeholder
// where a layer is optional.
type Identity struct {
	_ byte // distinct addresses for distinct layers, so hooks tell them apart
}

// NewIdentity returns an Identity layer.
func NewIdentity() *Identity { return &Identity{} }

// Forward returns x.
func (*Identity) Forward(x *tensor.Tensor) *tensor.Tensor { return x }

// Flatten flattens dims StartDim…EndDim of its input into one
// (torch.nn.Flatten, whose defaults are 1 and −1: [N, C, H, W] becomes
// [N, C·H·W]). Negative dims count from the end. Build it with
// [NewFlatten] to get torch's defaults.
type Flatten struct {
	StartDim, EndDim int
}

// NewFlatten returns a Flatten layer. With no arguments it flattens all
// dims but the first (start 1, end −1); one argument sets the start dim,
// two the start and the end.
func NewFlatten(dims ...int) *Flatten {
	f := &Flatten{StartDim: 1, EndDim: -1}
	switch len(dims) {
	case 0:
	case 1:
		f.StartDim = dims[0]
	case 2:
		f.StartDim, f.EndDim = dims[0], dims[1]
	default:
		layerPanic("Flatten", tensor.ErrShape, "takes at most a start and an end dim, got %v", dims)
	}
	return f
}

// Forward flattens x; it returns a view when x's strides allow.
func (f *Flatten) Forward(x *tensor.Tensor) *tensor.Tensor {
	return x.Flatten(f.StartDim, f.EndDim)
}

// Unflatten expands dim Dim of its input into the shape Sizes
// (torch.nn.Unflatten); one size may be −1 to be inferred.
type Unflatten struct {
	Dim   int
	Sizes []int
}

// NewUnflatten returns an Unflatten layer for dim and sizes.
func NewUnflatten(dim int, sizes ...int) *Unflatten {
	return &Unflatten{Dim: dim, Sizes: append([]int(nil), sizes...)}
}

// Forward reshapes x so that dim Dim becomes Sizes.
func (u *Unflatten) Forward(x *tensor.Tensor) *tensor.Tensor {
	sh := x.Shape()
	d := u.Dim
	if d < 0 {
		d += len(sh)
	}
	if d < 0 || d >= len(sh) {
		layerPanic("Unflatten", tensor.ErrIndex, "dim %d is out of range for input %v", u.Dim, sh)
	}
	n := 1
	infer := -1
	for i, s := range u.Sizes {
		if s == -1 && infer < 0 {
			infer = i
			continue
		}
		n *= s
	}
	if len(u.Sizes) == 0 || (infer < 0 && n != sh[d]) || (infer >= 0 && (n == 0 || sh[d]%n != 0)) {
		layerPanic("Unflatten", tensor.ErrShape, "sizes %v do not multiply to dim %d of input %v", u.Sizes, u.Dim, sh)
	}
	out := append([]int{}, sh[:d]...)
	out = append(out, u.Sizes...)
	out = append(out, sh[d+1:]...)
	return x.Reshape(out...)
}
