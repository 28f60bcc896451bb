package cpu

import (
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
)

// Fill implements backend.Backend.
func (*CPU) Fill(dst backend.View, v float64) {
	switch dst.DType() {
	case backend.Float32:
		fillT(slice[float32](dst.Storage), dst, float32(v))
	case backend.Float64:
		fillT(slice[float64](dst.Storage), dst, v)
	case backend.Float16:
		fillT(slice[uint16](dst.Storage), dst, backend.Float32ToFloat16(float32(v)))
	case backend.BFloat16:
		fillT(slice[uint16](dst.Storage), dst, backend.Float32ToBFloat16(float32(v)))
	case backend.Int64:
		fillT(slice[int64](dst.Storage), dst, floatToInt[int64](v))
	case backend.Int32:
		fillT(slice[int32](dst.Storage), dst, floatToInt[int32](v))
	case backend.Uint8:
		fillT(slice[uint8](dst.Storage), dst, floatToInt[uint8](v))
	case backend.Bool:
		var b uint8
		if v != 0 {
			b = 1
		}
		fillT(u8(dst.Storage), dst, b)
	default:
		panic(badDType("fill", dst.DType()))
	}
}

func fillT[T any](d []T, dst backend.View, v T) {
	if dst.IsContiguous() {
		n := dst.Numel()
		if !vecOff && (n < 2*grain || NumThreads() == 1) {
			fillSlice(d[dst.Offset:dst.Offset+n], v)
			return
		}
		parallelFor(n, grain, func(lo, hi int) {
			s := d[dst.Offset+lo : dst.Offset+hi]
			if !vecOff {
				fillSlice(s, v)
				return
			}
			for i := range s {
				s[i] = v
			}
		})
		return
	}
	it := newIter(dst.Shape, dst.Layout)
	_, st := it.inner()
	it.each(grain, func(off [maxOps]int, n int) {
		if !vecOff && st[0] == 1 {
			fillSlice(d[off[0]:off[0]+n], v)
			return
		}
		for i, o := 0, off[0]; i < n; i, o = i+1, o+st[0] {
			d[o] = v
		}
	})
}

// Copy implements backend.Backend.
func (*CPU) Copy(dst, src backend.View) {
	sdt, ddt := src.DType(), dst.DType()
	if sdt == ddt || (sdt.Size() == ddt.Size() && sdt == backend.Bool && ddt == backend.Uint8) {
		switch sdt.Size() {
		case 1:
			copySame(slice[uint8](dst.Storage), slice[uint8](src.Storage), dst, src)
		case 2:
			copySame(slice[uint16](dst.Storage), slice[uint16](src.Storage), dst, src)
		case 4:
			copySame(slice[uint32](dst.Storage), slice[uint32](src.Storage), dst, src)
		case 8:
			copySame(slice[uint64](dst.Storage), slice[uint64](src.Storage), dst, src)
		}
		return
	}
	if !vecOff && (convertVec(dst, src) || convertStrided(dst, src)) {
		return
	}
	switch ddt {
	case backend.Float32:
		convertTo(slice[float32](dst.Storage), dst, src, func(f float64) float32 { return float32(f) }, func(i int64) float32 { return float32(i) })
	case backend.Float64:
		convertTo(slice[float64](dst.Storage), dst, src, func(f float64) float64 { return f }, nil)
	case backend.Float16:
		convertTo(slice[uint16](dst.Storage), dst, src, func(f float64) uint16 { return backend.Float32ToFloat16(float32(f)) }, nil)
	case backend.BFloat16:
		convertTo(slice[uint16](dst.Storage), dst, src, func(f float64) uint16 { return backend.Float32ToBFloat16(float32(f)) }, nil)
	case backend.Int64:
		convertTo(slice[int64](dst.Storage), dst, src, floatToInt[int64], func(i int64) int64 { return i })
	case backend.Int32:
		convertTo(slice[int32](dst.Storage), dst, src, floatToInt[int32], func(i int64) int32 { return int32(i) })
	case backend.Uint8:
		convertTo(slice[uint8](dst.Storage), dst, src, floatToInt[uint8], func(i int64) uint8 { return uint8(i) })
	case backend.Bool:
		convertTo(u8(dst.Storage), dst, src, func(f float64) uint8 {
			if f != 0 {
				return 1
			}
			return 0
		}, func(i int64) uint8 {
			if i != 0 {
				return 1
			}
			return 0
		})
	default:
		panic(badDType("copy", ddt))
	}
}

