package vision_test

import (
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/vision"
)

// model is what the tests need of a vision model.
type model interface {
	nn.Layer
}

// checkKeys fails unless m's state dict has exactly the keys, in order,
// with the shapes and dtypes given.
func checkKeys(t *testing.T, m nn.Module, keys []string, shapes [][]int, dtypes []string) {
	t.Helper()
	if got := nn.StateDictKeys(m); !slices.Equal(got, keys) {
		n := 0
		for n < min(len(got), len(keys)) && got[n] == keys[n] {
			n++
		}
		t.Fatalf("state dict keys differ from torchvision's at index %d: %d keys, torchvision %d\n got %v\nwant %v",
			n, len(got), len(keys), got[n:min(n+3, len(got))], keys[n:min(n+3, len(keys))])
	}
	sd := nn.StateDict(m)
	for i, k := range keys {
		if got := sd[k]; !slices.Equal(got.Shape(), shapes[i]) || got.DType().String() != dtypes[i] {
			t.Errorf("%s: %v %v, torchvision %v %s", k, got.DType(), got.Shape(), shapes[i], dtypes[i])
		}
	}
}

// The torchvision models whose logits the fixtures hold, with the
// function that builds ours from a state dict.
var logitCases = []struct {
	file string
	from func(sd map[string]*tensor.Tensor) (model, error)
}{
	{"resnet18.json", func(sd map[string]*tensor.Tensor) (model, error) { return vision.ResNet18FromStateDict(sd) }},
	{"resnet34.json", func(sd map[string]*tensor.Tensor) (model, error) { return vision.ResNet34FromStateDict(sd) }},
	{"resnet50.json", func(sd map[string]*tensor.Tensor) (model, error) { return vision.ResNet50FromStateDict(sd) }},
	{"mobilenet_v2.json", func(sd map[string]*tensor.Tensor) (model, error) { return vision.MobileNetV2FromStateDict(sd) }},
	{"vgg11.json", func(sd map[string]*tensor.Tensor) (model, error) { return vision.VGG11FromStateDict(sd) }},
	{"lenet.json", func(sd map[string]*tensor.Tensor) (model, error) { return vision.LeNetFromStateDict(sd) }},
}

// TestLogitsMatchTorchvision loads each torchvision state dict (regenerated
// from the fixture's formula) strictly into our model and compares the
// eval-mode logits with torchvision's: float32 within rtol 1e-4 (plus
// 1e-5 of the largest logit), and float64 for resnet18 within 1e-9.
func TestLogitsMatchTorchvision(t *testing.T) {
	for _, tc := range logitCases {
		t.Run(tc.file, func(t *testing.T) {
			if strings.HasPrefix(tc.file, "vgg") {
				if testing.Short() {
					t.Skip("VGG's classifier has 120M parameters")
				}
				t.Cleanup(runtime.GC) // hand its half gigabyte to the next test
			}
			f := loadFixture(t, tc.file)
			var shapes [][]int
			var dtypes []string
			for _, e := range f.Keys {
				shapes = append(shapes, e.Shape)
				dtypes = append(dtypes, e.DType)
			}
			m, err := tc.from(f.stateDict(tensor.Float32))
			if err != nil {
				t.Fatal(err)
			}
			checkKeys(t, m, f.keys(), shapes, dtypes)
			nn.Eval(m)
			y := m.Forward(f.input(tensor.Float32))
			if want := []int{f.Input.Shape[0], len(f.Logits32) / f.Input.Shape[0]}; !slices.Equal(y.Shape(), want) || y.DType() != tensor.Float32 {
				t.Fatalf("logits %v %v, want %v float32", y.DType(), y.Shape(), want)
			}
			closeTo(t, "float32 logits", y.Float64s(), f.Logits32, 1e-4, 1e-5)

			if f.Logits64 == nil {
				return
			}
			nn.To(m, tensor.Float64)
			if err := nn.LoadStateDict(m, f.stateDict(tensor.Float64), true); err != nil {
				t.Fatal(err)
			}
			y = m.Forward(f.input(tensor.Float64))
			if y.DType() != tensor.Float64 {
				t.Fatalf("float64 model gave %v logits", y.DType())
			}
			closeTo(t, "float64 logits", y.Float64s(), f.Logits64, 1e-9, 1e-10)
		})
	}
}

