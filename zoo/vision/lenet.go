package vision

import (
	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// LeNetConfig holds the options of [LeNet]; the zero value is the
// network described there.
type LeNetConfig struct {
	NumClasses int // outputs of fc2; 0 means 10
	// SkipInit leaves every weight zero instead of drawing torch's
	// default initialisation: for a model about to load a state dict.
	SkipInit bool
	// Generator draws the initial weights; nil: tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// LeNet is a small LeNet-style convolutional network for 28×28
// single-channel images such as MNIST and Fashion-MNIST (the layout of
// the classic Keras MNIST convnet): conv1 (1→32, 3×3), ReLU, 2×2 max
// pool, conv2 (32→64, 3×3), ReLU, 2×2 max pool, flatten to 1600, fc1
// (1600→128), ReLU, fc2 (128→NumClasses). It has no torchvision
// counterpart; its state-dict keys are conv1.weight, conv1.bias,
// conv2.weight, conv2.bias, fc1.weight, fc1.bias, fc2.weight, fc2.bias,
// which a torch module with those attribute names shares.
//
// Input [N, 1, 28, 28], output logits [N, NumClasses].
type LeNet struct {
	Conv1 *nn.Conv2d
	Conv2 *nn.Conv2d
	FC1   *nn.Linear
	FC2   *nn.Linear
	ReLU  *nn.ReLU
	Pool  *nn.MaxPool2d
}

// NewLeNet returns a LeNet initialised as torch initialises its layers
// (Kaiming-uniform with a = √5), unless cfg says SkipInit.
func NewLeNet(cfg ...LeNetConfig) *LeNet {
	var c LeNetConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	numClasses := classes("LeNet", c.NumClasses, 10)
	m := &LeNet{ReLU: nn.NewReLU(), Pool: nn.NewMaxPool2d(2)}
	if c.SkipInit {
		m.Conv1 = conv2d(1, 32, 3, 1, 0, 1, true)
		m.Conv2 = conv2d(32, 64, 3, 1, 0, 1, true)
	} else {
		m.Conv1 = nn.NewConv2d(1, 32, 3, nn.ConvConfig{Generator: c.Generator})
		m.Conv2 = nn.NewConv2d(32, 64, 3, nn.ConvConfig{Generator: c.Generator})
	}
	m.FC1 = defaultLinear(1600, 128, c.SkipInit, c.Generator)
	m.FC2 = defaultLinear(128, numClasses, c.SkipInit, c.Generator)
	return m
}

// Forward maps images x [N, 1, 28, 28] to logits [N, NumClasses].
func (m *LeNet) Forward(x *tensor.Tensor) *tensor.Tensor {
	checkImages("LeNet", x, 1)
	x = nn.Call(m.Pool, nn.Call(m.ReLU, nn.Call(m.Conv1, x)))
	x = nn.Call(m.Pool, nn.Call(m.ReLU, nn.Call(m.Conv2, x)))
	x = nn.Call(m.ReLU, nn.Call(m.FC1, x.Flatten(1, -1)))
	return nn.Call(m.FC2, x)
}