// floatToInt truncates toward zero; NaN and out-of-range values give 0
// rather than Go's platform-dependent result.
func floatToInt[T integer](f float64) T {
	if !(f >= -0x1p63 && f < 0x1p63) { // NaN, ±Inf, or beyond int64
		return 0
	}
	return T(int64(f))
}

func copySame[T any](d, s []T, dst, src backend.View) {
	if dst.IsContiguous() && src.IsContiguous() {
		n := dst.Numel()
		parallelFor(n, grain*4, func(lo, hi int) {
			copy(d[dst.Offset+lo:dst.Offset+hi], s[src.Offset+lo:src.Offset+hi])
		})
		return
	}
	if copyTransposed(d, s, dst, src) {
		return
	}
	it := newIter(dst.Shape, dst.Layout, src.Layout)
	n1, st := it.inner()
	if st[0] == 1 && st[1] == 1 && it.nd >= 2 && n1 < copyRowsMax && !transposeOff {
		copyRows(d, s, &it, n1)
		return
	}
	it.each(grain, func(off [maxOps]int, n int) {
		if st[0] == 1 && st[1] == 1 {
			copy(d[off[0]:off[0]+n], s[off[1]:off[1]+n])
			return
		}
		for i, o, p := 0, off[0], off[1]; i < n; i, o, p = i+1, o+st[0], p+st[1] {
			d[o] = s[p]
		}
	})
}

// copyRowsMax is the innermost run (elements) below which copySame walks
// the runs a dim at a time (copyRows) rather than one at a time: for
// short runs the iterator's step costs as much as the copy.
const copyRowsMax = 1024

// copyRows copies the runs of it, n1 elements contiguous in both d and s,
// by rows of its second-innermost dim: the iterator steps once per row of
// runs, and a plain loop copies the runs along it (an attention head
// split, [16, 128, 4, 64] permuted (0, 2, 1, 3), has runs of 64).
func copyRows[T any](d, s []T, it *iter, n1 int) {
	nd := it.nd
	sh := it.shape()[:nd-1]
	dl := backend.Layout{Shape: sh, Strides: it.strides(0)[:nd-1], Offset: it.base[0]}
	sl := backend.Layout{Shape: sh, Strides: it.strides(1)[:nd-1], Offset: it.base[1]}
	outer := newIter(sh, dl, sl)
	_, ost := outer.inner()
	sd, ss := ost[0], ost[1]
	outer.each(max(1, grain/n1), func(off [maxOps]int, n int) {
		o, p := off[0], off[1]
		for k := 0; k < n; k, o, p = k+1, o+sd, p+ss {
			copy(d[o:o+n1], s[p:p+n1])
		}
	})
}

