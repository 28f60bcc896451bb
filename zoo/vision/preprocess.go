package vision

import (
	"fmt"
	"image"
	"math"

	"github.com/tapir-ml/tapir/data"
	"github.com/tapir-ml/tapir/tensor"
)

// The per-channel (R, G, B) mean and standard deviation of ImageNet's
// training images, which torchvision's pretrained models expect inputs to
// be normalized with.
var (
	ImageNetMean = [3]float64{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float64{0.229, 0.224, 0.225}
)

// ResizeConfig holds the options of [Resize] and [ResizeTo]; the zero
// value is torchvision 0.14's default for tensors.
type ResizeConfig struct {
	// Antialias low-pass filters when shrinking, as PIL does and as
	// torchvision's resize with antialias=True does on tensors (a
	// triangle filter as wide as the scale factor). Without it, each
	// output pixel interpolates its four nearest input pixels
	// (torch.nn.functional.interpolate, bilinear, align_corners=False),
	// torchvision's default for tensors before 0.17; shrinking a large
	// photo that way aliases.
	Antialias bool
	// MaxSize, when not 0, caps the longer edge of [Resize]'s output; the
	// shorter edge shrinks to keep the aspect ratio (torchvision's
	// max_size).
	MaxSize int
}

// preprocessPanic panics with a *tensor.Error naming the helper, so that
// tensor.Try recovers it like any other programmer error.
func preprocessPanic(op string, kind error, format string, args ...any) {
	panic(&tensor.Error{Op: "vision." + op, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// checkImage panics unless x is an image [..., C, H, W], of a
// floating-point dtype when float is set.
func checkImage(op string, x *tensor.Tensor, float bool) (h, w int) {
	if x.Dim() < 3 {
		preprocessPanic(op, tensor.ErrShape, "want an image [C, H, W] or a batch [..., C, H, W], got shape %v", x.Shape())
	}
	if float && !x.DType().IsFloat() {
		preprocessPanic(op, tensor.ErrDType, "%v image; convert it to a floating type (ToTensor makes Float32)", x.DType())
	}
	return x.Size(-2), x.Size(-1)
}

// ResizedSize returns the height and width [Resize] gives an h×w image:
// the shorter edge becomes size and the longer one
// ⌊size·long/short⌋, torchvision's rule, then both shrink when the
// longer edge exceeds maxSize (0 for no cap).
func ResizedSize(h, w, size, maxSize int) (oh, ow int) {
	short, long := h, w
	if w <= h {
		short, long = w, h
	}
	newShort, newLong := size, int(float64(size)*float64(long)/float64(short))
	if maxSize > 0 && newLong > maxSize {
		newShort, newLong = int(float64(maxSize)*float64(newShort)/float64(newLong)), maxSize
	}
	if w <= h {
		return newLong, newShort
	}
	return newShort, newLong
}

// Resize scales an image x [..., C, H, W] (floating point) so that its
// shorter edge becomes size, keeping the aspect ratio as
// torchvision.transforms.Resize(size) does (see [ResizedSize]), with
// bilinear interpolation; cfg chooses antialiasing and a cap on the
// longer edge. It panics with a *tensor.Error on a bad shape, dtype or
// size.
func Resize(x *tensor.Tensor, size int, cfg ...ResizeConfig) *tensor.Tensor {
	var c ResizeConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	h, w := checkImage("Resize", x, true)
	if size <= 0 || c.MaxSize < 0 || (c.MaxSize > 0 && c.MaxSize <= size) {
		preprocessPanic("Resize", tensor.ErrShape, "size %d must be positive and max size %d, when set, greater", size, c.MaxSize)
	}
	if h == 0 || w == 0 {
		preprocessPanic("Resize", tensor.ErrShape, "cannot resize an empty image %v", x.Shape())
	}
	oh, ow := ResizedSize(h, w, size, c.MaxSize)
	return ResizeTo(x, oh, ow, c)
}

// ResizeTo scales an image x [..., C, H, W] (floating point) to h×w with
// bilinear interpolation, antialiased when cfg says so (MaxSize is
// ignored).
func ResizeTo(x *tensor.Tensor, h, w int, cfg ...ResizeConfig) *tensor.Tensor {
	ih, iw := checkImage("ResizeTo", x, true)
	if h <= 0 || w <= 0 || ih == 0 || iw == 0 {
		preprocessPanic("ResizeTo", tensor.ErrShape, "cannot resize %v to %d×%d", x.Shape(), h, w)
	}
	if h == ih && w == iw {
		return x
	}
	if len(cfg) > 0 && cfg[0].Antialias {
		return resizeAntialias(x, h, w)
	}
	y, err := data.Resize(h, w).Apply(x, nil)
	if err != nil {
		preprocessPanic("ResizeTo", tensor.ErrShape, "%v", err)
	}
	return y
}

// filterTaps is one output pixel's share of the input: weights for
// input pixels first, first+1, ….
type filterTaps struct {
	first   int
	weights []float64
}

// antialiasTaps returns the taps of each of out pixels resampled from in
// with a triangle filter stretched by the scale factor when shrinking,
// torch's _upsample_bilinear2d_aa (PIL's ImagingResample): output pixel
// i is centred at in/out·(i+½) and sees the input pixels within the
// support, their weights normalized to sum to 1.
func antialiasTaps(in, out int) []filterTaps {
	scale := float64(in) / float64(out)
	support, invScale := 1.0, 1.0
	if scale >= 1 {
		support, invScale = scale, 1/scale
	}
	taps := make([]filterTaps, out)
	for i := range taps {
		center := scale * (float64(i) + 0.5)
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), in)
		ws := make([]float64, max(hi-lo, 0))
		total := 0.0
		for j := range ws {
			d := math.Abs((float64(j+lo) - center + 0.5) * invScale)
			if d < 1 {
				ws[j] = 1 - d
			}
			total += ws[j]
		}
		if total != 0 {
			for j := range ws {
				ws[j] /= total
			}
		}
		taps[i] = filterTaps{lo, ws}
	}
	return taps
}

// resizeAntialias resamples the last two dims of x to h×w with
// antialiasing: along the width first, then the height, as torch does.
func resizeAntialias(x *tensor.Tensor, h, w int) *tensor.Tensor {
	shape := x.Shape()
	ih, iw := shape[len(shape)-2], shape[len(shape)-1]
	planes := x.Numel() / (ih * iw)
	src := x.Float64s()
	tmp := make([]float64, planes*ih*w)
	if w == iw {
		copy(tmp, src)
	} else {
		taps := antialiasTaps(iw, w)
		for p := range planes * ih {
			row, out := src[p*iw:(p+1)*iw], tmp[p*w:(p+1)*w]
			for i, t := range taps {
				s := 0.0
				for j, wt := range t.weights {
					s += wt * row[t.first+j]
				}
				out[i] = s
			}
		}
	}
	dst := make([]float64, planes*h*w)
	if h == ih {
		copy(dst, tmp)
	} else {
		taps := antialiasTaps(ih, h)
		for p := range planes {
			in, out := tmp[p*ih*w:(p+1)*ih*w], dst[p*h*w:(p+1)*h*w]
			for i, t := range taps {
				o := out[i*w : (i+1)*w]
				for j, wt := range t.weights {
					r := in[(t.first+j)*w : (t.first+j+1)*w]
					for k := range o {
						o[k] += wt * r[k]
					}
				}
			}
		}
	}
	shape[len(shape)-2], shape[len(shape)-1] = h, w
	return tensor.FromSlice(dst, shape...).To(x.DType())
}

// CenterCrop cuts the central h×w window out of an image x
// [..., C, H, W] of any dtype, as torchvision.transforms.CenterCrop: the window's top
// is round((H−h)/2), rounding half to even, and likewise its left; an
// image smaller than the window is first padded with zeros around it.
func CenterCrop(x *tensor.Tensor, h, w int) *tensor.Tensor {
	checkImage("CenterCrop", x, false)
	if h <= 0 || w <= 0 {
		preprocessPanic("CenterCrop", tensor.ErrShape, "crop size %d×%d must be positive", h, w)
	}
	y, err := data.CenterCrop(h, w).Apply(x, nil)
	if err != nil {
		preprocessPanic("CenterCrop", tensor.ErrShape, "%v", err)
	}
	return y
}

// Normalize returns (x − mean[c]) / std[c] for each channel c of an
// image x [..., C, H, W] (torchvision.transforms.Normalize); mean and
// std hold one value per channel. [ImageNetMean] and [ImageNetStd] are
// what torchvision's pretrained models expect.
func Normalize(x *tensor.Tensor, mean, std []float64) *tensor.Tensor {
	checkImage("Normalize", x, true)
	c := x.Size(-3)
	if len(mean) != c || len(std) != c {
		preprocessPanic("Normalize", tensor.ErrShape, "%d means and %d stds for an image of %d channels (shape %v)", len(mean), len(std), c, x.Shape())
	}
	for _, s := range std {
		if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			preprocessPanic("Normalize", tensor.ErrShape, "std %v has a zero or non-finite value", std)
		}
	}
	m := tensor.FromSlice(mean, c, 1, 1).To(x.DType())
	s := tensor.FromSlice(std, c, 1, 1).To(x.DType())
	return x.Sub(m).Div(s)
}

// ToTensor converts an image to a Float32 tensor [3, H, W] with values in
// [0, 1], as torchvision's ToTensor after PIL's convert("RGB"):
// grayscale is repeated in the three channels and alpha is dropped.
func ToTensor(img image.Image) *tensor.Tensor { return data.ToTensorRGB(img) }

// Preprocess is the evaluation transform of an image classifier:
// resize the shorter edge, crop the centre, normalize, as torchvision's
// weights' transforms() (ImageClassification) do. A zero ResizeSize or
// CropSize skips that step; nil Mean and Std skip normalization.
type Preprocess struct {
	ResizeSize int       // the shorter edge after resizing
	CropSize   int       // the side of the square centre crop
	Mean, Std  []float64 // one value per channel
	Antialias  bool      // see ResizeConfig
}

// ImageNet is the preprocessing of torchvision's ImageNet classifiers
// (resize to 256, crop 224, ImageNet statistics), without antialiasing
// as torchvision 0.14 does on tensors. torchvision's published
// accuracies were measured on PIL images, which are resized with
// antialiasing: set Antialias on a copy to come closer to them.
var ImageNet = Preprocess{ResizeSize: 256, CropSize: 224, Mean: ImageNetMean[:], Std: ImageNetStd[:]}

// Tensor applies the transform to an image x [..., C, H, W] with values
// in [0, 1].
func (p Preprocess) Tensor(x *tensor.Tensor) *tensor.Tensor {
	if p.ResizeSize > 0 {
		x = Resize(x, p.ResizeSize, ResizeConfig{Antialias: p.Antialias})
	}
	if p.CropSize > 0 {
		x = CenterCrop(x, p.CropSize, p.CropSize)
	}
	if p.Mean != nil || p.Std != nil {
		x = Normalize(x, p.Mean, p.Std)
	}
	return x
}

// Image converts img to RGB (see [ToTensor]) and applies the transform:
// a Float32 tensor [3, CropSize, CropSize]. Add a batch dim with
// Unsqueeze(0) before a model's Forward.
func (p Preprocess) Image(img image.Image) *tensor.Tensor {
	return p.Tensor(ToTensor(img))
}

// Transform returns the transform as a data.Transform, for datasets
// such as data.ImageFolder whose samples are image tensors; a panic of
// the helpers becomes an error.
func (p Preprocess) Transform() data.Transform {
	return data.TransformFunc(func(x *tensor.Tensor) (y *tensor.Tensor, err error) {
		if err := tensor.Try(func() { y = p.Tensor(x) }); err != nil {
			return nil, fmt.Errorf("vision: preprocess: %w", err)
		}
		return y, nil
	})
}

// ImageNetTransform prepares an image for torchvision's ImageNet
// classifiers: RGB in [0, 1], shorter edge resized to 256 (bilinear),
// centre 224×224 crop, normalized with [ImageNetMean] and [ImageNetStd].
// It returns a Float32 tensor [3, 224, 224] ([ImageNet].Image).
func ImageNetTransform(img image.Image) *tensor.Tensor { return ImageNet.Image(img) }
