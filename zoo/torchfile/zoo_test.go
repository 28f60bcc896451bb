package torchfile_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/tensor/safetensors"
	"github.com/tapir-ml/tapir/zoo"
)

// TestZooWeights checks the zoo package's format functions: LoadWeights
// tells the formats apart by content, whatever the file's name, and the
// savers write what the loaders read.
func TestZooWeights(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ fixture, first string }{
		{"dtypes.pt", "layer1.0.conv1.weight"},
		{"dtypes_legacy.pt", "layer1.0.conv1.weight"},
		{"proto4_legacy.pt", "fc.weight"}, // a legacy file that starts with a FRAME
		{"resnet18w8.safetensors", "conv1.weight"},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", c.fixture))
		if err != nil {
			t.Fatal(err)
		}
		renamed := filepath.Join(dir, "weights.bin")
		if err := os.WriteFile(renamed, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sd, order, err := zoo.LoadWeights(renamed)
		if err != nil {
			t.Fatalf("%s: %v", c.fixture, err)
		}
		if order[0] != c.first || len(sd) != len(order) {
			t.Errorf("%s: first key %q of %d", c.fixture, order[0], len(order))
		}
	}

	sd := map[string]*tensor.Tensor{"b": tensor.Ones(2), "a": tensor.Zeros(3), "c": tensor.Scalar(1)}
	st := filepath.Join(dir, "w.safetensors")
	if err := zoo.SaveSafetensors(st, sd); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(st)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Names(), []string{"a", "b", "c"}) {
		t.Errorf("SaveSafetensors wrote the names %q, not sorted", f.Names())
	}
	f.Close()
	if err := zoo.SaveSafetensorsOrdered(st, sd, []string{"c", "a", "b"}); err != nil {
		t.Fatal(err)
	}
	if _, order, err := zoo.LoadWeights(st); err != nil || !slices.Equal(order, []string{"c", "a", "b"}) {
		t.Errorf("SaveSafetensorsOrdered: %q, %v", order, err)
	}
	pt := filepath.Join(dir, "w.pt")
	if err := zoo.SaveTorch(pt, sd, nil); err != nil {
		t.Fatal(err)
	}
	if back, err := zoo.LoadTorch(pt); err != nil || differ(back, sd) != "" {
		t.Errorf("SaveTorch then LoadTorch: %v", err)
	}

	for _, c := range []struct {
		load func(string) (map[string]*tensor.Tensor, error)
		file string
	}{
		{zoo.LoadTorch, "list.pt"},
		{zoo.LoadTorch, "missing.pt"},
		{zoo.LoadSafetensors, "dtypes.pt"},
		{zoo.LoadSafetensors, "missing.safetensors"},
	} {
		if _, err := c.load(filepath.Join("testdata", c.file)); err == nil || !strings.HasPrefix(err.Error(), "zoo: ") {
			t.Errorf("%s: error %v, want one starting with \"zoo: \"", c.file, err)
		}
	}
	if err := zoo.SaveTorch(pt, map[string]*tensor.Tensor{"x": nil}, nil); err == nil || !strings.HasPrefix(err.Error(), "zoo: ") {
		t.Errorf("SaveTorch of a nil tensor: %v", err)
	}
}
