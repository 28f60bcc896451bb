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
	rows := fast && n <= softmaxRowsMaxN && st[0] == n && st[1] == n // short lanes back to back
	it.each(max(1, grain/8/max(n, 1)), func(off [maxOps]int, m int) {
		od, os := off[0], off[1]
		if rows {
			softmaxRows(d[od:od+m*n], s[os:os+m*n], n, log)
			return
		}
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

// softmaxRowsMaxN is the longest lane that softmaxRows (and
// softmaxBackwardRows) take: on short lanes the kernel calls softmaxRow
// makes per lane cost more than the lane's arithmetic. LogSoftmax(1) of
// [128,n] (one thread, µs, a lane at a time against lanes back to back):
// n = 10: 13.6 against 6.1, and with its backward 20.0 against 10.4;
// n = 16: 10.6 against 7.9; n = 32: 16.5 either way.
const softmaxRowsMaxN = 24

// softmaxRows is softmaxRow over len(s)/n lanes of n laid back to back in
// d and s, with one exp kernel call per block of lanes instead of four
// calls per lane: the maxima, shifts, sums and the last pass run in Go.
// Each element is computed as softmaxRow computes it (x − max and exp in
// T, the sum and the log-sum-exp in float64), the sum's order aside.
func softmaxRows[T float](d, s []T, n int, log bool) {
	const block = 64 // lanes per exp call
	var mxs [block]T
	exp := vecFor[T]().un[vuExp]
	lanes := len(s) / n
	for l0 := 0; l0 < lanes; l0 += block {
		l1 := min(lanes, l0+block)
		for l := l0; l < l1; l++ {
			sr, dr := s[l*n:(l+1)*n], d[l*n:(l+1)*n]
			mx := sr[0]
			for _, v := range sr[1:] {
				if v > mx || v != v {
					mx = v
				}
			}
			if math.IsInf(float64(mx), -1) {
				mx = 0 // all −Inf: see expShifted
			}
			mxs[l-l0] = mx
			for j, v := range sr {
				dr[j] = v - mx
			}
		}
		e := d[l0*n : l1*n]
		exp(e, e, 0, 0)
		for l := l0; l < l1; l++ {
			dr := d[l*n : (l+1)*n]
			sum := sumGo(dr)
			if log {
				lse := float64(mxs[l-l0]) + math.Log(sum)
				for j, x := range s[l*n : (l+1)*n] {
					dr[j] = T(float64(x) - lse)
				}
				continue
			}
			inv := T(1 / sum)
			for j := range dr {
				dr[j] *= inv
			}
		}
	}
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
		if n <= softmaxRowsMaxN && !vecOff {
			softmaxBackwardRows(d[lo*n:hi*n], sy[lo*n:hi*n], sg[lo*n:hi*n], n, log)
			return
		}
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

// softmaxBackwardRows is softmaxBackwardT's loop over the rows of n ≤
// softmaxRowsMaxN laid back to back in d, y and g, with one exp kernel
// call per block of rows (log) or none, instead of two to four calls per
// row. Each element is computed as the loop computes it, the sums' order
// aside (the explicit conversions keep Go from fusing a multiply and an
// add that the loop rounds apart).
func softmaxBackwardRows[T float](d, y, g []T, n int, log bool) {
	if !log {
		for r := 0; r < len(y)/n; r++ {
			dr, yr, gr := d[r*n:(r+1)*n], y[r*n:(r+1)*n], g[r*n:(r+1)*n]
			c := T(-dotRow(gr, yr))
			for j, v := range gr {
				dr[j] = T(v+c) * yr[j]
			}
		}
		return
	}
	vecFor[T]().un[vuExp](d, y, 0, 0)
	for r := 0; r < len(y)/n; r++ {
		dr, gr := d[r*n:(r+1)*n], g[r*n:(r+1)*n]
		s := T(sumGo(gr))
		for j, v := range gr {
			dr[j] = v - T(dr[j]*s)
		}
	}
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
	return sumGo(x)
}

// sumGo is Σ x in float64 in Go, in four running sums: sumRow without the
// kernel call, for the short lanes of softmaxRows.
func sumGo[T float](x []T) float64 {
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
