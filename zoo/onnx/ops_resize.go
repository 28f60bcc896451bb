package onnx

import (
	"math"
	"sort"

	"github.com/tapir-ml/tapir/tensor"
)

// Resize and Upsample, for any rank, axis by axis. For each output
// position along an axis the ONNX reference implementation picks the n
// input positions (taps) nearest to the transformed coordinate (n = 2 for
// nearest and linear, 4 for cubic, in the input padded with its edge
// values) and weights them; here the taps' positions and weights are
// computed on the host and applied with IndexSelect and a weighted sum,
// so gradients flow to the input.

func init() {
	register(opResize, "Resize")
	register(opUpsample, "Upsample")
}

// resizeSpec is one Resize's options.
type resizeSpec struct {
	mode        string // nearest, linear, cubic
	coord       string // coordinate_transformation_mode
	nearestMode string
	cubicA      float64
	exclude     bool
	extrapolate float64
}

func opUpsample(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	var scales []float64
	if c.opset < 9 {
		scales = c.floats("scales")
	} else {
		scales = c.x(1).Float64s()
	}
	mode := c.str("mode", "nearest")
	if mode == "bilinear" {
		mode = "linear"
	}
	s := resizeSpec{mode: mode, coord: "asymmetric", nearestMode: "floor"}
	return one(resize(c, x, s, scales, nil, nil))
}

func opResize(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	s := resizeSpec{
		mode:        c.str("mode", "nearest"),
		coord:       c.str("coordinate_transformation_mode", "half_pixel"),
		nearestMode: c.str("nearest_mode", "round_prefer_floor"),
		cubicA:      c.float("cubic_coeff_a", -0.75),
		exclude:     c.int("exclude_outside", 0) == 1,
		extrapolate: c.float("extrapolation_value", 0),
	}
	var scales, roi []float64
	var sizes []int64
	if c.opset < 11 {
		// Resize-10 works as Upsample: asymmetric coordinates.
		scales = c.x(1).Float64s()
		s.coord, s.nearestMode = "asymmetric", "floor"
	} else {
		if t := c.opt(1); t != nil {
			roi = t.Float64s()
		}
		if t := c.opt(2); t != nil && t.Numel() > 0 {
			scales = t.Float64s()
		}
		if t := c.opt(3); t != nil && t.Numel() > 0 {
			sizes = c.hostInts(t)
		}
	}
	return one(resize(c, x, s, scales, sizes, roi))
}

func resize(c *opCtx, x *tensor.Tensor, s resizeSpec, scales []float64, sizes []int64, roi []float64) *tensor.Tensor {
	r := x.Dim()
	in := x.Shape()
	out := make([]int, r)
	sc := make([]float64, r)
	switch {
	case sizes != nil:
		if len(sizes) != r {
			c.fail("sizes %v for rank %d", sizes, r)
		}
		for i := range out {
			if sizes[i] < 0 {
				c.fail("negative sizes %v", sizes)
			}
			out[i] = int(min(sizes[i], math.MaxInt32))
			sc[i] = float64(out[i]) / float64(in[i])
		}
	case scales != nil:
		if len(scales) != r {
			c.fail("scales %v for rank %d", scales, r)
		}
		for i := range out {
			if !(scales[i] > 0) || math.IsInf(scales[i], 0) {
				c.fail("scales %v must be positive", scales)
			}
			out[i] = int(math.Min(float64(in[i])*scales[i], math.MaxInt32))
			sc[i] = scales[i]
		}
	default:
		c.fail("one of scales and sizes is required")
	}
	c.checkSize(out)
	if s.coord == "tf_crop_and_resize" && len(roi) != 2*r {
		c.fail("roi %v for rank %d", roi, r)
	}
	switch s.mode {
	case "nearest", "linear", "cubic":
	default:
		c.fail("unknown mode %q", s.mode)
	}
	y := x
	for a := r - 1; a >= 0; a-- {
		if out[a] == in[a] && sc[a] == 1 && s.coord != "tf_crop_and_resize" {
			continue
		}
		if in[a] == 0 {
			c.fail("cannot resize an empty dim")
		}
		var lo, hi float64
		if roi != nil && len(roi) == 2*r {
			lo, hi = roi[a], roi[a+r]
		}
		y = resizeAxis(c, y, a, in[a], out[a], sc[a], lo, hi, s)
	}
	return y
}

