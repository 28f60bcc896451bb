package onnx

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// Models exported by torch.onnx (testdata/gen_fixtures.py): torch's
// outputs and gradients are the oracle.

// torchModel is one exported model with its input and output names.
type torchModel struct {
	name     string
	ins, out []string
}

var (
	torchModels = []torchModel{
		{"cnn", []string{"input"}, []string{"output"}},
		{"block", []string{"input"}, []string{"output"}},
		{"misc", []string{"x", "seq"}, []string{"pooled", "states"}},
	}
	gradModels  = []string{"cnn", "block"}
	torchOpsets = []int{9, 13, 17}
)

func readFixture(t *testing.T, name string) *tensor.Tensor {
	t.Helper()
	_, x, err := ReadTensor(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// maxAbsDiff is max |a − b| after checking the shapes agree.
func maxAbsDiff(t *testing.T, a, b *tensor.Tensor) float64 {
	t.Helper()
	if fmt.Sprint(a.Shape()) != fmt.Sprint(b.Shape()) {
		t.Fatalf("shape %v, want %v", a.Shape(), b.Shape())
	}
	av, bv := a.Contiguous().Float64s(), b.Contiguous().Float64s()
	worst := 0.0
	for i := range av {
		d := math.Abs(av[i] - bv[i])
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		worst = max(worst, d)
	}
	return worst
}

func TestTorchExportedModels(t *testing.T) {
	for _, tm := range torchModels {
		for _, opset := range torchOpsets {
			t.Run(fmt.Sprintf("%s/opset%d", tm.name, opset), func(t *testing.T) {
				m, err := Load(filepath.Join("testdata", fmt.Sprintf("%s_opset%d.onnx", tm.name, opset)))
				if err != nil {
					t.Fatal(err)
				}
				if m.Opset() != opset {
					t.Errorf("opset %d, want %d", m.Opset(), opset)
				}
				in := m.Inputs()
				if len(in) != len(tm.ins) {
					t.Fatalf("inputs %v, want %v", in, tm.ins)
				}
				for _, vi := range in {
					if vi.Shape[0] != -1 || vi.DimNames[0] != "batch" {
						t.Errorf("input %v: want a dynamic batch dim", vi)
					}
				}
				for _, b := range []int{1, 3} {
					feed := map[string]*tensor.Tensor{}
					for _, n := range tm.ins {
						feed[n] = readFixture(t, fmt.Sprintf("%s_b%d_%s.pb", tm.name, b, n))
					}
					out, err := m.Run(feed)
					if err != nil {
						t.Fatal(err)
					}
					for _, n := range tm.out {
						want := readFixture(t, fmt.Sprintf("%s_b%d_%s.pb", tm.name, b, n))
						if d := maxAbsDiff(t, out[n], want); d > 1e-4 {
							t.Errorf("batch %d: %s: max |diff| %.3g from torch's output", b, n, d)
						}
					}
				}
			})
		}
	}
}

// TestTorchGradients runs backward through each imported model and checks
// the gradients of its parameters against torch's, for the parameters
// that keep their state-dict names through the export.
func TestTorchGradients(t *testing.T) {
	for _, name := range gradModels {
		for _, opset := range torchOpsets {
			t.Run(fmt.Sprintf("%s/opset%d", name, opset), func(t *testing.T) {
				m, err := Load(filepath.Join("testdata", fmt.Sprintf("%s_opset%d.onnx", name, opset)))
				if err != nil {
					t.Fatal(err)
				}
				m.SetRequiresGrad(true)
				x := readFixture(t, name+"_b3_input.pb")
				probe := readFixture(t, name+"_probe.pb")
				out, err := m.Run(map[string]*tensor.Tensor{"input": x})
				if err != nil {
					t.Fatal(err)
				}
				out["output"].Mul(probe).Sum().Backward()
				checked := 0
				for _, p := range m.NamedParameters() {
					path := filepath.Join("testdata", fmt.Sprintf("%s_grad_%s.pb", name, p.Name))
					if _, err := os.Stat(path); err != nil {
						continue // renamed by the export (folded or transposed)
					}
					want := readFixture(t, filepath.Base(path))
					g := p.P.Grad()
					if g == nil {
						t.Errorf("%s: no gradient", p.Name)
						continue
					}
					scale := 0.0
					for _, v := range want.Float64s() {
						scale = max(scale, math.Abs(v))
					}
					if d := maxAbsDiff(t, g, want); d > 1e-4*max(scale, 1) {
						t.Errorf("%s: max |grad diff| %.3g (largest grad %.3g)", p.Name, d, scale)
					}
					checked++
				}
				if checked < 4 {
					t.Errorf("checked %d gradients; want at least 4", checked)
				}
			})
		}
	}
}

// TestTorchModelMembers checks that initializers keep their names, that
// BatchNormalization statistics are buffers, and that the nn package's
// state-dict helpers see the model.
func TestTorchModelMembers(t *testing.T) {
	m, err := Load("testdata/cnn_opset13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range m.NamedParameters() {
		names = append(names, p.Name)
	}
	got := strings.Join(names, " ")
	for _, want := range []string{"conv2.weight", "bn2.weight", "fc.weight", "fc.bias"} {
		if !strings.Contains(got, want+" ") && !strings.HasSuffix(got, want) {
			t.Errorf("parameters %s: no %s", got, want)
		}
	}
	if strings.Contains(got, "running") {
		t.Errorf("parameters %s include BatchNormalization statistics", got)
	}
	sd := nn.StateDict(m)
	for _, want := range []string{"bn2.running_mean", "bn2.running_var", "fc.weight"} {
		if sd[want] == nil {
			t.Errorf("state dict has no %s", want)
		}
	}
	if len(nn.Parameters(m)) != len(m.Parameters()) {
		t.Errorf("nn.Parameters finds %d parameters, Model.Parameters %d", len(nn.Parameters(m)), len(m.Parameters()))
	}
}

// TestLoadStateDict replaces the classifier's weights through the nn
// package: with fc zeroed, the softmax output must be uniform.
func TestLoadStateDict(t *testing.T) {
	m, err := Load("testdata/cnn_opset17.onnx")
	if err != nil {
		t.Fatal(err)
	}
	sd := map[string]*tensor.Tensor{
		"fc.weight": tensor.Zeros(10, 192),
		"fc.bias":   tensor.Zeros(10),
	}
	if err := nn.LoadStateDict(m, sd, false); err != nil {
		t.Fatal(err)
	}
	out, err := m.Run(map[string]*tensor.Tensor{"input": readFixture(t, "cnn_b3_input.pb")})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, out["output"], tensor.Full(0.1, 3, 10)); d > 1e-6 {
		t.Errorf("output differs from uniform by %.3g after zeroing fc", d)
	}
	if err := nn.LoadStateDict(m, map[string]*tensor.Tensor{"fc.bias": tensor.Zeros(11)}, false); err == nil {
		t.Error("no error loading a bias of the wrong shape")
	}
}