// convertTo copies src into d converting each element: integer sources go
// through fromInt when it is given (exact for integer targets), everything
// else through float64.
func convertTo[D any](d []D, dst, src backend.View, fromFloat func(float64) D, fromInt func(int64) D) {
	it := newIter(dst.Shape, dst.Layout, src.Layout)
	_, st := it.inner()
	run := func(get func(p int) float64, geti func(p int) int64) {
		it.each(grain, func(off [maxOps]int, n int) {
			o, p := off[0], off[1]
			if geti != nil && fromInt != nil {
				for i := 0; i < n; i, o, p = i+1, o+st[0], p+st[1] {
					d[o] = fromInt(geti(p))
				}
				return
			}
			for i := 0; i < n; i, o, p = i+1, o+st[0], p+st[1] {
				d[o] = fromFloat(get(p))
			}
		})
	}
	switch src.DType() {
	case backend.Float32:
		s := slice[float32](src.Storage)
		run(func(p int) float64 { return float64(s[p]) }, nil)
	case backend.Float64:
		s := slice[float64](src.Storage)
		run(func(p int) float64 { return s[p] }, nil)
	case backend.Float16:
		s := slice[uint16](src.Storage)
		run(func(p int) float64 { return float64(backend.Float16ToFloat32(s[p])) }, nil)
	case backend.BFloat16:
		s := slice[uint16](src.Storage)
		run(func(p int) float64 { return float64(backend.BFloat16ToFloat32(s[p])) }, nil)
	case backend.Int64:
		s := slice[int64](src.Storage)
		run(func(p int) float64 { return float64(s[p]) }, func(p int) int64 { return s[p] })
	case backend.Int32:
		s := slice[int32](src.Storage)
		run(func(p int) float64 { return float64(s[p]) }, func(p int) int64 { return int64(s[p]) })
	case backend.Uint8, backend.Bool:
		s := slice[uint8](src.Storage)
		run(func(p int) float64 { return float64(s[p]) }, func(p int) int64 { return int64(s[p]) })
	default:
		panic(badDType("copy", src.DType()))
	}
}

// convertVec copies src into dst for the common conversions (Bool and
// Uint8 to floats, float32 ↔ float64, Int64 ↔ floats, floats to Bool)
// when every innermost run is contiguous in dst and contiguous or
// broadcast in src, with one loop per pair and no call per element, and
// reports whether it did. Results are those of convertTo.
func convertVec(dst, src backend.View) bool {
	sdt, ddt := src.DType(), dst.DType()
	f := castLoop(ddt, sdt)
	if f == nil {
		return false
	}
	db, sb := dst.Storage.(*Buffer), src.Storage.(*Buffer)
	dsz, ssz := ddt.Size(), sdt.Size()
	ptr := func(b *Buffer, i, size int) unsafe.Pointer {
		return unsafe.Add(unsafe.Pointer(unsafe.SliceData(b.words)), i*size)
	}
	n := dst.Numel()
	if n == 0 {
		return true
	}
	if dst.IsContiguous() && src.IsContiguous() {
		if n < 2*grain || NumThreads() == 1 {
			f(ptr(db, dst.Offset, dsz), ptr(sb, src.Offset, ssz), n)
			return true
		}
		parallelFor(n, grain, func(lo, hi int) {
			f(ptr(db, dst.Offset+lo, dsz), ptr(sb, src.Offset+lo, ssz), hi-lo)
		})
		return true
	}
	it := newIter(dst.Shape, dst.Layout, src.Layout)
	_, st := it.inner()
	if it.nd == 0 || st[0] != 1 || (st[1] != 1 && st[1] != 0) {
		return false
	}
	it.each(grain, func(off [maxOps]int, m int) {
		if st[1] == 1 {
			f(ptr(db, off[0], dsz), ptr(sb, off[1], ssz), m)
			return
		}
		f(ptr(db, off[0], dsz), ptr(sb, off[1], ssz), 1)
		d := db.Bytes()[off[0]*dsz : (off[0]+m)*dsz]
		for k := dsz; k < len(d); k *= 2 {
			copy(d[k:], d[:k])
		}
	})
	return true
}

