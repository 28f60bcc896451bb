package cpu

import (
	"github.com/tapir-ml/tapir/backend"
)

// ReLUBackward implements backend.ReLUBackwarder.
func (*CPU) ReLUBackward(dst, g, y backend.View) {
	n := y.Numel()
	if dst.Numel() != n || g.Numel() != n || !dst.IsContiguous() || !g.IsContiguous() || !y.IsContiguous() ||
		dst.DType() != y.DType() || g.DType() != y.DType() {
		panic("cpu: relu_backward: operands must be contiguous, of one shape and dtype")
	}
	switch y.DType() {
	case backend.Float32:
		reluBackwardSplit(slice[float32](dst.Storage)[dst.Offset:dst.Offset+n],
			slice[float32](g.Storage)[g.Offset:g.Offset+n], slice[float32](y.Storage)[y.Offset:y.Offset+n])
	case backend.Float64:
		reluBackwardSplit(slice[float64](dst.Storage)[dst.Offset:dst.Offset+n],
			slice[float64](g.Storage)[g.Offset:g.Offset+n], slice[float64](y.Storage)[y.Offset:y.Offset+n])
	default:
		panic(badDType("relu_backward", y.DType()))
	}
}

// reluBackwardSplit runs the vbReluGrad kernel (AVX-512 or AVX2 for
// float32, a Go select otherwise) over the threads: d = (y ≤ 0 ? 0 : g)
// per element, torch's threshold_backward, a select rather than a
// product with a 0/1 mask, so an infinite or NaN g where y ≤ 0 still
// gives 0 and a NaN y passes g.
func reluBackwardSplit[T float](d, g, y []T) {
	f := vecFor[T]().bin[vbReluGrad]
	parallelFor(len(y), grain, func(lo, hi int) { f(d[lo:hi], g[lo:hi], y[lo:hi]) })
}
