package cpu

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// Average pooling in one pass, forward and backward (backend.AvgPooler).
//
// A window is a box, so its sum splits by dims: the forward adds up the
// input rows (along the last dim) of the box's leading dims into one row,
// then sums each window of that row along the last dim, then divides the
// output row by its divisors. Each output row reads the input rows its
// windows cover once, whole and in order. Consecutive input rows are
// added by halving (rowSum), a few long vector additions (vbAdd, the
// assembly kernel for float32) in place of one short one per row; a
// division by a power of 2 (2×2 windows, 8×8 bins) is a multiplication
// by its exact reciprocal, other divisors take vbDiv. The 2×2, stride-2
// window reads its two rows in one loop (sumPairs2). The backward turns
// this around: an output row's gradient, divided by its divisors, is
// spread along the last dim into one row, which is copied into (or
// added to) every input row of the box.
//
// Measured on one thread, [8, 64, 56, 56] float32 (bench/ops): the
// forward reads its input at memory speed (2×2: 0.73 ms, adaptive to
// 7×7: 0.52 ms), and the backward is bound by writing the input-sized
// gradient.
//
// Per call, avgPlan lists for each output row (a multi-index of the
// leading output dims) the input rows its box covers and the product of
// its leading divisors; output rows (forward) and planes (backward) are
// split over threads.

// AvgPool sets dst, a contiguous [P, O…] (P planes of len(dims) spatial
// dims), to the average pooling of src, a contiguous [P, S…] of dst's
// float DType: each element the sum of src over the box that its windows
// span (dims[d] holds the windows of spatial dim d), divided by the
// product of their divisors formed in float64 in dim order and rounded
// to the element type. Sums are formed along the leading dims first (row
// by row), then along the last, except that a 2×2 window adds each row's
// pair first. With AvgPoolBackward it implements backend.AvgPooler.
func (*CPU) AvgPool(dst, src backend.View, dims []backend.AvgPoolDim) {
	const op = "avg pool"
	checkAvgPool(op, dst, src, dims)
	switch src.DType() {
	case backend.Float32:
		avgPoolT[float32](dst, src, dims)
	case backend.Float64:
		avgPoolT[float64](dst, src, dims)
	default:
		panic(badDType(op, src.DType()))
	}
}

// AvgPoolBackward sets dst, a contiguous [P, S…], to the gradient of
// AvgPool's input for g, the gradient of its output (contiguous
// [P, O…]): each element of g, divided by its window's divisor (rounded
// as AvgPool's), is added to every input element of its window's box; an
// element in no window gets 0. Float types only.
func (*CPU) AvgPoolBackward(dst, g backend.View, dims []backend.AvgPoolDim) {
	const op = "avg pool backward"
	checkAvgPool(op, g, dst, dims)
	switch g.DType() {
	case backend.Float32:
		avgPoolBackwardT[float32](dst, g, dims)
	case backend.Float64:
		avgPoolBackwardT[float64](dst, g, dims)
	default:
		panic(badDType(op, g.DType()))
	}
}

// checkAvgPool panics unless out ([P, O…]) and in ([P, S…]) are
// contiguous views of one DType that fit the windows: a bug in the
// caller, which has checked the user's arguments.
func checkAvgPool(op string, out, in backend.View, dims []backend.AvgPoolDim) {
	nsp := len(dims)
	ok := nsp >= 1 && len(out.Shape) == nsp+1 && len(in.Shape) == nsp+1 && out.Shape[0] == in.Shape[0] &&
		out.DType() == in.DType() && out.IsContiguous() && in.IsContiguous()
	for d := 0; ok && d < nsp; d++ {
		w := dims[d]
		ok = len(w.Start) == out.Shape[1+d] && len(w.End) == len(w.Start) && len(w.Divisor) == len(w.Start)
		for o := 0; ok && o < len(w.Start); o++ {
			ok = w.Start[o] >= 0 && w.Start[o] <= w.End[o] && w.End[o] <= in.Shape[1+d]
		}
	}
	if !ok {
		panic(fmt.Sprintf("cpu: %s: output %v and input %v do not fit %d dims of windows", op, out.Shape, in.Shape, nsp))
	}
}

