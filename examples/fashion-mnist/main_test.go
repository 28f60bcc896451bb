package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/data"
)

// shortConfig is a run of a few steps on the embedded subset, so that the
// test needs neither the dataset nor a network.
func shortConfig(t *testing.T, steps int) config {
	dir := t.TempDir()
	return config{epochs: 2, batch: 16, workers: 2, steps: steps, lr: 1e-3, seed: 1, useSubset: true,
		checkpoint: filepath.Join(dir, "ck.safetensors"), plot: filepath.Join(dir, "curves.png"),
		tb: filepath.Join(dir, "tb"), evalBatch: 500, evalLimit: 500}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestShortRun trains 30 steps on the embedded subset and checks that the
// loss falls and every output is written.
func TestShortRun(t *testing.T) {
	c := shortConfig(t, 30)
	var stdout, stderr bytes.Buffer
	res, err := run(context.Background(), c, &stdout, &stderr, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if !res.onSubset || res.steps != 30 || len(res.losses) != 30 {
		t.Fatalf("onSubset %v, %d steps, %d losses; want true, 30, 30", res.onSubset, res.steps, len(res.losses))
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	first, last := mean(res.losses[:5]), mean(res.losses[25:])
	t.Logf("loss %.3f over the first 5 steps, %.3f over the last 5; test accuracy %.3f", first, last, res.testAcc)
	if !(last < 0.75*first) || math.IsNaN(last) {
		t.Errorf("the loss did not fall: %.3f over the first 5 steps, %.3f over the last 5", first, last)
	}
	if !(res.testAcc > 0.3) { // 10 classes: chance is 0.1
		t.Errorf("test accuracy %.3f after 30 steps", res.testAcc)
	}
	if !strings.Contains(stdout.String(), "bundled subset") {
		t.Errorf("the summary does not say it trained on the bundled subset:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "epoch 1/2: ") {
		t.Errorf("no progress lines on stderr:\n%s", stderr.String())
	}
	for _, p := range []string{c.checkpoint, c.plot} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
	if events, _ := filepath.Glob(filepath.Join(c.tb, "events.out.tfevents.*")); len(events) != 1 {
		t.Errorf("TensorBoard files %v, want one", events)
	}
}

// TestResume runs 12 steps straight, and 5 steps then 7 more resumed from
// the checkpoint (mid-epoch: 188 batches of 16 per epoch): the losses must
// be the same bits.
func TestResume(t *testing.T) {
	c := shortConfig(t, 12)
	c.plot, c.tb, c.evalLimit = "", "", 50
	want, err := run(context.Background(), c, io.Discard, io.Discard, quiet())
	if err != nil {
		t.Fatal(err)
	}
	c.steps = 5
	first, err := run(context.Background(), c, io.Discard, io.Discard, quiet())
	if err != nil {
		t.Fatal(err)
	}
	c.steps, c.resume = 12, true
	rest, err := run(context.Background(), c, io.Discard, io.Discard, quiet())
	if err != nil {
		t.Fatal(err)
	}
	got := append(first.losses, rest.losses...)
	if !slices.Equal(got, want.losses) {
		t.Errorf("resumed losses differ:\n got %v\nwant %v", got, want.losses)
	}
}

// TestInterruptSavesCheckpoint cancels a run after its fifth step, as
// Ctrl-C does: the run ends with the context's error but leaves a
// checkpoint, and resuming from it gives the uninterrupted run's remaining
// losses bit for bit.
func TestInterruptSavesCheckpoint(t *testing.T) {
	c := shortConfig(t, 12)
	c.plot, c.tb, c.evalLimit = "", "", 50
	want, err := run(context.Background(), c, io.Discard, io.Discard, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(c.checkpoint); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.afterStep = func(step int) {
		if step == 5 {
			cancel()
		}
	}
	if _, err := run(ctx, c, io.Discard, io.Discard, quiet()); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err %v, want context.Canceled", err)
	}
	c.afterStep, c.resume = nil, true
	rest, err := run(context.Background(), c, io.Discard, io.Discard, quiet())
	if err != nil {
		t.Fatal(err)
	}
	// The loader may hand over one more batch before it sees the
	// cancellation, so the checkpoint holds 5 or 6 steps.
	if n := len(rest.losses); n != 7 && n != 6 {
		t.Fatalf("resumed run trained %d steps, want 7 (or 6)", n)
	}
	if tail := want.losses[12-len(rest.losses):]; !slices.Equal(rest.losses, tail) {
		t.Errorf("resumed losses differ:\n got %v\nwant %v", rest.losses, tail)
	}
}

// TestFallbackToSubset: with no full dataset and no network, the program
// trains on the embedded subset and says so plainly, with how to get the
// full data.
func TestFallbackToSubset(t *testing.T) {
	defer func(f func(context.Context, data.MNISTConfig) (*data.MNISTDataset, error)) { loadFull = f }(loadFull)
	loadFull = func(context.Context, data.MNISTConfig) (*data.MNISTDataset, error) {
		return nil, errors.New("data: fashion-mnist: files not found, and downloading failed: no network")
	}
	c := shortConfig(t, 0)
	c.useSubset = false
	var stderr bytes.Buffer
	train, test, onSubset, err := loadData(context.Background(), c, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !onSubset || train.Len() != 3000 || test.Len() != 1000 {
		t.Errorf("onSubset %v, %d and %d images; want the embedded 3000 and 1000", onSubset, train.Len(), test.Len())
	}
	for _, want := range []string{"no network", "BUNDLED SUBSET", "apt-get install dataset-fashion-mnist", "network access"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the notice does not say %q:\n%s", want, stderr.String())
		}
	}
}

// TestEmbeddedSubset checks the bundled data: sizes, balance, license and
// the 2 MB budget.
func TestEmbeddedSubset(t *testing.T) {
	total := int64(0)
	err := fs.WalkDir(subset, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			total += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 2<<20 {
		t.Errorf("embedded files take %d bytes, over 2 MiB", total)
	}
	lic, err := subset.ReadFile("subset/LICENSE")
	if err != nil || !bytes.Contains(lic, []byte("Zalando SE")) || !bytes.Contains(lic, []byte("MIT")) {
		t.Errorf("subset/LICENSE: %v; want the dataset's MIT license", err)
	}
	for _, tc := range []struct {
		prefix string
		n      int
	}{{"train", 3000}, {"t10k", 1000}} {
		ds, err := readSubset(tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Len() != tc.n || ds.Rows != 28 || ds.Cols != 28 {
			t.Errorf("%s: %d images of %d×%d, want %d of 28×28", tc.prefix, ds.Len(), ds.Rows, ds.Cols, tc.n)
		}
		count := make([]int, 10)
		for _, l := range ds.Labels {
			count[l]++
		}
		for k, n := range count {
			if n != tc.n/10 {
				t.Errorf("%s: class %d has %d images, want %d", tc.prefix, k, n, tc.n/10)
			}
		}
	}
}

// TestSubsetMatchesDebian checks, where Debian's dataset-fashion-mnist is
// installed, that the subset is what make_subset.go says: the first 300
// training and 100 test images of each class, byte for byte.
func TestSubsetMatchesDebian(t *testing.T) {
	for _, tc := range []struct {
		train  bool
		prefix string
		per    int
	}{{true, "train", 300}, {false, "t10k", 100}} {
		full, err := data.LoadFashionMNIST(context.Background(), data.MNISTConfig{Train: tc.train, NoDownload: true,
			CacheDir: t.TempDir(), SystemDirs: []string{data.DebianFashionMNISTDir}})
		if err != nil {
			t.Skipf("Debian's dataset-fashion-mnist is not installed: %v", err)
		}
		sub, err := readSubset(tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		count := make([]int, 10)
		k := 0
		for i, l := range full.Labels {
			if count[l] == tc.per {
				continue
			}
			count[l]++
			if k >= sub.Len() || sub.Labels[k] != l || !bytes.Equal(sub.Image(k), full.Image(i)) {
				t.Fatalf("%s: subset image %d is not full image %d", tc.prefix, k, i)
			}
			k++
		}
		if k != sub.Len() {
			t.Errorf("%s: subset has %d images, want %d", tc.prefix, sub.Len(), k)
		}
	}
}

// TestElastic: with alpha 0 the distortion is the identity; otherwise it
// moves pixels, keeps the shape, depends only on the random source, and
// the smoothing kernel sums to 1.
func TestElastic(t *testing.T) {
	ds, err := readSubset("t10k")
	if err != nil {
		t.Fatal(err)
	}
	img, _ := ds.At(0)
	rng := func() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
	same, err := newElastic(0, 3).Apply(img.Input, rng())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(same.Float32s(), img.Input.Float32s()) {
		t.Error("alpha 0 changed the image")
	}
	e := newElastic(8, 3)
	sum := 0.0
	for _, k := range e.kernel {
		sum += k
	}
	if len(e.kernel) != 19 || math.Abs(sum-1) > 1e-12 {
		t.Errorf("kernel of %d taps summing to %v, want 19 summing to 1", len(e.kernel), sum)
	}
	a, _ := e.Apply(img.Input, rng())
	b, _ := e.Apply(img.Input, rng())
	if !slices.Equal(a.Shape(), []int{1, 28, 28}) || !slices.Equal(a.Float32s(), b.Float32s()) {
		t.Errorf("shape %v, or two draws from one seed differ", a.Shape())
	}
	if slices.Equal(a.Float32s(), img.Input.Float32s()) {
		t.Error("alpha 8 left the image as it was")
	}
}
