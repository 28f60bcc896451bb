package functional

import (
	"github.com/tapir-ml/tapir/tensor"
)

// Pad pads x as torch.nn.functional.pad. pad lists (before, after) pairs
// starting from the last dim: [left, right] pads the last dim, [left,
// right, top, bottom] the last two, and so on, for up to every dim of x.
// mode is "constant" (or ""), filling with value; "reflect", mirroring x
// at its edges without repeating the edge (each pad smaller than its
// dim); "replicate", repeating the edge; or "circular", wrapping around
// (each pad at most its dim). Negative pads remove elements. The
// non-constant modes take value 0. Gradients flow to x.
func Pad(x *tensor.Tensor, pad []int, mode string, value float64) *tensor.Tensor {
	const op = "pad"
	if len(pad)%2 != 0 || len(pad)/2 > x.Dim() {
		spatialFail(op, tensor.ErrShape, "pad %v must have an even length of at most twice the rank of the input %v", pad, x.Shape())
	}
	if mode == "" {
		mode = "constant"
	}
	switch mode {
	case "constant":
	case "reflect", "replicate", "circular":
		if value != 0 {
			spatialFail(op, tensor.ErrShape, "mode %q takes no fill value (got %v)", mode, value)
		}
	default:
		spatialFail(op, tensor.ErrShape, "unknown mode %q (want constant, reflect, replicate or circular)", mode)
	}
	y := x
	for j := 0; j < len(pad)/2; j++ {
		d := x.Dim() - 1 - j
		lo, hi := pad[2*j], pad[2*j+1]
		n := x.Size(d)
		if n+lo+hi < 0 {
			spatialFail(op, tensor.ErrShape, "pad (%d, %d) of dim %d of the input %v leaves a negative size", lo, hi, d, x.Shape())
		}
		if lo == 0 && hi == 0 {
			continue
		}
		if mode == "constant" {
			y = constantPad(y, d, lo, hi, value)
			continue
		}
		switch {
		case mode == "reflect" && (lo >= n || hi >= n):
			spatialFail(op, tensor.ErrShape, "reflect pad (%d, %d) of dim %d must be smaller than its size in the input %v", lo, hi, d, x.Shape())
		case mode == "replicate" && n == 0:
			spatialFail(op, tensor.ErrShape, "replicate pad of an empty dim %d of the input %v", d, x.Shape())
		case mode == "circular" && (lo > n || hi > n):
			spatialFail(op, tensor.ErrShape, "circular pad (%d, %d) of dim %d must be at most its size in the input %v", lo, hi, d, x.Shape())
		}
		idx := make([]int64, 0, n+lo+hi)
		for i := -lo; i < n+hi; i++ {
			var s int
			switch mode {
			case "reflect":
				s = i
				if s < 0 {
					s = -s
				} else if s >= n {
					s = 2*(n-1) - s
				}
			case "replicate":
				s = min(max(i, 0), n-1)
			case "circular":
				s = ((i % n) + n) % n
			}
			idx = append(idx, int64(s))
		}
		y = y.IndexSelect(d, tensor.FromSlice(idx).ToDevice(x.Device()))
	}
	return y
}

// constantPad adds lo elements of value before and hi after dim d (or
// removes them, where negative).
func constantPad(y *tensor.Tensor, d, lo, hi int, value float64) *tensor.Tensor {
	if lo < 0 {
		y = y.Narrow(d, -lo, y.Size(d)+lo)
		lo = 0
	}
	if hi < 0 {
		y = y.Narrow(d, 0, y.Size(d)+hi)
		hi = 0
	}
	if lo == 0 && hi == 0 {
		return y
	}
	block := func(m int) *tensor.Tensor {
		sh := y.Shape()
		sh[d] = m
		return tensor.FullOf(y.DType(), value, sh...).ToDevice(y.Device())
	}
	parts := []*tensor.Tensor{}
	if lo > 0 {
		parts = append(parts, block(lo))
	}
	parts = append(parts, y)
	if hi > 0 {
		parts = append(parts, block(hi))
	}
	return tensor.Cat(parts, d)
}
