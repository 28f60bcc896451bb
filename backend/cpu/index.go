package cpu

import (
	"fmt"

	"github.com/tapir-ml/tapir/backend"
)

func indexErr(op string, i int64, n int) error {
	return fmt.Errorf("cpu: %s: index %d out of range for size %d: %w", op, i, n, backend.ErrIndex)
}

// forElemSize runs fn with a type of dt's width; moving elements needs no
// arithmetic, so every dtype of one width shares a kernel.
func moveKernel(dt backend.DType, f8 func(), f16 func(), f32 func(), f64 func()) {
	switch dt.Size() {
	case 1:
		f8()
	case 2:
		f16()
	case 4:
		f32()
	default:
		f64()
	}
}

// IndexSelect implements backend.Backend.
func (c *CPU) IndexSelect(dst, src backend.View, dim int, index backend.View) error {
	var err error
	moveKernel(src.DType(),
		func() { err = indexSelectT[uint8](dst, src, dim, index) },
		func() { err = indexSelectT[uint16](dst, src, dim, index) },
		func() { err = indexSelectT[uint32](dst, src, dim, index) },
		func() { err = indexSelectT[uint64](dst, src, dim, index) })
	return err
}

// selectAt is layout l with dim narrowed to the single position at.
func selectAt(l backend.Layout, dim, at int) backend.Layout {
	sh := append([]int(nil), l.Shape...)
	sh[dim] = 1
	return backend.Layout{Shape: sh, Strides: l.Strides, Offset: l.Offset + at*l.Strides[dim]}
}

// indexBlocks reports whether an index along dim moves whole contiguous
// blocks between picked and whole (a fast path, off with fastKernels):
// both contiguous, with the same shape but along dim. Then picked, as
// [outer, k, inner], takes blocks of inner elements from whole, as
// [outer, n, inner]. An embedding's lookup (IndexSelect of rows) and its
// gradient (IndexAdd of rows) ran element by element through an
// iterator per index, 30 times torch's time.
func indexBlocks(picked, whole backend.View, dim int) (outer, inner int, ok bool) {
	if !fastKernels || !picked.IsContiguous() || !whole.IsContiguous() || len(picked.Shape) != len(whole.Shape) {
		return 0, 0, false
	}
	outer, inner = 1, 1
	for i, m := range whole.Shape {
		switch {
		case i < dim:
			outer *= m
		case i > dim:
			inner *= m
		}
		if i != dim && picked.Shape[i] != m {
			return 0, 0, false
		}
	}
	return outer, inner, true
}

// addRowInto adds x to d element by element (float32 by the vector
// kernel).
func addRowInto[T number](d, x []T) {
	if d32, ok := any(d).([]float32); ok {
		vec32.bin[vbAdd](d32, d32, any(x).([]float32))
		return
	}
	x = x[:len(d)]
	for i, v := range x {
		d[i] += v
	}
}

func readIndex(index backend.View) []int64 {
	n := index.Numel()
	out := make([]int64, n)
	ix := slice[int64](index.Storage)
	if len(index.Shape) == 0 {
		out[0] = ix[index.Offset]
		return out
	}
	for i := range out {
		out[i] = ix[index.Offset+i*index.Strides[0]]
	}
	return out
}

func indexSelectT[T any](dst, src backend.View, dim int, index backend.View) error {
	idx := readIndex(index)
	n := src.Shape[dim]
	for _, i := range idx {
		if i < 0 || i >= int64(n) {
			return indexErr("index_select", i, n)
		}
	}
	d, s := slice[T](dst.Storage), slice[T](src.Storage)
	if outer, inner, ok := indexBlocks(dst, src, dim); ok {
		// whole blocks of inner elements (an embedding's rows) by copy
		k := len(idx)
		d, s = d[dst.Offset:], s[src.Offset:]
		if inner == 1 {
			// single elements (the last dim): a gather per row
			parallelFor(outer, max(1, grain/max(k, 1)), func(lo, hi int) {
				for o := lo; o < hi; o++ {
					row, out := s[o*n:(o+1)*n], d[o*k:(o+1)*k]
					for j, i := range idx[:len(out)] {
						out[j] = row[i]
					}
				}
			})
			return nil
		}
		parallelFor(outer*k, max(1, grain/max(inner, 1)), func(lo, hi int) {
			for t := lo; t < hi; t++ {
				o, j := t/k, t%k
				copy(d[t*inner:(t+1)*inner], s[(o*n+int(idx[j]))*inner:][:inner])
			}
		})
		return nil
	}
	for k, i := range idx {
		dl, sl := selectAt(dst.Layout, dim, k), selectAt(src.Layout, dim, int(i))
		it := newIter(dl.Shape, dl, sl)
		_, st := it.inner()
		it.each(grain, func(off [maxOps]int, m int) {
			for j, o, q := 0, off[0], off[1]; j < m; j, o, q = j+1, o+st[0], q+st[1] {
				d[o] = s[q]
			}
		})
	}
	return nil
}

// IndexAdd implements backend.Backend.
func (c *CPU) IndexAdd(dst backend.View, dim int, index, src backend.View) error {
	switch dst.DType() {
	case backend.Float32:
		return indexAddT[float32](dst, dim, index, src)
	case backend.Float64:
		return indexAddT[float64](dst, dim, index, src)
	case backend.Int64:
		return indexAddT[int64](dst, dim, index, src)
	case backend.Int32:
		return indexAddT[int32](dst, dim, index, src)
	case backend.Uint8:
		return indexAddT[uint8](dst, dim, index, src)
	}
	panic(badDType("index_add", dst.DType()))
}

