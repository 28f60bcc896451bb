package cpu

import (
	"sync"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
)

// Elementwise ops whose inputs are strided along the output's innermost
// dim (a transposed view, a slice with a step, a permuted channels-last
// view) would otherwise take one element function call, or at best one
// strided scalar loop, per element; when the output's rows are short
// (x.T with 16 columns) they also pay the iterator's step per row.
//
// The strided path here walks the output, in its memory order, in 2-d
// tiles over its two innermost dims (tileBytes or transposedBytes of
// scratch per input): each input that is not contiguous (or one value)
// over the tile is gathered into a scratch tile in output order, and the
// contiguous kernels of vec.go (or a typed loop for ops without one) then
// run over the tile: as one call when the output's tile is contiguous,
// else a call per row. Inputs whose rows lie closer in memory than their
// columns (a transpose) are gathered through transposeBlock in tiles of
// one cache line of rows, so each source line is read once. Short rows
// with a broadcast input ([65536, 16] + [1, 16]) take it too: a tile of
// whole rows is one kernel call instead of one iterator step per row.
//
// Results are those of the same kernel on contiguous copies of the
// inputs, bit for bit: only where elements are read from changes. (For
// the vec unary ops that means the contiguous kernels' results, where
// strided inputs used to take the float64 math of floatFunc.)

// Tile sizes, in bytes of one input's scratch. A plain tile stays in L1
// while it is gathered and consumed. A transposed input's tile is a cache
// line of rows by up to a whole row: its rows in the output and the
// other inputs are then long runs a prefetcher can follow, where rows cut
// to fit L1 (16 × 256 float32) left the contiguous operands' pieces 4
// KiB apart and measured twice as slow ([1024, 1024] x.T + y).
const (
	tileBytes       = 16 << 10
	transposedBytes = 64 << 10
)

// tileBuf is the scratch of one goroutine's walk: two tiles. It comes
// from tilePool, so a strided op allocates nothing in the steady state.
type tileBuf [2 * transposedBytes / 8]uint64

var tilePool = sync.Pool{New: func() any { return new(tileBuf) }}

// tiles is b as two tiles of T of transposedBytes each.
func tiles[T any](b *tileBuf) (x, y []T) {
	var z T
	n := transposedBytes / int(unsafe.Sizeof(z))
	all := unsafe.Slice((*T)(unsafe.Pointer(&b[0])), 2*n)
	return all[:n:n], all[n:]
}

// binSeg is the kernel of a binary op over one segment: d[i] = x op y
// where x (xs = 1) is len(d) elements or (xs = 0) the one value x[0],
// and the same for y.
type binSeg[D, T any] interface {
	seg(d []D, x []T, xs int, y []T, ys int)
}

// unSeg is the kernel of a unary op over one segment: d[i] = f(x[i]).
type unSeg[D, T any] interface {
	seg(d []D, x []T)
}

// blockBody handles a block of rows×cols output elements: rows of the
// iteration's innermost dim (cols long, output stride 1) starting at
// off, each operand's consecutive rows ost apart; xb and yb are scratch
// tiles of transposedBytes.
type blockBody[T any] interface {
	block(off [maxOps]int, rows, cols int, ost [maxOps]int, xb, yb []T)
}

// eachBlock walks it (nd ≥ 1) by blocks of its innermost dim: the dims
// outside it form an iteration of their own whose runs are rows, so a
// short innermost dim costs one iterator step per block, not per row.
func eachBlock[T any, B blockBody[T]](it iter, minChunk int, body B) {
	cols := it.shape()[it.nd-1]
	outer := outerIter(&it)
	_, ost := outer.inner()
	minRows := max(1, minChunk/cols)
	if outer.serial(minRows) {
		blockRange[T](&outer, 0, outer.numel, body, cols, ost)
		return
	}
	// copies for the helper goroutines, so the serial path allocates nothing
	cp, bc := outer, body
	parallelFor(cp.numel, minRows, func(lo, hi int) { blockRange[T](&cp, lo, hi, bc, cols, ost) })
}

// outerIter is it without its innermost dim: its runs are rows of it.
// The dims stay coalesced, so its innermost dim is the second-innermost of it
// (or it has none, when it is 1-d).
func outerIter(it *iter) iter {
	nd := it.nd - 1
	o := iter{ops: it.ops, numel: it.numel / it.shape()[nd], base: it.base}
	var st [maxOps][]int
	for j := 0; j < it.ops; j++ {
		st[j] = it.strides(j)[:nd]
	}
	o.setDims(it.shape()[:nd], &st)
	return o
}

