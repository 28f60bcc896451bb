package vision

import (
	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// VGGConfig holds the options of the VGG networks; the zero value is
// torchvision's default.
type VGGConfig struct {
	NumClasses int // outputs of the last classifier layer; 0 means 1000
	// BatchNorm puts a BatchNorm2d after every convolution: torchvision's
	// vgg11_bn, vgg16_bn, …
	BatchNorm bool
	// SkipInit leaves every weight zero instead of drawing torchvision's
	// initialisation: for a model about to load a state dict.
	SkipInit bool
	// Generator draws the initial weights and the dropout masks; nil:
	// tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// VGG is torchvision's VGG (Simonyan and Zisserman, "Very Deep
// Convolutional Networks for Large-Scale Image Recognition"). Features is
// the Sequential of 3×3 convolutions (with BatchNorm for the _bn
// variants), ReLUs and 2×2 max pools; Avgpool brings any input size to
// 7×7; Classifier is Linear(25088, 4096), ReLU, Dropout, Linear(4096,
// 4096), ReLU, Dropout, Linear(4096, NumClasses). State-dict keys are
// torchvision's: features.0.weight, features.1.running_var (with
// BatchNorm), classifier.0.weight, classifier.6.bias, …
//
// Input [N, 3, H, W] with H, W ≥ 32 (five pools halve them), output
// logits [N, NumClasses]. The classifier alone has 120 million
// parameters (480 MB in float32).
type VGG struct {
	Features   *nn.Sequential
	Avgpool    *nn.AdaptiveAvgPool2d
	Classifier *nn.Sequential
}

// The layer lists of torchvision's configurations A, B, D and E: channel
// counts of 3×3 convolutions, 0 for a max pool.
var (
	vggA = []int{64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0}
	vggB = []int{64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0}
	vggD = []int{64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0}
	vggE = []int{64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0}
)

// VGG11 returns torchvision's vgg11 (configuration A, 8 convolutions),
// or vgg11_bn with cfg.BatchNorm.
func VGG11(cfg ...VGGConfig) *VGG { return newVGG("VGG11", vggA, cfg) }

// VGG13 returns torchvision's vgg13 (configuration B, 10 convolutions),
// or vgg13_bn with cfg.BatchNorm.
func VGG13(cfg ...VGGConfig) *VGG { return newVGG("VGG13", vggB, cfg) }

// VGG16 returns torchvision's vgg16 (configuration D, 13 convolutions),
// or vgg16_bn with cfg.BatchNorm.
func VGG16(cfg ...VGGConfig) *VGG { return newVGG("VGG16", vggD, cfg) }

// VGG19 returns torchvision's vgg19 (configuration E, 16 convolutions),
// or vgg19_bn with cfg.BatchNorm.
func VGG19(cfg ...VGGConfig) *VGG { return newVGG("VGG19", vggE, cfg) }

func newVGG(name string, layers []int, cfgs []VGGConfig) *VGG {
	var c VGGConfig
	if len(cfgs) > 0 {
		c = cfgs[0]
	}
	numClasses := classes(name, c.NumClasses, 1000)
	features := nn.NewSequential()
	in := 3
	for _, v := range layers {
		if v == 0 {
			features.Append(nn.NewMaxPool2d(2, nn.PoolConfig{Stride: 2}))
			continue
		}
		features.Append(conv2d(in, v, 3, 1, 1, 1, true))
		if c.BatchNorm {
			features.Append(nn.NewBatchNorm2d(v))
		}
		features.Append(nn.NewReLU())
		in = v
	}
	m := &VGG{
		Features: features,
		Avgpool:  nn.NewAdaptiveAvgPool2d(7, 7),
		Classifier: nn.NewSequential(
			linear(512*7*7, 4096), nn.NewReLU(), nn.NewDropout(0.5, c.Generator),
			linear(4096, 4096), nn.NewReLU(), nn.NewDropout(0.5, c.Generator),
			linear(4096, numClasses),
		),
	}
	if !c.SkipInit {
		initTorchvision(m, c.Generator)
	}
	return m
}

// Forward maps images x [N, 3, H, W] to logits [N, NumClasses].
func (m *VGG) Forward(x *tensor.Tensor) *tensor.Tensor {
	checkImages("VGG", x, 3)
	x = nn.Call(m.Avgpool, nn.Call(m.Features, x))
	return nn.Call(m.Classifier, x.Flatten(1, -1))
}
