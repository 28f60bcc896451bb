package text

import (
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/tensor/safetensors"
)

// The fixtures in testdata come from gen_fixtures.py: torch modules with
// Hugging Face's names and math, run by Debian's PyTorch 1.13.

func readFixture(t testing.TB, name string) map[string]*tensor.Tensor {
	t.Helper()
	sd, _, err := safetensors.Load("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// closeTo reports the first element where got and want differ by more
// than atol + rtol·|want| (numpy's allclose), and the largest absolute
// difference and the largest relative one among elements of magnitude
// above 0.01.
func closeTo(got, want *tensor.Tensor, rtol, atol float64) (maxAbs, maxRel float64, err error) {
	if fmt.Sprint(got.Shape()) != fmt.Sprint(want.Shape()) {
		return 0, 0, fmt.Errorf("shape %v, want %v", got.Shape(), want.Shape())
	}
	g, w := got.Float64s(), want.Float64s()
	for i := range w {
		d := math.Abs(g[i] - w[i])
		maxAbs = max(maxAbs, d)
		if math.Abs(w[i]) > 0.01 {
			maxRel = max(maxRel, d/math.Abs(w[i]))
		}
		if !(d <= atol+rtol*math.Abs(w[i])) && err == nil {
			err = fmt.Errorf("element %d: %v, want %v (|Δ| %.3g)", i, g[i], w[i], d)
		}
	}
	return maxAbs, maxRel, err
}

func assertClose(t *testing.T, what string, got, want *tensor.Tensor, rtol, atol float64) {
	t.Helper()
	abs, rel, err := closeTo(got, want, rtol, atol)
	if err != nil {
		t.Errorf("%s: %v", what, err)
	} else {
		t.Logf("%s: largest |Δ| %.2g, largest relative error %.2g", what, abs, rel)
	}
}

func ints(t *tensor.Tensor) []int64 { return t.To(tensor.Int64).Int64s() }

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
