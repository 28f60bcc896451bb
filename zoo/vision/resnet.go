package vision

import (
	"github.com/tapir-ml/tapir/nn"
	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/tensor"
)

// ResNetConfig holds the options of the ResNets; the zero value is
// torchvision's default.
type ResNetConfig struct {
	NumClasses int // outputs of fc; 0 means 1000
	// Groups and WidthPerGroup shape the 3×3 convolutions of the
	// bottleneck blocks (0 means 1 and 64): ResNet50 with Groups 32 and
	// WidthPerGroup 4 is torchvision's resnext50_32x4d, with
	// WidthPerGroup 128 its wide_resnet50_2. The basic blocks of
	// ResNet-18 and -34 support only the defaults.
	Groups, WidthPerGroup int
	// ZeroInitResidual starts the last BatchNorm of each residual branch
	// at weight 0, so each block starts as the identity
	// (torchvision's zero_init_residual).
	ZeroInitResidual bool
	// SkipInit leaves every weight zero instead of drawing torchvision's
	// initialisation: for a model about to load a state dict.
	SkipInit bool
	// Generator draws the initial weights; nil: tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// ResNet is torchvision's ResNet (He et al., "Deep Residual Learning for
// Image Recognition"; torchvision's v1.5, which strides the 3×3
// convolution of a bottleneck rather than the first 1×1). Its fields give
// torchvision's state-dict keys: conv1.weight, bn1.running_mean,
// layer1.0.conv1.weight, layer2.0.downsample.0.weight, fc.bias, …
//
// Layer1 … Layer4 hold *BasicBlock (ResNet-18, -34) or *Bottleneck
// (ResNet-50 and deeper) values. Input [N, 3, H, W] (224×224 for
// ImageNet; the stem and the stages downsample by 32 in all and the
// average pool takes whatever size remains, so smaller inputs work too),
// output logits [N, NumClasses].
type ResNet struct {
	Conv1                          *nn.Conv2d
	BN1                            *nn.BatchNorm2d
	ReLU                           *nn.ReLU
	Maxpool                        *nn.MaxPool2d
	Layer1, Layer2, Layer3, Layer4 *nn.Sequential
	Avgpool                        *nn.AdaptiveAvgPool2d
	FC                             *nn.Linear
}

// BasicBlock is the two-convolution residual block of ResNet-18 and -34
// (torchvision.models.resnet.BasicBlock): relu(bn2(conv2(relu(bn1(
// conv1(x))))) + shortcut(x)), where the shortcut is Downsample (a 1×1
// strided convolution and a BatchNorm) or, when nil, the identity.
type BasicBlock struct {
	Conv1      *nn.Conv2d
	BN1        *nn.BatchNorm2d
	ReLU       *nn.ReLU
	Conv2      *nn.Conv2d
	BN2        *nn.BatchNorm2d
	Downsample *nn.Sequential // nil when the shortcut is the identity
	Stride     int
}

// Forward runs the block on x [N, C, H, W].
func (b *BasicBlock) Forward(x *tensor.Tensor) *tensor.Tensor {
	out := nn.Call(b.ReLU, nn.Call(b.BN1, nn.Call(b.Conv1, x)))
	out = nn.Call(b.BN2, nn.Call(b.Conv2, out))
	identity := x
	if b.Downsample != nil {
		identity = nn.Call(b.Downsample, x)
	}
	return nn.Call(b.ReLU, out.Add(identity))
}

// Bottleneck is the three-convolution residual block of ResNet-50 and
// deeper (torchvision.models.resnet.Bottleneck): a 1×1 convolution down
// to the block's width, a 3×3 convolution that carries the stride (and
// the groups), a 1×1 convolution up to 4× the width, each followed by a
// BatchNorm, with ReLUs between and after the residual sum.
type Bottleneck struct {
	Conv1      *nn.Conv2d
	BN1        *nn.BatchNorm2d
	Conv2      *nn.Conv2d
	BN2        *nn.BatchNorm2d
	Conv3      *nn.Conv2d
	BN3        *nn.BatchNorm2d
	ReLU       *nn.ReLU
	Downsample *nn.Sequential // nil when the shortcut is the identity
	Stride     int
}

// Forward runs the block on x [N, C, H, W].
func (b *Bottleneck) Forward(x *tensor.Tensor) *tensor.Tensor {
	out := nn.Call(b.ReLU, nn.Call(b.BN1, nn.Call(b.Conv1, x)))
	out = nn.Call(b.ReLU, nn.Call(b.BN2, nn.Call(b.Conv2, out)))
	out = nn.Call(b.BN3, nn.Call(b.Conv3, out))
	identity := x
	if b.Downsample != nil {
		identity = nn.Call(b.Downsample, x)
	}
	return nn.Call(b.ReLU, out.Add(identity))
}

// ResNet18 returns torchvision's resnet18: basic blocks, [2, 2, 2, 2].
func ResNet18(cfg ...ResNetConfig) *ResNet {
	return newResNet("ResNet18", false, [4]int{2, 2, 2, 2}, cfg)
}

// ResNet34 returns torchvision's resnet34: basic blocks, [3, 4, 6, 3].
func ResNet34(cfg ...ResNetConfig) *ResNet {
	return newResNet("ResNet34", false, [4]int{3, 4, 6, 3}, cfg)
}

// ResNet50 returns torchvision's resnet50: bottleneck blocks, [3, 4, 6, 3].
func ResNet50(cfg ...ResNetConfig) *ResNet {
	return newResNet("ResNet50", true, [4]int{3, 4, 6, 3}, cfg)
}

// ResNet101 returns torchvision's resnet101: bottleneck blocks, [3, 4, 23, 3].
func ResNet101(cfg ...ResNetConfig) *ResNet {
	return newResNet("ResNet101", true, [4]int{3, 4, 23, 3}, cfg)
}

// ResNet152 returns torchvision's resnet152: bottleneck blocks, [3, 8, 36, 3].
func ResNet152(cfg ...ResNetConfig) *ResNet {
	return newResNet("ResNet152", true, [4]int{3, 8, 36, 3}, cfg)
}

func newResNet(name string, bottleneck bool, layers [4]int, cfgs []ResNetConfig) *ResNet {
	var c ResNetConfig
	if len(cfgs) > 0 {
		c = cfgs[0]
	}
	numClasses := classes(name, c.NumClasses, 1000)
	groups, width := c.Groups, c.WidthPerGroup
	if groups == 0 {
		groups = 1
	}
	if width == 0 {
		width = 64
	}
	switch {
	case groups < 0 || width < 0:
		configPanic(name, "Groups %d and WidthPerGroup %d must be positive", groups, width)
	case !bottleneck && (groups != 1 || width != 64):
		configPanic(name, "BasicBlock only supports Groups 1 and WidthPerGroup 64, got %d and %d", groups, width)
	}
	expansion := 1
	if bottleneck {
		expansion = 4
	}

	r := &ResNet{
		Conv1:   conv2d(3, 64, 7, 2, 3, 1, false),
		BN1:     nn.NewBatchNorm2d(64),
		ReLU:    nn.NewReLU(),
		Maxpool: nn.NewMaxPool2d(3, nn.PoolConfig{Stride: 2, Padding: 1}),
		Avgpool: nn.NewAdaptiveAvgPool2d(1, 1),
	}
	inplanes := 64
	makeLayer := func(planes, blocks, stride int) *nn.Sequential {
		seq := nn.NewSequential()
		for i := range blocks {
			s := 1
			if i == 0 {
				s = stride
			}
			var down *nn.Sequential
			if s != 1 || inplanes != planes*expansion {
				down = nn.NewSequential(conv2d(inplanes, planes*expansion, 1, s, 0, 1, false), nn.NewBatchNorm2d(planes*expansion))
			}
			if bottleneck {
				w := planes * width / 64 * groups
				seq.Append(&Bottleneck{
					Conv1:      conv2d(inplanes, w, 1, 1, 0, 1, false),
					BN1:        nn.NewBatchNorm2d(w),
					Conv2:      conv2d(w, w, 3, s, 1, groups, false),
					BN2:        nn.NewBatchNorm2d(w),
					Conv3:      conv2d(w, planes*expansion, 1, 1, 0, 1, false),
					BN3:        nn.NewBatchNorm2d(planes * expansion),
					ReLU:       nn.NewReLU(),
					Downsample: down,
					Stride:     s,
				})
			} else {
				seq.Append(&BasicBlock{
					Conv1:      conv2d(inplanes, planes, 3, s, 1, 1, false),
					BN1:        nn.NewBatchNorm2d(planes),
					ReLU:       nn.NewReLU(),
					Conv2:      conv2d(planes, planes, 3, 1, 1, 1, false),
					BN2:        nn.NewBatchNorm2d(planes),
					Downsample: down,
					Stride:     s,
				})
			}
			inplanes = planes * expansion
		}
		return seq
	}
	r.Layer1 = makeLayer(64, layers[0], 1)
	r.Layer2 = makeLayer(128, layers[1], 2)
	r.Layer3 = makeLayer(256, layers[2], 2)
	r.Layer4 = makeLayer(512, layers[3], 2)

	// torchvision: Kaiming-normal (fan_out) convolutions, BatchNorm 1 and
	// 0, fc left at torch.nn.Linear's own initialisation.
	r.FC = defaultLinear(512*expansion, numClasses, c.SkipInit, c.Generator)
	if !c.SkipInit {
		nn.Apply(r, func(_ string, m nn.Module) {
			if conv, ok := m.(*nn.Conv2d); ok {
				initConv(conv, c.Generator)
			}
		})
	}
	if c.ZeroInitResidual && !c.SkipInit {
		for _, layer := range r.Layers() {
			for _, l := range layer.Layers {
				switch b := l.(type) {
				case *BasicBlock:
					nninit.Zeros(b.BN2.Weight.Tensor)
				case *Bottleneck:
					nninit.Zeros(b.BN3.Weight.Tensor)
				}
			}
		}
	}
	return r
}

// Layers returns the four stages, Layer1 to Layer4.
func (r *ResNet) Layers() []*nn.Sequential {
	return []*nn.Sequential{r.Layer1, r.Layer2, r.Layer3, r.Layer4}
}

// Embed maps images x [N, 3, H, W] to the pooled features that fc
// reads, [N, 512] (basic blocks) or [N, 2048] (bottlenecks): the
// embedding used for transfer learning.
func (r *ResNet) Embed(x *tensor.Tensor) *tensor.Tensor {
	checkImages("ResNet", x, 3)
	x = nn.Call(r.Maxpool, nn.Call(r.ReLU, nn.Call(r.BN1, nn.Call(r.Conv1, x))))
	for _, layer := range r.Layers() {
		x = nn.Call(layer, x)
	}
	return nn.Call(r.Avgpool, x).Flatten(1, -1)
}

// Forward maps images x [N, 3, H, W] to logits [N, NumClasses].
func (r *ResNet) Forward(x *tensor.Tensor) *tensor.Tensor {
	return nn.Call(r.FC, r.Embed(x))
}
