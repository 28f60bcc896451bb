package data

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

func debianFashion(t *testing.T) {
	t.Helper()
	for _, f := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		if _, err := os.Stat(filepath.Join(DebianFashionMNISTDir, f)); err != nil {
			t.Skipf("Fashion-MNIST is not installed in %s (apt-get install dataset-fashion-mnist): %v", DebianFashionMNISTDir, err)
		}
	}
}

// TestFashionMNISTDebian reads Debian's dataset-fashion-mnist and checks it
// against facts a gzip+numpy reader wrote (testdata/gen_fixtures.py).
func TestFashionMNISTDebian(t *testing.T) {
	debianFashion(t)
	fx := loadFixtures(t).FashionMNIST
	if fx == nil {
		t.Fatal("fixtures.json has no fashion_mnist section; run testdata/gen_fixtures.py with the dataset installed")
	}
	for _, c := range []struct {
		name  string
		train bool
		want  fashionSplit
	}{{"train", true, fx.Train}, {"test", false, fx.Test}} {
		t.Run(c.name, func(t *testing.T) {
			// an empty cache and no download: the Debian path must be found
			ds, err := LoadFashionMNIST(context.Background(), MNISTConfig{Train: c.train, CacheDir: t.TempDir(), NoDownload: true})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Dir != DebianFashionMNISTDir {
				t.Fatalf("read from %s", ds.Dir)
			}
			if ds.Len() != c.want.Count || ds.Rows != 28 || ds.Cols != 28 {
				t.Fatalf("%d images of %d×%d, want %d of 28×28", ds.Len(), ds.Rows, ds.Cols, c.want.Count)
			}
			hist := make([]int, 10)
			for _, l := range ds.Labels {
				hist[l]++
			}
			if !slices.Equal(hist, c.want.Histogram) {
				t.Fatalf("label histogram %v, want %v", hist, c.want.Histogram)
			}
			for i, l := range c.want.FirstLabels {
				if int(ds.Labels[i]) != l {
					t.Fatalf("label %d = %d, want %d", i, ds.Labels[i], l)
				}
			}
			for _, p := range c.want.Probes {
				if got := ds.Image(p.Index)[p.Row*28+p.Col]; int(got) != p.Value {
					t.Fatalf("image %d pixel (%d,%d) = %d, want %d", p.Index, p.Row, p.Col, got, p.Value)
				}
			}
			sum := 0.0
			for _, b := range ds.Images {
				sum += float64(b)
			}
			if mean := sum / float64(len(ds.Images)) / 255; math.Abs(mean-c.want.Mean) > 1e-9 {
				t.Fatalf("mean pixel %v, want %v", mean, c.want.Mean)
			}
			// samples as tensors: [1, 28, 28] in [0, 1], labels Int64
			for k, i := range c.want.Picks {
				s, err := ds.At(i)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(s.Input.Shape(), []int{1, 28, 28}) || s.Target.Dim() != 0 || int(s.Target.Item()) != c.want.PickLabels[k] {
					t.Fatalf("sample %d: input %v, target %v", i, s.Input.Shape(), s.Target)
				}
				if got := s.Input.Sum().Item() * 255; math.Abs(got-float64(c.want.PickSums[k])) > 0.05 {
					t.Fatalf("sample %d: pixel sum %v, want %d", i, got, c.want.PickSums[k])
				}
			}
			for _, p := range c.want.Probes[:5] {
				s, _ := ds.At(p.Index)
				if got := s.Input.At(0, p.Row, p.Col); math.Abs(got-float64(p.Value)/255) > 1e-7 {
					t.Fatalf("tensor pixel %v, want %d/255", got, p.Value)
				}
			}
			// Batch is StackSamples of At
			idx := []int{c.want.Picks[3], 0, c.want.Picks[6]}
			fast, err := ds.Batch(idx)
			if err != nil {
				t.Fatal(err)
			}
			var samples []Sample
			for _, i := range idx {
				s, _ := ds.At(i)
				samples = append(samples, s)
			}
			slow, _ := StackSamples(samples)
			if !slices.Equal(fast.Input.Shape(), []int{3, 1, 28, 28}) || !slices.Equal(fast.Input.Float32s(), slow.Input.Float32s()) || !slices.Equal(fast.Target.Int64s(), slow.Target.Int64s()) {
				t.Fatal("Batch differs from StackSamples of At")
			}
		})
	}
}

