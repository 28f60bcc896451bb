package data

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decoders for ImageFolder
	_ "image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/tapir-ml/tapir/tensor"
)

// ToTensor converts an image to a Float32 tensor [C, H, W] with values in
// [0, 1] (each 8-bit sample divided by 255), as torchvision's ToTensor:
// grayscale images (image.Gray, image.Gray16) give one channel, all others
// three (RGB, with any alpha dropped: the colour is taken
// non-premultiplied, as PIL's convert("RGB") does).
func ToTensor(img image.Image) *tensor.Tensor {
	switch img.(type) {
	case *image.Gray, *image.Gray16:
		return ToTensorGray(img)
	}
	return ToTensorRGB(img)
}

// ToTensorGray converts an image to a Float32 tensor [1, H, W] in [0, 1],
// turning colour into luma as PIL's convert("L") does: ITU-R 601-2 weights
// on the non-premultiplied 8-bit colour, (19595·R + 38470·G + 7471·B +
// 2¹⁵) >> 16, alpha dropped.
func ToTensorGray(img image.Image) *tensor.Tensor {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	v := make([]float32, h*w)
	if g, ok := img.(*image.Gray); ok {
		for y := 0; y < h; y++ {
			row := g.Pix[y*g.Stride : y*g.Stride+w]
			for x, p := range row {
				v[y*w+x] = float32(p) / 255
			}
		}
		return tensor.FromSlice(v, 1, h, w)
	}
	rgb := ToTensorRGB(img).Float32s()
	n := h * w
	for i := range v {
		r, g, bl := uint32(rgb[i]*255+0.5), uint32(rgb[n+i]*255+0.5), uint32(rgb[2*n+i]*255+0.5)
		v[i] = float32((19595*r+38470*g+7471*bl+1<<15)>>16) / 255
	}
	return tensor.FromSlice(v, 1, h, w)
}

// ToTensorRGB converts an image to a Float32 tensor [3, H, W] in [0, 1];
// grayscale is repeated in the three channels and alpha is dropped.
func ToTensorRGB(img image.Image) *tensor.Tensor {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	n := h * w
	v := make([]float32, 3*n)
	set := func(y, x int, r, g, bl uint8) {
		i := y*w + x
		v[i], v[n+i], v[2*n+i] = float32(r)/255, float32(g)/255, float32(bl)/255
	}
	switch m := img.(type) {
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := m.Pix[y*m.Stride+4*x:]
				set(y, x, p[0], p[1], p[2])
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := m.Pix[y*m.Stride+x]
				set(y, x, p, p, p)
			}
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := m.YCbCrAt(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				set(y, x, r, g, bl)
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				set(y, x, c.R, c.G, c.B)
			}
		}
	}
	return tensor.FromSlice(v, 3, h, w)
}