// avgPlan is the geometry of one AvgPool call, shared by its threads.
type avgPlan struct {
	inW, outW int       // the last dim's input and output sizes
	ws, we    []int     // the last dim's windows
	divW      []float64 // and their divisors
	pairs     bool      // the last dim's windows are [2o, 2o+2)
	disjoint  bool      // the last dim's windows are in order and do not overlap
	rows      int       // output rows per plane
	inRows    int       // input rows per plane
	rowStart  []int     // output row r covers input rows rowIdx[rowStart[r]:rowStart[r+1]]
	rowIdx    []int
	rowDiv    []float64 // the product of output row r's leading divisors
	maxRun    int       // the most consecutive input rows in one box
}

// newAvgPlan lays out the windows dims over an input of spatial size in.
func newAvgPlan(in []int, dims []backend.AvgPoolDim) *avgPlan {
	lead := len(dims) - 1
	last := dims[lead]
	p := &avgPlan{
		inW: in[lead], outW: len(last.Start),
		ws: last.Start, we: last.End, divW: last.Divisor,
		rows: 1, inRows: 1,
	}
	p.pairs, p.disjoint = true, true
	for o := range p.outW {
		p.pairs = p.pairs && p.ws[o] == 2*o && p.we[o] == 2*o+2
		p.disjoint = p.disjoint && (o == 0 || p.ws[o] >= p.we[o-1])
	}
	for d := range lead {
		p.rows *= len(dims[d].Start)
		p.inRows *= in[d]
	}
	p.rowStart = make([]int, 0, p.rows+1)
	p.rowDiv = make([]float64, 0, p.rows)
	o := make([]int, lead) // the output row's multi-index
	// box appends the input rows of the box of o in dims d and up, base
	// being the row index so far (Horner's scheme over the input's sizes)
	var box func(d, base int)
	box = func(d, base int) {
		if d == lead {
			p.rowIdx = append(p.rowIdx, base)
			return
		}
		for i := dims[d].Start[o[d]]; i < dims[d].End[o[d]]; i++ {
			box(d+1, base*in[d]+i)
		}
	}
	for range p.rows {
		p.rowStart = append(p.rowStart, len(p.rowIdx))
		box(0, 0)
		div := 1.0
		for d := range lead {
			div *= dims[d].Divisor[o[d]]
		}
		p.rowDiv = append(p.rowDiv, div)
		for d := lead - 1; d >= 0; d-- { // the next multi-index
			if o[d]++; o[d] < len(dims[d].Start) {
				break
			}
			o[d] = 0
		}
	}
	p.rowStart = append(p.rowStart, len(p.rowIdx))
	for r := range p.rows {
		rows, m := p.boxRows(r), 1
		for k := 1; k < len(rows); k++ {
			if rows[k] != rows[k-1]+1 {
				m = 1
			} else {
				m++
			}
			p.maxRun = max(p.maxRun, m)
		}
	}
	return p
}

// boxRows are the input rows that output row r covers.
func (p *avgPlan) boxRows(r int) []int { return p.rowIdx[p.rowStart[r]:p.rowStart[r+1]] }

// avgTreeRows is the most rows of a run of consecutive input rows that
// rowSum adds up at once, halving them, in avgScratch.tree.
const avgTreeRows = 64

// avgScratch is one thread's buffers.
type avgScratch[T float] struct {
	row     []T      // a row of input width
	tree    []T      // avgTreeRows/2 rows of input width, for rowSum
	zero    []T      // zeros of input width, the sum of an empty box
	dv, rcp []T      // the divisors of the output row whose leading divisor is div, and their reciprocals
	exact   bool     // every rcp is exact (the divisors are powers of 2)
	div     float64  // (NaN: none yet)
	q       []T      // backward: a row of output width
	written []bool   // backward: the input rows of the plane given their gradient
	plan    *avgPlan // the call's geometry
	vec     *vecKernels[T]
}