// convertStrided copies src into dst with castLoop's loop when src is
// strided along dst's rows (a transposed view cast to another dtype):
// tiles of src are gathered (strided.go) and converted in one loop each,
// not element by element through convertTo's functions. It reports
// whether it did; results are convertVec's.
func convertStrided(dst, src backend.View) bool {
	f := castLoop(dst.DType(), src.DType())
	if f == nil {
		return false
	}
	switch dst.DType().Size() {
	case 1:
		return convertStridedTo[uint8](dst, src, f)
	case 4:
		return convertStridedTo[uint32](dst, src, f)
	case 8:
		return convertStridedTo[uint64](dst, src, f)
	}
	return false
}

// convertStridedTo is convertStrided for a destination of D-sized
// elements (the loop f knows the types; D and S only size the walk).
func convertStridedTo[D word](dst, src backend.View, f func(d, s unsafe.Pointer, n int)) bool {
	switch src.DType().Size() {
	case 1:
		return convertStridedFrom[D, uint8](dst, src, f)
	case 4:
		return convertStridedFrom[D, uint32](dst, src, f)
	case 8:
		return convertStridedFrom[D, uint64](dst, src, f)
	}
	return false
}

func convertStridedFrom[D, S word](dst, src backend.View, f func(d, s unsafe.Pointer, n int)) bool {
	it, ok := stridedIter(dst, src)
	if !ok {
		return false
	}
	_, st := it.inner()
	eachBlock[S](it, grain, unTile[D, S, castSeg[D, S]]{k: castSeg[D, S]{f}, d: slice[D](dst.Storage), x: slice[S](src.Storage), st: st})
	return true
}

// castSeg is a conversion loop over one segment.
type castSeg[D, S any] struct {
	f func(d, s unsafe.Pointer, n int)
}

func (k castSeg[D, S]) seg(d []D, x []S) {
	if len(d) > 0 {
		x = x[:len(d)]
		k.f(unsafe.Pointer(&d[0]), unsafe.Pointer(&x[0]), len(d))
	}
}

// castLoop returns the loop that converts sdt to ddt for the common
// pairs (Bool and Uint8 to floats, float32 ↔ float64, Int64 ↔ floats,
// floats to Bool), or nil.
func castLoop(ddt, sdt backend.DType) func(d, s unsafe.Pointer, n int) {
	var f func(d, s unsafe.Pointer, n int)
	switch ddt {
	case backend.Float32:
		switch sdt {
		case backend.Bool, backend.Uint8:
			f = convLoop[float32, uint8]
		case backend.Float64:
			f = convLoop[float32, float64]
		case backend.Int64:
			f = convLoop[float32, int64]
		}
	case backend.Float64:
		switch sdt {
		case backend.Bool, backend.Uint8:
			f = convLoop[float64, uint8]
		case backend.Float32:
			f = convLoop[float64, float32]
		case backend.Int64:
			f = convLoop[float64, int64]
		}
	case backend.Int64:
		switch sdt {
		case backend.Float32:
			f = convToInt64[float32]
		case backend.Float64:
			f = convToInt64[float64]
		}
	case backend.Bool:
		switch sdt {
		case backend.Float32:
			f = convToBool[float32]
		case backend.Float64:
			f = convToBool[float64]
		}
	}
	return f
}

// convLoop converts n elements of S at s to D at d: exact for the pairs
// convertVec uses it for, or the same rounding as convertTo's.
func convLoop[D float, S number](d, s unsafe.Pointer, n int) {
	dd, ss := unsafe.Slice((*D)(d), n), unsafe.Slice((*S)(s), n)
	for i, v := range ss {
		dd[i] = D(v)
	}
}

func convToInt64[S float](d, s unsafe.Pointer, n int) {
	dd, ss := unsafe.Slice((*int64)(d), n), unsafe.Slice((*S)(s), n)
	for i, v := range ss {
		dd[i] = floatToInt[int64](float64(v))
	}
}

func convToBool[S float](d, s unsafe.Pointer, n int) {
	dd, ss := unsafe.Slice((*uint8)(d), n), unsafe.Slice((*S)(s), n)
	for i, v := range ss {
		dd[i] = b2u(v != 0)
	}
}