// TestKeysMatchTorchvision checks the state-dict keys, order, shapes and
// dtypes of the architectures whose logits are not checked against
// torchvision's.
func TestKeysMatchTorchvision(t *testing.T) {
	var all map[string][][3]any
	readJSON(t, "keys.json", &all)
	skip := vision.ResNetConfig{SkipInit: true}
	skipBN := vision.VGGConfig{SkipInit: true, BatchNorm: true}
	skipVGG := vision.VGGConfig{SkipInit: true}
	build := map[string]func() nn.Module{
		"resnet101": func() nn.Module { return vision.ResNet101(skip) },
		"resnet152": func() nn.Module { return vision.ResNet152(skip) },
		"resnext50_32x4d": func() nn.Module {
			return vision.ResNet50(vision.ResNetConfig{Groups: 32, WidthPerGroup: 4, SkipInit: true})
		},
		"wide_resnet50_2": func() nn.Module {
			return vision.ResNet50(vision.ResNetConfig{WidthPerGroup: 128, SkipInit: true})
		},
		"mobilenet_v2_w0.5": func() nn.Module {
			return vision.NewMobileNetV2(vision.MobileNetV2Config{WidthMult: 0.5, SkipInit: true})
		},
		"vgg11_bn": func() nn.Module { return vision.VGG11(skipBN) },
		"vgg13":    func() nn.Module { return vision.VGG13(skipVGG) },
		"vgg16":    func() nn.Module { return vision.VGG16(skipVGG) },
		"vgg16_bn": func() nn.Module { return vision.VGG16(skipBN) },
		"vgg19_bn": func() nn.Module { return vision.VGG19(skipBN) },
	}
	for arch, entries := range all {
		t.Run(arch, func(t *testing.T) {
			if strings.HasPrefix(arch, "vgg") {
				if testing.Short() {
					t.Skip("VGG's classifier has 120M parameters")
				}
				t.Cleanup(runtime.GC)
			}
			b, ok := build[arch]
			if !ok {
				t.Fatalf("no constructor for %s", arch)
			}
			var keys, dtypes []string
			var shapes [][]int
			for _, e := range entries {
				keys = append(keys, e[0].(string))
				var sh []int
				for _, d := range e[1].([]any) {
					sh = append(sh, int(d.(float64)))
				}
				shapes = append(shapes, sh)
				dtypes = append(dtypes, e[2].(string))
			}
			checkKeys(t, b(), keys, shapes, dtypes)
		})
	}
	if len(all) != len(build) {
		t.Errorf("keys.json has %d architectures, the test %d", len(all), len(build))
	}
}

// TestTrainStepResNet18 runs one train-mode step of ResNet-18 in float64
// (BatchNorm on batch statistics, updating its running ones; a
// cross-entropy loss) and compares the loss, a projection and the norm
// of every parameter's gradient, and BatchNorm buffers, with torch's.
func TestTrainStepResNet18(t *testing.T) {
	var fx struct {
		fixture
		Target []int64 `json:"target"`
		Loss   float64 `json:"loss"`
		Grads  []struct {
			Name string  `json:"name"`
			Norm float64 `json:"norm"`
			Proj float64 `json:"proj"`
		} `json:"grads"`
		Buffers map[string][]float64 `json:"buffers"`
	}
	readJSON(t, "train_resnet18.json", &fx)
	m := vision.ResNet18()
	nn.To(m, tensor.Float64)
	if err := nn.LoadStateDict(m, fx.stateDict(tensor.Float64), true); err != nil {
		t.Fatal(err)
	}
	nn.Train(m)
	logits := m.Forward(fx.input(tensor.Float64))
	loss := F.CrossEntropy(logits, tensor.FromSlice(fx.Target))
	if got := loss.Item(); !(math.Abs(got-fx.Loss) <= 1e-9*math.Abs(fx.Loss)) {
		t.Errorf("loss %.12g, torch %.12g", got, fx.Loss)
	}
	loss.Backward()

	params := nn.NamedParameters(m)
	if len(params) != len(fx.Grads) {
		t.Fatalf("%d parameters, torch %d", len(params), len(fx.Grads))
	}
	var norms, projs, wantNorms, wantProjs []float64
	for i, p := range params {
		g := p.P.Grad()
		if p.Name != fx.Grads[i].Name {
			t.Fatalf("parameter %d is %s, torch's %s", i, p.Name, fx.Grads[i].Name)
		}
		if g == nil {
			t.Errorf("%s has no gradient", p.Name)
			continue
		}
		if !slices.Equal(g.Shape(), p.P.Shape()) {
			t.Errorf("%s: gradient %v, parameter %v", p.Name, g.Shape(), p.P.Shape())
			continue
		}
		v := g.Float64s()
		norm, proj := 0.0, 0.0
		for j, x := range v {
			norm += x * x
			proj += x * math.Cos(0.13*float64(j))
		}
		norms = append(norms, math.Sqrt(norm))
		projs = append(projs, proj)
		wantNorms = append(wantNorms, fx.Grads[i].Norm)
		wantProjs = append(wantProjs, fx.Grads[i].Proj)
		// each parameter on its own scale: its gradient's norm
		if d := math.Abs(proj - fx.Grads[i].Proj); !(d <= 1e-7*fx.Grads[i].Norm*math.Sqrt(float64(len(v)))) {
			t.Errorf("%s: gradient projection %.10g, torch %.10g", p.Name, proj, fx.Grads[i].Proj)
		}
	}
	closeTo(t, "gradient norms", norms, wantNorms, 1e-7, 0)
	closeTo(t, "gradient projections", projs, wantProjs, 1e-6, 1e-9)

	sd := nn.StateDict(m)
	for name, want := range fx.Buffers {
		closeTo(t, name, sd[name].Float64s(), want, 1e-9, 1e-12)
	}
}

// Forward passes in eval mode may run on one model from several
// goroutines at once (run with -race).
func TestConcurrentForward(t *testing.T) {
	f := loadFixture(t, "resnet18.json")
	m, err := vision.ResNet18FromStateDict(f.stateDict(tensor.Float32))
	if err != nil {
		t.Fatal(err)
	}
	nn.Eval(m)
	x := f.input(tensor.Float32).Narrow(2, 0, 32).Narrow(3, 0, 32)
	want := m.Forward(x).Float32s()
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := m.Forward(x).Float32s(); !slices.Equal(got, want) {
				errs <- "a concurrent forward pass gave other logits"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
