package cpu

import (
	"sync/atomic"

	"github.com/tapir-ml/tapir/backend"
)

// scatterAddFast is ScatterAdd along the last dim of a contiguous index
// with a src of unit stride there: the max-pool gradient routes each
// plane's output gradients into the argmax positions of its input plane
// this way. Each lane of index is one tight loop; lanes go in parallel
// when dst is contiguous, so that different lanes write different rows.
// It reports whether it ran.
func scatterAddFast[T number](dst backend.View, dim int, index, src backend.View) (bool, error) {
	nd := len(index.Shape)
	if !fastKernels || nd == 0 || dim != nd-1 || !index.IsContiguous() || len(dst.Shape) != nd || len(src.Shape) != nd {
		return false, nil
	}
	m := index.Shape[dim]
	if index.Numel() == 0 || (m > 1 && src.Strides[dim] != 1) {
		return false, nil
	}
	d, s, ix := slice[T](dst.Storage), slice[T](src.Storage), slice[int64](index.Storage)
	n, dstride := dst.Shape[dim], dst.Strides[dim]
	dl := backend.Layout{Shape: index.Shape, Strides: dst.Strides, Offset: dst.Offset}
	sl := backend.Layout{Shape: index.Shape, Strides: src.Strides, Offset: src.Offset}
	it := lanes(dim, dl, index.Layout, sl)
	_, st := it.inner()
	var bad atomic.Bool
	body := func(off [maxOps]int, k int) {
		o, p, q := off[0], off[1], off[2]
		for r := 0; r < k; r, o, p, q = r+1, o+st[0], p+st[1], q+st[2] {
			ir, sr := ix[p:p+m], s[q:q+m]
			sr = sr[:len(ir)]
			if dstride == 1 {
				dr := d[o : o+n]
				for j, i := range ir {
					if uint64(i) >= uint64(len(dr)) {
						bad.Store(true)
						continue
					}
					dr[i] += sr[j]
				}
				continue
			}
			for j, i := range ir {
				if uint64(i) >= uint64(n) {
					bad.Store(true)
					continue
				}
				d[o+int(i)*dstride] += sr[j]
			}
		}
	}
	if dst.IsContiguous() {
		it.each(max(1, grain/max(m, 1)), body)
	} else {
		it.run(0, it.numel, body)
	}
	if bad.Load() {
		// the first bad index in row-major order, as the generic loop
		// reports it
		for _, i := range ix[index.Offset : index.Offset+index.Numel()] {
			if i < 0 || i >= int64(n) {
				return true, indexErr("scatter_add", i, n)
			}
		}
	}
	return true, nil
}
