package cpu

import (
	"fmt"
	"slices"

	"github.com/tapir-ml/tapir/backend"
)

// MSELoss implements backend.MSELosser: one pass over x and y, the
// differences' squares summed in float64 (for float32 by the sqDiff
// kernel of reduce_vec.go, AVX-512 or AVX2 where the CPU has it), split
// over the threads as Reduce splits a full sum, the parts' sums added in
// order.
func (*CPU) MSELoss(dst, x, y backend.View, mean bool) {
	n := mseCheck("mse_loss", x, y)
	if dst.Numel() != 1 || len(dst.Shape) != 0 || dst.DType() != x.DType() {
		panic(fmt.Sprintf("cpu: mse_loss: dst %v (%v) for %v", dst.Shape, dst.DType(), x.DType()))
	}
	var s float64
	switch x.DType() {
	case backend.Float32:
		if n > 0 {
			s = sqDiffSum(slice[float32](x.Storage)[x.Offset:x.Offset+n], slice[float32](y.Storage)[y.Offset:y.Offset+n])
		}
		if mean {
			s /= float64(n)
		}
		slice[float32](dst.Storage)[dst.Offset] = float32(s)
	case backend.Float64:
		if n > 0 {
			s = sqDiffSum(slice[float64](x.Storage)[x.Offset:x.Offset+n], slice[float64](y.Storage)[y.Offset:y.Offset+n])
		}
		if mean {
			s /= float64(n)
		}
		slice[float64](dst.Storage)[dst.Offset] = s
	default:
		panic(badDType("mse_loss", x.DType()))
	}
}

// mseCheck panics unless x and y are contiguous, of one float DType and
// one shape, and returns their number of elements.
func mseCheck(op string, x, y backend.View) int {
	n := x.Numel()
	if !slices.Equal(x.Shape, y.Shape) || !x.IsContiguous() || !y.IsContiguous() || x.DType() != y.DType() {
		panic(fmt.Sprintf("cpu: %s: operands %v (%v) and %v (%v) must be contiguous, of one shape and dtype", op, x.Shape, x.DType(), y.Shape, y.DType()))
	}
	return n
}

// sqDiffSum is Σ (x − y)² in float64, on the threads when it is long:
// NumThreads parts, whose sums are added in order, as Reduce adds the
// parts of a full sum.
func sqDiffSum[T float](x, y []T) float64 {
	n, p := len(x), NumThreads()
	if p == 1 || n < 2*grain {
		return sqDiffRun(x, y)
	}
	partial := make([]float64, p)
	parallelFor(p, 1, func(lo, hi int) {
		for part := lo; part < hi; part++ {
			a, b := n*part/p, n*(part+1)/p
			partial[part] = sqDiffRun(x[a:b], y[a:b])
		}
	})
	var s float64
	for _, v := range partial {
		s += v
	}
	return s
}

// sqDiffRun is Σ (x − y)² over one run: red32's sqDiff kernel for
// float32 (unless vecOff, as Reduce's float32 sums), else sqDiffSeg.
func sqDiffRun[T float](x, y []T) float64 {
	if x32, ok := any(x).([]float32); ok && !vecOff {
		return red32.sqDiff(x32, any(y).([]float32))
	}
	return sqDiffSeg(x, y)
}

// sqDiffSeg is Σ (x − y)² in float64 with eight independent partial
// sums, as sumSeg adds: each difference rounded to T, then squared.
func sqDiffSeg[T float](x, y []T) float64 {
	y = y[:len(x)]
	var s [8]float64
	i := 0
	for ; i+8 <= len(x); i += 8 {
		for k := range s {
			d := float64(x[i+k] - y[i+k])
			s[k] += d * d
		}
	}
	for ; i < len(x); i++ {
		d := float64(x[i] - y[i])
		s[0] += d * d
	}
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

// MSELossBackward implements backend.MSELosser. Over blocks of
// derivBlock elements, in the cache: the difference (vbSub, or for dy
// alone y − x, its exact negation) into the output, times norm and then
// g (vuMuls twice), and dy = −dx (vuNeg); SIMD for float32, and over the
// threads.
func (*CPU) MSELossBackward(dx, dy, x, y, g backend.View, norm float64) {
	n := mseCheck("mse_loss_backward", x, y)
	for _, d := range []backend.View{dx, dy} {
		if d.Storage != nil && (!slices.Equal(d.Shape, x.Shape) || !d.IsContiguous() || d.DType() != x.DType()) {
			panic(fmt.Sprintf("cpu: mse_loss_backward: gradient %v (%v) for %v (%v)", d.Shape, d.DType(), x.Shape, x.DType()))
		}
	}
	if g.Numel() != 1 || g.DType() != x.DType() {
		panic(fmt.Sprintf("cpu: mse_loss_backward: output gradient %v (%v) for %v", g.Shape, g.DType(), x.DType()))
	}
	if n == 0 || dx.Storage == nil && dy.Storage == nil {
		return
	}
	switch x.DType() {
	case backend.Float32:
		mseBackwardT(optSlice[float32](dx, n), optSlice[float32](dy, n), slice[float32](x.Storage)[x.Offset:x.Offset+n],
			slice[float32](y.Storage)[y.Offset:y.Offset+n], slice[float32](g.Storage)[g.Offset], float32(norm))
	case backend.Float64:
		mseBackwardT(optSlice[float64](dx, n), optSlice[float64](dy, n), slice[float64](x.Storage)[x.Offset:x.Offset+n],
			slice[float64](y.Storage)[y.Offset:y.Offset+n], slice[float64](g.Storage)[g.Offset], norm)
	default:
		panic(badDType("mse_loss_backward", x.DType()))
	}
}

// mseBackwardT sets dx = (norm·(x − y))·g and dy = −dx (either nil for
// none), torch's mse_loss_backward rounding.
func mseBackwardT[T float](dx, dy, x, y []T, g, norm T) {
	k := vecFor[T]()
	sub, muls, neg := k.bin[vbSub], k.un[vuMuls], k.un[vuNeg]
	parallelFor(len(x), grain, func(lo, hi int) {
		for i := lo; i < hi; i += derivBlock {
			j := min(i+derivBlock, hi)
			if dx == nil {
				// y − x is −(x − y) exactly, and so are its products
				d := dy[i:j]
				sub(d, y[i:j], x[i:j])
				muls(d, d, norm, 0)
				muls(d, d, g, 0)
				continue
			}
			d := dx[i:j]
			sub(d, x[i:j], y[i:j])
			muls(d, d, norm, 0)
			muls(d, d, g, 0)
			if dy != nil {
				neg(dy[i:j], d, 0, 0)
			}
		}
	})
}