func newAvgScratch[T float](p *avgPlan, backward bool) *avgScratch[T] {
	s := &avgScratch[T]{
		row: make([]T, p.inW), zero: make([]T, p.inW),
		dv: make([]T, p.outW), rcp: make([]T, p.outW), div: math.NaN(), plan: p,
	}
	if !vecOff {
		s.vec = vecFor[T]()
	}
	if backward {
		s.q = make([]T, p.outW)
		s.written = make([]bool, p.inRows)
	} else {
		s.tree = make([]T, min(p.maxRun, avgTreeRows)/2*p.inW)
	}
	return s
}

// divisors sets dv to output row r's divisors, rounded to T, each the
// product of its leading divisor and its last dim's divisor, and rcp to
// their reciprocals; exact reports whether these are exact, so that
// multiplying by them is dividing. Rows that share their leading divisor
// (all but the padded edges, in sliding windows) reuse them.
func (s *avgScratch[T]) divisors(r int) {
	d := s.plan.rowDiv[r]
	if d == s.div {
		return
	}
	divW := s.plan.divW[:len(s.dv)]
	rcp := s.rcp[:len(s.dv)]
	s.exact = true
	for o := range s.dv {
		v := T(d * divW[o])
		s.dv[o], rcp[o] = v, 1/v
		// 1/v is exact, and x·(1/v) is x/v rounded alike, for a power of
		// 2 (not for 0, ±Inf or NaN)
		f, _ := math.Frexp(float64(v))
		s.exact = s.exact && (f == 0.5 || f == -0.5)
	}
	s.div = d
}

// scale divides out by the current divisors: a multiplication where
// that is exact.
func (s *avgScratch[T]) scale(out []T) {
	if s.exact {
		rcp := s.rcp[:len(out)]
		for o := range out {
			out[o] *= rcp[o]
		}
		return
	}
	if s.vec != nil {
		s.vec.bin[vbDiv](out, out, s.dv)
		return
	}
	dv := s.dv[:len(out)]
	for o := range out {
		out[o] /= dv[o]
	}
}

// add sets d = a + b.
func (s *avgScratch[T]) add(d, a, b []T) {
	if s.vec != nil {
		s.vec.bin[vbAdd](d, a, b)
		return
	}
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] + b[i]
	}
}

// rowSum returns the sum of the rows of x (of the input width) listed in
// rows, at least two: in s.row, or in s.tree, or x's own row. A run of
// consecutive rows (up to avgTreeRows of them) is summed by halving: the
// first half of its rows plus the second half, as one vector addition,
// and again, so that a few long additions do the work of many short
// ones; runs are then added up in s.row.
func (s *avgScratch[T]) rowSum(x []T, rows []int) []T {
	w := s.plan.inW
	var acc []T
	for len(rows) > 0 {
		m := 1
		for m < len(rows) && m < avgTreeRows && rows[m] == rows[0]+m {
			m++
		}
		run := x[rows[0]*w : (rows[0]+m)*w]
		rows = rows[m:]
		sum := run
		if m > 1 {
			h := m / 2
			t := s.tree[:h*w]
			s.add(t, run[:h*w], run[h*w:2*h*w])
			if m%2 == 1 {
				s.add(t[:w], t[:w], run[2*h*w:])
			}
			for h > 1 {
				if h%2 == 1 {
					s.add(t[:w], t[:w], t[(h-1)*w:h*w])
				}
				h /= 2
				s.add(t[:h*w], t[:h*w], t[h*w:2*h*w])
			}
			sum = t[:w]
		}
		switch {
		case acc == nil && len(rows) == 0:
			return sum
		case acc == nil:
			acc = s.row
			copy(acc, sum)
		default:
			s.add(acc, acc, sum)
		}
	}
	return acc
}