// writeSet writes a tiny MNIST-layout split: n images of 2×3 pixels, all
// equal to marker, with labels i mod 10.
func writeSet(t *testing.T, dir, prefix string, n int, marker byte, compress bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	img, lab := setFiles(n, marker)
	suffix := ""
	if compress {
		img, lab, suffix = gz(img), gz(lab), ".gz"
	}
	os.WriteFile(filepath.Join(dir, prefix+"-images-idx3-ubyte"+suffix), img, 0o644)
	os.WriteFile(filepath.Join(dir, prefix+"-labels-idx1-ubyte"+suffix), lab, 0o644)
}

func setFiles(n int, marker byte) (img, lab []byte) {
	img = []byte{0, 0, 8, 3, 0, 0, 0, byte(n), 0, 0, 0, 2, 0, 0, 0, 3}
	img = append(img, bytes.Repeat([]byte{marker}, 6*n)...)
	lab = []byte{0, 0, 8, 1, 0, 0, 0, byte(n)}
	for i := range n {
		lab = append(lab, byte(i%10))
	}
	return
}

func TestMNISTSearchOrder(t *testing.T) {
	root := t.TempDir()
	dir, cache, sys := filepath.Join(root, "dir"), filepath.Join(root, "cache"), filepath.Join(root, "sys")
	writeSet(t, dir, "train", 3, 1, false)
	writeSet(t, cache, "train", 3, 2, true)
	writeSet(t, sys, "train", 3, 3, true)
	writeSet(t, filepath.Join(root, "torch", "FashionMNIST", "raw"), "train", 3, 4, false)
	writeSet(t, sys, "t10k", 2, 5, false)
	cases := []struct {
		name   string
		cfg    MNISTConfig
		marker byte
		n      int
	}{
		{"dir first", MNISTConfig{Dir: dir, Train: true, CacheDir: cache, SystemDirs: []string{sys}}, 1, 3},
		{"then cache", MNISTConfig{Dir: filepath.Join(root, "none"), Train: true, CacheDir: cache, SystemDirs: []string{sys}}, 2, 3},
		{"then system", MNISTConfig{Train: true, CacheDir: filepath.Join(root, "empty"), SystemDirs: []string{sys}}, 3, 3},
		{"torchvision layout", MNISTConfig{Dir: filepath.Join(root, "torch"), Train: true, CacheDir: cache}, 4, 3},
		{"test split", MNISTConfig{Dir: dir, CacheDir: cache, SystemDirs: []string{sys}}, 5, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.NoDownload = true
			ds, err := LoadFashionMNIST(context.Background(), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != c.n || ds.Images[0] != c.marker || ds.Rows != 2 || ds.Cols != 3 {
				t.Fatalf("%d images with marker %d from %s; want %d with %d", ds.Len(), ds.Images[0], ds.Dir, c.n, c.marker)
			}
		})
	}
	_, err := LoadMNIST(context.Background(), MNISTConfig{Dir: filepath.Join(root, "none"), CacheDir: filepath.Join(root, "empty"), NoDownload: true})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("nothing anywhere, no download: %v", err)
	}
}

func TestMNISTBadFiles(t *testing.T) {
	dir := t.TempDir()
	img, _ := setFiles(3, 1)
	_, lab := setFiles(4, 1)
	os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte"), img, 0o644)
	os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), lab, 0o644)
	_, err := LoadFashionMNIST(context.Background(), MNISTConfig{Dir: dir, Train: true, NoDownload: true, CacheDir: dir})
	if err == nil || !strings.Contains(err.Error(), "3 images") {
		t.Fatalf("3 images, 4 labels: %v", err)
	}
	_, lab = setFiles(3, 1)
	lab[len(lab)-1] = 10 // not a class
	os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), lab, 0o644)
	if _, err := LoadFashionMNIST(context.Background(), MNISTConfig{Dir: dir, Train: true, NoDownload: true, CacheDir: dir}); err == nil {
		t.Fatal("label 10: no error")
	}
}

