package vision

import (
	"fmt"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/tensor"
)

// ReLU6 is min(max(x, 0), 6) elementwise (torch.nn.ReLU6), the activation
// of MobileNetV2. It holds no parameters.
type ReLU6 struct {
	_ byte // distinct addresses for distinct layers, so hooks tell them apart
}

// Forward applies ReLU6 to x.
func (*ReLU6) Forward(x *tensor.Tensor) *tensor.Tensor { return F.ReLU6(x) }

// conv2d returns a square-kernel Conv2d whose weight (and bias) are zero:
// the models initialise them torchvision's way afterwards, or leave them
// for a state dict to fill, so torch's default initialisation, which
// torchvision overwrites anyway, is not paid for.
func conv2d(in, out, kernel, stride, padding, groups int, bias bool) *nn.Conv2d {
	c := &nn.Conv2d{
		Weight:      nn.NewParameter(tensor.Zeros(out, in/groups, kernel, kernel)),
		InChannels:  in,
		OutChannels: out,
		KernelSize:  []int{kernel, kernel},
		Stride:      []int{stride, stride},
		Padding:     []int{padding, padding},
		Dilation:    []int{1, 1},
		Groups:      groups,
	}
	if bias {
		c.Bias = nn.NewParameter(tensor.Zeros(out))
	}
	return c
}

// linear returns a Linear with zero weight and bias (see conv2d).
func linear(in, out int) *nn.Linear {
	return &nn.Linear{
		Weight:      nn.NewParameter(tensor.Zeros(out, in)),
		Bias:        nn.NewParameter(tensor.Zeros(out)),
		InFeatures:  in,
		OutFeatures: out,
	}
}

// initTorchvision initialises every Conv2d and Linear under m as
// torchvision's VGG and MobileNetV2 do: conv weights Kaiming-normal with
// fan_out and ReLU's gain, conv biases zero, linear weights N(0, 0.01²)
// and biases zero. BatchNorm layers start at weight 1, bias 0 already.
func initTorchvision(m nn.Module, gen *tensor.Generator) {
	nn.Apply(m, func(_ string, mod nn.Module) {
		switch l := mod.(type) {
		case *nn.Conv2d:
			initConv(l, gen)
		case *nn.Linear:
			nninit.Normal(l.Weight.Tensor, 0, 0.01, gen)
		}
	})
}

// initConv draws a conv weight as torchvision does:
// kaiming_normal_(mode="fan_out", nonlinearity="relu"); the bias stays 0.
func initConv(c *nn.Conv2d, gen *tensor.Generator) {
	nninit.KaimingNormal(c.Weight.Tensor, 0, "fan_out", "relu", gen)
}

// defaultLinear returns a Linear initialised as torch.nn.Linear is, or a
// zero one when skip is set.
func defaultLinear(in, out int, skip bool, gen *tensor.Generator) *nn.Linear {
	if skip {
		return linear(in, out)
	}
	return nn.NewLinear(in, out, nn.LinearConfig{Generator: gen})
}

// configPanic panics with a *tensor.Error for a bad model configuration,
// so that tensor.Try recovers it like any other programmer error.
func configPanic(model, format string, args ...any) {
	panic(&tensor.Error{Op: "vision." + model, Kind: tensor.ErrShape, Msg: fmt.Sprintf(format, args...)})
}

// classes returns n, or def for 0, and panics when n is negative.
func classes(model string, n, def int) int {
	if n < 0 {
		configPanic(model, "NumClasses %d must not be negative", n)
	}
	if n == 0 {
		return def
	}
	return n
}

// checkImages panics unless x is a batch [N, channels, H, W].
func checkImages(model string, x *tensor.Tensor, channels int) {
	if x.Dim() != 4 || x.Size(1) != channels {
		panic(&tensor.Error{Op: "vision." + model, Kind: tensor.ErrShape,
			Msg: fmt.Sprintf("input %v must be a batch of images [N, %d, H, W]", x.Shape(), channels)})
	}
}