func avgPoolT[T float](dst, src backend.View, dims []backend.AvgPoolDim) {
	n := dst.Numel()
	if n == 0 {
		return
	}
	p := newAvgPlan(src.Shape[1:], dims)
	xs := slice[T](src.Storage)[src.Offset : src.Offset+src.Numel()]
	ys := slice[T](dst.Storage)[dst.Offset : dst.Offset+n]
	inPlane := p.inRows * p.inW
	// an output row's work: the input rows it reads and its outputs
	work := (len(p.rowIdx)*p.inW)/p.rows + 2*p.outW
	parallelFor(dst.Shape[0]*p.rows, max(1, grain/max(1, work)), func(lo, hi int) {
		s := newAvgScratch[T](p, false)
		for u := lo; u < hi; u++ {
			pl, r := u/p.rows, u%p.rows
			avgRow(ys[u*p.outW:(u+1)*p.outW], xs[pl*inPlane:(pl+1)*inPlane], r, s)
		}
	})
}

// avgRow sets out to output row r of the plane x.
func avgRow[T float](out, x []T, r int, s *avgScratch[T]) {
	p := s.plan
	w := p.inW
	rows := p.boxRows(r)
	s.divisors(r)
	if p.pairs && s.exact && len(rows) == 2 {
		// 2×2 windows: one pass over both rows
		sumPairs2(out, x[rows[0]*w:rows[0]*w+w], x[rows[1]*w:rows[1]*w+w], s.rcp)
		return
	}
	var acc []T // the sum of the box's input rows
	switch len(rows) {
	case 0:
		acc = s.zero
	case 1:
		acc = x[rows[0]*w : rows[0]*w+w]
	default:
		acc = s.rowSum(x, rows)
	}
	if p.pairs {
		sumPairs(out, acc)
	} else {
		sumWindows(out, acc, p.ws, p.we)
	}
	s.scale(out)
}

// sumPairs2 sets out[o] = ((a[2o] + a[2o+1]) + (b[2o] + b[2o+1]))·rcp[o].
//
//go:noinline
func sumPairs2[T float](out, a, b, rcp []T) {
	n := len(out)
	a, b, rcp = a[:2*n], b[:2*n], rcp[:n]
	for o := range out {
		i := 2 * o
		out[o] = ((a[i] + a[i+1]) + (b[i] + b[i+1])) * rcp[o]
	}
}

// sumPairs sets out[o] = acc[2o] + acc[2o+1].
//
//go:noinline
func sumPairs[T float](out, acc []T) {
	acc = acc[:2*len(out)]
	for o := range out {
		i := 2 * o
		out[o] = acc[i] + acc[i+1]
	}
}

// sumWindows sets out[o] to the sum of acc[ws[o]:we[o]] (0 for an empty
// window), in four interleaved partial sums.
//
//go:noinline
func sumWindows[T float](out, acc []T, ws, we []int) {
	ws, we = ws[:len(out)], we[:len(out)]
	for o := range out {
		win := acc[ws[o]:we[o]]
		var s0, s1, s2, s3 T
		j := 0
		for ; j+4 <= len(win); j += 4 {
			w := win[j : j+4 : j+4]
			s0 += w[0]
			s1 += w[1]
			s2 += w[2]
			s3 += w[3]
		}
		for _, v := range win[j:] {
			s0 += v
		}
		out[o] = (s0 + s1) + (s2 + s3)
	}
}

// gradOperands returns the elements of dst and g, contiguous, for a
// backward kernel that writes all of dst from g; ok is false when there
// is nothing left to do: dst is empty, or g is (dst is then zeroed: an
// empty output has a zero gradient).
func gradOperands[T float](dst, g backend.View) (dx, gs []T, ok bool) {
	n := dst.Numel()
	if n == 0 {
		return nil, nil, false
	}
	dx = slice[T](dst.Storage)[dst.Offset : dst.Offset+n]
	if g.Numel() == 0 {
		clear(dx)
		return nil, nil, false
	}
	return dx, slice[T](g.Storage)[g.Offset : g.Offset+g.Numel()], true
}

