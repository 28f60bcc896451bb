package nn_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// A torchvision ResNet-18 built from Tapir layers. Field names give
// torchvision's state-dict keys (conv1.weight, layer1.0.bn2.running_var,
// layer2.0.downsample.0.weight, fc.bias, …) with no tags.

type basicBlock struct {
	Conv1      *nn.Conv2d
	BN1        *nn.BatchNorm2d
	ReLU       *nn.ReLU
	Conv2      *nn.Conv2d
	BN2        *nn.BatchNorm2d
	Downsample *nn.Sequential // nil when the shortcut is the identity
}

func newBasicBlock(in, out, stride int) *basicBlock {
	b := &basicBlock{
		Conv1: nn.NewConv2d(in, out, 3, nn.ConvConfig{Stride: stride, Padding: 1, NoBias: true}),
		BN1:   nn.NewBatchNorm2d(out),
		ReLU:  nn.NewReLU(),
		Conv2: nn.NewConv2d(out, out, 3, nn.ConvConfig{Padding: 1, NoBias: true}),
		BN2:   nn.NewBatchNorm2d(out),
	}
	if stride != 1 || in != out {
		b.Downsample = nn.NewSequential(nn.NewConv2d(in, out, 1, nn.ConvConfig{Stride: stride, NoBias: true}), nn.NewBatchNorm2d(out))
	}
	return b
}

func (b *basicBlock) Forward(x *tensor.Tensor) *tensor.Tensor {
	out := nn.Call(b.ReLU, nn.Call(b.BN1, nn.Call(b.Conv1, x)))
	out = nn.Call(b.BN2, nn.Call(b.Conv2, out))
	identity := x
	if b.Downsample != nil {
		identity = nn.Call(b.Downsample, x)
	}
	return nn.Call(b.ReLU, out.Add(identity))
}

type resNet18 struct {
	Conv1                          *nn.Conv2d
	BN1                            *nn.BatchNorm2d
	ReLU                           *nn.ReLU
	Maxpool                        *nn.MaxPool2d
	Layer1, Layer2, Layer3, Layer4 []*basicBlock
	Avgpool                        *nn.AdaptiveAvgPool2d
	FC                             *nn.Linear
}

func newResNet18(classes int) *resNet18 {
	layer := func(in, out, stride int) []*basicBlock {
		return []*basicBlock{newBasicBlock(in, out, stride), newBasicBlock(out, out, 1)}
	}
	return &resNet18{
		Conv1:   nn.NewConv2d(3, 64, 7, nn.ConvConfig{Stride: 2, Padding: 3, NoBias: true}),
		BN1:     nn.NewBatchNorm2d(64),
		ReLU:    nn.NewReLU(),
		Maxpool: nn.NewMaxPool2d(3, nn.PoolConfig{Stride: 2, Padding: 1}),
		Layer1:  layer(64, 64, 1),
		Layer2:  layer(64, 128, 2),
		Layer3:  layer(128, 256, 2),
		Layer4:  layer(256, 512, 2),
		Avgpool: nn.NewAdaptiveAvgPool2d(1, 1),
		FC:      nn.NewLinear(512, classes),
	}
}

func (r *resNet18) Forward(x *tensor.Tensor) *tensor.Tensor {
	x = nn.Call(r.Maxpool, nn.Call(r.ReLU, nn.Call(r.BN1, nn.Call(r.Conv1, x))))
	for _, layer := range [][]*basicBlock{r.Layer1, r.Layer2, r.Layer3, r.Layer4} {
		for _, b := range layer {
			x = nn.Call(b, x)
		}
	}
	return nn.Call(r.FC, nn.Call(r.Avgpool, x).Flatten(1, -1))
}

// resnetFixture is testdata/resnet18.json, from gen_resnet.py.
type resnetFixture struct {
	Keys []struct {
		Key    string  `json:"key"`
		Shape  []int   `json:"shape"`
		DType  string  `json:"dtype"`
		Offset float64 `json:"offset"`
		Scale  float64 `json:"scale"`
		Power  float64 `json:"power"`
		Int    *int64  `json:"int"`
	} `json:"keys"`
	Input struct {
		Shape []int   `json:"shape"`
		Freq  float64 `json:"freq"`
		Phase float64 `json:"phase"`
	} `json:"input"`
	Logits32 []float64 `json:"logits_float32"`
	Logits64 []float64 `json:"logits_float64"`

	sds map[tensor.DType]map[string]*tensor.Tensor // generated state dicts
}

