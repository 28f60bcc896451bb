package cpu

import (
	"github.com/tapir-ml/tapir/backend"
)

// iter walks a shape with up to maxOps operands, each with its own strides
// and offset. Construction coalesces dims that are contiguous in every
// operand and drops size-1 dims, so a contiguous or simply broadcast case
// becomes one long innermost run.
//
// An iter is a value: up to maxDims dims (after coalescing) live in its
// fixed arrays, so building and walking one allocates nothing; more dims
// spill to the heap (big). Walk it with run or each for a closure body, or
// with eachR, whose body is a value (a struct with a run method): eachR
// allocates nothing on one thread, where each's closure escapes (each
// hands it to the goroutines of parallelFor when the work is large).
type iter struct {
	nd    int // dims after coalescing
	ops   int
	numel int
	sh    [maxDims]int
	st    [maxOps][maxDims]int
	base  [maxOps]int
	big   *iterBig // nd > maxDims: shape and strides live here
}

// iterBig holds the dims of an iteration with more than maxDims of them.
type iterBig struct {
	sh []int
	st [maxOps][]int
}

const (
	maxOps  = 4
	maxDims = 8
)

// shape is the iteration's (coalesced) shape.
func (it *iter) shape() []int {
	if it.big != nil {
		return it.big.sh
	}
	return it.sh[:it.nd]
}

// strides is operand j's strides over shape().
func (it *iter) strides(j int) []int {
	if it.big != nil {
		return it.big.st[j]
	}
	return it.st[j][:it.nd]
}

func newIter(shape []int, ls ...backend.Layout) iter {
	return makeIter(shape, -1, ls)
}

// lanes returns an iteration over every position of the first layout's
// shape with dim removed (kept with size 1), for kernels that then walk
// along dim themselves.
func lanes(dim int, ls ...backend.Layout) iter {
	return makeIter(ls[0].Shape, dim, ls)
}

// makeIter builds the iteration over shape, with dim skip (if any) taken
// as size 1.
func makeIter(shape []int, skip int, ls []backend.Layout) iter {
	var it iter
	it.ops, it.numel = len(ls), 1
	for j, l := range ls {
		it.base[j] = l.Offset
	}
	var sh []int
	var st [maxOps][]int
	var shBuf [maxDims]int
	var stBuf [maxOps][maxDims]int
	if len(shape) <= maxDims {
		sh = shBuf[:0]
		for j := range ls {
			st[j] = stBuf[j][:0]
		}
	} else {
		sh = make([]int, 0, len(shape))
		for j := range ls {
			st[j] = make([]int, 0, len(shape))
		}
	}
	// keep dims with size > 1; merge dim d into the one outside it when
	// that one's stride is d's extent in every operand
	for d, s := range shape {
		if d == skip {
			continue
		}
		it.numel *= s
		if s == 1 {
			continue
		}
		if n := len(sh); n > 0 {
			ok := true
			for j, l := range ls {
				if l.Strides[d]*s != st[j][n-1] {
					ok = false
					break
				}
			}
			if ok {
				sh[n-1] *= s
				for j, l := range ls {
					st[j][n-1] = l.Strides[d]
				}
				continue
			}
		}
		sh = append(sh, s)
		for j, l := range ls {
			st[j] = append(st[j], l.Strides[d])
		}
	}
	it.setDims(sh, &st)
	return it
}

// setDims stores sh and st as the iteration's dims: copied into its
// arrays, or into fresh slices when there are more than maxDims of them.
func (it *iter) setDims(sh []int, st *[maxOps][]int) {
	it.nd = len(sh)
	if len(sh) > maxDims {
		b := &iterBig{sh: append([]int(nil), sh...)}
		for j := 0; j < it.ops; j++ {
			b.st[j] = append([]int(nil), st[j]...)
		}
		it.big = b
		return
	}
	it.big = nil
	copy(it.sh[:], sh)
	for j := 0; j < it.ops; j++ {
		copy(it.st[j][:], st[j])
	}
}

// reorder sorts the dims by the strides of operand j, largest outermost, so
// the walk follows j's memory order, and coalesces again. Ties keep the
// current order.
func (it *iter) reorder(j int) {
	n := it.nd
	sh := it.shape()
	var permBuf [maxDims]int
	perm := permBuf[:0]
	if n > maxDims {
		perm = make([]int, 0, n)
	}
	for i := 0; i < n; i++ {
		perm = append(perm, i)
	}
	key := it.strides(j)
	// insertion sort: stable, and n is small
	for a := 1; a < n; a++ {
		for b := a; b > 0 && key[perm[b]] > key[perm[b-1]]; b-- {
			perm[b], perm[b-1] = perm[b-1], perm[b]
		}
	}
	var nsh []int
	var nst [maxOps][]int
	var shBuf [maxDims]int
	var stBuf [maxOps][maxDims]int
	if n > maxDims {
		nsh = make([]int, n)
		for k := 0; k < it.ops; k++ {
			nst[k] = make([]int, n)
		}
	} else {
		nsh = shBuf[:n]
		for k := 0; k < it.ops; k++ {
			nst[k] = stBuf[k][:n]
		}
	}
	for i, p := range perm {
		nsh[i] = sh[p]
		for k := 0; k < it.ops; k++ {
			nst[k][i] = it.strides(k)[p]
		}
	}
	// re-coalesce after the permutation
	m := 0
	for i := range nsh {
		if m > 0 {
			ok := true
			for k := 0; k < it.ops; k++ {
				if nst[k][i]*nsh[i] != nst[k][m-1] {
					ok = false
					break
				}
			}
			if ok {
				nsh[m-1] *= nsh[i]
				for k := 0; k < it.ops; k++ {
					nst[k][m-1] = nst[k][i]
				}
				continue
			}
		}
		nsh[m] = nsh[i]
		for k := 0; k < it.ops; k++ {
			nst[k][m] = nst[k][i]
		}
		m++
	}
	nsh = nsh[:m]
	for k := 0; k < it.ops; k++ {
		nst[k] = nst[k][:m]
	}
	it.setDims(nsh, &nst)
}

