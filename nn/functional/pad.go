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
		if lo == 0 && hi == 0 || mode == "constant" {
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
	if mode == "constant" {
		y = constantPad(x, pad, value)
	}
	return y
}

// constantPad pads x with value: negative pads first narrow x (views,
// differentiable as they are); then an uninitialized output is filled
// with value and takes the kept part of x in its interior, copied without
// recording, a block of at most padBlock bytes at a time (padPart), and a
// node whose backward narrows the output's gradient to that interior (a
// view, so that it is itself differentiable). Building each padded dim
// from a Cat of filled blocks instead wrote the output once per padded
// dim, the fill blocks apart, each pass over memory the last had left
// cache; it took three times torch's time on a [8, 64, 56, 56] batch.
// Filling only the border, not the whole block, is slower: the one or
// two elements per row that the columns' pads take are a strided fill,
// an element at a time.
func constantPad(x *tensor.Tensor, pad []int, value float64) *tensor.Tensor {
	y := x
	shape := x.Shape()
	off := make([]int, x.Dim()) // where y starts in the output, per dim
	grow := false
	for j := 0; j < len(pad)/2; j++ {
		d := x.Dim() - 1 - j
		lo, hi := pad[2*j], pad[2*j+1]
		if lo < 0 {
			y = y.Narrow(d, -lo, y.Size(d)+lo)
		}
		if hi < 0 {
			y = y.Narrow(d, 0, y.Size(d)+hi)
		}
		off[d] = max(lo, 0)
		shape[d] = y.Size(d) + max(lo, 0) + max(hi, 0)
		grow = grow || lo > 0 || hi > 0
	}
	if !grow {
		return y
	}
	// an uninitialized output of x's dtype and device: EmptyLike of a
	// scalar broadcast to the output's shape
	out := tensor.EmptyLike(tensor.FullOf(y.DType(), 0).ToDevice(y.Device()).Expand(shape...))
	padPart(out, y.Detach(), off, 0, value)
	return tensor.RecordFunction("constant_pad", []*tensor.Tensor{y}, []*tensor.Tensor{out}, nil,
		func(_, gs []*tensor.Tensor) []*tensor.Tensor {
			g := gs[0]
			for d := range shape {
				if shape[d] != y.Size(d) {
					g = g.Narrow(d, off[d], y.Size(d))
				}
			}
			return []*tensor.Tensor{g}
		})[0]
}

// padBlock is the most bytes of output that padPart fills and then copies
// into at once, so that the copy finds the filled block in cache. (128
// KiB to 1 MiB time alike on the [8, 64, 58, 58] float32 output.)
const padBlock = 256 << 10

// padPart writes value into o, a block of the output that is whole in
// dims d and up (a single index in the dims before d, or whole), and src
// into it at offsets off (in dims d and up). src is the part of the
// input that falls in o, nil if none does. Blocks larger than padBlock
// are split along dim d into runs of whole blocks, recursing to dim d+1
// where a single index is still too large.
func padPart(o, src *tensor.Tensor, off []int, d int, value float64) {
	if src != nil && src.Numel() == 0 {
		src = nil
	}
	if src == nil || d == o.Dim() || o.Numel()*o.DType().Size() <= padBlock {
		o.FillIn(value)
		if src == nil {
			return
		}
		for k := d; k < o.Dim(); k++ {
			o = o.Narrow(k, off[k], src.Size(k))
		}
		o.CopyIn(src)
		return
	}
	n := o.Size(d)
	step := max(1, padBlock/(o.Numel()/n*o.DType().Size()))
	for i := 0; i < n; i += step {
		m := min(step, n-i)
		// the rows [a, b) of the chunk's [i, i+m) that src covers
		var sc *tensor.Tensor
		a, b := max(i, off[d]), min(i+m, off[d]+src.Size(d))
		if a < b {
			sc = src.Narrow(d, a-off[d], b-a)
		}
		co := append([]int(nil), off...)
		co[d] = a - i
		if m > 1 {
			padPart(o.Narrow(d, i, m), sc, co, d, value) // within padBlock
		} else {
			padPart(o.Narrow(d, i, m), sc, co, d+1, value)
		}
	}
}
