package main

import (
	"context"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tapir-ml/tapir/data"
)

// shortConfig is a small, fast configuration for the tests.
func shortConfig(t *testing.T) config {
	return config{Data: "synthetic", TrainSize: 960, Epochs: 2, Steps: 60, Batch: 32, NZ: 16, NGF: 8, NDF: 8,
		LR: 2e-3, Seed: 1, OutDir: t.TempDir()}
}

// TestShortRunSynthetic trains on generated blobs for a few dozen steps
// and checks that the loop does what a GAN's should: finite losses, a
// discriminator that learns to tell real from fake, a generator whose
// samples move toward the data, and a readable PNG grid per epoch.
func TestShortRunSynthetic(t *testing.T) {
	cfg := shortConfig(t)
	res, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != cfg.Steps || res.Epochs != 2 {
		t.Fatalf("ran %d steps in %d epochs, want %d in 2", len(res.Steps), res.Epochs, cfg.Steps)
	}
	for i, s := range res.Steps {
		for _, v := range []float64{s.LossD, s.LossG, s.AccD, s.DReal, s.DFake} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("step %d: %+v", i, s)
			}
		}
	}
	// An untrained discriminator (weights ~ N(0, 0.02²)) is at chance;
	// training must make it separate real from generated batches.
	accD := func(s stepStats) float64 { return s.AccD }
	start := avg(res.Steps[:3], accD)
	best := 0.0
	for i := 0; i+5 <= len(res.Steps); i++ {
		best = math.Max(best, avg(res.Steps[i:i+5], accD))
	}
	t.Logf("discriminator accuracy: first 3 steps %.2f, best 5 steps %.2f", start, best)
	if start > 0.7 || best < 0.9 {
		t.Errorf("the discriminator's accuracy did not move from chance: first 3 steps %.2f, best 5 steps %.2f", start, best)
	}
	// The generator starts near tanh(0) = 0 everywhere; blobs are mostly
	// dark background (−1).
	t.Logf("mean pixel: data %.3f, samples before %.3f, after %.3f", res.DataMean, res.SampleMean0, res.SampleMean)
	if math.Abs(res.SampleMean-res.DataMean) > 0.5*math.Abs(res.SampleMean0-res.DataMean) {
		t.Errorf("samples did not move toward the data: mean pixel %.3f → %.3f, data %.3f", res.SampleMean0, res.SampleMean, res.DataMean)
	}

	want := []string{"epoch-01.png", "epoch-02.png", "samples.png"}
	if len(res.Images) != len(want) {
		t.Fatalf("wrote %v, want %v", res.Images, want)
	}
	for i, p := range res.Images {
		if filepath.Base(p) != want[i] {
			t.Errorf("image %d is %s, want %s", i, p, want[i])
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if b := img.Bounds(); b.Dx() != 8*30+2 || b.Dy() != 8*30+2 {
			t.Errorf("%s is %v, want an 8×8 grid of 28-pixel images with 2-pixel gaps", p, b)
		}
	}
	for _, name := range []string{"generator.safetensors", "discriminator.safetensors"} {
		if _, err := os.Stat(filepath.Join(cfg.OutDir, name)); err != nil {
			t.Error(err)
		}
	}
}

// TestSameSeedSameRun: the run is reproducible from its seed.
func TestSameSeedSameRun(t *testing.T) {
	if testing.Short() {
		t.Skip("two more runs; skipped in -short mode")
	}
	cfg := shortConfig(t)
	cfg.Steps, cfg.OutDir = 8, ""
	a, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Steps {
		if a.Steps[i] != b.Steps[i] {
			t.Fatalf("step %d differs: %+v vs %+v", i, a.Steps[i], b.Steps[i])
		}
	}
}

// TestMissingDataIsAnError: without Fashion-MNIST the run stops with
// errNoData (main prints how to get it) rather than downloading.
func TestMissingDataIsAnError(t *testing.T) {
	cfg := shortConfig(t)
	cfg.Data = t.TempDir()
	cfg.cacheDir, cfg.systemDirs = t.TempDir(), []string{}
	_, err := run(context.Background(), cfg)
	if !errors.Is(err, errNoData) {
		t.Fatalf("got %v, want errNoData", err)
	}
}

// TestShortRunFashionMNIST takes a few steps on the real data when the
// Debian package is installed (CI installs it).
func TestShortRunFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("reads all 60000 images; skipped in -short mode")
	}
	if _, err := os.Stat(filepath.Join(data.DebianFashionMNISTDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
	}
	cfg := shortConfig(t)
	cfg.Data, cfg.TrainSize, cfg.Steps, cfg.Epochs = "", 2000, 30, 1
	cfg.systemDirs = []string{data.DebianFashionMNISTDir}
	res, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != cfg.Steps {
		t.Fatalf("ran %d steps, want %d", len(res.Steps), cfg.Steps)
	}
	// Fashion-MNIST is mostly black background: the mean pixel in [−1, 1]
	// is about −0.43.
	if res.DataMean > -0.3 || res.DataMean < -0.6 {
		t.Errorf("mean training pixel %.3f, want about −0.43", res.DataMean)
	}
	last := res.Steps[len(res.Steps)-1]
	if math.IsNaN(last.LossD) || math.IsNaN(last.LossG) {
		t.Fatalf("last step %+v", last)
	}
}
