package cpu

import (
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// Softmax implements backend.Backend.
func (*CPU) Softmax(dst, src backend.View, dim int, log bool) {
	switch src.DType() {
	case backend.Float32:
		softmaxT[float32](dst, src, dim, log)
	case backend.Float64:
		softmaxT[float64](dst, src, dim, log)
	default:
		panic(badDType("softmax", src.DType()))
	}
}

func softmaxT[T float](dst, src backend.View, dim int, log bool) {
	d, s := slice[T](dst.Storage), slice[T](src.Storage)
	n := src.Shape[dim]
	if n == 0 || dst.Numel() == 0 {
		return
	}
	ds, ss := dst.Strides[dim], src.Strides[dim]
	it := lanes(dim, dst.Layout, src.Layout)
	_, st := it.inner()
	fast := !vecOff && (ds == 1 && ss == 1 || n == 1)
	it.each(max(1, grain/8/max(n, 1)), func(off [maxOps]int, m int) {
		od, os := off[0], off[1]
		for k := 0; k < m; k, od, os = k+1, od+st[0], os+st[1] {
			if fast {
				softmaxRow(d[od:od+n], s[os:os+n], log)
				continue
			}
			mx := math.Inf(-1)
			for j, q := 0, os; j < n; j, q = j+1, q+ss {
				if x := float64(s[q]); x > mx || x != x {
					mx = x
				}
			}
			if math.IsInf(mx, -1) {
				mx = 0 // all -Inf: exp gives 0s and the result NaN, as torch
			}
			sum := 0.0
			for j, q := 0, os; j < n; j, q = j+1, q+ss {
				sum += math.Exp(float64(s[q]) - mx)
			}
			if log {
				lse := mx + math.Log(sum)
				for j, q, o := 0, os, od; j < n; j, q, o = j+1, q+ss, o+ds {
					d[o] = T(float64(s[q]) - lse)
				}
			} else {
				inv := 1 / sum
				for j, q, o := 0, os, od; j < n; j, q, o = j+1, q+ss, o+ds {
					d[o] = T(math.Exp(float64(s[q])-mx) * inv)
				}
			}
		}
	})
}

// softmaxRow is the softmax (or log-softmax) of one contiguous lane with
// the contiguous kernels of vec.go: e = exp(x − max) written into d, its
// sum in float64 (expShifted), then d = e·(1/Σ) or d = x − (max + ln Σ)
// (in float64, so the logarithm of a sum near 1 keeps its relative
// accuracy). The results are as the generic loop's within a few ulps: the
// difference is the float32 rounding of x − max and of exp.
func softmaxRow[T float](d, s []T, log bool) {
	if len(s) == 0 {
		return
	}
	mx, sum := expShifted(d, s)
	if log {
		lse := float64(mx) + math.Log(sum)
		s = s[:len(d)]
		for i, x := range s {
			d[i] = T(float64(x) - lse)
		}
		return
	}
	vecFor[T]().un[vuMuls](d, d, T(1/sum), 0)
}

// expShifted writes e = exp(x − mx) of a non-empty contiguous lane s into
// d and returns mx, the lane's maximum (NaN if it holds one, 0 if every
// element is −Inf, so that the sum is 0 and a log-sum-exp −Inf, as
// torch's), and Σ e in float64.
func expShifted[T float](d, s []T) (mx T, sum float64) {
	mx = laneMax(s)
	if math.IsInf(float64(mx), -1) {
		mx = 0
	}
	k := vecFor[T]()
	k.un[vuAdds](d, s, -mx, 0)
	k.un[vuExp](d, d, 0, 0)
	return mx, sumRow(d)
}

// laneMax is the largest element of a non-empty x, or a NaN if it holds
// one: for float32 by the reduction kernel (reduce_vec.go), which of ±0
// it returns aside, as the loop does.
func laneMax[T float](x []T) T {
	if x32, ok := any(x).([]float32); ok {
		return T(red32.max(x32))
	}
	mx := x[0]
	for _, v := range x[1:] {
		if v > mx || v != v {
			mx = v
		}
	}
	return mx
}

// SoftmaxBackward writes the gradient of Softmax (or, with log, of
// log-softmax) along the last dim: with y the forward's output and g the
// gradient of y, dst = y⊙(g − Σ g⊙y) for softmax and dst = g − exp(y)·Σ g
// for log-softmax, the sums over each row. The three operands are
// contiguous and share a shape; dst overlaps neither input. It does in one
// pass per row what the composed rule does in four tensor ops (the
// tensor package finds it with a type assertion and keeps the composed
// rule for the other cases and as the test oracle).
func (*CPU) SoftmaxBackward(dst, y, g backend.View, log bool) {
	switch y.DType() {
	case backend.Float32:
		softmaxBackwardT[float32](dst, y, g, log)
	case backend.Float64:
		softmaxBackwardT[float64](dst, y, g, log)
	default:
		panic(badDType("softmax backward", y.DType()))
	}
}

func softmaxBackwardT[T float](dst, y, g backend.View, log bool) {
	total := y.Numel()
	if total == 0 {
		return
	}
	n := y.Shape[len(y.Shape)-1]
	rows := total / n
	d, sy, sg := slice[T](dst.Storage)[dst.Offset:], slice[T](y.Storage)[y.Offset:], slice[T](g.Storage)[g.Offset:]
	k := vecFor[T]()
	parallelFor(rows, max(1, grain/4/n), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			dr, yr, gr := d[r*n:(r+1)*n:(r+1)*n], sy[r*n:(r+1)*n:(r+1)*n], sg[r*n:(r+1)*n:(r+1)*n]
			if log {
				s := sumRow(gr)
				k.un[vuExp](dr, yr, 0, 0)
				k.un[vuMuls](dr, dr, T(s), 0)
				k.bin[vbSub](dr, gr, dr)
				continue
			}
			k.un[vuAdds](dr, gr, T(-dotRow(gr, yr)), 0)
			k.bin[vbMul](dr, dr, yr)
		}
	})
}

// dotRow is Σ x⊙y in float64, in four running sums.
func dotRow[T float](x, y []T) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i]) * float64(y[i])
		s1 += float64(x[i+1]) * float64(y[i+1])
		s2 += float64(x[i+2]) * float64(y[i+2])
		s3 += float64(x[i+3]) * float64(y[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i]) * float64(y[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// sumRow is Σ x in float64: for float32 by the widening reduction kernel
// (reduce_vec.go), else in four running sums.
func sumRow[T float](x []T) float64 {
	if x32, ok := any(x).([]float32); ok {
		return red32.sum(x32)
	}
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}
