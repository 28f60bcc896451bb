package cpu

import (
	"fmt"

	"github.com/tapir-ml/tapir/backend"
)

// Nearest interpolation in one pass, forward and backward
// (backend.NearestInterpolater). The forward gathers each output row
// from its input row, once for consecutive output rows that read the same
// input row (those of a 2× upscaling); a 2× upscaling along W writes each
// input element twice. The backward
// adds up the output gradient's rows that read each input row (a vector
// addition for float32), then sums that row's elements into the input
// elements they read: in order, as the composed IndexSelect backward
// does, so the values are the same (but for the sign of a zero sum).

// InterpolateNearest sets dst, a contiguous [N, C, O…], to the elements
// of src, [N, C, W] or [N, C, H, W] with any strides, that the indices
// name: along spatial dim d, output index o reads input index
// index[d][o]. Planes are split over threads. Float types only. With
// InterpolateNearestBackward it implements backend.NearestInterpolater.
func (*CPU) InterpolateNearest(dst, src backend.View, index [][]int) {
	const op = "interpolate nearest"
	checkNearest(op, dst, src, index, false)
	switch src.DType() {
	case backend.Float32:
		nearestT[float32](dst, src, index)
	case backend.Float64:
		nearestT[float64](dst, src, index)
	default:
		panic(badDType(op, src.DType()))
	}
}

// InterpolateNearestBackward is InterpolateNearest's adjoint: it sets
// dst, a contiguous [N, C, S…], to the gradient of the input for g, the
// contiguous gradient of the output: each input element gets the sum of
// the elements of g that read it (summed over H first, then W, each in
// the order of the output indices), or 0. Float types only.
func (*CPU) InterpolateNearestBackward(dst, g backend.View, index [][]int) {
	const op = "interpolate nearest backward"
	checkNearest(op, g, dst, index, true)
	switch g.DType() {
	case backend.Float32:
		nearestBackwardT[float32](dst, g, index)
	case backend.Float64:
		nearestBackwardT[float64](dst, g, index)
	default:
		panic(badDType(op, g.DType()))
	}
}

// checkNearest panics unless out ([N, C, O…], contiguous) and in
// ([N, C, S…], contiguous too with inContiguous) fit the indices: a bug
// in the caller, which has checked the user's arguments.
func checkNearest(op string, out, in backend.View, index [][]int, inContiguous bool) {
	nsp := len(index)
	ok := (nsp == 1 || nsp == 2) && len(out.Shape) == nsp+2 && len(in.Shape) == nsp+2 &&
		out.Shape[0] == in.Shape[0] && out.Shape[1] == in.Shape[1] && out.DType() == in.DType() &&
		out.IsContiguous() && (!inContiguous || in.IsContiguous())
	for d := 0; ok && d < nsp; d++ {
		ok = len(index[d]) == out.Shape[2+d]
		for _, i := range index[d] {
			ok = ok && i >= 0 && i < in.Shape[2+d]
		}
	}
	if !ok {
		panic(fmt.Sprintf("cpu: %s: output %v and input %v do not fit %d dims of indices", op, out.Shape, in.Shape, nsp))
	}
}

// isDouble reports whether index is a 2× upscaling of n elements: o
// reads o/2.
func isDouble(index []int, n int) bool {
	if len(index) != 2*n {
		return false
	}
	for o, i := range index {
		if i != o/2 {
			return false
		}
	}
	return true
}

// nearestRows are the rows of an op: for nsp 2, index[0]; for nsp 1, the
// single row 0.
func nearestRows(index [][]int) []int {
	if len(index) == 2 {
		return index[0]
	}
	return []int{0}
}

func nearestT[T float](dst, src backend.View, index [][]int) {
	n := dst.Numel()
	if n == 0 {
		return
	}
	nsp := len(index)
	xs, ys := slice[T](src.Storage), slice[T](dst.Storage)[dst.Offset:dst.Offset+n]
	wi, sw := index[nsp-1], src.Strides[nsp+1]
	wo := len(wi)
	double := sw == 1 && isDouble(wi, src.Shape[nsp+1])
	off := make([]int, wo) // the offsets of the elements of an input row that W reads
	for o, i := range wi {
		off[o] = i * sw
	}
	rows, sh := nearestRows(index), 0
	if nsp == 2 {
		sh = src.Strides[2]
	}
	plane := len(rows) * wo
	parallelFor(src.Shape[0]*src.Shape[1], max(1, grain/plane), func(lo, hi int) {
		// each row is made in cache and copied out: element stores
		// straight into memory the cache does not hold stall, where
		// copy's wide ones stream
		buf := make([]T, wo)
		for p := lo; p < hi; p++ {
			base, out := planeBase(src, p), ys[p*plane:(p+1)*plane]
			for oh, r := range rows {
				switch {
				case oh > 0 && r == rows[oh-1]:
				case double:
					doubleRow(buf, xs[base+r*sh:base+r*sh+wo/2])
				default:
					nearestGather(buf, xs, base+r*sh, off)
				}
				copy(out[oh*wo:(oh+1)*wo], buf)
			}
		}
	})
}

