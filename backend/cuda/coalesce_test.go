package cuda

import (
	"fmt"
	"testing"
)

// TestCoalesce: merged layouts visit the same offsets in the same order
// as the originals, with no dim of size 1 and no two dims one stride
// could walk.
func TestCoalesce(t *testing.T) {
	rowMajor := func(shape, strides []int) []int {
		n := 1
		for _, s := range shape {
			n *= s
		}
		out := make([]int, n)
		for i := range out {
			o, r := 0, i
			for d := len(shape) - 1; d >= 0; d-- {
				o += r % shape[d] * strides[d]
				r /= shape[d]
			}
			out[i] = o
		}
		return out
	}
	for _, c := range []struct {
		shape, strides []int
		wantDims       int
	}{
		{[]int{64, 56, 56}, []int{200704, 56, 1}, 2}, // BatchNorm's N, H, W of [64,64,56,56]
		{[]int{4, 1, 3}, []int{3, 99, 1}, 1},         // size 1 dropped, then contiguous
		{[]int{2, 3, 4}, []int{1, 2, 6}, 3},          // transposed: nothing merges
		{[]int{5, 7}, []int{0, 0}, 1},                // broadcast
		{[]int{3, 4, 5}, []int{40, 10, 2}, 1},        // one stride of 2 walks all
		{nil, nil, 0},                                // nothing reduced
		{[]int{2, 1, 1}, []int{5, 0, 7}, 1},          // trailing ones
		{[]int{6, 2, 5}, []int{10, 5, 1}, 1},         // three merge into one
		{[]int{6, 2, 5}, []int{11, 5, 1}, 2},         // a gap between the first two
	} {
		t.Run(fmt.Sprint(c.shape, c.strides), func(t *testing.T) {
			sh, st := coalesce(c.shape, c.strides)
			if len(sh) != c.wantDims {
				t.Errorf("coalesce(%v, %v) = %v, %v: %d dims, want %d", c.shape, c.strides, sh, st, len(sh), c.wantDims)
			}
			if got, want := fmt.Sprint(rowMajor(sh, st)), fmt.Sprint(rowMajor(c.shape, c.strides)); got != want {
				t.Errorf("coalesce(%v, %v) = %v, %v visits %s, want %s", c.shape, c.strides, sh, st, got, want)
			}
		})
	}
}