// ToImage converts a tensor [1, H, W] or [3, H, W] with values in [0, 1]
// (clamped) to an *image.Gray or an *image.NRGBA, rounding to 8 bits:
// torchvision's ToPILImage, for writing samples as PNG.
func ToImage(t *tensor.Tensor) (image.Image, error) {
	if t.Dim() != 3 || (t.Size(0) != 1 && t.Size(0) != 3) {
		return nil, fmt.Errorf("data: to image: want [1, H, W] or [3, H, W], got shape %v", t.Shape())
	}
	c, h, w := t.Size(0), t.Size(1), t.Size(2)
	v := t.Float64s()
	q := func(f float64) uint8 {
		if math.IsNaN(f) {
			return 0
		}
		return uint8(math.Round(min(max(f, 0), 1) * 255))
	}
	if c == 1 {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for i := range h * w {
			img.Pix[i] = q(v[i])
		}
		return img, nil
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	n := h * w
	for i := range n {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = q(v[i]), q(v[n+i]), q(v[2*n+i]), 255
	}
	return img, nil
}

// ImageFolderConfig configures ImageFolder; the zero value is torchvision's
// default: three-channel images, PNG and JPEG files.
type ImageFolderConfig struct {
	// Gray makes one-channel (luma) images instead of RGB.
	Gray bool
	// Extensions are the file extensions read, matched without regard to
	// case; nil means .png, .jpg and .jpeg. Other formats need their
	// decoder registered with package image (e.g. by importing
	// golang.org/x/image/bmp).
	Extensions []string
	// Transform, if set, is applied to each image tensor with a random
	// source drawn from Seed, the epoch and the index, as WithTransform
	// does.
	Transform Transform
	Seed      uint64
}

// ImageFile is one image of an ImageFolderDataset.
type ImageFile struct {
	Path  string
	Label int
}

// ImageFolderDataset is a folder of images, one subfolder per class
// (torchvision's ImageFolder). Images are decoded when a sample is read.
type ImageFolderDataset struct {
	Root string
	// Classes are the subfolder names, sorted; a class's label is its
	// index here.
	Classes []string
	Files   []ImageFile
	cfg     ImageFolderConfig
	epoch   atomic.Int64
}

// ImageFolder indexes the images under root, laid out as
// root/CLASS/…/IMAGE (in nested folders too), as torchvision's
// ImageFolder does: classes are the subfolders sorted by name and labelled
// 0, 1, … in that order; each class's images are listed folder by folder
// (folders sorted by path, files by name). It is an error when root has no
// class folders, or a class has no image. A sample is the image as a
// Float32 tensor [3, H, W] (or [1, H, W], see Gray) in [0, 1], transformed
// if the configuration says so, and its label as a 0-d Int64 tensor.
func ImageFolder(root string, cfg ...ImageFolderConfig) (*ImageFolderDataset, error) {
	var c ImageFolderConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	exts := c.Extensions
	if exts == nil {
		exts = []string{".png", ".jpg", ".jpeg"}
	}
	ok := map[string]bool{}
	for _, e := range exts {
		ok[strings.ToLower(e)] = true
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("data: image folder: %w", err)
	}
	d := &ImageFolderDataset{Root: root, cfg: c}
	for _, e := range entries {
		if st, err := os.Stat(filepath.Join(root, e.Name())); err == nil && st.IsDir() {
			d.Classes = append(d.Classes, e.Name())
		}
	}
	if len(d.Classes) == 0 {
		return nil, fmt.Errorf("data: image folder: no class folders in %s", root)
	}
	sort.Strings(d.Classes)
	var empty []string
	for label, class := range d.Classes {
		files := map[string][]string{} // folder → image names
		err := filepath.WalkDir(filepath.Join(root, class), func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && ok[strings.ToLower(filepath.Ext(path))] {
				dir := filepath.Dir(path)
				files[dir] = append(files[dir], filepath.Base(path))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("data: image folder: %w", err)
		}
		dirs := make([]string, 0, len(files))
		for dir := range files {
			dirs = append(dirs, dir)
		}
		sort.Strings(dirs) // as Python's sorted(os.walk(...))
		n := len(d.Files)
		for _, dir := range dirs {
			names := files[dir]
			sort.Strings(names)
			for _, name := range names {
				d.Files = append(d.Files, ImageFile{Path: filepath.Join(dir, name), Label: label})
			}
		}
		if len(d.Files) == n {
			empty = append(empty, class)
		}
	}
	if len(empty) > 0 {
		return nil, fmt.Errorf("data: image folder: no %s files for the classes %s in %s", strings.Join(exts, "/"), strings.Join(empty, ", "), root)
	}
	return d, nil
}

// Len returns the number of images.
func (d *ImageFolderDataset) Len() int { return len(d.Files) }

// At decodes image i and returns it with its label.
func (d *ImageFolderDataset) At(i int) (Sample, error) {
	if err := checkIndex(i, len(d.Files)); err != nil {
		return Sample{}, err
	}
	f := d.Files[i]
	img, err := decodeImage(f.Path)
	if err != nil {
		return Sample{}, err
	}
	var x *tensor.Tensor
	if d.cfg.Gray {
		x = ToTensorGray(img)
	} else {
		x = ToTensorRGB(img)
	}
	if d.cfg.Transform != nil {
		if x, err = d.cfg.Transform.Apply(x, sampleRNG(d.cfg.Seed, int(d.epoch.Load()), i)); err != nil {
			return Sample{}, fmt.Errorf("%s: %w", f.Path, err)
		}
	}
	return Sample{Input: x, Target: Label(f.Label)}, nil
}

// SetEpoch sets the epoch whose random sources the transform draws from.
func (d *ImageFolderDataset) SetEpoch(epoch int) { d.epoch.Store(int64(epoch)) }

func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: image folder: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("data: image folder: %s: %w", path, err)
	}
	return img, nil
}