// doubleRow sets out[2j] = out[2j+1] = x[j].
//
//go:noinline
func doubleRow[T float](out, x []T) {
	out = out[:2*len(x)]
	for j, v := range x {
		i := 2 * j
		out[i], out[i+1] = v, v
	}
}

// nearestGather sets out[o] = x[base + off[o]].
//
//go:noinline
func nearestGather[T float](out, x []T, base int, off []int) {
	off = off[:len(out)]
	for o := range out {
		out[o] = x[base+off[o]]
	}
}

func nearestBackwardT[T float](dst, g backend.View, index [][]int) {
	dx, gs, ok := gradOperands[T](dst, g)
	if !ok {
		return
	}
	nsp := len(index)
	wi, win := index[nsp-1], dst.Shape[nsp+1]
	wo := len(wi)
	double := isDouble(wi, win)
	cols := invertIndex(wi, win) // the output columns that read each input column
	hin := 1
	if nsp == 2 {
		hin = dst.Shape[2]
	}
	rows := invertIndex(nearestRows(index), hin) // the output rows that read each input row
	iplane, oplane := hin*win, len(nearestRows(index))*wo
	parallelFor(dst.Shape[0]*dst.Shape[1], max(1, grain/oplane), func(lo, hi int) {
		acc := make([]T, wo)
		var add func(d, a, b []T)
		if !vecOff {
			add = vecFor[T]().bin[vbAdd]
		}
		for p := lo; p < hi; p++ {
			gp, dp := gs[p*oplane:(p+1)*oplane], dx[p*iplane:(p+1)*iplane]
			for i := range hin {
				d := dp[i*win : (i+1)*win]
				rs := rows.of(i)
				var a []T // the sum of the rows of g that read input row i
				switch len(rs) {
				case 0:
					clear(d)
					continue
				case 1:
					a = gp[rs[0]*wo : rs[0]*wo+wo]
				default:
					a = acc
					addRows(add, a, gp[rs[0]*wo:rs[0]*wo+wo], gp[rs[1]*wo:rs[1]*wo+wo])
					for _, r := range rs[2:] {
						addRows(add, a, a, gp[r*wo:r*wo+wo])
					}
				}
				if double {
					sumPairs(d, a)
				} else {
					gatherSums(d, a, cols)
				}
			}
		}
	})
}

// addRows sets d = a + b, with the vector kernel add unless it is nil.
func addRows[T float](add func(d, a, b []T), d, a, b []T) {
	if add != nil {
		add(d, a, b)
		return
	}
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] + b[i]
	}
}

// inverseIndex lists, for each of n input indices, the output indices
// that read it, in order: those of input i are list[start[i]:start[i+1]].
type inverseIndex struct {
	start, list []int
}

func invertIndex(index []int, n int) inverseIndex {
	v := inverseIndex{start: make([]int, n+1), list: make([]int, len(index))}
	for _, i := range index {
		v.start[i+1]++
	}
	for i := range n {
		v.start[i+1] += v.start[i]
	}
	next := append([]int(nil), v.start[:n]...)
	for o, i := range index {
		v.list[next[i]] = o
		next[i]++
	}
	return v
}

// of are the output indices that read input index i.
func (v inverseIndex) of(i int) []int { return v.list[v.start[i]:v.start[i+1]] }

// gatherSums sets d[j] to the sum, in order, of the a[o] for the output
// indices o that read input index j (0 for none).
//
//go:noinline
func gatherSums[T float](d, a []T, cols inverseIndex) {
	start := cols.start[:len(d)+1]
	k := start[0]
	list := cols.list[:start[len(d)]]
	for j := range d {
		var s T
		for e := start[j+1]; k < e; k++ {
			s += a[list[k]]
		}
		d[j] = s
	}
}
