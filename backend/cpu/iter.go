package cpu

import (
	"sort"

	"github.com/tapir-ml/tapir/backend"
)

// iter walks a shape with up to maxOps operands, each with its own strides
// and offset. Construction coalesces dims that are contiguous in every
// operand and drops size-1 dims, so a contiguous or simply broadcast case
// becomes one long innermost run.
type iter struct {
	shape   []int
	strides [maxOps][]int
	base    [maxOps]int
	ops     int
	numel   int
}

const maxOps = 4

func newIter(shape []int, ls ...backend.Layout) *iter {
	it := &iter{ops: len(ls), numel: backend.Numel(shape)}
	for j, l := range ls {
		it.base[j] = l.Offset
	}
	// keep dims with size > 1
	dims := make([]int, 0, len(shape))
	for d, s := range shape {
		if s != 1 {
			dims = append(dims, d)
		}
	}
	// merge dim a (outer) with b (inner) when a's stride is b's extent
	var sh []int
	var st [maxOps][]int
	for _, d := range dims {
		if n := len(sh); n > 0 {
			ok := true
			for j, l := range ls {
				if l.Strides[d]*shape[d] != st[j][n-1] {
					ok = false
					break
				}
			}
			if ok {
				sh[n-1] *= shape[d]
				for j, l := range ls {
					st[j][n-1] = l.Strides[d]
				}
				continue
			}
		}
		sh = append(sh, shape[d])
		for j, l := range ls {
			st[j] = append(st[j], l.Strides[d])
		}
	}
	it.shape = sh
	it.strides = st
	return it
}

// reorder sorts the dims by the strides of operand j, largest outermost, so
// the walk follows j's memory order. Ties keep the current order.
func (it *iter) reorder(j int) {
	n := len(it.shape)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	sort.SliceStable(perm, func(a, b int) bool { return it.strides[j][perm[a]] > it.strides[j][perm[b]] })
	sh := make([]int, n)
	for i, p := range perm {
		sh[i] = it.shape[p]
	}
	for k := 0; k < it.ops; k++ {
		st := make([]int, n)
		for i, p := range perm {
			st[i] = it.strides[k][p]
		}
		it.strides[k] = st
	}
	it.shape = sh
	// re-coalesce after the permutation
	l := make([]backend.Layout, it.ops)
	for k := range l {
		l[k] = backend.Layout{Shape: it.shape, Strides: it.strides[k], Offset: it.base[k]}
	}
	*it = *newIter(it.shape, l...)
}

// inner returns the length and per-operand strides of the innermost dim.
func (it *iter) inner() (n int, st [maxOps]int) {
	if len(it.shape) == 0 {
		return 1, st
	}
	last := len(it.shape) - 1
	for j := 0; j < it.ops; j++ {
		st[j] = it.strides[j][last]
	}
	return it.shape[last], st
}

// run calls fn for each innermost run of elements whose linear index is in
// [lo, hi): off holds each operand's offset of the run's first element and
// n its length; consecutive elements are inner() strides apart.
func (it *iter) run(lo, hi int, fn func(off *[maxOps]int, n int)) {
	if lo >= hi {
		return
	}
	var off [maxOps]int
	nd := len(it.shape)
	if nd == 0 {
		off = it.base
		fn(&off, 1)
		return
	}
	var idxBuf [16]int
	var idx []int
	if nd <= len(idxBuf) {
		idx = idxBuf[:nd]
	} else {
		idx = make([]int, nd)
	}
	rem := lo
	for d := nd - 1; d >= 0; d-- {
		idx[d] = rem % it.shape[d]
		rem /= it.shape[d]
	}
	for j := 0; j < it.ops; j++ {
		o := it.base[j]
		for d := 0; d < nd; d++ {
			o += idx[d] * it.strides[j][d]
		}
		off[j] = o
	}
	last := nd - 1
	inner := it.shape[last]
	pos := lo
	for {
		n := inner - idx[last]
		if n > hi-pos {
			n = hi - pos
		}
		fn(&off, n)
		pos += n
		if pos >= hi {
			return
		}
		idx[last] += n
		for j := 0; j < it.ops; j++ {
			off[j] += n * it.strides[j][last]
		}
		for d := last; d > 0 && idx[d] == it.shape[d]; d-- {
			idx[d] = 0
			idx[d-1]++
			for j := 0; j < it.ops; j++ {
				off[j] += it.strides[j][d-1] - it.shape[d]*it.strides[j][d]
			}
		}
	}
}

// each runs fn over every run of the iteration, in parallel chunks when
// the iteration has more than minChunk elements.
func (it *iter) each(minChunk int, fn func(off *[maxOps]int, n int)) {
	parallelFor(it.numel, minChunk, func(lo, hi int) { it.run(lo, hi, fn) })
}

func allContiguous(vs ...backend.View) bool {
	for _, v := range vs {
		if !v.IsContiguous() {
			return false
		}
	}
	return true
}