// inner returns the length and per-operand strides of the innermost dim.
func (it *iter) inner() (n int, st [maxOps]int) {
	if it.nd == 0 {
		return 1, st
	}
	last := it.nd - 1
	for j := 0; j < it.ops; j++ {
		st[j] = it.strides(j)[last]
	}
	return it.shape()[last], st
}

// runner is the body of eachR: run handles one innermost run of n
// elements whose first element is at off[j] in operand j.
type runner interface {
	run(off [maxOps]int, n int)
}

// funcRunner adapts a closure to runner.
type funcRunner func(off [maxOps]int, n int)

func (f funcRunner) run(off [maxOps]int, n int) { f(off, n) }

// cursor walks the runs of an iteration: see iter.start and iter.next.
type cursor struct {
	off    [maxOps]int // each operand's offset of the run's first element
	n      int         // the run's length
	pos    int         // linear index of the run's first element
	hi     int
	idxBuf [maxDims]int
	idxBig []int // the index when there are more than maxDims dims
}

// index is the multi-index of the current run's first element.
func (c *cursor) index(nd int) []int {
	if nd > maxDims {
		return c.idxBig
	}
	return c.idxBuf[:nd]
}

// start sets c before the first run of elements with linear index in
// [lo, hi).
func (it *iter) start(c *cursor, lo, hi int) {
	c.pos, c.hi, c.n = lo, hi, 0
	nd := it.nd
	if lo >= hi || nd == 0 {
		c.off = it.base
		return
	}
	if nd > maxDims {
		c.idxBig = make([]int, nd)
	}
	shape, idx := it.shape(), c.index(nd)
	rem := lo
	for d := nd - 1; d >= 0; d-- {
		idx[d] = rem % shape[d]
		rem /= shape[d]
	}
	for j := 0; j < it.ops; j++ {
		o := it.base[j]
		st := it.strides(j)
		for d := 0; d < nd; d++ {
			o += idx[d] * st[d]
		}
		c.off[j] = o
	}
}

// next moves c to the next run and reports whether there is one.
func (it *iter) next(c *cursor) bool {
	nd := it.nd
	if c.n > 0 {
		// step past the run just handed out
		c.pos += c.n
		if c.pos >= c.hi || nd == 0 {
			return false
		}
		shape, idx := it.shape(), c.index(nd)
		last := nd - 1
		idx[last] += c.n
		for j := 0; j < it.ops; j++ {
			c.off[j] += c.n * it.strides(j)[last]
		}
		for d := last; d > 0 && idx[d] == shape[d]; d-- {
			idx[d] = 0
			idx[d-1]++
			for j := 0; j < it.ops; j++ {
				st := it.strides(j)
				c.off[j] += st[d-1] - shape[d]*st[d]
			}
		}
	} else if c.pos >= c.hi {
		return false
	}
	if nd == 0 {
		c.n = 1
		return true
	}
	c.n = min(it.shape()[nd-1]-c.index(nd)[nd-1], c.hi-c.pos)
	return true
}

// run calls fn for each innermost run of elements whose linear index is in
// [lo, hi): off holds each operand's offset of the run's first element and
// n its length; consecutive elements are inner() strides apart.
func (it *iter) run(lo, hi int, fn func(off [maxOps]int, n int)) {
	var c cursor
	for it.start(&c, lo, hi); it.next(&c); {
		fn(c.off, c.n)
	}
}

// runIter is run with a runner.
func runIter[R runner](it *iter, lo, hi int, r R) {
	var c cursor
	for it.start(&c, lo, hi); it.next(&c); {
		r.run(c.off, c.n)
	}
}

// serial reports whether each(minChunk, …) runs on the calling goroutine
// alone.
func (it *iter) serial(minChunk int) bool {
	return NumThreads() <= 1 || it.numel < 2*max(minChunk, 1)
}

// each runs fn over every run of the iteration, in parallel chunks when
// the iteration has more than minChunk elements.
func (it *iter) each(minChunk int, fn func(off [maxOps]int, n int)) {
	eachR(it, minChunk, funcRunner(fn))
}

// eachR is each with a runner: on one goroutine it allocates nothing
// (the iteration and the runner are copied to the heap for the helper
// goroutines only when the work is split).
func eachR[R runner](it *iter, minChunk int, r R) {
	if it.serial(minChunk) {
		runIter(it, 0, it.numel, r)
		return
	}
	cp, rc := *it, r
	parallelFor(cp.numel, minChunk, func(lo, hi int) { runIter(&cp, lo, hi, rc) })
}

func allContiguous(vs ...backend.View) bool {
	for _, v := range vs {
		if !v.IsContiguous() {
			return false
		}
	}
	return true
}
