package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// Transform changes one tensor, typically an image [C, H, W] (Float32 in
// [0, 1], as ToTensor makes it) or a batch of them [N, C, H, W], as
// torchvision's transforms do. Random transforms draw from rng; the
// datasets of this package give each sample its own rng, seeded from the
// dataset's seed, the epoch and the sample's index, so augmentation is
// reproducible whatever the number of workers (see [WithTransform]). A
// nil rng makes a random transform draw from an unseeded source.
// Transforms must be safe for concurrent use.
type Transform interface {
	Apply(x *tensor.Tensor, rng *rand.Rand) (*tensor.Tensor, error)
}

// TransformFunc adapts a deterministic function to a Transform.
type TransformFunc func(x *tensor.Tensor) (*tensor.Tensor, error)

// Apply calls f(x).
func (f TransformFunc) Apply(x *tensor.Tensor, _ *rand.Rand) (*tensor.Tensor, error) { return f(x) }

// try runs f, turning a *tensor.Error panic into an error named after the
// transform.
func try(name string, f func() *tensor.Tensor) (out *tensor.Tensor, err error) {
	if err := tensor.Try(func() { out = f() }); err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	return out, nil
}

// imageDims checks that x is [..., C, H, W] and returns C, H, W.
func imageDims(name string, x *tensor.Tensor) (c, h, w int, err error) {
	if x.Dim() < 3 {
		return 0, 0, 0, fmt.Errorf("data: %s: want an image [C, H, W] or a batch [..., C, H, W], got shape %v", name, x.Shape())
	}
	s := x.Shape()
	return s[len(s)-3], s[len(s)-2], s[len(s)-1], nil
}

type compose []Transform

// Compose chains transforms, applied first to last (torchvision's
// Compose), all drawing from the same rng.
func Compose(ts ...Transform) Transform { return compose(ts) }

func (c compose) Apply(x *tensor.Tensor, rng *rand.Rand) (*tensor.Tensor, error) {
	var err error
	for _, t := range c {
		if x, err = t.Apply(x, rng); err != nil {
			return nil, err
		}
	}
	return x, nil
}

type normalize struct {
	mean, std []float64
}

// Normalize subtracts mean[c] from channel c and divides by std[c]
// (torchvision's Normalize). mean and std hold one value per channel, or a
// single value for all; it panics on a zero or non-finite std.
func Normalize(mean, std []float64) Transform {
	if len(mean) == 0 || len(mean) != len(std) {
		panic(fmt.Sprintf("data: normalize: mean %v and std %v must be non-empty and of one length", mean, std))
	}
	for _, s := range std {
		if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			panic(fmt.Sprintf("data: normalize: std %v has a zero or non-finite value", std))
		}
	}
	return normalize{append([]float64(nil), mean...), append([]float64(nil), std...)}
}

func (n normalize) Apply(x *tensor.Tensor, _ *rand.Rand) (*tensor.Tensor, error) {
	c, _, _, err := imageDims("normalize", x)
	if err != nil {
		return nil, err
	}
	mean, std := n.mean, n.std
	if len(mean) == 1 {
		mean, std = repeatF(mean[0], c), repeatF(std[0], c)
	}
	if len(mean) != c {
		return nil, fmt.Errorf("data: normalize: %d means for an input of %d channels (shape %v)", len(mean), c, x.Shape())
	}
	return try("normalize", func() *tensor.Tensor {
		m := tensor.FromSlice(mean, c, 1, 1).To(x.DType())
		s := tensor.FromSlice(std, c, 1, 1).To(x.DType())
		return x.Sub(m).Div(s)
	})
}

