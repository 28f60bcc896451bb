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
func reluBackwardSplit[T float](d, g, y []T) { binarySplit(vbReluGrad, d, g, y) }

// ActivationBackward implements backend.ActivationBackwarder. Hardsigmoid,
// Hardswish, Sigmoid and Tanh have binary kernels of g and x (the
// output, for the last two: vbHardsigmoidGrad, vbHardswishGrad,
// vbSigmoidGrad, vbTanhGrad); LeakyReLU, ELU, SiLU, GELU and GELUTanh a
// kernel of their derivative (vuLeakyGrad, vuEluGrad, vuSiluGrad,
// vuGeluGrad, vuGeluTanhGrad) whose
// values g multiplies block by block, in the cache. Both are AVX-512 or
// AVX2 for float32, and run over the threads.
func (*CPU) ActivationBackward(op backend.UnaryOp, dst, g, x backend.View, p backend.Scalars) bool {
	bk, uk := vecBin(numVecBin), vecUn(numVecUn) // none
	switch op {
	case backend.Hardsigmoid:
		bk = vbHardsigmoidGrad
	case backend.Hardswish:
		bk = vbHardswishGrad
	case backend.Sigmoid:
		bk = vbSigmoidGrad
	case backend.Tanh:
		bk = vbTanhGrad
	case backend.LeakyReLU:
		uk = vuLeakyGrad
	case backend.ELU:
		uk = vuEluGrad
	case backend.SiLU:
		uk = vuSiluGrad
	case backend.GELU:
		uk = vuGeluGrad
	case backend.GELUTanh:
		uk = vuGeluTanhGrad
	default:
		return false
	}
	n := x.Numel()
	if dst.Numel() != n || g.Numel() != n || !dst.IsContiguous() || !g.IsContiguous() || !x.IsContiguous() ||
		dst.DType() != x.DType() || g.DType() != x.DType() {
		panic("cpu: " + op.String() + "_backward: operands must be contiguous, of one shape and dtype")
	}
	switch x.DType() {
	case backend.Float32:
		activationGrad(bk, uk, float32(p.A), float32(p.B), slice[float32](dst.Storage)[dst.Offset:dst.Offset+n],
			slice[float32](g.Storage)[g.Offset:g.Offset+n], slice[float32](x.Storage)[x.Offset:x.Offset+n])
	case backend.Float64:
		activationGrad(bk, uk, p.A, p.B, slice[float64](dst.Storage)[dst.Offset:dst.Offset+n],
			slice[float64](g.Storage)[g.Offset:g.Offset+n], slice[float64](x.Storage)[x.Offset:x.Offset+n])
	default:
		panic(badDType(op.String()+"_backward", x.DType()))
	}
	return true
}

// derivBlock is the length of the blocks of f′(x) that activationGrad
// computes and multiplies by g while they are in the L1 cache.
const derivBlock = 2048

// activationGrad sets d = g·f′(x): with the binary kernel bk where uk is
// numVecUn (none), else with the derivative kernel uk (scalars a, b) into
// a block of scratch, then vbMul of g and the block into d (d may be g).
func activationGrad[T float](bk vecBin, uk vecUn, a, b T, d, g, x []T) {
	if uk == numVecUn {
		binarySplit(bk, d, g, x)
		return
	}
	k := vecFor[T]()
	fd, mul := k.un[uk], k.bin[vbMul]
	parallelFor(len(x), grain, func(lo, hi int) {
		sp := getScratch[T](derivBlock)
		defer putScratch(sp)
		buf := *sp
		for i := lo; i < hi; i += derivBlock {
			j := min(i+derivBlock, hi)
			fd(buf[:j-i], x[i:j], a, b)
			mul(d[i:j], g[i:j], buf[:j-i])
		}
	})
}

// binarySplit runs the binary kernel k over the threads.
func binarySplit[T float](k vecBin, d, x, y []T) {
	f := vecFor[T]().bin[k]
	parallelFor(len(y), grain, func(lo, hi int) { f(d[lo:hi], x[lo:hi], y[lo:hi]) })
}