// blockRange runs body over the blocks of rows [lo, hi) of outer, with
// one scratch for all of them.
func blockRange[T any, B blockBody[T]](outer *iter, lo, hi int, body B, cols int, ost [maxOps]int) {
	buf := tilePool.Get().(*tileBuf)
	xb, yb := tiles[T](buf)
	var c cursor
	for outer.start(&c, lo, hi); outer.next(&c); {
		body.block(c.off, c.n, cols, ost, xb, yb)
	}
	tilePool.Put(buf)
}

// shortRun is the innermost run (elements) up to which the tiled path
// takes broadcasts too ([65536, 16] + [1, 16]): the iterator's step per
// run would cost more than the kernel, where a tile of whole rows is one
// kernel call (after the broadcast operand is copied out to the tile).
const shortRun = 64

// stridedCandidate reports, from the views alone, whether stridedIter
// may accept them: not all contiguous, and some input strided along the
// last dim, or that dim short, or dst itself strided along it (an
// in-place op on a transposed view). It spares the ops that take the
// other paths (a bias added to long rows) building an iteration twice.
func stridedCandidate(dst backend.View, ins ...backend.View) bool {
	nd := len(dst.Shape)
	if nd == 0 {
		return false
	}
	last := dst.Shape[nd-1]
	if dst.Strides[nd-1] != 1 && last > 1 {
		return true
	}
	if last <= shortRun && nd >= 2 {
		return !dst.IsContiguous() || !allContiguous(ins...)
	}
	for _, v := range ins {
		if s := v.Strides[nd-1]; s > 1 || s < 0 {
			return true
		}
	}
	return false
}

// stridedIter is the iteration of dst and the inputs when it can take
// the tiled path: at least one dim, dst contiguous along the innermost
// (its dims are put in dst's memory order first, which changes no
// result of an elementwise op), and some input neither contiguous nor
// broadcast along it or the innermost dim no longer than shortRun with
// rows outside it; no negative strides (transposeBlock's bounds checks
// assume none).
func stridedIter(dst backend.View, ins ...backend.View) (iter, bool) {
	return stridedIterOut(false, dst, ins...)
}

// stridedIterOut is stridedIter that, with scatter, also takes a dst with
// no stride-1 dim (exp into x[:, ::2]): the walk then computes each tile
// in place in its scratch and scatters it (unTile), for callers whose dst
// and input types are the same. That pays where the loop it replaces
// calls a function per element; a binary op measured no faster than its
// typed strided loop (add into x[:, ::2]: 1.07 → 1.16 ns per element),
// a vec unary op with a typed loop (neg) 0.73 → 1.15.
func stridedIterOut(scatter bool, dst backend.View, ins ...backend.View) (iter, bool) {
	var ls [maxOps]backend.Layout
	ls[0] = dst.Layout
	for j, v := range ins {
		ls[j+1] = v.Layout
	}
	it := makeIter(dst.Shape, -1, ls[:len(ins)+1])
	if it.nd == 0 || it.numel == 0 {
		return it, false
	}
	// a reordered dst takes this path even when the inputs then line up
	// with it (x.T + y.T into out.T): the others walk dst's shape order
	take := false
	if _, st := it.inner(); st[0] != 1 {
		it.reorder(0)
		take = true
	}
	n, st := it.inner()
	if st[0] != 1 && !(scatter && st[0] > 1) {
		return it, false
	}
	take = take || it.nd >= 2 && n <= shortRun
	for j := 0; j < it.ops; j++ {
		for _, s := range it.strides(j) {
			if s < 0 {
				return it, false
			}
		}
		if j > 0 && st[j] > 1 {
			take = true
		}
	}
	return it, take
}

// tileShape picks a tile of tr rows × tc columns for rows×cols with
// element size esz: whole rows when they are short, else a row piece;
// when an input is transposed, at least one cache line of rows so its
// columns are read a line at a time. share is the number of tiles that
// share one tile's scratch (Where's third input), dividing its elements.
func tileShape(rows, cols, esz, share int, transposed bool) (tr, tc int) {
	elems := tileBytes / esz / share
	if transposed {
		elems = transposedBytes / esz / share
		line := max(1, 64/esz)
		tc = min(cols, elems/line)
		return min(rows, elems/tc), tc
	}
	tc = min(cols, elems)
	return min(rows, elems/tc), tc
}

// isTransposed reports whether an input with inner stride si and row
// stride so is gathered faster a tile of rows at a time.
func isTransposed(si, so int) bool { return si > 1 && so < si }

