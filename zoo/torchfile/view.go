package torchfile

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/tapir-ml/tapir/tensor"
)

// gatherChunk is how many elements makeView gathers at a time.
var gatherChunk = 1 << 20

// makeView returns the elements of the 1-d storage that shape and strides
// select from offset on; the caller has checked that they lie below limit
// and that there is at least one. The result shares storage with storage
// whenever package tensor's view ops can express the layout: dims of
// stride 0 (expand), any permutation of a dense block (transpose, permute,
// narrow of the outer dim). Other layouts (steps, slices of inner dims)
// are copied, which needs no more memory than the span they cover.
func makeView(storage *tensor.Tensor, offset int, shape, strides []int, limit int) (*tensor.Tensor, error) {
	type dim struct{ i, n, s int }
	var dense []dim // the dims that move through memory
	expand := false
	for i, n := range shape {
		switch {
		case n > 1 && strides[i] > 0:
			dense = append(dense, dim{i, n, strides[i]})
		case n > 1:
			expand = true
		}
	}
	sorted := slices.Clone(dense)
	slices.SortStableFunc(sorted, func(a, b dim) int { return cmp.Compare(b.s, a.s) })
	contiguous := true
	count := 1
	for k, d := range sorted {
		want := 1
		if k+1 < len(sorted) {
			want = sorted[k+1].s * sorted[k+1].n
		}
		if d.s != want {
			contiguous = false
		}
		count *= d.n
	}
	sizes := make([]int, len(dense))
	for k, d := range dense {
		sizes[k] = d.n
	}

	var t *tensor.Tensor
	if contiguous {
		in := make([]int, len(sorted))
		for k, d := range sorted {
			in[k] = d.n
		}
		t = storage.Narrow(0, offset, count).View(in...)
		if len(dense) > 1 {
			perm := make([]int, len(dense))
			for j, d := range dense {
				perm[j] = slices.IndexFunc(sorted, func(e dim) bool { return e.i == d.i })
			}
			t = t.Permute(perm...)
		}
	} else {
		// Elements visited more than once would make the copy larger than
		// the storage: only a self-overlapping view does that.
		if count > limit-offset {
			return nil, fmt.Errorf("shape %v with strides %v overlaps itself (%d elements from %d); such views are not supported",
				shape, strides, count, limit-offset)
		}
		out := tensor.ZerosOf(storage.DType(), count)
		idx := make([]int, len(dense)) // the multi-index of the next element
		for lo := 0; lo < count; lo += gatherChunk {
			m := min(gatherChunk, count-lo)
			at := make([]int64, m)
			for e := range at {
				pos := offset
				for k, d := range dense {
					pos += idx[k] * d.s
				}
				at[e] = int64(pos)
				for k := len(dense) - 1; k >= 0; k-- {
					if idx[k]++; idx[k] < dense[k].n {
						break
					}
					idx[k] = 0
				}
			}
			out.Narrow(0, lo, m).CopyIn(storage.IndexSelect(0, tensor.FromSlice(at)))
		}
		t = out.View(sizes...)
	}
	for i, n := range shape {
		if !(n > 1 && strides[i] > 0) {
			t = t.Unsqueeze(i)
		}
	}
	if expand {
		t = t.Expand(shape...)
	}
	return t, nil
}
