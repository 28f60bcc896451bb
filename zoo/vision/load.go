package vision

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/tensor/safetensors"
	"github.com/tapir-ml/tapir/zoo/torchfile"
)

// ReadStateDict reads a state dict file: safetensors (as torch's
// safetensors.torch.save_file or [nn.Save] write it) or PyTorch's .pt/.pth
// (torch.save's zip or legacy format, read by package zoo/torchfile;
// a training checkpoint gives the state dict it holds), told apart by
// the first bytes, not the name.
func ReadStateDict(path string) (map[string]*tensor.Tensor, error) {
	f, sd, err := openStateDict(path)
	if err != nil || sd != nil {
		return sd, err
	}
	defer f.Close()
	sd = make(map[string]*tensor.Tensor, len(f.Names()))
	for _, name := range f.Names() {
		if sd[name], err = f.Tensor(name); err != nil {
			return nil, fmt.Errorf("vision: read state dict %s: %w", path, err)
		}
	}
	return sd, nil
}

// isTorchFile reports whether a file starting with head is one torch.save
// wrote: a zip archive (PyTorch ≥ 1.6) or the legacy format, a pickle.
// A safetensors file, whose ninth byte opens its JSON header, is never
// taken for one.
func isTorchFile(head []byte) bool {
	if len(head) > 8 && head[8] == '{' {
		return false
	}
	return bytes.HasPrefix(head, []byte("PK\x03\x04")) || (len(head) > 0 && head[0] == 0x80)
}

// fromStateDict builds a model with build (without initialising it) and
// loads sd into it strictly. A bad configuration or a state dict that
// does not fit is an error naming the model.
func fromStateDict[M nn.Module](model string, sd map[string]*tensor.Tensor, build func(shapeFunc) M) (M, error) {
	var m, zero M
	shape := func(key string) []int {
		if t, ok := sd[key]; ok && t != nil {
			return t.Shape()
		}
		return nil
	}
	if err := tensor.Try(func() { m = build(shape) }); err != nil {
		return zero, fmt.Errorf("vision: %s: %w", model, err)
	}
	if err := nn.LoadStateDict(m, sd, true); err != nil {
		return zero, fmt.Errorf("vision: %s: %w", model, err)
	}
	return m, nil
}

// shapeFunc returns the shape of a state dict's tensor, or nil when the
// state dict lacks it: what the loaders read to fill in a configuration.
type shapeFunc func(key string) []int

// loadFile builds a model with build and loads the state dict file at
// path into it: a safetensors file streamed one tensor at a time, so that
// loading needs little memory beyond the model's own; a PyTorch file
// read whole first.
func loadFile[M nn.Module](model, path string, build func(shapeFunc) M) (M, error) {
	var m, zero M
	f, sd, err := openStateDict(path)
	if err != nil {
		return zero, err
	}
	if sd != nil {
		return fromStateDict(model, sd, build)
	}
	defer f.Close()
	shape := func(key string) []int {
		if info, ok := f.Info(key); ok {
			return info.Shape
		}
		return nil
	}
	if err := tensor.Try(func() { m = build(shape) }); err != nil {
		return zero, fmt.Errorf("vision: %s: %w", model, err)
	}
	if err := streamInto(m, f); err != nil {
		return zero, fmt.Errorf("vision: load %s from %s: %w", model, path, err)
	}
	return m, nil
}

// openStateDict opens a safetensors file, or reads a PyTorch file whole:
// one of f and sd is set when err is nil.
func openStateDict(path string) (f *safetensors.File, sd map[string]*tensor.Tensor, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("vision: read state dict: %w", err)
	}
	head := make([]byte, 9)
	n, _ := io.ReadFull(fh, head)
	fh.Close()
	if isTorchFile(head[:n]) {
		if sd, _, err = torchfile.Load(path); err != nil {
			return nil, nil, fmt.Errorf("vision: read state dict: %w", err)
		}
		return nil, sd, nil
	}
	if f, err = safetensors.Open(path); err != nil {
		return nil, nil, fmt.Errorf("vision: read state dict %s: %w", path, err)
	}
	return f, nil, nil
}

