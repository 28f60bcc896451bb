package nn_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// Layer fixtures come from the testdata/gen_*.py scripts (see
// testdata/layerfix.py for the format), run with Debian's PyTorch. A test
// builds the same layer in Tapir, loads torch's state dict by name
// (strict), runs the forward pass on the same inputs and compares the
// outputs, the buffers after the pass, and the gradients of
// Σ output·cotangent for every parameter and floating-point input.

type fixTensor struct {
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	Data  []any  `json:"data"`
}

func (f *fixTensor) floats() []float64 {
	v := make([]float64, len(f.Data))
	for i, d := range f.Data {
		switch x := d.(type) {
		case float64:
			v[i] = x
		case bool:
			if x {
				v[i] = 1
			}
		case string:
			switch x {
			case "nan":
				v[i] = math.NaN()
			case "inf":
				v[i] = math.Inf(1)
			case "-inf":
				v[i] = math.Inf(-1)
			default:
				panic("bad fixture value " + x)
			}
		}
	}
	return v
}

// build returns the tensor the fixture describes, exactly.
func (f *fixTensor) build() *tensor.Tensor {
	v := f.floats()
	switch f.DType {
	case "float32":
		d := make([]float32, len(v))
		for i, x := range v {
			d[i] = float32(x)
		}
		return tensor.FromSlice(d, f.Shape...)
	case "float64":
		return tensor.FromSlice(v, f.Shape...)
	case "int64":
		d := make([]int64, len(v))
		for i, x := range v {
			d[i] = int64(x)
		}
		return tensor.FromSlice(d, f.Shape...)
	case "bool":
		d := make([]bool, len(v))
		for i, x := range v {
			d[i] = x != 0
		}
		return tensor.FromSlice(d, f.Shape...)
	}
	panic("fixture dtype " + f.DType)
}

type layerCase struct {
	Name         string                `json:"name"`
	DType        string                `json:"dtype"`
	Config       map[string]any        `json:"config"`
	Train        bool                  `json:"train"`
	State        map[string]fixTensor  `json:"state"`
	StateKeys    []string              `json:"state_keys"`
	Inputs       []*fixTensor          `json:"inputs"`
	Outputs      []fixTensor           `json:"outputs"`
	Cotangents   []*fixTensor          `json:"cotangents"`
	Grads        map[string]*fixTensor `json:"grads"`
	BuffersAfter map[string]fixTensor  `json:"buffers_after"`
}

// cfgInt and friends read the case's config.
func (c *layerCase) cfgInt(key string) int {
	v, ok := c.Config[key]
	if !ok {
		panic(fmt.Sprintf("%s: config has no %q", c.Name, key))
	}
	return int(v.(float64))
}

func (c *layerCase) cfgFloat(key string) float64 { return c.Config[key].(float64) }

func (c *layerCase) cfgBool(key string) bool {
	v, ok := c.Config[key].(bool)
	return ok && v
}

func (c *layerCase) cfgString(key string) string {
	v, _ := c.Config[key].(string)
	return v
}

func (c *layerCase) dtype() tensor.DType {
	if c.DType == "float64" {
		return tensor.Float64
	}
	return tensor.Float32
}

func loadLayerCases(t *testing.T, file string) []*layerCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []*layerCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Cases
}

// tolerance: float32 within 1e-4 relative, float64 within 1e-9, measured
// against the largest magnitude of the expected tensor (so that entries
// near zero are judged on the tensor's scale).
func tolerance(dt string) float64 {
	if dt == "float64" {
		return 1e-9
	}
	return 1e-4
}

func compareTensor(t *testing.T, what string, got *tensor.Tensor, want *fixTensor, tol float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: got nil, want shape %v", what, want.Shape)
		return
	}
	if !slices.Equal(got.Shape(), want.Shape) && !(len(want.Shape) == 0 && got.Numel() == 1 && got.Dim() == 0) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), want.Shape)
		return
	}
	g := got.Float64s()
	w := want.floats()
	scale := 0.0
	for _, x := range w {
		if !math.IsInf(x, 0) && !math.IsNaN(x) {
			scale = max(scale, math.Abs(x))
		}
	}
	scale = max(scale, 1e-3)
	bad := 0
	for i := range w {
		if math.IsNaN(w[i]) && math.IsNaN(g[i]) || w[i] == g[i] {
			continue
		}
		if d := math.Abs(g[i] - w[i]); !(d <= tol*scale) {
			if bad < 3 {
				t.Errorf("%s[%d] = %.10g, want %.10g (|diff| %.3g > %.3g)", what, i, g[i], w[i], d, tol*scale)
			}
			bad++
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d of %d elements differ", what, bad, len(w))
	}
}

// runLayerCase loads c's state into m (strict), runs forward on c's inputs
// and checks outputs, buffers after the pass and all gradients.
func runLayerCase(t *testing.T, c *layerCase, m nn.Module, forward func(in []*tensor.Tensor) []*tensor.Tensor) {
	t.Helper()
	nn.To(m, c.dtype())
	sd := map[string]*tensor.Tensor{}
	for k, v := range c.State {
		sd[k] = v.build()
	}
	if err := nn.LoadStateDict(m, sd, true); err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	if c.StateKeys != nil {
		if got := nn.StateDictKeys(m); !slices.Equal(got, c.StateKeys) {
			t.Errorf("%s: state dict keys\n got %v\nwant %v", c.Name, got, c.StateKeys)
		}
	}
	if c.Train {
		nn.Train(m)
	} else {
		nn.Eval(m)
	}
	in := make([]*tensor.Tensor, len(c.Inputs))
	for i, x := range c.Inputs {
		if x == nil {
			continue
		}
		in[i] = x.build()
		if x.DType == "float32" || x.DType == "float64" {
			in[i].SetRequiresGrad(true)
		}
	}
	outs := forward(in)
	if len(outs) != len(c.Outputs) {
		t.Fatalf("%s: %d outputs, want %d", c.Name, len(outs), len(c.Outputs))
	}
	tol := tolerance(c.DType)
	var loss *tensor.Tensor
	for i, o := range outs {
		compareTensor(t, fmt.Sprintf("%s output %d", c.Name, i), o, &c.Outputs[i], tol)
		if cot := c.Cotangents[i]; cot != nil && o.RequiresGrad() {
			term := o.Mul(cot.build()).Sum()
			if loss == nil {
				loss = term
			} else {
				loss = loss.Add(term)
			}
		}
	}
	for name, want := range c.BuffersAfter {
		var got *tensor.Tensor
		for _, b := range nn.NamedBuffers(m) {
			if b.Name == name {
				got = b.B.Tensor
			}
		}
		w := want
		compareTensor(t, c.Name+" buffer "+name, got, &w, tol)
	}
	if loss == nil {
		return
	}
	loss.Backward()
	params := map[string]*nn.Parameter{}
	for _, p := range nn.NamedParameters(m) {
		params[p.Name] = p.P
	}
	for key, want := range c.Grads {
		var got *tensor.Tensor
		switch {
		case len(key) > 6 && key[:6] == "param.":
			p, ok := params[key[6:]]
			if !ok {
				t.Errorf("%s: no parameter %s", c.Name, key[6:])
				continue
			}
			got = p.Grad()
		case len(key) > 6 && key[:6] == "input.":
			var i int
			fmt.Sscanf(key[6:], "%d", &i)
			got = in[i].Grad()
		}
		compareTensor(t, c.Name+" grad "+key, got, want, tol)
	}
}