// gatherTile copies the rr×cc tile of s whose first element is s[p], with
// strides si along a row and so between rows, into buf in row order.
func gatherTile[T any](buf, s []T, p, si, so, rr, cc int) {
	if so == 1 && si > 1 && rr >= 8 && cc >= 8 {
		transposeBlock(buf, s, 0, p, 0, rr, cc, si)
		return
	}
	if so == 0 && rr > 1 {
		// one row repeated (a broadcast bias): the first, then doubling
		// copies
		gatherTile(buf, s, p, si, 0, 1, cc)
		t := buf[:rr*cc]
		for k := cc; k < len(t); k *= 2 {
			copy(t[k:], t[:k])
		}
		return
	}
	if si == 0 {
		if so == 1 && rr >= 8 && cc >= 8 && unsafe.Sizeof(buf[0]) == 4 {
			// a column broadcast ([R, 1] expanded to [R, C]) is a
			// transpose of that column repeated: 8×8 blocks of the
			// transpose kernel instead of a scalar fill per row
			transposeBlock(buf, s, 0, p, 0, rr, cc, 0)
			return
		}
		fillRows(buf, s, p, so, rr, cc)
		return
	}
	for r := 0; r < rr; r++ {
		row := buf[r*cc : r*cc+cc]
		q := p + r*so
		if si == 1 {
			copy(row, s[q:q+cc])
			continue
		}
		gatherRow(row, s, q, si)
	}
}

// fillRows sets row r of the rr×cc tile buf to s[p + r·so] (a column
// broadcast along the rows: [R, 1] expanded to [R, C]).
func fillRows[T any](buf, s []T, p, so, rr, cc int) {
	for r := 0; r < rr; r++ {
		v := s[p+r*so]
		row := buf[r*cc : r*cc+cc]
		for j := range row {
			row[j] = v
		}
	}
}

// gatherRow sets row[j] = s[q + j·si]. It is a function of its own so
// that its loop keeps j in a register (inlined into gatherTile, the
// compiler spilled it to the stack on every element).
//
//go:noinline
func gatherRow[T any](row, s []T, q, si int) {
	if len(row) == 0 {
		return
	}
	// every element read lies in s[q : q+(len(row)-1)·si+1]: checked
	// once here, then read through pointers, four per iteration (the
	// loop's own bounds checks and counter cost as much as the copy)
	s = s[q : q+(len(row)-1)*si+1]
	base := unsafe.Pointer(&s[0])
	step := uintptr(si) * unsafe.Sizeof(row[0])
	j := 0
	for ; j+4 <= len(row); j += 4 {
		p := unsafe.Add(base, uintptr(j)*step)
		r := row[j : j+4 : j+4]
		r[0] = *(*T)(p)
		r[1] = *(*T)(unsafe.Add(p, step))
		r[2] = *(*T)(unsafe.Add(p, 2*step))
		r[3] = *(*T)(unsafe.Add(p, 3*step))
	}
	for ; j < len(row); j++ {
		row[j] = s[j*si]
	}
}

// flatOperand reports whether an input is one contiguous run (1) or one
// value (0) over an rr×cc tile, or neither (-1).
func flatOperand(si, so, rr, cc int) int {
	switch {
	case si == 1 && (rr == 1 || so == cc):
		return 1
	case si == 0 && (rr == 1 || so == 0):
		return 0
	}
	return -1
}

// binTile is the tiled body of a binary op: dst d (operand 0), inputs x
// and y (operands 1, 2) with inner strides st.
type binTile[D, T any, K binSeg[D, T]] struct {
	k    K
	d    []D
	x, y []T
	st   [maxOps]int
}

func (t binTile[D, T, K]) block(off [maxOps]int, rows, cols int, ost [maxOps]int, xb, yb []T) {
	var z T
	tr, tc := tileShape(rows, cols, int(unsafe.Sizeof(z)), 1,
		isTransposed(t.st[1], ost[1]) || isTransposed(t.st[2], ost[2]))
	for r0 := 0; r0 < rows; r0 += tr {
		rr := min(tr, rows-r0)
		for c0 := 0; c0 < cols; c0 += tc {
			cc := min(tc, cols-c0)
			o := off[0] + r0*ost[0] + c0
			p := off[1] + r0*ost[1] + c0*t.st[1]
			q := off[2] + r0*ost[2] + c0*t.st[2]
			t.tile(o, p, q, rr, cc, ost, xb, yb)
		}
	}
}

