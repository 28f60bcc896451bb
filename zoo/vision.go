package zoo

import (
	"image"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/vision"
)

// The image models and preprocessing of package zoo/vision, re-exported;
// the package has the layers, the other depths and the
// …FromStateDict forms.
type (
	// ResNet is torchvision's ResNet; see vision.ResNet.
	ResNet = vision.ResNet
	// ResNetConfig holds the ResNets' options; see vision.ResNetConfig.
	ResNetConfig = vision.ResNetConfig
	// MobileNetV2 is torchvision's mobilenet_v2; see vision.MobileNetV2.
	MobileNetV2 = vision.MobileNetV2
	// MobileNetV2Config holds MobileNetV2's options; see
	// vision.MobileNetV2Config.
	MobileNetV2Config = vision.MobileNetV2Config
	// VGG is torchvision's VGG; see vision.VGG.
	VGG = vision.VGG
	// VGGConfig holds the VGGs' options; see vision.VGGConfig.
	VGGConfig = vision.VGGConfig
	// LeNet is a small convnet for 28×28 digits; see vision.LeNet.
	LeNet = vision.LeNet
	// LeNetConfig holds LeNet's options; see vision.LeNetConfig.
	LeNetConfig = vision.LeNetConfig
)

// ResNet18 returns torchvision's resnet18, randomly initialized as
// torchvision does (see vision.ResNet18).
func ResNet18(cfg ...ResNetConfig) *ResNet { return vision.ResNet18(cfg...) }

// ResNet34 returns torchvision's resnet34 (see vision.ResNet34).
func ResNet34(cfg ...ResNetConfig) *ResNet { return vision.ResNet34(cfg...) }

// ResNet50 returns torchvision's resnet50 (see vision.ResNet50).
func ResNet50(cfg ...ResNetConfig) *ResNet { return vision.ResNet50(cfg...) }

// NewMobileNetV2 returns torchvision's mobilenet_v2 (see
// vision.NewMobileNetV2).
func NewMobileNetV2(cfg ...MobileNetV2Config) *MobileNetV2 { return vision.NewMobileNetV2(cfg...) }

// VGG11 returns torchvision's vgg11, or vgg11_bn with cfg.BatchNorm (see
// vision.VGG11).
func VGG11(cfg ...VGGConfig) *VGG { return vision.VGG11(cfg...) }

// VGG16 returns torchvision's vgg16, or vgg16_bn with cfg.BatchNorm (see
// vision.VGG16).
func VGG16(cfg ...VGGConfig) *VGG { return vision.VGG16(cfg...) }

// NewLeNet returns the LeNet-style convnet for 28×28 digits (see
// vision.NewLeNet).
func NewLeNet(cfg ...LeNetConfig) *LeNet { return vision.NewLeNet(cfg...) }

// LoadResNet18 builds a ResNet-18 and loads the state dict file at path
// into it strictly: torchvision's .pth checkpoint or a safetensors file,
// the number of classes taken from it (see vision.LoadResNet18). The
// model is in training mode, as torch's are: call nn.Eval for inference.
func LoadResNet18(path string, cfg ...ResNetConfig) (*ResNet, error) {
	return vision.LoadResNet18(path, cfg...)
}

// LoadResNet34 is [LoadResNet18] for ResNet-34.
func LoadResNet34(path string, cfg ...ResNetConfig) (*ResNet, error) {
	return vision.LoadResNet34(path, cfg...)
}

// LoadResNet50 is [LoadResNet18] for ResNet-50.
func LoadResNet50(path string, cfg ...ResNetConfig) (*ResNet, error) {
	return vision.LoadResNet50(path, cfg...)
}

// LoadMobileNetV2 is [LoadResNet18] for MobileNetV2.
func LoadMobileNetV2(path string, cfg ...MobileNetV2Config) (*MobileNetV2, error) {
	return vision.LoadMobileNetV2(path, cfg...)
}

// LoadVGG11 is [LoadResNet18] for VGG-11; the BatchNorm variant is
// chosen when the file has BatchNorm statistics.
func LoadVGG11(path string, cfg ...VGGConfig) (*VGG, error) { return vision.LoadVGG11(path, cfg...) }

// LoadVGG16 is [LoadVGG11] for VGG-16.
func LoadVGG16(path string, cfg ...VGGConfig) (*VGG, error) { return vision.LoadVGG16(path, cfg...) }

// LoadLeNet is [LoadResNet18] for LeNet.
func LoadLeNet(path string, cfg ...LeNetConfig) (*LeNet, error) {
	return vision.LoadLeNet(path, cfg...)
}

// ImageNetTransform prepares an image for torchvision's ImageNet
// classifiers: a normalized Float32 tensor [3, 224, 224] (see
// vision.ImageNetTransform).
func ImageNetTransform(img image.Image) *tensor.Tensor { return vision.ImageNetTransform(img) }
