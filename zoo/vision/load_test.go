package vision_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/tensor/safetensors"
	"github.com/tapir-ml/tapir/zoo/torchfile"
	"github.com/tapir-ml/tapir/zoo/vision"
)

// TestLoadFileMatchesTorch writes the LeNet fixture's state dict as a
// safetensors file, as torch's safetensors.torch.save_file would, and as
// a .pt file (zoo/torchfile's writer, which zoo/torchfile tests against
// torch.load), and loads them: the logits are torch's.
func TestLoadFileMatchesTorch(t *testing.T) {
	f := loadFixture(t, "lenet.json")
	path := filepath.Join(t.TempDir(), "lenet.safetensors")
	if err := safetensors.Save(path, f.stateDict(tensor.Float32), f.keys(), map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	pt := filepath.Join(t.TempDir(), "lenet.pt")
	if err := torchfile.Save(pt, f.stateDict(tensor.Float32), f.keys()); err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func() (*vision.LeNet, error){
		"LoadLeNet":    func() (*vision.LeNet, error) { return vision.LoadLeNet(path) },
		"LoadLeNet.pt": func() (*vision.LeNet, error) { return vision.LoadLeNet(pt) },
		"LoadWeights.pt": func() (*vision.LeNet, error) {
			m := vision.NewLeNet()
			return m, vision.LoadWeights(m, pt)
		},
		"ReadStateDict": func() (*vision.LeNet, error) {
			sd, err := vision.ReadStateDict(path)
			if err != nil {
				return nil, err
			}
			return vision.LeNetFromStateDict(sd)
		},
		"LoadWeights": func() (*vision.LeNet, error) {
			m := vision.NewLeNet()
			return m, vision.LoadWeights(m, path)
		},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := load()
			if err != nil {
				t.Fatal(err)
			}
			nn.Eval(m)
			closeTo(t, "logits", m.Forward(f.input(tensor.Float32)).Float64s(), f.Logits32, 1e-4, 1e-5)
		})
	}
}