func repeatF(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// sizeHW reads a size given as one value (square) or two (height, width).
func sizeHW(name string, size []int) (h, w int) {
	if len(size) != 1 && len(size) != 2 {
		panic(fmt.Sprintf("data: %s: size %v must be one value or two (height, width)", name, size))
	}
	h, w = size[0], size[len(size)-1]
	if h <= 0 || w <= 0 {
		panic(fmt.Sprintf("data: %s: size %v must be positive", name, size))
	}
	return h, w
}

type centerCrop struct{ h, w int }

// CenterCrop crops the centre of an image to size (one value for a square,
// or height and width), as torchvision's CenterCrop: the offset is
// round((H−h)/2) with Python's round half to even, and an image smaller
// than the crop is first padded with zeros around it.
func CenterCrop(size ...int) Transform {
	h, w := sizeHW("center crop", size)
	return centerCrop{h, w}
}

func (c centerCrop) Apply(x *tensor.Tensor, _ *rand.Rand) (*tensor.Tensor, error) {
	_, h, w, err := imageDims("center crop", x)
	if err != nil {
		return nil, err
	}
	return try("center crop", func() *tensor.Tensor {
		if c.h > h || c.w > w {
			dh, dw := max(c.h-h, 0), max(c.w-w, 0)
			x = F.Pad(x, []int{dw / 2, (dw + 1) / 2, dh / 2, (dh + 1) / 2}, "constant", 0)
			h, w = h+dh, w+dw
		}
		top := int(math.RoundToEven(float64(h-c.h) / 2))
		left := int(math.RoundToEven(float64(w-c.w) / 2))
		return x.Narrow(-2, top, c.h).Narrow(-1, left, c.w).Contiguous()
	})
}

type randomCrop struct{ size, padding int }

// RandomCrop pads an image with padding zeros on every side and crops a
// size×size square at a uniformly random position (torchvision's
// RandomCrop(size, padding)). The padded image must be at least size in
// each dim.
func RandomCrop(size, padding int) Transform {
	if size <= 0 || padding < 0 {
		panic(fmt.Sprintf("data: random crop: size %d must be positive and padding %d non-negative", size, padding))
	}
	return randomCrop{size, padding}
}

func (c randomCrop) Apply(x *tensor.Tensor, rng *rand.Rand) (*tensor.Tensor, error) {
	_, h, w, err := imageDims("random crop", x)
	if err != nil {
		return nil, err
	}
	ph, pw := h+2*c.padding, w+2*c.padding
	if ph < c.size || pw < c.size {
		return nil, fmt.Errorf("data: random crop: crop %d×%d is larger than the padded image %d×%d", c.size, c.size, ph, pw)
	}
	rng = orDefault(rng)
	top := rng.IntN(ph - c.size + 1)
	left := rng.IntN(pw - c.size + 1)
	return padCrop(x, c.padding, top, left, c.size, c.size)
}

// padCrop pads x's last two dims with pad zeros on each side and crops the
// h×w window at (top, left) of the padded image.
func padCrop(x *tensor.Tensor, pad, top, left, h, w int) (*tensor.Tensor, error) {
	return try("random crop", func() *tensor.Tensor {
		if pad > 0 {
			x = F.Pad(x, []int{pad, pad, pad, pad}, "constant", 0)
		}
		return x.Narrow(-2, top, h).Narrow(-1, left, w).Contiguous()
	})
}

func orDefault(rng *rand.Rand) *rand.Rand {
	if rng == nil {
		return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return rng
}

type randomFlip struct{ p float64 }

// RandomHorizontalFlip mirrors an image left to right with probability p
// (torchvision's RandomHorizontalFlip).
func RandomHorizontalFlip(p float64) Transform {
	if p < 0 || p > 1 || math.IsNaN(p) {
		panic(fmt.Sprintf("data: random horizontal flip: probability %v is not in [0, 1]", p))
	}
	return randomFlip{p}
}

func (f randomFlip) Apply(x *tensor.Tensor, rng *rand.Rand) (*tensor.Tensor, error) {
	if _, _, _, err := imageDims("random horizontal flip", x); err != nil {
		return nil, err
	}
	if orDefault(rng).Float64() >= f.p {
		return x, nil
	}
	return try("random horizontal flip", func() *tensor.Tensor { return x.Flip(-1) })
}

type resize struct{ size []int }

// Resize scales an image with bilinear interpolation, as torchvision's
// Resize on tensors with antialias=False (torch.nn.functional.interpolate,
// align_corners=False). One size matches the smaller edge to it, keeping
// the aspect ratio (the longer edge becomes ⌊size·long/short⌋); two are
// the height and width.
func Resize(size ...int) Transform {
	sizeHW("resize", size)
	return resize{append([]int(nil), size...)}
}

func (r resize) Apply(x *tensor.Tensor, _ *rand.Rand) (*tensor.Tensor, error) {
	_, h, w, err := imageDims("resize", x)
	if err != nil {
		return nil, err
	}
	if !x.DType().IsFloat() {
		return nil, fmt.Errorf("data: resize: %v image; convert it to a floating type (ToTensor makes Float32)", x.DType())
	}
	oh, ow := r.size[0], r.size[len(r.size)-1]
	if len(r.size) == 1 {
		if h <= w {
			oh, ow = r.size[0], int(int64(r.size[0])*int64(w)/int64(h))
		} else {
			oh, ow = int(int64(r.size[0])*int64(h)/int64(w)), r.size[0]
		}
	}
	if oh == h && ow == w {
		return x, nil
	}
	return try("resize", func() *tensor.Tensor {
		s := x.Shape()
		lead := s[:len(s)-2]
		y := x.Reshape(-1, 1, h, w) // every leading dim as a batch of one-channel images
		y = F.Interpolate(y, F.InterpolateOptions{Size: []int{oh, ow}, Mode: "bilinear"})
		return y.Reshape(append(append([]int{}, lead...), oh, ow)...)
	})
}

// sampleRNG returns the random source of sample index in epoch of a
// dataset seeded with seed.
func sampleRNG(seed uint64, epoch, index int) *rand.Rand {
	return rand.New(rand.NewPCG(epochSeed(seed, epoch), epochSeed(uint64(index), -1)))
}

// TransformDataset applies a Transform to the inputs of another dataset's
// samples, each with its own random source drawn from Seed, the epoch and
// the sample's index: the same sample gets the same augmentation in the
// same epoch whatever the worker count or the order of reads, and a new
// one each epoch.
type TransformDataset struct {
	Source    Dataset[Sample]
	Transform Transform
	Seed      uint64
	epoch     atomic.Int64
}

// WithTransform returns ds with t applied to each sample's Input.
func WithTransform(ds Dataset[Sample], t Transform, seed uint64) *TransformDataset {
	return &TransformDataset{Source: ds, Transform: t, Seed: seed}
}

// Len returns Source.Len().
func (d *TransformDataset) Len() int { return d.Source.Len() }

// At returns Source's sample i with the transform applied to its input.
func (d *TransformDataset) At(i int) (Sample, error) {
	s, err := d.Source.At(i)
	if err != nil {
		return Sample{}, err
	}
	s.Input, err = d.Transform.Apply(s.Input, sampleRNG(d.Seed, int(d.epoch.Load()), i))
	if err != nil {
		return Sample{}, err
	}
	return s, nil
}

// SetEpoch sets the epoch the random sources are drawn for and passes it
// on to Source. A Loader calls it before each epoch.
func (d *TransformDataset) SetEpoch(epoch int) {
	d.epoch.Store(int64(epoch))
	setEpoch(d.Source, epoch)
}
