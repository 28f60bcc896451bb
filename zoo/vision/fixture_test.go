package vision_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// fixture is one testdata/<arch>.json written by gen_fixtures.py: the
// torchvision model's state-dict keys with the formula that filled each
// tensor, the input formula, and torchvision's eval-mode logits.
type fixture struct {
	Arch   string `json:"arch"`
	Period int    `json:"period"`
	Keys   []struct {
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
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func loadFixture(t testing.TB, name string) *fixture {
	t.Helper()
	var f fixture
	readJSON(t, name, &f)
	if f.Period <= 0 {
		t.Fatalf("%s: no period", name)
	}
	return &f
}

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// stateDict regenerates the state dict gen_fixtures.py loaded into
// torchvision: element i of the k-th tensor is offset + scale·sin(0.37·(i
// mod period) + k)^power, num_batches_tracked the integer recorded;
// floats in dtype dt (Float32 or Float64).
func (f *fixture) stateDict(dt tensor.DType) map[string]*tensor.Tensor {
	sd := map[string]*tensor.Tensor{}
	for k, e := range f.Keys {
		if e.Int != nil {
			sd[e.Key] = tensor.FromSlice([]int64{*e.Int}).Reshape(e.Shape...)
			continue
		}
		n := numel(e.Shape)
		tab := make([]float64, min(n, f.Period))
		for j := range tab {
			s := math.Sin(0.37*float64(j) + float64(k))
			switch e.Power {
			case 1:
			case 2:
				s *= s
			default:
				s = math.Pow(s, e.Power)
			}
			tab[j] = e.Offset + e.Scale*s
		}
		switch dt {
		case tensor.Float64:
			v := make([]float64, n)
			for i := 0; i < n; i += len(tab) {
				copy(v[i:], tab)
			}
			sd[e.Key] = tensor.FromSlice(v, e.Shape...)
		default:
			tab32 := make([]float32, len(tab))
			for j, x := range tab {
				tab32[j] = float32(x)
			}
			v := make([]float32, n)
			for i := 0; i < n; i += len(tab32) {
				copy(v[i:], tab32)
			}
			sd[e.Key] = tensor.FromSlice(v, e.Shape...)
		}
	}
	return sd
}

// keys lists the state-dict keys in torchvision's order.
func (f *fixture) keys() []string {
	var ks []string
	for _, e := range f.Keys {
		ks = append(ks, e.Key)
	}
	return ks
}

// input is x_i = sin(freq·i + phase) over the recorded shape.
func (f *fixture) input(dt tensor.DType) *tensor.Tensor {
	v := make([]float64, numel(f.Input.Shape))
	for i := range v {
		v[i] = math.Sin(f.Input.Freq*float64(i) + f.Input.Phase)
	}
	return tensor.FromSlice(v, f.Input.Shape...).To(dt)
}

// closeTo reports every element of got that differs from want by more
// than rtol·|want| + atol·max|want|, the first few in detail.
func closeTo(t *testing.T, what string, got, want []float64, rtol, atol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	scale := 0.0
	for _, w := range want {
		scale = max(scale, math.Abs(w))
	}
	bad, worst := 0, 0.0
	for i, w := range want {
		d := math.Abs(got[i] - w)
		tol := rtol*math.Abs(w) + atol*scale
		if !(d <= tol) {
			if bad < 5 {
				t.Errorf("%s[%d] = %.8g, torch %.8g (|diff| %.3g > %.3g)", what, i, got[i], w, d, tol)
			}
			bad++
		}
		if scale > 0 {
			worst = max(worst, d/scale)
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(want))
	}
	t.Logf("%s: max |diff| / max |torch| = %.3g over %d values", what, worst, len(want))
}