// avgPoolBackwardT sets dst to the average pool's input gradient, given
// g, its output gradient, one N·C plane at a time.
func avgPoolBackwardT[T float](dst, g backend.View, dims []backend.AvgPoolDim) {
	dx, gs, ok := gradOperands[T](dst, g)
	if !ok {
		return
	}
	p := newAvgPlan(dst.Shape[1:], dims)
	inPlane, outPlane := p.inRows*p.inW, p.rows*p.outW
	parallelFor(dst.Shape[0], max(1, grain/max(1, inPlane+outPlane)), func(lo, hi int) {
		s := newAvgScratch[T](p, true)
		for pl := lo; pl < hi; pl++ {
			avgBackPlane(dx[pl*inPlane:(pl+1)*inPlane], gs[pl*outPlane:(pl+1)*outPlane], s)
		}
	})
}

// avgBackPlane sets dx to the input gradient of one plane for its output
// gradient g.
func avgBackPlane[T float](dx, g []T, s *avgScratch[T]) {
	p := s.plan
	w, written := p.inW, s.written
	clear(written)
	for r := range p.rows {
		rows := p.boxRows(r)
		if len(rows) == 0 {
			continue
		}
		q := g[r*p.outW : (r+1)*p.outW]
		s.divisors(r)
		if !s.exact || !p.pairs {
			copy(s.q, q)
			s.scale(s.q)
			q = s.q
		}
		// t, the gradient of the box's row sum, is made in cache and
		// then copied (or added) into the box's rows: element stores
		// straight into memory the cache does not hold stall, where
		// copy's wide ones stream (an adaptive 56→7 backward took 10%
		// longer writing t into the first row)
		t := s.row
		switch {
		case p.disjoint && !p.pairs:
			spreadDisjoint(t, q, p.ws, p.we)
		case !p.pairs:
			spreadWindows(t, q, p.ws, p.we)
		case s.exact:
			spreadPairs(t, q, s.rcp)
		default:
			spreadPairs(t, q, nil)
		}
		for _, i := range rows {
			d := dx[i*w : i*w+w]
			if written[i] {
				s.add(d, d, t)
			} else {
				copy(d, t)
				written[i] = true
			}
		}
	}
	for i, ok := range written {
		if !ok {
			clear(dx[i*w : i*w+w])
		}
	}
}

// spreadPairs sets t[2o] = t[2o+1] = q[o] (times rcp[o] unless rcp is
// nil), and the rest of t to 0.
//
//go:noinline
func spreadPairs[T float](t, q, rcp []T) {
	u := t[:2*len(q)]
	if rcp != nil {
		rcp = rcp[:len(q)]
		for o, v := range q {
			v *= rcp[o]
			i := 2 * o
			u[i], u[i+1] = v, v
		}
	} else {
		for o, v := range q {
			i := 2 * o
			u[i], u[i+1] = v, v
		}
	}
	clear(t[2*len(q):])
}

// spreadDisjoint sets t[j] to q[o] for j in the window [ws[o], we[o]),
// windows in order that do not overlap, and to 0 where none holds j.
//
//go:noinline
func spreadDisjoint[T float](t, q []T, ws, we []int) {
	ws, we = ws[:len(q)], we[:len(q)]
	j := 0
	for o, v := range q {
		clear(t[j:ws[o]])
		win := t[ws[o]:we[o]]
		for k := range win {
			win[k] = v
		}
		j = we[o]
	}
	clear(t[j:])
}

// spreadWindows sets t[j] to the sum of the q[o] whose window
// [ws[o], we[o]) holds j, in the order of o (0 where none does).
//
//go:noinline
func spreadWindows[T float](t, q []T, ws, we []int) {
	clear(t)
	ws, we = ws[:len(q)], we[:len(q)]
	for o, v := range q {
		win := t[ws[o]:we[o]]
		for j := range win {
			win[j] += v
		}
	}
}