// tile runs the kernel over one rr×cc tile with first elements d[o],
// x[p], y[q].
func (t binTile[D, T, K]) tile(o, p, q, rr, cc int, ost [maxOps]int, xb, yb []T) {
	if rr == 1 || ost[0] == cc {
		// the output's tile is one run: one kernel call
		n := rr * cc
		x, xs := flatTile(t.x, xb, p, t.st[1], ost[1], rr, cc)
		y, ys := flatTile(t.y, yb, q, t.st[2], ost[2], rr, cc)
		t.k.seg(t.d[o:o+n], x, xs, y, ys)
		return
	}
	xg, yg := t.st[1] > 1, t.st[2] > 1
	if xg {
		gatherTile(xb, t.x, p, t.st[1], ost[1], rr, cc)
	}
	if yg {
		gatherTile(yb, t.y, q, t.st[2], ost[2], rr, cc)
	}
	for r := 0; r < rr; r++ {
		x, xs := rowOf(t.x, xb, xg, p+r*ost[1], t.st[1], r, cc)
		y, ys := rowOf(t.y, yb, yg, q+r*ost[2], t.st[2], r, cc)
		d := o + r*ost[0]
		t.k.seg(t.d[d:d+cc], x, xs, y, ys)
	}
}

// scatterRow sets d[o + j·sd] = row[j], gatherRow's inverse.
//
//go:noinline
func scatterRow[T any](d []T, o, sd int, row []T) {
	if len(row) == 0 {
		return
	}
	d = d[o : o+(len(row)-1)*sd+1]
	for j, v := range row {
		d[j*sd] = v
	}
}

// flatTile returns an input over a tile as one segment (x, xs) of rr·cc
// elements: s itself when it is already one run or one value there, else
// the tile gathered into buf.
func flatTile[T any](s, buf []T, p, si, so, rr, cc int) ([]T, int) {
	switch flatOperand(si, so, rr, cc) {
	case 1:
		return s[p : p+rr*cc], 1
	case 0:
		return s[p : p+1], 0
	}
	gatherTile(buf, s, p, si, so, rr, cc)
	return buf[:rr*cc], 1
}

// rowOf is row r of an input as a segment: its gathered row in buf, the
// run at s[p] (si = 1), or the one value s[p] (si = 0).
func rowOf[T any](s, buf []T, gathered bool, p, si, r, cc int) ([]T, int) {
	switch {
	case gathered:
		return buf[r*cc : r*cc+cc], 1
	case si == 1:
		return s[p : p+cc], 1
	}
	return s[p : p+1], 0
}

// unTile is the tiled body of a unary op: dst d (operand 0) and input x
// (operand 1) with inner strides st.
type unTile[D, T any, K unSeg[D, T]] struct {
	k  K
	d  []D
	x  []T
	st [maxOps]int
}

func (t unTile[D, T, K]) block(off [maxOps]int, rows, cols int, ost [maxOps]int, xb, _ []T) {
	var z T
	tr, tc := tileShape(rows, cols, int(unsafe.Sizeof(z)), 1, isTransposed(t.st[1], ost[1]))
	for r0 := 0; r0 < rows; r0 += tr {
		rr := min(tr, rows-r0)
		for c0 := 0; c0 < cols; c0 += tc {
			cc := min(tc, cols-c0)
			o := off[0] + r0*ost[0] + c0*t.st[0]
			p := off[1] + r0*ost[1] + c0*t.st[1]
			gatherTile(xb, t.x, p, t.st[1], ost[1], rr, cc)
			if t.st[0] != 1 {
				// dst has no stride-1 dim: the kernel in place over the
				// gathered tile, then its rows scattered (D is T here)
				n := rr * cc
				d := any(xb[:n]).([]D)
				t.k.seg(d, xb[:n])
				for r := 0; r < rr; r++ {
					scatterRow(t.d, o+r*ost[0], t.st[0], d[r*cc:r*cc+cc])
				}
				continue
			}
			if rr == 1 || ost[0] == cc {
				n := rr * cc
				t.k.seg(t.d[o:o+n], xb[:n])
				continue
			}
			for r := 0; r < rr; r++ {
				d := o + r*ost[0]
				t.k.seg(t.d[d:d+cc], xb[r*cc:r*cc+cc])
			}
		}
	}
}

// ---------------------------------------------------------------- kernels

