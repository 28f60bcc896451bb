package data

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/tapir-ml/tapir/tensor"
)

// mnistSet describes one dataset in the MNIST file layout.
type mnistSet struct {
	name      string // in messages and the cache path
	torchName string // torchvision's folder: ROOT/<torchName>/raw
	mirrors   []string
	md5       map[string]string // by file name (.gz)
	system    []string
	classes   []string
}

// The Fashion-MNIST mirrors and checksums are those of the dataset's README
// (github.com/zalandoresearch/fashion-mnist, "Get the Data"; Debian ships
// it as /usr/share/doc/dataset-fashion-mnist/README.md.gz), where the MD5
// sums are published beside the S3 links; torchvision 0.14
// (torchvision/datasets/mnist.py, class FashionMNIST) lists the same sums.
// The GitHub copy is the repository's data/fashion folder, which the README
// names as the alternative source; it is tried first because it is served
// over HTTPS. The checksums are of the .gz files as published: Debian's
// dataset-fashion-mnist recompresses them (same content, other .gz bytes),
// so files found on disk are not checked against them.
var fashionMNIST = mnistSet{
	name:      "fashion-mnist",
	torchName: "FashionMNIST",
	mirrors: []string{
		"https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
		"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
	},
	md5: map[string]string{
		"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
		"train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
		"t10k-images-idx3-ubyte.gz":  "bef4ecab320f06d8554ea6380940ec79",
		"t10k-labels-idx1-ubyte.gz":  "bb300cfdad3c16e7a12a480ee83cd310",
	},
	system: []string{DebianFashionMNISTDir},
	classes: []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
}

// The MNIST mirrors and checksums are torchvision 0.14's
// (torchvision/datasets/mnist.py, class MNIST: MNIST.mirrors and
// MNIST.resources), the PyTorch project's S3 copy first, then Yann LeCun's
// original site.
var mnistDigits = mnistSet{
	name:      "mnist",
	torchName: "MNIST",
	mirrors: []string{
		"https://ossci-datasets.s3.amazonaws.com/mnist/",
		"http://yann.lecun.com/exdb/mnist/",
	},
	md5: map[string]string{
		"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
		"train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
		"t10k-images-idx3-ubyte.gz":  "9fb629c4189551a2d022fa330f9573f3",
		"t10k-labels-idx1-ubyte.gz":  "ec29112dd5afa0611ce80d1b7f02629c",
	},
	classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
}

// DebianFashionMNISTDir is where Debian's dataset-fashion-mnist package
// installs the four .gz files (apt-get install dataset-fashion-mnist).
const DebianFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// MNISTConfig says where LoadFashionMNIST and LoadMNIST look for the data
// and how they download it. The zero value looks in the user cache
// directory and the system's install path, and downloads silently into the
// cache when the files are in neither.
type MNISTConfig struct {
	// Dir is searched first, for the files themselves or torchvision's
	// layout Dir/FashionMNIST/raw (Dir/MNIST/raw). Empty skips it.
	Dir string
	// Train selects the training split (60000 images) instead of the test
	// split (10000).
	Train bool
	// CacheDir is searched second and receives downloads; empty means
	// os.UserCacheDir()/tapir/fashion-mnist (…/tapir/mnist).
	CacheDir string
	// SystemDirs are searched last; nil means DebianFashionMNISTDir for
	// Fashion-MNIST and none for MNIST.
	SystemDirs []string
	// NoDownload reports an error instead of downloading missing files.
	NoDownload bool
	// Mirrors are base URLs tried in order for each file; nil means the
	// dataset's official ones.
	Mirrors []string
	// MD5 maps each .gz file name to the hex MD5 a download must have;
	// nil means the published checksums.
	MD5 map[string]string
	// Progress receives a progress line for each download (nil: none). On
	// a terminal the line is redrawn in place; elsewhere it is repeated at
	// every tenth.
	Progress io.Writer
	// Client makes the downloads; nil means http.DefaultClient.
	Client *http.Client
}

// MNISTDataset is a split of MNIST or Fashion-MNIST in memory. Sample i is
// its image as a Float32 tensor [1, Rows, Cols] with values in [0, 1]
// (pixel/255, as torchvision's ToTensor) and its class as a 0-d Int64
// tensor. Images and Labels are the raw bytes, for batching without a
// tensor per sample (see Batch).
type MNISTDataset struct {
	// Images holds Len() images of Rows×Cols bytes, one after another,
	// each row-major; 0 is background.
	Images []uint8
	// Labels holds the class index of each image.
	Labels     []uint8
	Rows, Cols int
	// Classes names the classes by index.
	Classes []string
	// Dir is the directory the files were read from.
	Dir string
}

