package nn_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	tensor.ManualSeed(1)
	src := nn.NewSequential(nn.NewConv2d(2, 3, 3), nn.NewBatchNorm2d(3), nn.NewReLU())
	// Make the running statistics non-trivial.
	src.Forward(tensor.Randn(4, 2, 5, 5))
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := nn.Save(path, src); err != nil {
		t.Fatal(err)
	}
	dst := nn.NewSequential(nn.NewConv2d(2, 3, 3), nn.NewBatchNorm2d(3), nn.NewReLU())
	if err := nn.Load(path, dst); err != nil {
		t.Fatal(err)
	}
	want, got := nn.StateDict(src), nn.StateDict(dst)
	for _, k := range nn.StateDictKeys(src) {
		if got[k].DType() != want[k].DType() || !slices.Equal(got[k].Float64s(), want[k].Float64s()) {
			t.Errorf("%s: loaded %v, saved %v", k, got[k], want[k])
		}
	}
	// A model that does not fit gets a LoadError naming the key.
	other := nn.NewSequential(nn.NewConv2d(2, 4, 3), nn.NewBatchNorm2d(3), nn.NewReLU())
	var le *nn.LoadError
	if err := nn.Load(path, other); !errors.As(err, &le) || len(le.Mismatched) != 2 {
		t.Errorf("mismatched load: %v", err)
	}
}

func TestLoadMalformedFile(t *testing.T) {
	dir := t.TempDir()
	m := nn.NewLinear(2, 2)
	good := filepath.Join(dir, "good.safetensors")
	if err := nn.Save(good, m); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":     nil,
		"truncated": b[:len(b)-3],
		"header":    b[:20],
		"garbage":   []byte("not a safetensors file at all"),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := nn.Load(p, m); err == nil {
			t.Errorf("%s: loading a malformed file succeeded", name)
		}
	}
	if err := nn.Load(filepath.Join(dir, "absent"), m); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}

func TestSaveIsAtomic(t *testing.T) {
	dir := t.TempDir()
	// The final rename fails when the target is a non-empty directory:
	// Save reports it and leaves no temporary file behind.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := nn.Save(blocked, nn.NewLinear(3, 2)); err == nil {
		t.Fatal("save over a directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("failed save left files behind: %v", entries)
	}

	if os.Geteuid() == 0 {
		return // root writes into read-only directories anyway
	}
	path := filepath.Join(dir, "m.safetensors")
	if err := nn.Save(path, nn.NewLinear(3, 2)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if err := nn.Save(path, nn.NewLinear(3, 2)); err == nil {
		t.Fatal("save into a read-only directory succeeded")
	}
	if after, _ := os.ReadFile(path); !slices.Equal(before, after) {
		t.Error("failed save changed the existing file")
	}
}
