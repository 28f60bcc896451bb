package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tapir-ml/tapir/data"
	"github.com/tapir-ml/tapir/tensor"
)

// elastic is the elastic distortion of Simard, Steinkraus and Platt,
// "Best practices for convolutional neural networks applied to visual
// document analysis" (ICDAR 2003), the classic augmentation for MNIST:
// two random displacement fields, uniform in [-1, 1] at each pixel, are
// smoothed by a Gaussian of standard deviation sigma (zero outside the
// image) and scaled by alpha; each output pixel takes the input at its
// displaced position, interpolated bilinearly (zero outside). It is
// written in plain Go on the pixels and costs about 2·2·(6σ+1) multiply-
// adds per pixel for the smoothing, which makes it a costly per-sample
// transform.
type elastic struct {
	alpha  float64
	kernel []float64 // normalized Gaussian, 2·radius+1 taps
}

func newElastic(alpha, sigma float64) elastic {
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	sum := 0.0
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return elastic{alpha: alpha, kernel: k}
}

// field returns a smoothed random displacement field of h×w, scaled by
// alpha.
func (e elastic) field(h, w int, rng *rand.Rand) []float64 {
	f := make([]float64, h*w)
	for i := range f {
		f[i] = 2*rng.Float64() - 1
	}
	r := len(e.kernel) / 2
	tmp := make([]float64, h*w)
	for y := range h { // along rows
		for x := range w {
			s := 0.0
			for k, kv := range e.kernel {
				if xx := x + k - r; xx >= 0 && xx < w {
					s += kv * f[y*w+xx]
				}
			}
			tmp[y*w+x] = s
		}
	}
	for y := range h { // along columns
		for x := range w {
			s := 0.0
			for k, kv := range e.kernel {
				if yy := y + k - r; yy >= 0 && yy < h {
					s += kv * tmp[yy*w+x]
				}
			}
			f[y*w+x] = e.alpha * s
		}
	}
	return f
}

// Apply distorts an image [C, H, W]; every channel moves by the same
// field.
func (e elastic) Apply(x *tensor.Tensor, rng *rand.Rand) (*tensor.Tensor, error) {
	if x.Dim() != 3 {
		return nil, fmt.Errorf("elastic: want an image [C, H, W], got shape %v", x.Shape())
	}
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	c, h, w := x.Size(0), x.Size(1), x.Size(2)
	src := x.Float32s()
	dx, dy := e.field(h, w, rng), e.field(h, w, rng)
	out := make([]float32, len(src))
	at := func(ch, y, x int) float64 {
		if y < 0 || y >= h || x < 0 || x >= w {
			return 0
		}
		return float64(src[(ch*h+y)*w+x])
	}
	for y := range h {
		for xx := range w {
			sy, sx := float64(y)+dy[y*w+xx], float64(xx)+dx[y*w+xx]
			y0, x0 := int(math.Floor(sy)), int(math.Floor(sx))
			fy, fx := sy-float64(y0), sx-float64(x0)
			for ch := range c {
				v := (1-fy)*((1-fx)*at(ch, y0, x0)+fx*at(ch, y0, x0+1)) +
					fy*((1-fx)*at(ch, y0+1, x0)+fx*at(ch, y0+1, x0+1))
				out[(ch*h+y)*w+xx] = float32(v)
			}
		}
	}
	return tensor.FromSlice(out, c, h, w), nil
}

var _ data.Transform = elastic{}