// resizeAxis resizes dim a of x from n to m elements.
func resizeAxis(c *opCtx, x *tensor.Tensor, a, n, m int, scale, roiLo, roiHi float64, s resizeSpec) *tensor.Tensor {
	taps := 2
	if s.mode == "cubic" {
		taps = 4
	}
	idx := make([][]int64, taps)
	wts := make([][]float64, taps)
	for k := range idx {
		idx[k] = make([]int64, m)
		wts[k] = make([]float64, m)
	}
	extrap := make([]bool, m)
	anyExtrap := false
	outW := scale * float64(n)
	pad := (taps + 1) / 2
	cand := make([]int, 0, 2*taps+2)
	for o := 0; o < m; o++ {
		xo := float64(o)
		var xi float64
		switch s.coord {
		case "half_pixel":
			xi = (xo+0.5)/scale - 0.5
		case "pytorch_half_pixel":
			if outW == 1 {
				xi = -0.5
			} else {
				xi = (xo+0.5)/scale - 0.5
			}
		case "align_corners":
			if outW == 1 {
				xi = 0
			} else {
				xi = xo * float64(n-1) / (outW - 1)
			}
		case "asymmetric":
			xi = xo / scale
		case "tf_half_pixel_for_nn":
			xi = (xo + 0.5) / scale
		case "tf_crop_and_resize":
			if outW == 1 {
				xi = (roiHi - roiLo) * float64(n-1) / 2
			} else {
				xi = xo * (roiHi - roiLo) * float64(n-1) / (outW - 1)
			}
			xi += roiLo * float64(n-1)
			if xi < 0 || xi > float64(n-1) {
				extrap[o], anyExtrap = true, true
				continue
			}
		default:
			c.fail("unknown coordinate_transformation_mode %q", s.coord)
		}
		ratio := xi - math.Floor(xi)
		if ratio == 0 {
			ratio = 1
		}
		var coef []float64
		switch s.mode {
		case "nearest":
			coef = nearestCoeffs(c, ratio, xi == math.Floor(xi), s.nearestMode)
		case "linear":
			coef = []float64{1 - ratio, ratio}
		default:
			coef = cubicCoeffs(ratio, s.cubicA)
		}
		// The taps nearest to xi in the input padded by pad edge values,
		// ties going to the lower position.
		xp := xi + float64(pad)
		limit := n + 2*pad
		cand = cand[:0]
		base := int(math.Floor(xp))
		for i := base - taps - 1; i <= base+taps+1; i++ {
			if i >= 0 && i < limit {
				cand = append(cand, i)
			}
		}
		sort.SliceStable(cand, func(i, j int) bool {
			di, dj := math.Abs(xp-float64(cand[i])), math.Abs(xp-float64(cand[j]))
			if di != dj {
				return di < dj
			}
			return cand[i] < cand[j]
		})
		sel := append([]int(nil), cand[:min(taps, len(cand))]...)
		sort.Ints(sel)
		if len(sel) < taps {
			c.fail("input of size %d is too small to resize", n)
		}
		if s.exclude {
			sum := 0.0
			for k, p := range sel {
				if q := p - pad; q < 0 || q >= n {
					coef[k] = 0
				}
				sum += coef[k]
			}
			for k := range coef {
				coef[k] /= sum
			}
		}
		for k, p := range sel {
			q := min(max(p-pad, 0), n-1)
			idx[k][o] = int64(q)
			wts[k][o] = coef[k]
		}
	}
	if s.mode == "nearest" && !anyExtrap {
		// One tap has weight 1.
		pick := make([]int64, m)
		for o := 0; o < m; o++ {
			for k := range idx {
				if wts[k][o] != 0 {
					pick[o] = idx[k][o]
				}
			}
		}
		return x.IndexSelect(a, c.intTensor(pick))
	}
	wshape := make([]int, x.Dim())
	for i := range wshape {
		wshape[i] = 1
	}
	wshape[a] = m
	dt := x.DType()
	if !dt.IsFloat() {
		dt = tensor.Float32
	}
	var y *tensor.Tensor
	for k := range idx {
		term := x.IndexSelect(a, c.intTensor(idx[k])).To(dt).Mul(c.dev(tensor.FromSlice(wts[k], wshape...)).To(dt))
		if y == nil {
			y = term
		} else {
			y = y.Add(term)
		}
	}
	if anyExtrap {
		mask := c.dev(tensor.FromSlice(extrap, wshape...))
		y = tensor.Where(mask, c.full(dt, s.extrapolate), y)
	}
	if !x.DType().IsFloat() {
		return y.Round().To(x.DType())
	}
	return y
}

// nearestCoeffs picks one of the two taps around a coordinate: the left
// one (coefficients [1, 0]) or the right one ([0, 1]).
func nearestCoeffs(c *opCtx, ratio float64, whole bool, mode string) []float64 {
	if whole {
		return []float64{0, 1}
	}
	right := false
	switch mode {
	case "round_prefer_floor":
		right = ratio > 0.5
	case "round_prefer_ceil":
		right = ratio >= 0.5
	case "floor":
	case "ceil":
		right = true
	default:
		c.fail("unknown nearest_mode %q", mode)
	}
	if right {
		return []float64{0, 1}
	}
	return []float64{1, 0}
}

// cubicCoeffs are the weights of the four taps of cubic convolution with
// parameter a at fractional position ratio.
func cubicCoeffs(r, a float64) []float64 {
	return []float64{
		((a*(r+1)-5*a)*(r+1)+8*a)*(r+1) - 4*a,
		((a+2)*r-(a+3))*r*r + 1,
		((a+2)*(1-r)-(a+3))*(1-r)*(1-r) + 1,
		((a*((1-r)+1)-5*a)*((1-r)+1)+8*a)*((1-r)+1) - 4*a,
	}
}
