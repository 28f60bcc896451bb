package functional

import (
	"math"

	"github.com/tapir-ml/tapir/tensor"
)

// InterpolateOptions are the options of Interpolate, with torch's
// meanings. Exactly one of Size and ScaleFactor is set; each has one
// entry per spatial dim or a single entry for all.
type InterpolateOptions struct {
	Size        []int
	ScaleFactor []float64
	// Mode is "nearest" (the default, also ""), "nearest-exact", "linear"
	// (3-d input) or "bilinear" (4-d input).
	Mode string
	// AlignCorners maps the centres of the corner pixels of input and
	// output onto each other (linear modes only); otherwise their outer
	// edges coincide, as by default in torch.
	AlignCorners bool
}

// Interpolate resizes x, [N, C, W] or [N, C, H, W], as
// torch.nn.functional.interpolate: to Size, or to ⌊in·ScaleFactor⌋ per
// spatial dim, in which case the scale factor (not the ratio of the sizes)
// maps output to input coordinates, as torch does by default. Nearest
// takes input index ⌊o·scale⌋ (nearest-exact ⌊(o+½)·scale⌋), in one op
// (tensor.InterpolateNearest: one pass on the CPU); the linear modes
// blend the two nearest input elements of each dim, along W first, then
// along H, as torch's kernels do, in one op (tensor.InterpolateLinear:
// one pass on the CPU). Gradients flow to x.
func Interpolate(x *tensor.Tensor, opt InterpolateOptions) *tensor.Tensor {
	const op = "interpolate"
	mode := opt.Mode
	if mode == "" {
		mode = "nearest"
	}
	if x.Dim() != 3 && x.Dim() != 4 {
		spatialFail(op, tensor.ErrShape, "expected a 3-d [N, C, W] or 4-d [N, C, H, W] input, got shape %v", x.Shape())
	}
	nsp := x.Dim() - 2
	linear := false
	switch mode {
	case "nearest", "nearest-exact":
		if opt.AlignCorners {
			spatialFail(op, tensor.ErrShape, "AlignCorners applies to the linear modes only, not %q", mode)
		}
	case "linear", "bilinear":
		if want := map[string]int{"linear": 3, "bilinear": 4}[mode]; x.Dim() != want {
			spatialFail(op, tensor.ErrShape, "mode %q needs a %d-d input, got shape %v", mode, want, x.Shape())
		}
		linear = true
	default:
		spatialFail(op, tensor.ErrShape, "unknown mode %q (want nearest, nearest-exact, linear or bilinear)", mode)
	}
	if !x.DType().IsFloat() {
		spatialFail(op, tensor.ErrDType, "%v input is not supported; convert it to a floating type", x.DType())
	}
	if (opt.Size == nil) == (opt.ScaleFactor == nil) {
		spatialFail(op, tensor.ErrShape, "exactly one of Size (%v) and ScaleFactor (%v) must be set", opt.Size, opt.ScaleFactor)
	}
	in := x.Shape()[2:]
	out := make([]int, nsp)
	scale := make([]float64, nsp) // 0: none given
	if opt.Size != nil {
		copy(out, spatialArg(op, "size", opt.Size, nsp, 0, 1))
	} else {
		sf := opt.ScaleFactor
		switch len(sf) {
		case 1:
			for d := range scale {
				scale[d] = sf[0]
			}
		case nsp:
			copy(scale, sf)
		default:
			spatialFail(op, tensor.ErrShape, "scale factor %v has %d entries for %d spatial dims", sf, len(sf), nsp)
		}
		for d, s := range scale {
			if !(s > 0) || math.IsInf(s, 0) {
				spatialFail(op, tensor.ErrShape, "scale factor %v must be positive and finite", sf)
			}
			out[d] = int(math.Floor(float64(in[d]) * s))
			if out[d] < 1 {
				spatialFail(op, tensor.ErrShape, "input of shape %v scaled by %v has output size %v; sizes must be positive", x.Shape(), sf, out)
			}
		}
	}
	for _, n := range in {
		if n < 1 {
			spatialFail(op, tensor.ErrShape, "input of shape %v has an empty spatial dim", x.Shape())
		}
	}
	f32 := x.DType() != tensor.Float64 // torch computes coordinates in the op's math type
	if linear {
		taps := make([]tensor.LinearTaps, nsp)
		for d := range taps {
			t := tensor.LinearTaps{I0: make([]int, out[d]), I1: make([]int, out[d]), W0: make([]float64, out[d]), W1: make([]float64, out[d])}
			for o := range t.I0 {
				t.I0[o], t.I1[o], t.W0[o], t.W1[o] = linearCoeffs(o, in[d], out[d], scale[d], opt.AlignCorners, f32)
			}
			taps[d] = t
		}
		return tensor.InterpolateLinear(x, taps)
	}
	index := make([][]int, nsp)
	for d := range index {
		index[d] = make([]int, out[d])
		for o := range index[d] {
			index[d][o] = nearestIndex(o, in[d], out[d], scale[d], mode == "nearest-exact", f32)
		}
	}
	return tensor.InterpolateNearest(x, index)
}

// round32 rounds v to float32 when f32 is set: torch computes source
// coordinates in float for float inputs, and nearest indices depend on
// that rounding.
func round32(v float64, f32 bool) float64 {
	if f32 {
		return float64(float32(v))
	}
	return v
}

// scaleOf is torch's compute_scales_value: 1/scale when one was given,
// else in/out.
func scaleOf(in, out int, scale float64, f32 bool) float64 {
	if scale > 0 {
		return round32(1/scale, f32)
	}
	return round32(round32(float64(in), f32)/round32(float64(out), f32), f32)
}

// nearestIndex is the input index that output index o reads. torch
// floors the source coordinate as a float (floorf) even for float64
// inputs, so the coordinate is rounded to float32 before the floor.
func nearestIndex(o, in, out int, scale float64, exact, f32 bool) int {
	s := scaleOf(in, out, scale, f32)
	var src float64
	if exact {
		src = max(round32(round32(s*round32(float64(o)+0.5, f32), f32)-0.5, f32), 0)
		src = round32(src+0.5, f32)
	} else {
		src = round32(float64(o)*s, f32)
	}
	return min(int(math.Floor(round32(src, true))), in-1)
}

// linearCoeffs are the two input indices that output index o blends and
// their weights, as torch's linear interpolation computes them.
func linearCoeffs(o, in, out int, scale float64, align, f32 bool) (i0, i1 int, l0, l1 float64) {
	if in == out {
		return o, o, 1, 0
	}
	var s, src float64
	if align {
		if out > 1 {
			s = round32(round32(float64(in-1), f32)/float64(out-1), f32)
		}
		src = round32(s*float64(o), f32)
	} else {
		s = scaleOf(in, out, scale, f32)
		src = round32(round32(s*round32(float64(o)+0.5, f32), f32)-0.5, f32)
		src = max(src, 0)
	}
	i0 = int(src)
	i1 = i0
	if i0 < in-1 {
		i1 = i0 + 1
	}
	l1 = round32(min(max(src-float64(i0), 0), 1), f32)
	l0 = round32(1-l1, f32)
	return i0, i1, l0, l1
}
