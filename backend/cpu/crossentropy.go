package cpu

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// CrossEntropy implements backend.CrossEntropier.
func (*CPU) CrossEntropy(lse, x, target backend.View, ignore int64) (float64, int, error) {
	n, c := ceCheck("cross_entropy", x, target)
	if lse.Numel() != n || !lse.IsContiguous() || lse.DType() != x.DType() {
		panic(fmt.Sprintf("cpu: cross_entropy: lse %v (%v) for logits %v (%v)", lse.Shape, lse.DType(), x.Shape, x.DType()))
	}
	t := slice[int64](target.Storage)[target.Offset : target.Offset+n]
	for _, v := range t {
		if v != ignore && (v < 0 || v >= int64(c)) {
			return 0, 0, fmt.Errorf("target %d is out of bounds for %d classes: %w", v, c, backend.ErrIndex)
		}
	}
	switch x.DType() {
	case backend.Float32:
		s, k := crossEntropyT(slice[float32](lse.Storage)[lse.Offset:lse.Offset+n], slice[float32](x.Storage)[x.Offset:x.Offset+n*c], t, c, ignore)
		return s, k, nil
	case backend.Float64:
		s, k := crossEntropyT(slice[float64](lse.Storage)[lse.Offset:lse.Offset+n], slice[float64](x.Storage)[x.Offset:x.Offset+n*c], t, c, ignore)
		return s, k, nil
	}
	panic(badDType("cross_entropy", x.DType()))
}

// CrossEntropyBackward implements backend.CrossEntropier.
func (*CPU) CrossEntropyBackward(dx, x, lse, target backend.View, ignore int64, scale float64) {
	n, c := ceCheck("cross_entropy_backward", x, target)
	if dx.Numel() != n*c || !dx.IsContiguous() || dx.DType() != x.DType() || lse.Numel() != n || !lse.IsContiguous() || lse.DType() != x.DType() {
		panic(fmt.Sprintf("cpu: cross_entropy_backward: dx %v, lse %v for logits %v", dx.Shape, lse.Shape, x.Shape))
	}
	t := slice[int64](target.Storage)[target.Offset : target.Offset+n]
	switch x.DType() {
	case backend.Float32:
		crossEntropyBackwardT(slice[float32](dx.Storage)[dx.Offset:dx.Offset+n*c], slice[float32](x.Storage)[x.Offset:x.Offset+n*c],
			slice[float32](lse.Storage)[lse.Offset:lse.Offset+n], t, c, ignore, scale)
	case backend.Float64:
		crossEntropyBackwardT(slice[float64](dx.Storage)[dx.Offset:dx.Offset+n*c], slice[float64](x.Storage)[x.Offset:x.Offset+n*c],
			slice[float64](lse.Storage)[lse.Offset:lse.Offset+n], t, c, ignore, scale)
	default:
		panic(badDType("cross_entropy_backward", x.DType()))
	}
}

// ceCheck checks the logits and targets of the cross-entropy kernels and
// returns N and C.
func ceCheck(op string, x, target backend.View) (n, c int) {
	if len(x.Shape) != 2 || !x.IsContiguous() || target.Numel() != x.Shape[0] || !target.IsContiguous() || target.DType() != backend.Int64 {
		panic(fmt.Sprintf("cpu: %s: logits %v and target %v (%v): want contiguous [N, C] and Int64 [N]", op, x.Shape, target.Shape, target.DType()))
	}
	return x.Shape[0], x.Shape[1]
}

// crossEntropyT computes each kept row's log-sum-exp (expShifted: the
// vector exp, the sum in float64) with the rows split over the threads,
// then sums lse − x[t] over the kept rows in row order, so the loss does
// not depend on the thread count.
func crossEntropyT[T float](lse, x []T, t []int64, c int, ignore int64) (sum float64, kept int) {
	parallelFor(len(t), max(1, grain/max(c, 1)), func(lo, hi int) {
		e := make([]T, c)
		for i := lo; i < hi; i++ {
			if t[i] == ignore || c == 0 {
				lse[i] = 0
				continue
			}
			mx, s := expShifted(e, x[i*c:i*c+c])
			lse[i] = T(float64(mx) + math.Log(s))
		}
	})
	for i, ti := range t {
		if ti != ignore {
			sum += float64(lse[i]) - float64(x[i*c+int(ti)])
			kept++
		}
	}
	return sum, kept
}

// crossEntropyBackwardT writes scale·(exp(x − lse) − onehot) for each
// kept row with the vector kernels, the rows split over the threads.
func crossEntropyBackwardT[T float](dx, x, lse []T, t []int64, c int, ignore int64, scale float64) {
	k := vecFor[T]()
	parallelFor(len(t), max(1, grain/max(c, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d := dx[i*c : i*c+c]
			if t[i] == ignore {
				clear(d)
				continue
			}
			k.un[vuAdds](d, x[i*c:i*c+c], -lse[i], 0)
			k.un[vuExp](d, d, 0, 0)
			k.un[vuMuls](d, d, T(scale), 0)
			d[t[i]] -= T(scale)
		}
	})
}