// FashionMNIST returns the training (train) or test split of Zalando's
// Fashion-MNIST. It looks for the files train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each gzip-compressed (.gz) or not, in dir (when
// not empty, also in torchvision's dir/FashionMNIST/raw), then in
// os.UserCacheDir()/tapir/fashion-mnist, then in Debian's install path
// DebianFashionMNISTDir. When none has them it downloads them from the
// dataset's official mirrors into the cache directory, verifying their
// published MD5 checksums, with a progress line on standard error. See
// LoadFashionMNIST for control over each step.
func FashionMNIST(dir string, train bool) (*MNISTDataset, error) {
	return LoadFashionMNIST(context.Background(), MNISTConfig{Dir: dir, Train: train, Progress: os.Stderr})
}

// MNIST returns the training or test split of LeCun's handwritten digits,
// found or downloaded as FashionMNIST does (there is no system install
// path; the cache directory is os.UserCacheDir()/tapir/mnist).
func MNIST(dir string, train bool) (*MNISTDataset, error) {
	return LoadMNIST(context.Background(), MNISTConfig{Dir: dir, Train: train, Progress: os.Stderr})
}

// LoadFashionMNIST is FashionMNIST with every choice in cfg; ctx bounds a
// download.
func LoadFashionMNIST(ctx context.Context, cfg MNISTConfig) (*MNISTDataset, error) {
	return loadMNIST(ctx, fashionMNIST, cfg)
}

// LoadMNIST is MNIST with every choice in cfg; ctx bounds a download.
func LoadMNIST(ctx context.Context, cfg MNISTConfig) (*MNISTDataset, error) {
	return loadMNIST(ctx, mnistDigits, cfg)
}

func loadMNIST(ctx context.Context, set mnistSet, cfg MNISTConfig) (*MNISTDataset, error) {
	prefix := "t10k"
	if cfg.Train {
		prefix = "train"
	}
	files := []string{prefix + "-images-idx3-ubyte", prefix + "-labels-idx1-ubyte"}

	var dirs []string
	if cfg.Dir != "" {
		dirs = append(dirs, cfg.Dir, filepath.Join(cfg.Dir, set.torchName, "raw"))
	}
	cache := cfg.CacheDir
	if cache == "" {
		if base, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(base, "tapir", set.name)
		}
	}
	if cache != "" {
		dirs = append(dirs, cache)
	}
	system := cfg.SystemDirs
	if system == nil {
		system = set.system
	}
	dirs = append(dirs, system...)

	for _, dir := range dirs {
		paths, ok := findFiles(dir, files)
		if ok {
			return readMNIST(set, dir, paths)
		}
	}
	where := strings.Join(dirs, ", ")
	if cfg.NoDownload {
		return nil, fmt.Errorf("data: %s: %s(.gz) and %s(.gz) not found in %s, and downloading is off", set.name, files[0], files[1], where)
	}
	if cache == "" {
		return nil, fmt.Errorf("data: %s: files not found in %s, and there is no cache directory to download them to (set MNISTConfig.CacheDir)", set.name, where)
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("data: %s: %w", set.name, err)
	}
	mirrors, sums := cfg.Mirrors, cfg.MD5
	if mirrors == nil {
		mirrors = set.mirrors
	}
	if sums == nil {
		sums = set.md5
	}
	client := cfg.Client
	if client == nil {
		client = http.DefaultClient
	}
	paths := make([]string, len(files))
	for i, f := range files {
		if p, ok := findFiles(cache, []string{f}); ok { // one of the two may be there
			paths[i] = p[0]
			continue
		}
		name := f + ".gz"
		sum, ok := sums[name]
		if !ok {
			return nil, fmt.Errorf("data: %s: no checksum for %s", set.name, name)
		}
		dst := filepath.Join(cache, name)
		if err := download(ctx, client, mirrors, name, sum, dst, cfg.Progress); err != nil {
			return nil, fmt.Errorf("data: %s: %s not found in %s, and downloading it failed: %w", set.name, f, where, err)
		}
		paths[i] = dst
	}
	return readMNIST(set, cache, paths)
}

// findFiles returns the path of each base name in dir, plain or .gz, and
// whether all are there.
func findFiles(dir string, bases []string) ([]string, bool) {
	out := make([]string, len(bases))
	for i, b := range bases {
		for _, name := range []string{b, b + ".gz"} {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				out[i] = p
				break
			}
		}
		if out[i] == "" {
			return nil, false
		}
	}
	return out, true
}