// LoadWeights reads the state dict file at path (see [ReadStateDict])
// into m strictly, as [nn.Load] does: a *[nn.LoadError] lists every
// missing, unexpected and mis-shaped key, and then nothing is copied. A
// safetensors file is read one tensor at a time, so the whole state dict
// is never held in memory beside the model; a PyTorch file is read whole
// first.
func LoadWeights(m nn.Module, path string) error {
	f, sd, err := openStateDict(path)
	if err != nil {
		return err
	}
	if sd != nil {
		err = nn.LoadStateDict(m, sd, true)
	} else {
		defer f.Close()
		err = streamInto(m, f)
	}
	if err != nil {
		return fmt.Errorf("vision: load %s: %w", path, err)
	}
	return nil
}

// streamInto checks f's names and shapes against m's state dict, as
// nn.LoadStateDict does in strict mode, and then copies the tensors in
// one by one, converting dtypes.
func streamInto(m nn.Module, f *safetensors.File) error {
	keys := nn.StateDictKeys(m)
	dst := nn.StateDict(m)
	le := &nn.LoadError{}
	for _, k := range keys {
		info, ok := f.Info(k)
		if !ok {
			le.Missing = append(le.Missing, k)
			continue
		}
		if want := dst[k].Shape(); !slices.Equal(info.Shape, want) {
			le.Mismatched = append(le.Mismatched, fmt.Sprintf("%s: state dict %v, module %v", k, info.Shape, want))
		}
	}
	for _, k := range f.Names() {
		if _, ok := dst[k]; !ok {
			le.Unexpected = append(le.Unexpected, k)
		}
	}
	slices.Sort(le.Unexpected)
	if len(le.Missing)+len(le.Unexpected)+len(le.Mismatched) > 0 {
		return le
	}
	for _, k := range keys {
		t, err := f.Tensor(k)
		if err != nil {
			return err
		}
		if err := tensor.Try(func() {
			tensor.WithGradEnabled(false, func() { dst[k].CopyIn(t) })
		}); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// rows returns the first dim of a 2-d tensor's shape, or 0.
func rows(shape []int) int {
	if len(shape) == 2 {
		return shape[0]
	}
	return 0
}

func resnetConfig(cfg []ResNetConfig, shape shapeFunc) ResNetConfig {
	var c ResNetConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.NumClasses == 0 {
		c.NumClasses = rows(shape("fc.weight"))
	}
	c.SkipInit = true
	return c
}

// resnetFrom and resnetLoad are the shared loaders of the ResNets:
// NumClasses 0 is taken from fc.weight.
func resnetFrom(name string, ctor func(...ResNetConfig) *ResNet, sd map[string]*tensor.Tensor, cfg []ResNetConfig) (*ResNet, error) {
	return fromStateDict(name, sd, func(shape shapeFunc) *ResNet { return ctor(resnetConfig(cfg, shape)) })
}

func resnetLoad(name string, ctor func(...ResNetConfig) *ResNet, path string, cfg []ResNetConfig) (*ResNet, error) {
	return loadFile(name, path, func(shape shapeFunc) *ResNet { return ctor(resnetConfig(cfg, shape)) })
}

// ResNet18FromStateDict builds a [ResNet18] and loads sd into it
// strictly (every key must be there and fit). A NumClasses of 0 in cfg
// means the number of rows of sd's fc.weight; initialisation is skipped.
// The model is in training mode, as torch's models are: call [nn.Eval]
// before inference.
func ResNet18FromStateDict(sd map[string]*tensor.Tensor, cfg ...ResNetConfig) (*ResNet, error) {
	return resnetFrom("resnet18", ResNet18, sd, cfg)
}

// ResNet34FromStateDict is [ResNet18FromStateDict] for [ResNet34].
func ResNet34FromStateDict(sd map[string]*tensor.Tensor, cfg ...ResNetConfig) (*ResNet, error) {
	return resnetFrom("resnet34", ResNet34, sd, cfg)
}

// ResNet50FromStateDict is [ResNet18FromStateDict] for [ResNet50].
func ResNet50FromStateDict(sd map[string]*tensor.Tensor, cfg ...ResNetConfig) (*ResNet, error) {
	return resnetFrom("resnet50", ResNet50, sd, cfg)
}

// ResNet101FromStateDict is [ResNet18FromStateDict] for [ResNet101].
func ResNet101FromStateDict(sd map[string]*tensor.Tensor, cfg ...ResNetConfig) (*ResNet, error) {
	return resnetFrom("resnet101", ResNet101, sd, cfg)
}

// ResNet152FromStateDict is [ResNet18FromStateDict] for [ResNet152].
func ResNet152FromStateDict(sd map[string]*tensor.Tensor, cfg ...ResNetConfig) (*ResNet, error) {
	return resnetFrom("resnet152", ResNet152, sd, cfg)
}

// LoadResNet18 reads a state dict file (see [LoadWeights]), such as
// torchvision's resnet18-f37072fd.pth or a safetensors conversion of it,
// into a new [ResNet18], configured as [ResNet18FromStateDict] does.
func LoadResNet18(path string, cfg ...ResNetConfig) (*ResNet, error) {
	return resnetLoad("resnet18", ResNet18, path, cfg)
}

// LoadResNet34 is [LoadResNet18] for [ResNet34].
func LoadResNet34(path string, cfg ...ResNetConfig) (*ResNet, error) {
	return resnetLoad("resnet34", ResNet34, path, cfg)
}

// LoadResNet50 is [LoadResNet18] for [ResNet50].
func LoadResNet50(path string, cfg ...ResNetConfig) (*ResNet, error) {
	return resnetLoad("resnet50", ResNet50, path, cfg)
}

// LoadResNet101 is [LoadResNet18] for [ResNet101].
func LoadResNet101(path string, cfg ...ResNetConfig) (*ResNet, error) {
	return resnetLoad("resnet101", ResNet101, path, cfg)
}

// LoadResNet152 is [LoadResNet18] for [ResNet152].
func LoadResNet152(path string, cfg ...ResNetConfig) (*ResNet, error) {
	return resnetLoad("resnet152", ResNet152, path, cfg)
}

func mobileNetConfig(cfg []MobileNetV2Config, shape shapeFunc) MobileNetV2Config {
	var c MobileNetV2Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.NumClasses == 0 {
		c.NumClasses = rows(shape("classifier.1.weight"))
	}
	c.SkipInit = true
	return c
}

// MobileNetV2FromStateDict builds a [MobileNetV2] and loads sd into it
// strictly. A NumClasses of 0 in cfg means the number of rows of sd's
// classifier.1.weight; initialisation is skipped. The model is in
// training mode: call [nn.Eval] before inference.
func MobileNetV2FromStateDict(sd map[string]*tensor.Tensor, cfg ...MobileNetV2Config) (*MobileNetV2, error) {
	return fromStateDict("mobilenet_v2", sd, func(shape shapeFunc) *MobileNetV2 {
		return NewMobileNetV2(mobileNetConfig(cfg, shape))
	})
}

// LoadMobileNetV2 reads a state dict file (see [LoadWeights]) into a
// new [MobileNetV2], configured as [MobileNetV2FromStateDict] does.
func LoadMobileNetV2(path string, cfg ...MobileNetV2Config) (*MobileNetV2, error) {
	return loadFile("mobilenet_v2", path, func(shape shapeFunc) *MobileNetV2 {
		return NewMobileNetV2(mobileNetConfig(cfg, shape))
	})
}

// vggConfig fills in a VGG configuration from a state dict: NumClasses 0
// from classifier.6.weight, and BatchNorm when features.1 is a
// BatchNorm (has running statistics).
func vggConfig(cfg []VGGConfig, shape shapeFunc) VGGConfig {
	var c VGGConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.NumClasses == 0 {
		c.NumClasses = rows(shape("classifier.6.weight"))
	}
	if shape("features.1.running_var") != nil {
		c.BatchNorm = true
	}
	c.SkipInit = true
	return c
}

func vggFrom(name string, ctor func(...VGGConfig) *VGG, sd map[string]*tensor.Tensor, cfg []VGGConfig) (*VGG, error) {
	return fromStateDict(name, sd, func(shape shapeFunc) *VGG { return ctor(vggConfig(cfg, shape)) })
}

func vggLoad(name string, ctor func(...VGGConfig) *VGG, path string, cfg []VGGConfig) (*VGG, error) {
	return loadFile(name, path, func(shape shapeFunc) *VGG { return ctor(vggConfig(cfg, shape)) })
}

// VGG11FromStateDict builds a [VGG11] and loads sd into it strictly. A
// NumClasses of 0 in cfg means the number of rows of sd's
// classifier.6.weight, and the BatchNorm variant (vgg11_bn) is chosen
// when sd has BatchNorm statistics; initialisation is skipped. The model
// is in training mode (dropout on): call [nn.Eval] before inference.
func VGG11FromStateDict(sd map[string]*tensor.Tensor, cfg ...VGGConfig) (*VGG, error) {
	return vggFrom("vgg11", VGG11, sd, cfg)
}

// VGG13FromStateDict is [VGG11FromStateDict] for [VGG13].
func VGG13FromStateDict(sd map[string]*tensor.Tensor, cfg ...VGGConfig) (*VGG, error) {
	return vggFrom("vgg13", VGG13, sd, cfg)
}

// VGG16FromStateDict is [VGG11FromStateDict] for [VGG16].
func VGG16FromStateDict(sd map[string]*tensor.Tensor, cfg ...VGGConfig) (*VGG, error) {
	return vggFrom("vgg16", VGG16, sd, cfg)
}

// VGG19FromStateDict is [VGG11FromStateDict] for [VGG19].
func VGG19FromStateDict(sd map[string]*tensor.Tensor, cfg ...VGGConfig) (*VGG, error) {
	return vggFrom("vgg19", VGG19, sd, cfg)
}

// LoadVGG11 reads a state dict file (see [LoadWeights]) into a new
// [VGG11], configured as [VGG11FromStateDict] does.
func LoadVGG11(path string, cfg ...VGGConfig) (*VGG, error) {
	return vggLoad("vgg11", VGG11, path, cfg)
}

// LoadVGG13 is [LoadVGG11] for [VGG13].
func LoadVGG13(path string, cfg ...VGGConfig) (*VGG, error) {
	return vggLoad("vgg13", VGG13, path, cfg)
}

// LoadVGG16 is [LoadVGG11] for [VGG16].
func LoadVGG16(path string, cfg ...VGGConfig) (*VGG, error) {
	return vggLoad("vgg16", VGG16, path, cfg)
}

// LoadVGG19 is [LoadVGG11] for [VGG19].
func LoadVGG19(path string, cfg ...VGGConfig) (*VGG, error) {
	return vggLoad("vgg19", VGG19, path, cfg)
}

func leNetConfig(cfg []LeNetConfig, shape shapeFunc) LeNetConfig {
	var c LeNetConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.NumClasses == 0 {
		c.NumClasses = rows(shape("fc2.weight"))
	}
	c.SkipInit = true
	return c
}

// LeNetFromStateDict builds a [LeNet] and loads sd into it strictly. A
// NumClasses of 0 in cfg means the number of rows of sd's fc2.weight;
// initialisation is skipped.
func LeNetFromStateDict(sd map[string]*tensor.Tensor, cfg ...LeNetConfig) (*LeNet, error) {
	return fromStateDict("lenet", sd, func(shape shapeFunc) *LeNet { return NewLeNet(leNetConfig(cfg, shape)) })
}

// LoadLeNet reads a state dict file (see [LoadWeights]) into a new
// [LeNet], configured as [LeNetFromStateDict] does.
func LoadLeNet(path string, cfg ...LeNetConfig) (*LeNet, error) {
	return loadFile("lenet", path, func(shape shapeFunc) *LeNet { return NewLeNet(leNetConfig(cfg, shape)) })
}