func loadResnetFixture(t *testing.T) *resnetFixture {
	t.Helper()
	b, err := os.ReadFile("testdata/resnet18.json")
	if err != nil {
		t.Fatal(err)
	}
	var f resnetFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// stateDict regenerates the state dict gen_resnet.py loaded into
// torchvision: element i of the k-th tensor is offset + scale·sin(0.37·i
// + k)^power, num_batches_tracked an integer; floats in dtype dt. The
// map is the caller's to change; the tensors are shared between calls.
func (f *resnetFixture) stateDict(dt tensor.DType) map[string]*tensor.Tensor {
	if sd, ok := f.sds[dt]; ok {
		return maps.Clone(sd)
	}
	sd := map[string]*tensor.Tensor{}
	defer func() {
		if f.sds == nil {
			f.sds = map[tensor.DType]map[string]*tensor.Tensor{}
		}
		f.sds[dt] = maps.Clone(sd)
	}()
	for k, e := range f.Keys {
		n := 1
		for _, s := range e.Shape {
			n *= s
		}
		if e.Int != nil {
			sd[e.Key] = tensor.FromSlice([]int64{*e.Int}).Reshape(e.Shape...)
			continue
		}
		v := make([]float64, n)
		for i := range v {
			s := math.Sin(0.37*float64(i) + float64(k))
			switch e.Power {
			case 1:
			case 2:
				s *= s
			default:
				s = math.Pow(s, e.Power)
			}
			v[i] = e.Offset + e.Scale*s
		}
		sd[e.Key] = tensor.FromSlice(v, e.Shape...).To(dt)
	}
	return sd
}

func (f *resnetFixture) input(dt tensor.DType) *tensor.Tensor {
	n := 1
	for _, s := range f.Input.Shape {
		n *= s
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Sin(f.Input.Freq*float64(i) + f.Input.Phase)
	}
	return tensor.FromSlice(v, f.Input.Shape...).To(dt)
}

func TestResNet18MatchesTorchvision(t *testing.T) {
	f := loadResnetFixture(t)
	m := newResNet18(1000)

	// exactly torchvision's keys, in its order, with its shapes and dtypes
	var want []string
	for _, e := range f.Keys {
		want = append(want, e.Key)
	}
	if got := nn.StateDictKeys(m); !slices.Equal(got, want) {
		t.Fatalf("state dict keys differ from torchvision's:\n got %v\nwant %v", got, want)
	}
	sd := nn.StateDict(m)
	for _, e := range f.Keys {
		if got := sd[e.Key]; !slices.Equal(got.Shape(), e.Shape) || got.DType().String() != e.DType {
			t.Errorf("%s: %v %v, torchvision %v %s", e.Key, got.DType(), got.Shape(), e.Shape, e.DType)
		}
	}

	for _, tc := range []struct {
		dt     tensor.DType
		logits []float64
		tol    float64
	}{{tensor.Float32, f.Logits32, 1e-4}, {tensor.Float64, f.Logits64, 1e-9}} {
		t.Run(tc.dt.String(), func(t *testing.T) {
			nn.To(m, tc.dt)
			if err := nn.LoadStateDict(m, f.stateDict(tc.dt), true); err != nil {
				t.Fatal(err)
			}
			nn.Eval(m)
			y := m.Forward(f.input(tc.dt))
			if !slices.Equal(y.Shape(), []int{2, 1000}) || y.DType() != tc.dt {
				t.Fatalf("logits %v %v, want [2 1000] %v", y.DType(), y.Shape(), tc.dt)
			}
			got := y.Float64s()
			scale := 0.0
			for _, w := range tc.logits {
				scale = max(scale, math.Abs(w))
			}
			bad := 0
			for i, w := range tc.logits {
				if d := math.Abs(got[i] - w); !(d <= tc.tol*scale) {
					if bad < 5 {
						t.Errorf("logit %d = %.8g, torchvision %.8g (|diff| %.3g > %.3g)", i, got[i], w, d, tc.tol*scale)
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d logits differ", bad, len(got))
			}
			// eval mode leaves the buffers as loaded
			if nbt := nn.StateDict(m)["layer4.1.bn2.num_batches_tracked"].Item(); nbt != float64(*f.Keys[len(f.Keys)-3].Int) {
				t.Errorf("num_batches_tracked changed in eval: %v", nbt)
			}
		})
	}
}

func TestResNet18LoadErrors(t *testing.T) {
	f := loadResnetFixture(t)
	m := newResNet18(1000)
	nn.Eval(m)
	before := nn.StateDict(m)["layer1.0.conv1.weight"].Clone()

	// several wrong shapes: one *LoadError lists each, nothing is copied
	sd := f.stateDict(tensor.Float32)
	bad := map[string][]int{
		"conv1.weight":                 {64, 3, 3, 3},
		"layer2.0.downsample.1.bias":   {64},
		"fc.weight":                    {10, 512},
		"layer3.1.bn1.running_var":     {256, 1},
		"layer4.0.downsample.0.weight": {512, 256},
	}
	for k, sh := range bad {
		sd[k] = tensor.Zeros(sh...)
	}
	for _, strict := range []bool{true, false} {
		err := nn.LoadStateDict(m, sd, strict)
		var le *nn.LoadError
		if !errors.As(err, &le) {
			t.Fatalf("strict=%v: got %v, want a *nn.LoadError", strict, err)
		}
		if len(le.Mismatched) != len(bad) || len(le.Missing) != 0 || len(le.Unexpected) != 0 {
			t.Errorf("strict=%v: %d mismatched, %d missing, %d unexpected; want %d, 0, 0: %v",
				strict, len(le.Mismatched), len(le.Missing), len(le.Unexpected), len(bad), err)
		}
		for k, sh := range bad {
			found := false
			for _, line := range le.Mismatched {
				if strings.HasPrefix(line, k+":") && strings.Contains(line, fmt.Sprintf("state dict %v", sh)) {
					found = true
				}
			}
			if !found {
				t.Errorf("strict=%v: mismatch of %s not listed in %v", strict, k, le.Mismatched)
			}
			if !strings.Contains(err.Error(), k) {
				t.Errorf("strict=%v: message does not name %s: %v", strict, k, err)
			}
		}
	}
	if after := nn.StateDict(m)["layer1.0.conv1.weight"]; !slices.Equal(before.Float32s(), after.Float32s()) {
		t.Error("a failed load changed the module")
	}

	// missing and unexpected keys: listed in strict mode, ignored otherwise
	sd = f.stateDict(tensor.Float32)
	missing := []string{"layer1.1.bn2.running_mean", "fc.bias"}
	unexpected := []string{"fc2.weight", "layer1.0.conv3.weight"}
	for _, k := range missing {
		delete(sd, k)
	}
	for _, k := range unexpected {
		sd[k] = tensor.Zeros(2)
	}
	err := nn.LoadStateDict(m, sd, true)
	var le *nn.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("strict: got %v, want a *nn.LoadError", err)
	}
	gotMissing := slices.Sorted(slices.Values(le.Missing))
	if !slices.Equal(gotMissing, slices.Sorted(slices.Values(missing))) {
		t.Errorf("missing keys %v, want %v", le.Missing, missing)
	}
	if got := slices.Sorted(slices.Values(le.Unexpected)); !slices.Equal(got, slices.Sorted(slices.Values(unexpected))) {
		t.Errorf("unexpected keys %v, want %v", le.Unexpected, unexpected)
	}
	if len(le.Mismatched) != 0 {
		t.Errorf("mismatches %v, want none", le.Mismatched)
	}
	biasBefore := m.FC.Bias.Float64s()
	if err := nn.LoadStateDict(m, sd, false); err != nil {
		t.Fatalf("non-strict: %v", err)
	}
	// the present keys were loaded, the missing ones left alone
	want := f.stateDict(tensor.Float32)
	if got := nn.StateDict(m)["layer1.0.conv1.weight"]; !slices.Equal(got.Float32s(), want["layer1.0.conv1.weight"].Float32s()) {
		t.Error("non-strict load did not copy layer1.0.conv1.weight")
	}
	if !slices.Equal(m.FC.Bias.Float64s(), biasBefore) {
		t.Error("non-strict load changed fc.bias, which the state dict lacks")
	}
}
