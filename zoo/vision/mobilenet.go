package vision

import (
	"math"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// MobileNetV2Config holds the options of [MobileNetV2]; the zero value
// is torchvision's default.
type MobileNetV2Config struct {
	NumClasses int     // outputs of the classifier; 0 means 1000
	WidthMult  float64 // multiplies every channel count; 0 means 1
	// RoundNearest rounds channel counts to a multiple of it; 0 means 8.
	RoundNearest int
	// SkipInit leaves every weight zero instead of drawing torchvision's
	// initialisation: for a model about to load a state dict.
	SkipInit bool
	// Generator draws the initial weights and the classifier's dropout
	// masks; nil: tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// MobileNetV2 is torchvision's mobilenet_v2 (Sandler et al.,
// "MobileNetV2: Inverted Residuals and Linear Bottlenecks"). Features
// holds, as torchvision's features Sequential, a strided 3×3
// convolution block, 17 *InvertedResidual blocks and a 1×1 convolution
// block to 1280 channels (each convolution block a Sequential of Conv2d,
// BatchNorm2d and ReLU6, torchvision's Conv2dNormActivation); Classifier
// is Dropout(0.2) and Linear. State-dict keys are torchvision's:
// features.0.0.weight, features.1.conv.0.0.weight, features.2.conv.3.bias,
// classifier.1.weight, …
//
// Input [N, 3, H, W], output logits [N, NumClasses].
type MobileNetV2 struct {
	Features   *nn.Sequential
	Classifier *nn.Sequential
}

// InvertedResidual is MobileNetV2's block
// (torchvision.models.mobilenetv2.InvertedResidual): Conv holds an
// optional 1×1 expansion block (when the expand ratio is not 1), a 3×3
// depthwise block carrying the stride, and a linear 1×1 projection with
// its BatchNorm. The input is added to the output when the stride is 1
// and the channel counts agree.
type InvertedResidual struct {
	Conv          *nn.Sequential
	Stride        int
	UseResConnect bool
	OutChannels   int
}

// Forward runs the block on x [N, C, H, W].
func (b *InvertedResidual) Forward(x *tensor.Tensor) *tensor.Tensor {
	y := nn.Call(b.Conv, x)
	if b.UseResConnect {
		return x.Add(y)
	}
	return y
}

// convNormReLU6 is torchvision's Conv2dNormActivation with ReLU6:
// a bias-free convolution padded to keep the size at stride 1, a
// BatchNorm and ReLU6, named 0, 1, 2.
func convNormReLU6(in, out, kernel, stride, groups int) *nn.Sequential {
	return nn.NewSequential(conv2d(in, out, kernel, stride, (kernel-1)/2, groups, false), nn.NewBatchNorm2d(out), &ReLU6{})
}

// makeDivisible is torchvision's _make_divisible: v rounded to the
// nearest multiple of divisor, at least divisor, and never more than 10%
// below v.
func makeDivisible(v float64, divisor int) int {
	n := max(divisor, int(v+float64(divisor)/2)/divisor*divisor)
	if float64(n) < 0.9*v {
		n += divisor
	}
	return n
}

// NewMobileNetV2 returns torchvision's mobilenet_v2, initialised as
// torchvision does (Kaiming-normal fan_out convolutions, classifier
// N(0, 0.01²), zero biases) unless cfg says SkipInit.
func NewMobileNetV2(cfg ...MobileNetV2Config) *MobileNetV2 {
	var c MobileNetV2Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	numClasses := classes("MobileNetV2", c.NumClasses, 1000)
	width, round := c.WidthMult, c.RoundNearest
	if width == 0 {
		width = 1
	}
	if round == 0 {
		round = 8
	}
	if !(width > 0) || math.IsInf(width, 0) || round < 0 {
		configPanic("MobileNetV2", "WidthMult %v and RoundNearest %d must be positive", width, round)
	}
	setting := [][4]int{ // expand ratio t, channels c, repeats n, stride s
		{1, 16, 1, 1},
		{6, 24, 2, 2},
		{6, 32, 3, 2},
		{6, 64, 4, 2},
		{6, 96, 3, 1},
		{6, 160, 3, 2},
		{6, 320, 1, 1},
	}
	in := makeDivisible(32*width, round)
	last := makeDivisible(1280*max(1, width), round)
	features := nn.NewSequential(convNormReLU6(3, in, 3, 2, 1))
	for _, s := range setting {
		t, out := s[0], makeDivisible(float64(s[1])*width, round)
		for i := range s[2] {
			stride := 1
			if i == 0 {
				stride = s[3]
			}
			hidden := in * t
			conv := nn.NewSequential()
			if t != 1 {
				conv.Append(convNormReLU6(in, hidden, 1, 1, 1))
			}
			conv.Append(
				convNormReLU6(hidden, hidden, 3, stride, hidden),
				conv2d(hidden, out, 1, 1, 0, 1, false),
				nn.NewBatchNorm2d(out),
			)
			features.Append(&InvertedResidual{Conv: conv, Stride: stride, UseResConnect: stride == 1 && in == out, OutChannels: out})
			in = out
		}
	}
	features.Append(convNormReLU6(in, last, 1, 1, 1))
	m := &MobileNetV2{
		Features:   features,
		Classifier: nn.NewSequential(nn.NewDropout(0.2, c.Generator), linear(last, numClasses)),
	}
	if !c.SkipInit {
		initTorchvision(m, c.Generator)
	}
	return m
}

// Embed maps images x [N, 3, H, W] to the globally pooled features the
// classifier reads, [N, 1280] at width 1: the embedding used for
// transfer learning.
func (m *MobileNetV2) Embed(x *tensor.Tensor) *tensor.Tensor {
	checkImages("MobileNetV2", x, 3)
	return F.AdaptiveAvgPool2d(nn.Call(m.Features, x), 1, 1).Flatten(1, -1)
}

// Forward maps images x [N, 3, H, W] to logits [N, NumClasses].
func (m *MobileNetV2) Forward(x *tensor.Tensor) *tensor.Tensor {
	return nn.Call(m.Classifier, m.Embed(x))
}