// The loaders take the number of classes from the classifier's weight.
func TestLoadInfersClasses(t *testing.T) {
	dir := t.TempDir()
	r := vision.ResNet18(vision.ResNetConfig{NumClasses: 7, SkipInit: true})
	m, err := vision.ResNet18FromStateDict(nn.StateDict(r))
	if err != nil {
		t.Fatal(err)
	}
	if m.FC.OutFeatures != 7 {
		t.Errorf("ResNet18FromStateDict: %d classes, want 7", m.FC.OutFeatures)
	}
	if _, err := vision.ResNet18FromStateDict(nn.StateDict(r), vision.ResNetConfig{NumClasses: 1000}); err == nil {
		t.Error("ResNet18FromStateDict with 1000 classes loaded a 7-class state dict")
	}
	if _, err := vision.ResNet50FromStateDict(nn.StateDict(r)); err == nil {
		t.Error("ResNet50FromStateDict loaded a ResNet-18 state dict")
	}

	mb := vision.NewMobileNetV2(vision.MobileNetV2Config{NumClasses: 3, WidthMult: 0.5})
	path := filepath.Join(dir, "mobilenet.safetensors")
	if err := nn.Save(path, mb); err != nil {
		t.Fatal(err)
	}
	got, err := vision.LoadMobileNetV2(path, vision.MobileNetV2Config{WidthMult: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	want := nn.StateDict(mb)
	for k, v := range nn.StateDict(got) {
		if !slices.Equal(v.Float64s(), want[k].Float64s()) {
			t.Errorf("%s differs after a save and a load", k)
		}
	}
	if _, err := vision.LoadMobileNetV2(path); err == nil {
		t.Error("LoadMobileNetV2 at width 1 loaded a width-0.5 file")
	}

	l := vision.NewLeNet(vision.LeNetConfig{NumClasses: 4})
	path = filepath.Join(dir, "lenet.safetensors")
	if err := nn.Save(path, l); err != nil {
		t.Fatal(err)
	}
	ln, err := vision.LoadLeNet(path)
	if err != nil || ln.FC2.OutFeatures != 4 {
		t.Errorf("LoadLeNet: %v classes, %v", ln, err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// a file torch.save would write is read as one, not as safetensors
	for _, head := range []string{"PK\x03\x04rest of a zip", "\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03."} {
		p := write("model.pt", []byte(head))
		_, err := vision.LoadResNet18(p)
		if err == nil || !strings.Contains(err.Error(), "torchfile") {
			t.Errorf("LoadResNet18(truncated .pt): %v, want an error from torchfile", err)
		}
	}
	if _, err := vision.LoadLeNet(write("junk.safetensors", []byte("not a safetensors file at all"))); err == nil {
		t.Error("LoadLeNet read junk")
	}
	if _, err := vision.LoadLeNet(filepath.Join(dir, "missing.safetensors")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadLeNet of a missing file: %v", err)
	}

	// a state dict with a missing, an unexpected and a mis-shaped key:
	// one *nn.LoadError lists all three, and nothing is copied
	m := vision.NewLeNet()
	sd := nn.StateDict(vision.NewLeNet())
	delete(sd, "conv2.bias")
	sd["fc3.weight"] = tensor.Zeros(2, 2)
	sd["fc1.bias"] = tensor.Zeros(127)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range sd {
			if !yield(k) {
				return
			}
		}
	})
	p := filepath.Join(dir, "bad.safetensors")
	if err := safetensors.Save(p, sd, keys, nil); err != nil {
		t.Fatal(err)
	}
	before := m.Conv1.Weight.Float64s()
	for name, err := range map[string]error{
		"LoadWeights": vision.LoadWeights(m, p),
		"LoadLeNet": func() error {
			_, err := vision.LoadLeNet(p)
			return err
		}(),
		"LeNetFromStateDict": func() error {
			_, err := vision.LeNetFromStateDict(sd)
			return err
		}(),
	} {
		var le *nn.LoadError
		if !errors.As(err, &le) {
			t.Fatalf("%s: %v, want an *nn.LoadError", name, err)
		}
		if !slices.Equal(le.Missing, []string{"conv2.bias"}) || !slices.Equal(le.Unexpected, []string{"fc3.weight"}) ||
			len(le.Mismatched) != 1 || !strings.HasPrefix(le.Mismatched[0], "fc1.bias: state dict [127], module [128]") {
			t.Errorf("%s: %+v", name, le)
		}
	}
	if !slices.Equal(m.Conv1.Weight.Float64s(), before) {
		t.Error("a failed LoadWeights changed the model")
	}

	// bad configurations are errors from the loaders, panics from the
	// constructors
	if _, err := vision.ResNet18FromStateDict(nn.StateDict(m), vision.ResNetConfig{NumClasses: -1}); err == nil {
		t.Error("NumClasses -1: no error")
	}
	for name, f := range map[string]func(){
		"ResNet18 groups":    func() { vision.ResNet18(vision.ResNetConfig{Groups: 2}) },
		"VGG11 classes":      func() { vision.VGG11(vision.VGGConfig{NumClasses: -3, SkipInit: true}) },
		"MobileNetV2 width":  func() { vision.NewMobileNetV2(vision.MobileNetV2Config{WidthMult: -1}) },
		"ResNet18 grayscale": func() { vision.ResNet18(vision.ResNetConfig{SkipInit: true}).Forward(tensor.Zeros(1, 1, 32, 32)) },
		"LeNet RGB":          func() { vision.NewLeNet().Forward(tensor.Zeros(1, 3, 28, 28)) },
	} {
		var te *tensor.Error
		if err := tensor.Try(f); !errors.As(err, &te) {
			t.Errorf("%s: %v, want a *tensor.Error", name, err)
		}
	}
}