func indexAddT[T number](dst backend.View, dim int, index, src backend.View) error {
	idx := readIndex(index)
	n := dst.Shape[dim]
	for _, i := range idx {
		if i < 0 || i >= int64(n) {
			return indexErr("index_add", i, n)
		}
	}
	d, s := slice[T](dst.Storage), slice[T](src.Storage)
	if outer, inner, ok := indexBlocks(src, dst, dim); ok {
		// whole blocks, added in index order (an index may repeat)
		k := len(idx)
		d, s = d[dst.Offset:], s[src.Offset:]
		if inner == 1 {
			// single elements (the last dim): a scatter-add per row
			for o := 0; o < outer; o++ {
				row, in := d[o*n:(o+1)*n], s[o*k:(o+1)*k]
				for j, i := range idx[:len(in)] {
					row[i] += in[j]
				}
			}
			return nil
		}
		for t := 0; t < outer*k; t++ {
			o, j := t/k, t%k
			row := d[(o*n+int(idx[j]))*inner:][:inner]
			addRowInto(row, s[t*inner:(t+1)*inner])
		}
		return nil
	}
	for k, i := range idx {
		dl, sl := selectAt(dst.Layout, dim, int(i)), selectAt(src.Layout, dim, k)
		it := newIter(dl.Shape, dl, sl)
		_, st := it.inner()
		it.each(grain, func(off [maxOps]int, m int) {
			for j, o, q := 0, off[0], off[1]; j < m; j, o, q = j+1, o+st[0], q+st[1] {
				d[o] += s[q]
			}
		})
	}
	return nil
}

// Gather implements backend.Backend.
func (c *CPU) Gather(dst, src backend.View, dim int, index backend.View) error {
	var err error
	moveKernel(src.DType(),
		func() { err = gatherT[uint8](dst, src, dim, index) },
		func() { err = gatherT[uint16](dst, src, dim, index) },
		func() { err = gatherT[uint32](dst, src, dim, index) },
		func() { err = gatherT[uint64](dst, src, dim, index) })
	return err
}

func gatherT[T any](dst, src backend.View, dim int, index backend.View) error {
	d, s, ix := slice[T](dst.Storage), slice[T](src.Storage), slice[int64](index.Storage)
	n, sstride := src.Shape[dim], src.Strides[dim]
	// walk index's shape; src is seen with index's shape and stride 0 at dim
	sl := backend.Layout{Shape: index.Shape, Strides: append([]int(nil), src.Strides...), Offset: src.Offset}
	sl.Strides[dim] = 0
	it := newIter(index.Shape, dst.Layout, index.Layout, sl)
	_, st := it.inner()
	var bad error
	it.run(0, it.numel, func(off [maxOps]int, m int) {
		for j, o, p, q := 0, off[0], off[1], off[2]; j < m; j, o, p, q = j+1, o+st[0], p+st[1], q+st[2] {
			i := ix[p]
			if i < 0 || i >= int64(n) {
				if bad == nil {
					bad = indexErr("gather", i, n)
				}
				continue
			}
			d[o] = s[q+int(i)*sstride]
		}
	})
	return bad
}

// ScatterAdd implements backend.Backend.
func (c *CPU) ScatterAdd(dst backend.View, dim int, index, src backend.View) error {
	switch dst.DType() {
	case backend.Float32:
		return scatterAddT[float32](dst, dim, index, src)
	case backend.Float64:
		return scatterAddT[float64](dst, dim, index, src)
	case backend.Int64:
		return scatterAddT[int64](dst, dim, index, src)
	case backend.Int32:
		return scatterAddT[int32](dst, dim, index, src)
	case backend.Uint8:
		return scatterAddT[uint8](dst, dim, index, src)
	}
	panic(badDType("scatter_add", dst.DType()))
}

func scatterAddT[T number](dst backend.View, dim int, index, src backend.View) error {
	if ok, err := scatterAddFast[T](dst, dim, index, src); ok {
		return err
	}
	d, s, ix := slice[T](dst.Storage), slice[T](src.Storage), slice[int64](index.Storage)
	n, dstride := dst.Shape[dim], dst.Strides[dim]
	dl := backend.Layout{Shape: index.Shape, Strides: append([]int(nil), dst.Strides...), Offset: dst.Offset}
	dl.Strides[dim] = 0
	sl := backend.Layout{Shape: index.Shape, Strides: src.Strides, Offset: src.Offset}
	it := newIter(index.Shape, dl, index.Layout, sl)
	_, st := it.inner()
	var bad error
	it.run(0, it.numel, func(off [maxOps]int, m int) {
		for j, o, p, q := 0, off[0], off[1], off[2]; j < m; j, o, p, q = j+1, o+st[0], p+st[1], q+st[2] {
			i := ix[p]
			if i < 0 || i >= int64(n) {
				if bad == nil {
					bad = indexErr("scatter_add", i, n)
				}
				continue
			}
			d[o+int(i)*dstride] += s[q]
		}
	})
	return bad
}