// mirror serves files by name and counts requests.
func mirror(t *testing.T, files map[string][]byte) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestMNISTDownload(t *testing.T) {
	img, lab := setFiles(7, 9)
	img, lab = gz(img), gz(lab)
	srv, hits := mirror(t, map[string][]byte{
		"/good/train-images-idx3-ubyte.gz": img,
		"/good/train-labels-idx1-ubyte.gz": lab,
		"/bad/train-images-idx3-ubyte.gz":  append(append([]byte(nil), img...), 0), // corrupted copy
		"/bad/train-labels-idx1-ubyte.gz":  lab,
	})
	sums := map[string]string{"train-images-idx3-ubyte.gz": md5hex(img), "train-labels-idx1-ubyte.gz": md5hex(lab)}
	cache := filepath.Join(t.TempDir(), "cache")
	var progress bytes.Buffer
	cfg := MNISTConfig{
		Train:      true,
		CacheDir:   cache,
		SystemDirs: []string{},
		Mirrors:    []string{srv.URL + "/missing/", srv.URL + "/bad", srv.URL + "/good/"},
		MD5:        sums,
		Progress:   &progress,
	}
	ds, err := LoadMNIST(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 7 || ds.Images[0] != 9 || ds.Dir != cache {
		t.Fatalf("downloaded %d images from %s", ds.Len(), ds.Dir)
	}
	entries, _ := os.ReadDir(cache)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}) {
		t.Fatalf("cache holds %v", names)
	}
	if out := progress.String(); !strings.Contains(out, "downloading "+srv.URL+"/good/train-images-idx3-ubyte.gz") || !strings.Contains(out, "100%") || strings.Contains(out, "\r") {
		t.Fatalf("progress output:\n%s", out)
	}
	// the second load finds the cache and asks no mirror
	before := hits.Load()
	if _, err := LoadMNIST(context.Background(), cfg); err != nil || hits.Load() != before {
		t.Fatalf("second load: %v, %d requests", err, hits.Load()-before)
	}
}

func TestMNISTDownloadChecksumMismatch(t *testing.T) {
	img, lab := setFiles(2, 1)
	srv, _ := mirror(t, map[string][]byte{"/m/t10k-images-idx3-ubyte.gz": gz(img), "/m/t10k-labels-idx1-ubyte.gz": gz(lab)})
	cache := t.TempDir()
	_, err := LoadFashionMNIST(context.Background(), MNISTConfig{
		CacheDir:   cache,
		SystemDirs: []string{},
		Mirrors:    []string{srv.URL + "/m/"},
		MD5:        map[string]string{"t10k-images-idx3-ubyte.gz": strings.Repeat("0", 32), "t10k-labels-idx1-ubyte.gz": md5hex(gz(lab))},
	})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("error %v, want ErrChecksum", err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Fatalf("files left behind: %v", entries)
	}
}

func TestMNISTDownloadCancelled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 100))
		w.(http.Flusher).Flush()
		select { // stall mid-body until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	cache := t.TempDir()
	errc := make(chan error)
	go func() {
		_, err := LoadFashionMNIST(ctx, MNISTConfig{CacheDir: cache, SystemDirs: []string{}, Mirrors: []string{srv.URL}})
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Fatalf("files left behind: %v", entries)
	}
}

func TestPublishedChecksums(t *testing.T) {
	for _, set := range []mnistSet{fashionMNIST, mnistDigits} {
		for _, prefix := range []string{"train", "t10k"} {
			for _, kind := range []string{"images-idx3", "labels-idx1"} {
				sum := set.md5[prefix+"-"+kind+"-ubyte.gz"]
				if _, err := hex.DecodeString(sum); err != nil || len(sum) != 32 {
					t.Errorf("%s: %s-%s: checksum %q is not an MD5", set.name, prefix, kind, sum)
				}
			}
		}
	}
}

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "job", 1000)
	for range 100 {
		p.add(10)
	}
	p.finish(nil)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// one line per tenth (0% … 100%) and the closing one
	if len(lines) != 12 || !strings.HasPrefix(lines[10], "job: 100%") || !strings.HasPrefix(lines[11], "job: done") {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
}