// download fetches name from the first mirror that serves it with the
// right MD5 and renames it to dst; nothing is left at dst (or beside it)
// when every mirror fails.
func download(ctx context.Context, client *http.Client, mirrors []string, name, sum, dst string, out io.Writer) error {
	if len(mirrors) == 0 {
		return errors.New("no mirrors")
	}
	var errs []error
	for _, m := range mirrors {
		url := strings.TrimSuffix(m, "/") + "/" + name
		err := fetch(ctx, client, url, sum, dst, out)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", url, err))
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// ErrChecksum is wrapped by the error of a download whose checksum differs
// from the published one.
var ErrChecksum = errors.New("checksum mismatch")

func fetch(ctx context.Context, client *http.Client, url, sum, dst string, out io.Writer) (err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.part")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	p := newProgress(out, "downloading "+url, resp.ContentLength)
	h := md5.New()
	var w io.Writer = io.MultiWriter(tmp, h)
	if p != nil {
		w = io.MultiWriter(tmp, h, p)
	}
	_, err = io.Copy(w, resp.Body)
	p.finish(err)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, sum) {
		return fmt.Errorf("%w: MD5 %s, want %s", ErrChecksum, got, sum)
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func readMNIST(set mnistSet, dir string, paths []string) (*MNISTDataset, error) {
	img, err := ReadIDXFile(paths[0])
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", set.name, err)
	}
	lab, err := ReadIDXFile(paths[1])
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", set.name, err)
	}
	if img.Type != IDXUint8 || len(img.Shape) != 3 {
		return nil, fmt.Errorf("data: %s: %s holds %v of shape %v, want uint8 images [N, rows, cols]", set.name, paths[0], img.Type, img.Shape)
	}
	if lab.Type != IDXUint8 || len(lab.Shape) != 1 {
		return nil, fmt.Errorf("data: %s: %s holds %v of shape %v, want uint8 labels [N]", set.name, paths[1], lab.Type, lab.Shape)
	}
	if img.Shape[0] != lab.Shape[0] {
		return nil, fmt.Errorf("data: %s: %d images (%s) but %d labels (%s)", set.name, img.Shape[0], paths[0], lab.Shape[0], paths[1])
	}
	for i, l := range lab.Data {
		if int(l) >= len(set.classes) {
			return nil, fmt.Errorf("data: %s: %s: label %d of sample %d is not a class index (0…%d)", set.name, paths[1], l, i, len(set.classes)-1)
		}
	}
	return &MNISTDataset{
		Images:  img.Data,
		Labels:  lab.Data,
		Rows:    img.Shape[1],
		Cols:    img.Shape[2],
		Classes: set.classes,
		Dir:     dir,
	}, nil
}

// Len returns the number of images.
func (d *MNISTDataset) Len() int { return len(d.Labels) }

// At returns image i as a Float32 tensor [1, Rows, Cols] in [0, 1] and its
// label as a 0-d Int64 tensor.
func (d *MNISTDataset) At(i int) (Sample, error) {
	if err := checkIndex(i, d.Len()); err != nil {
		return Sample{}, err
	}
	px := d.Rows * d.Cols
	v := make([]float32, px)
	for k, b := range d.Images[i*px : (i+1)*px] {
		v[k] = float32(b) / 255
	}
	return Sample{Input: tensor.FromSlice(v, 1, d.Rows, d.Cols), Target: Label(int(d.Labels[i]))}, nil
}

// Image returns the raw bytes of image i (Rows×Cols, row-major), sharing
// Images' storage.
func (d *MNISTDataset) Image(i int) []uint8 {
	px := d.Rows * d.Cols
	return d.Images[i*px : (i+1)*px : (i+1)*px]
}

// Batch returns the samples at indices already stacked, Input [B, 1, Rows,
// Cols] Float32 in [0, 1] and Target [B] Int64, straight from the raw
// bytes: the same batch StackSamples makes of At's samples, without a
// tensor per sample. Use it as the collate function of a Loader over
// Indices(d.Len()).
func (d *MNISTDataset) Batch(indices []int) (Sample, error) {
	px := d.Rows * d.Cols
	v := make([]float32, len(indices)*px)
	labels := make([]int64, len(indices))
	for k, i := range indices {
		if err := checkIndex(i, d.Len()); err != nil {
			return Sample{}, err
		}
		dst := v[k*px : (k+1)*px]
		for j, b := range d.Images[i*px : (i+1)*px] {
			dst[j] = float32(b) / 255
		}
		labels[k] = int64(d.Labels[i])
	}
	return Sample{Input: tensor.FromSlice(v, len(indices), 1, d.Rows, d.Cols), Target: tensor.FromSlice(labels)}, nil
}