// vecBinSeg is a float arithmetic op through its vec.go kernels (the
// segment forms of binVecRun).
type vecBinSeg[T float] struct {
	fb     func(dst, x, y []T)
	fs, fr func(dst, x []T, a, b T)
	neg    bool
}

func (k vecBinSeg[T]) seg(d, x []T, xs int, y []T, ys int) {
	n := len(d)
	switch {
	case xs == 1 && ys == 1:
		k.fb(d, x[:n], y[:n])
	case xs == 1:
		s := y[0]
		if k.neg {
			s = -s
		}
		k.fs(d, x[:n], s, 0)
	case ys == 1:
		k.fr(d, y[:n], x[0], 0)
	default:
		k.fb(d[:1], x[:1], y[:1])
		fillSlice(d[1:], d[0])
	}
}

// genBinSeg is an arithmetic op through binRun's typed loops.
type genBinSeg[T number] struct{ r binRun[T] }

func (k genBinSeg[T]) seg(d, x []T, xs int, y []T, ys int) {
	r := k.r
	r.d, r.x, r.y = d, x, y
	r.st = [maxOps]int{1, xs, ys}
	r.run([maxOps]int{}, len(d))
}

// cmpSeg is a comparison through cmpVV and cmpVS.
type cmpSeg[T number] struct{ op backend.BinaryOp }

func (k cmpSeg[T]) seg(d []uint8, x []T, xs int, y []T, ys int) {
	n := len(d)
	switch {
	case xs == 1 && ys == 1:
		cmpVV(k.op, d, x[:n], y[:n])
	case xs == 1:
		cmpVS(k.op, d, x[:n], y[0])
	case ys == 1:
		cmpVS(flipCmp(k.op), d, y[:n], x[0])
	default:
		cmpVS(k.op, d[:1], x[:1], y[0])
		fillSlice(d[1:], d[0])
	}
}

// vecUnSeg is a float unary op through its vec.go kernel.
type vecUnSeg[T float] struct {
	f    func(dst, x []T, a, b T)
	a, b T
}

func (k vecUnSeg[T]) seg(d, x []T) { k.f(d, x[:len(d)], k.a, k.b) }

// ---------------------------------------------------------------- dispatch

// binaryStrided runs a binary op on the tiled path when some input is
// strided along the output's innermost dim, and reports whether it did.
func binaryStrided[T number](op backend.BinaryOp, dst, a, b backend.View) bool {
	it, ok := stridedIter(dst, a, b)
	if !ok {
		return false
	}
	_, st := it.inner()
	x, y := slice[T](a.Storage), slice[T](b.Storage)
	if op.IsComparison() {
		eachBlock[T](it, grain/2, binTile[uint8, T, cmpSeg[T]]{k: cmpSeg[T]{op}, d: u8(dst.Storage), x: x, y: y, st: st})
		return true
	}
	d := slice[T](dst.Storage)
	if k := vecBinOpOf(op); k != nil {
		var z T
		switch any(z).(type) {
		case float32:
			runVecBin[float32](it, k, any(d).([]float32), any(x).([]float32), any(y).([]float32), st)
			return true
		case float64:
			runVecBin[float64](it, k, any(d).([]float64), any(x).([]float64), any(y).([]float64), st)
			return true
		}
	}
	r, chunk := binRunOf[T](op)
	eachBlock[T](it, chunk, binTile[T, T, genBinSeg[T]]{k: genBinSeg[T]{r}, d: d, x: x, y: y, st: st})
	return true
}

func runVecBin[T float](it iter, k *vecBinOp, d, x, y []T, st [maxOps]int) {
	vk := vecFor[T]()
	s := vecBinSeg[T]{fb: vk.bin[k.kb], fs: vk.un[k.ks], fr: vk.un[k.kr], neg: k.neg}
	eachBlock[T](it, k.chunk, binTile[T, T, vecBinSeg[T]]{k: s, d: d, x: x, y: y, st: st})
}

// unaryStrided runs vec kernel k on the tiled path when src is strided
// along the output's innermost dim, or with scatter when dst has no
// stride-1 dim, and reports whether it did.
func unaryStrided[T float](k vecUn, dst, src backend.View, a, b T, scatter bool) bool {
	it, ok := stridedIterOut(scatter, dst, src)
	if !ok {
		return false
	}
	_, st := it.inner()
	s := vecUnSeg[T]{f: vecFor[T]().un[k], a: a, b: b}
	eachBlock[T](it, vecChunk(k), unTile[T, T, vecUnSeg[T]]{k: s, d: slice[T](dst.Storage), x: slice[T](src.Storage), st: st})
	return true
}
