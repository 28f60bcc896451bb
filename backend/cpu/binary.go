package cpu

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
)

// Binary implements backend.Backend.
func (*CPU) Binary(op backend.BinaryOp, dst, a, b backend.View) {
	if dst.Numel() == 0 { // an empty view's offset may lie past its buffer's end
		return
	}
	if !vecOff && binaryDense32(op, &dst, &a, &b) {
		return
	}
	switch a.DType() {
	case backend.Float32:
		binaryT[float32](op, dst, a, b)
	case backend.Float64:
		binaryT[float64](op, dst, a, b)
	case backend.Int64:
		binaryT[int64](op, dst, a, b)
	case backend.Int32:
		binaryT[int32](op, dst, a, b)
	case backend.Bool:
		if !vecOff && boolDense(op, dst, a, b) {
			return
		}
		binaryT[uint8](op, dst, a, b)
	case backend.Uint8:
		binaryT[uint8](op, dst, a, b)
	default:
		panic(badDType("binary "+op.String(), a.DType()))
	}
}

func binaryT[T number](op backend.BinaryOp, dst, a, b backend.View) {
	if !vecOff {
		// inputs strided along the output's rows, or short rows: gathered
		// tiles (strided.go)
		if stridedCandidate(dst, a, b) && binaryStrided[T](op, dst, a, b) {
			return
		}
		// contiguous runs go to the kernels of vec.go
		if op.IsComparison() {
			if compareVec[T](op, dst, a, b) {
				return
			}
		} else {
			var z T
			switch any(z).(type) {
			case float32:
				if binaryVec[float32](op, dst, a, b) {
					return
				}
			case float64:
				if binaryVec[float64](op, dst, a, b) {
					return
				}
			}
		}
	}
	x, y := slice[T](a.Storage), slice[T](b.Storage)
	if f := intMinMaxSeg[T](op); f != nil && !vecOff && dst.IsContiguous() && a.IsContiguous() && b.IsContiguous() {
		// same-shape contiguous integer max and min: one typed loop per
		// chunk
		n := dst.Numel()
		d := slice[T](dst.Storage)[dst.Offset:][:n]
		x, y = x[a.Offset:][:n], y[b.Offset:][:n]
		parallelFor(n, grain, func(lo, hi int) { f(d[lo:hi], x[lo:hi], y[lo:hi]) })
		return
	}
	it := newIter(dst.Shape, dst.Layout, a.Layout, b.Layout)
	_, st := it.inner()
	if op.IsComparison() {
		eachR(&it, grain/2, cmpRun[T]{cmp: compareFunc[T](op), d: u8(dst.Storage), x: x, y: y, st: st})
		return
	}
	r, chunk := binRunOf[T](op)
	r.d, r.x, r.y, r.st = slice[T](dst.Storage), x, y, st
	eachR(&it, chunk, r)
}

// boolDense runs LogicalAnd and LogicalOr (Minimum and Maximum on Bool)
// over contiguous same-shape operands eight elements at a time: a Bool
// holds 0 or 1, so the minimum is the bitwise and, the maximum the or.
// It reports whether it ran.
func boolDense(op backend.BinaryOp, dst, a, b backend.View) bool {
	if op != backend.Minimum && op != backend.Maximum || !dst.IsContiguous() || !a.IsContiguous() || !b.IsContiguous() {
		return false
	}
	n := dst.Numel()
	d := u8(dst.Storage)[dst.Offset:][:n]
	x, y := u8(a.Storage)[a.Offset:][:n], u8(b.Storage)[b.Offset:][:n]
	and := op == backend.Minimum
	parallelFor(n, grain, func(lo, hi int) { boolAndOr(d[lo:hi], x[lo:hi], y[lo:hi], and) })
	return true
}

// boolAndOr sets d to x & y (and) or x | y over bytes. Where the three
// slices lie equally far from a word boundary (fresh tensors all start on
// one), it runs over whole words of the buffers after a head of bytes;
// otherwise over unaligned eight-byte loads. A loop that sliced the bytes
// at each word (binary.LittleEndian.Uint64(x[i:])) and chose the op per
// word spent some 45 instructions on eight bytes: 300 µs on 1 MiB
// against 30 µs for these loops.
func boolAndOr(d, x, y []uint8, and bool) {
	x, y = x[:len(d)], y[:len(d)]
	if len(d) >= 64 {
		h := int(-uintptr(unsafe.Pointer(&d[0])) & 7)
		if uintptr(unsafe.Pointer(&x[h]))&7 == 0 && uintptr(unsafe.Pointer(&y[h]))&7 == 0 {
			boolBytes(d[:h], x[:h], y[:h], and)
			m := (len(d) - h) / 8
			words := func(s []uint8) []uint64 { return unsafe.Slice((*uint64)(unsafe.Pointer(&s[h])), m) }
			if and {
				andWords(words(d), words(x), words(y))
			} else {
				orWords(words(d), words(x), words(y))
			}
			t := h + 8*m
			boolBytes(d[t:], x[t:], y[t:], and)
			return
		}
	}
	le := binary.LittleEndian
	i := 0
	for ; i+32 <= len(d); i += 32 {
		dd, xx, yy := (*[32]byte)(d[i:]), (*[32]byte)(x[i:]), (*[32]byte)(y[i:])
		v0, w0 := le.Uint64(xx[0:]), le.Uint64(yy[0:])
		v1, w1 := le.Uint64(xx[8:]), le.Uint64(yy[8:])
		v2, w2 := le.Uint64(xx[16:]), le.Uint64(yy[16:])
		v3, w3 := le.Uint64(xx[24:]), le.Uint64(yy[24:])
		if and {
			v0, v1, v2, v3 = v0&w0, v1&w1, v2&w2, v3&w3
		} else {
			v0, v1, v2, v3 = v0|w0, v1|w1, v2|w2, v3|w3
		}
		le.PutUint64(dd[0:], v0)
		le.PutUint64(dd[8:], v1)
		le.PutUint64(dd[16:], v2)
		le.PutUint64(dd[24:], v3)
	}
	boolBytes(d[i:], x[i:], y[i:], and)
}

// boolBytes is boolAndOr a byte at a time, for heads and tails.
func boolBytes(d, x, y []uint8, and bool) {
	x, y = x[:len(d)], y[:len(d)]
	for i := range d {
		if and {
			d[i] = x[i] & y[i]
		} else {
			d[i] = x[i] | y[i]
		}
	}
}

// andWords sets d to x & y; orWords to x | y. Eight words a step, each
// a three-index slice, leave the loop body without bounds checks.
func andWords(d, x, y []uint64) {
	x, y = x[:len(d)], y[:len(d)]
	i := 0
	for ; i+8 <= len(d); i += 8 {
		dd, xx, yy := d[i:i+8:i+8], x[i:i+8:i+8], y[i:i+8:i+8]
		dd[0], dd[1], dd[2], dd[3] = xx[0]&yy[0], xx[1]&yy[1], xx[2]&yy[2], xx[3]&yy[3]
		dd[4], dd[5], dd[6], dd[7] = xx[4]&yy[4], xx[5]&yy[5], xx[6]&yy[6], xx[7]&yy[7]
	}
	for ; i < len(d); i++ {
		d[i] = x[i] & y[i]
	}
}

func orWords(d, x, y []uint64) {
	x, y = x[:len(d)], y[:len(d)]
	i := 0
	for ; i+8 <= len(d); i += 8 {
		dd, xx, yy := d[i:i+8:i+8], x[i:i+8:i+8], y[i:i+8:i+8]
		dd[0], dd[1], dd[2], dd[3] = xx[0]|yy[0], xx[1]|yy[1], xx[2]|yy[2], xx[3]|yy[3]
		dd[4], dd[5], dd[6], dd[7] = xx[4]|yy[4], xx[5]|yy[5], xx[6]|yy[6], xx[7]|yy[7]
	}
	for ; i < len(d); i++ {
		d[i] = x[i] | y[i]
	}
}

// intMinMaxSeg returns integer Maximum or Minimum as a loop over three
// equal-length slices (a conditional move per element; bools' LogicalOr
// and LogicalAnd are these ops); nil for other ops and for floats, whose
// NaN and ±0 rules the vector kernels and binRun keep. Add, Sub and Mul
// need no call per element in binRun already.
func intMinMaxSeg[T number](op backend.BinaryOp) func(d, x, y []T) {
	var z T
	switch any(z).(type) {
	case float32, float64:
		return nil
	}
	switch op {
	case backend.Maximum:
		return func(d, x, y []T) {
			x, y = x[:len(d)], y[:len(d)]
			for i := range d {
				d[i] = max(x[i], y[i])
			}
		}
	case backend.Minimum:
		return func(d, x, y []T) {
			x, y = x[:len(d)], y[:len(d)]
			for i := range d {
				d[i] = min(x[i], y[i])
			}
		}
	}
	return nil
}

// cmpRun is the generic strided loop of a comparison.
type cmpRun[T number] struct {
	cmp  func(a, b T) bool
	d    []uint8
	x, y []T
	st   [maxOps]int
}

func (r cmpRun[T]) run(off [maxOps]int, n int) {
	d, x, y, ds, as, bs := r.d, r.x, r.y, r.st[0], r.st[1], r.st[2]
	for i, o, p, q := 0, off[0], off[1], off[2]; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
		d[o] = b2u(r.cmp(x[p], y[q]))
	}
}

// binRun is the generic strided loop of an arithmetic op; f is the
// element function of the ops other than Add, Sub, Mul, Maximum and
// Minimum.
// binRunOf returns the generic run for op, without operands, and the
// chunk of elements to split it by: ops other than +, −, ×, max and min
// call a function per element, so they take smaller chunks.
func binRunOf[T number](op backend.BinaryOp) (binRun[T], int) {
	r := binRun[T]{op: op}
	switch op {
	case backend.Add, backend.Sub, backend.Mul, backend.Maximum, backend.Minimum:
		return r, grain
	}
	r.f = binaryFunc[T](op)
	return r, grain / 4
}

type binRun[T number] struct {
	op      backend.BinaryOp
	f       func(a, b T) T
	d, x, y []T
	st      [maxOps]int
}

func (r binRun[T]) run(off [maxOps]int, n int) {
	d, x, y, ds, as, bs := r.d, r.x, r.y, r.st[0], r.st[1], r.st[2]
	o, p, q := off[0], off[1], off[2]
	switch r.op {
	case backend.Add:
		for i := 0; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
			d[o] = x[p] + y[q]
		}
	case backend.Sub:
		for i := 0; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
			d[o] = x[p] - y[q]
		}
	case backend.Mul:
		for i := 0; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
			d[o] = x[p] * y[q]
		}
	case backend.Maximum: // inline, not through binaryFunc's call: bools' LogicalOr
		for i := 0; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
			d[o] = maxNaN(x[p], y[q])
		}
	case backend.Minimum: // and LogicalAnd
		for i := 0; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
			d[o] = minNaN(x[p], y[q])
		}
	default:
		for i := 0; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
			d[o] = r.f(x[p], y[q])
		}
	}
}

func binaryFunc[T number](op backend.BinaryOp) func(a, b T) T {
	switch op {
	case backend.Div:
		var z T
		if _, ok := any(z).(float32); !ok {
			if _, ok := any(z).(float64); !ok {
				panic("cpu: div on an integer tensor")
			}
		}
		return func(a, b T) T { return a / b }
	case backend.Pow:
		var z T
		switch any(z).(type) {
		case float32, float64:
			return func(a, b T) T { return T(math.Pow(float64(a), float64(b))) }
		}
		return func(a, b T) T { return T(intPow(int64(a), int64(b))) }
	case backend.Maximum:
		return func(a, b T) T {
			if a > b || a != a {
				return a
			}
			return b
		}
	case backend.Minimum:
		return func(a, b T) T {
			if a < b || a != a {
				return a
			}
			return b
		}
	}
	panic("cpu: binary: unknown op " + op.String())
}

// intPow is exponentiation by squaring in int64 (narrower types wrap the
// same way); a negative exponent gives 0 except for bases 1 and -1, as
// repeated integer division would.
func intPow(a, b int64) int64 {
	if b < 0 {
		switch a {
		case 1:
			return 1
		case -1:
			if b%2 == 0 {
				return 1
			}
			return -1
		}
		return 0
	}
	r := int64(1)
	for ; b > 0; b >>= 1 {
		if b&1 == 1 {
			r *= a
		}
		a *= a
	}
	return r
}

func compareFunc[T number](op backend.BinaryOp) func(a, b T) bool {
	switch op {
	case backend.Eq:
		return func(a, b T) bool { return a == b }
	case backend.Ne:
		return func(a, b T) bool { return a != b }
	case backend.Lt:
		return func(a, b T) bool { return a < b }
	case backend.Le:
		return func(a, b T) bool { return a <= b }
	case backend.Gt:
		return func(a, b T) bool { return a > b }
	case backend.Ge:
		return func(a, b T) bool { return a >= b }
	}
	panic("cpu: not a comparison: " + op.String())
}

// Where implements backend.Backend.
func (*CPU) Where(dst, cond, a, b backend.View) {
	if dst.Numel() == 0 { // as in Binary
		return
	}
	switch a.DType().Size() {
	case 1:
		whereT[uint8](dst, cond, a, b)
	case 2:
		whereT[uint16](dst, cond, a, b)
	case 4:
		whereT[uint32](dst, cond, a, b)
	case 8:
		whereT[uint64](dst, cond, a, b)
	}
}

func whereT[T word](dst, cond, a, b backend.View) {
	d, c, x, y := slice[T](dst.Storage), u8(cond.Storage), slice[T](a.Storage), slice[T](b.Storage)
	n := dst.Numel()
	if !vecOff && n > 0 && dst.IsContiguous() && cond.IsContiguous() {
		// contiguous runs, with a and b each contiguous or one value
		// (0-d or broadcast along every dim: ReLU's backward,
		// where(x > 0, g, 0))
		xs, ys := isScalar(a), isScalar(b)
		if (xs || a.IsContiguous()) && (ys || b.IsContiguous()) {
			d, c = d[dst.Offset:dst.Offset+n], c[cond.Offset:cond.Offset+n]
			r := whereVecRun[T]{d: d, c: c, xs: xs, ys: ys}
			if xs {
				r.x = x[a.Offset : a.Offset+1]
			} else {
				r.x = x[a.Offset : a.Offset+n]
			}
			if ys {
				r.y = y[b.Offset : b.Offset+1]
			} else {
				r.y = y[b.Offset : b.Offset+n]
			}
			if n < 2*grain || NumThreads() == 1 {
				r.span(0, n)
				return
			}
			parallelFor(n, grain, r.span)
			return
		}
	}
	// short rows with an operand not contiguous along them (a broadcast
	// row, a transposed mask): gathered tiles (where_tiled.go)
	if !vecOff && stridedCandidate(dst, cond, a, b) && whereStrided[T](dst, cond, a, b) {
		return
	}
	it := newIter(dst.Shape, dst.Layout, cond.Layout, a.Layout, b.Layout)
	_, st := it.inner()
	eachR(&it, grain, whereRun[T]{d: d, c: c, x: x, y: y, st: st})
}

// word is the element types Where moves: it copies bits.
type word interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

// isScalar reports whether v has one element, or all of its elements are
// one (stride 0 along every dim longer than 1).
func isScalar(v backend.View) bool {
	for i, n := range v.Shape {
		if n > 1 && v.Strides[i] != 0 {
			return false
		}
	}
	return true
}

// whereVecRun is the contiguous Where: d[i] = c[i] ? x[i] : y[i], where
// x (xs) or y (ys) may be a single value for all i.
type whereVecRun[T word] struct {
	d      []T
	c      []uint8
	x, y   []T
	xs, ys bool
}

func (r whereVecRun[T]) span(lo, hi int) {
	d, c := r.d[lo:hi], r.c[lo:hi]
	switch {
	case !r.xs && !r.ys:
		whereVV(d, c, r.x[lo:hi], r.y[lo:hi])
	case r.xs && r.ys:
		whereSS(d, c, r.x[0], r.y[0])
	case r.xs:
		whereSV(d, c, r.x[0], r.y[lo:hi])
	default:
		whereVS(d, c, r.x[lo:hi], r.y[0])
	}
}

// The Where loops. Each picks with a select the compiler turns into a
// conditional move (no branch to mispredict on random conditions); that
// measured faster than masking with (x ^ y) & m.

func whereVV[T word](d []T, c []uint8, x, y []T) {
	c, x, y = c[:len(d)], x[:len(d)], y[:len(d)]
	for i := range d {
		v, w := y[i], x[i] // both loaded: the select is then a CMOV
		if c[i] != 0 {
			v = w
		}
		d[i] = v
	}
}

func whereVS[T word](d []T, c []uint8, x []T, u T) {
	c, x = c[:len(d)], x[:len(d)]
	for i := range d {
		v, w := u, x[i]
		if c[i] != 0 {
			v = w
		}
		d[i] = v
	}
}

func whereSV[T word](d []T, c []uint8, u T, y []T) {
	c, y = c[:len(d)], y[:len(d)]
	for i := range d {
		v := y[i]
		if c[i] != 0 {
			v = u
		}
		d[i] = v
	}
}

func whereSS[T word](d []T, c []uint8, u, w T) {
	c = c[:len(d)]
	for i := range d {
		v := w
		if c[i] != 0 {
			v = u
		}
		d[i] = v
	}
}

// whereRun is the generic strided Where loop.
type whereRun[T word] struct {
	d    []T
	c    []uint8
	x, y []T
	st   [maxOps]int
}

func (r whereRun[T]) run(off [maxOps]int, n int) {
	o, k, p, q := off[0], off[1], off[2], off[3]
	st := r.st
	if !vecOff && st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 1 {
		whereVV(r.d[o:o+n], r.c[k:k+n], r.x[p:p+n], r.y[q:q+n])
		return
	}
	d, c, x, y := r.d, r.c, r.x, r.y
	for i := 0; i < n; i++ {
		if c[k] != 0 {
			d[o] = x[p]
		} else {
			d[o] = y[q]
		}
		o, k, p, q = o+st[0], k+st[1], p+st[2], q+st[3]
	}
}

// compareVec runs comparison op over dst, x and y when every innermost
// run is contiguous in dst and contiguous or broadcast in x and y, and
// reports whether it did.
func compareVec[T number](op backend.BinaryOp, dst, x, y backend.View) bool {
	d, p, q := u8(dst.Storage), slice[T](x.Storage), slice[T](y.Storage)
	n := dst.Numel()
	if allContiguous(dst, x, y) {
		d, p, q = d[dst.Offset:dst.Offset+n], p[x.Offset:x.Offset+n], q[y.Offset:y.Offset+n]
		if n < 2*grain || NumThreads() == 1 {
			cmpVV(op, d, p, q)
			return true
		}
		parallelFor(n, grain, func(lo, hi int) { cmpVV(op, d[lo:hi], p[lo:hi], q[lo:hi]) })
		return true
	}
	it := newIter(dst.Shape, dst.Layout, x.Layout, y.Layout)
	_, st := it.inner()
	if it.nd == 0 || st[0] != 1 || st[1] > 1 || st[2] > 1 || st[1] < 0 || st[2] < 0 {
		return false
	}
	eachR(&it, grain, cmpVecRun[T]{op: op, d: d, p: p, q: q, st: st})
	return true
}

// cmpVecRun is compareVec's loop body.
type cmpVecRun[T number] struct {
	op   backend.BinaryOp
	d    []uint8
	p, q []T
	st   [maxOps]int
}

func (r cmpVecRun[T]) run(off [maxOps]int, m int) {
	o, i, j := off[0], off[1], off[2]
	d, p, q := r.d, r.p, r.q
	switch {
	case r.st[1] == 1 && r.st[2] == 1:
		cmpVV(r.op, d[o:o+m], p[i:i+m], q[j:j+m])
	case r.st[1] == 1:
		cmpVS(r.op, d[o:o+m], p[i:i+m], q[j])
	case r.st[2] == 1:
		cmpVS(flipCmp(r.op), d[o:o+m], q[j:j+m], p[i])
	default:
		cmpVS(r.op, d[o:o+1], p[i:i+1], q[j])
		fillSlice(d[o+1:o+m], d[o])
	}
}

// flipCmp is the comparison with its operands swapped: a < b ⇔ b > a.
func flipCmp(op backend.BinaryOp) backend.BinaryOp {
	switch op {
	case backend.Lt:
		return backend.Gt
	case backend.Gt:
		return backend.Lt
	case backend.Le:
		return backend.Ge
	case backend.Ge:
		return backend.Le
	}
	return op
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// cmpVV sets d[i] = x[i] op y[i].
func cmpVV[T number](op backend.BinaryOp, d []uint8, x, y []T) {
	x, y = x[:len(d)], y[:len(d)]
	{
		switch op {
		case backend.Eq:
			for i := range d {
				d[i] = b2u(x[i] == y[i])
			}
		case backend.Ne:
			for i := range d {
				d[i] = b2u(x[i] != y[i])
			}
		case backend.Lt:
			for i := range d {
				d[i] = b2u(x[i] < y[i])
			}
		case backend.Le:
			for i := range d {
				d[i] = b2u(x[i] <= y[i])
			}
		case backend.Gt:
			for i := range d {
				d[i] = b2u(x[i] > y[i])
			}
		case backend.Ge:
			for i := range d {
				d[i] = b2u(x[i] >= y[i])
			}
		}
	}
}

// cmpVS sets d[i] = x[i] op v.
func cmpVS[T number](op backend.BinaryOp, d []uint8, x []T, v T) {
	x = x[:len(d)]
	switch op {
	case backend.Eq:
		for i := range d {
			d[i] = b2u(x[i] == v)
		}
	case backend.Ne:
		for i := range d {
			d[i] = b2u(x[i] != v)
		}
	case backend.Lt:
		for i := range d {
			d[i] = b2u(x[i] < v)
		}
	case backend.Le:
		for i := range d {
			d[i] = b2u(x[i] <= v)
		}
	case backend.Gt:
		for i := range d {
			d[i] = b2u(x[i] > v)
		}
	case backend.Ge:
		for i := range d {
			d[i] = b2u(x[i] >= v)
		}
	}
}

// binaryDense32 runs an arithmetic op on float32 views that are all dense
// and small enough for one thread straight on its SIMD kernel, and
// reports whether it did. It is binaryVec's first case without the
// layers in between: a tiny op's whole cost is such fixed overhead, and
// reading the views through pointers spares copying them at every level.
func binaryDense32(op backend.BinaryOp, dst, a, b *backend.View) bool {
	if !dst.IsContiguous() || !a.IsContiguous() || !b.IsContiguous() {
		return false
	}
	return dense32(op, dst.Storage, a.Storage, b.Storage, dst.Offset, a.Offset, b.Offset, backend.Numel(dst.Shape))
}

// dense32 runs op's float32 vector kernel on dst[dOff:], a[aOff:] and
// b[bOff:], n elements each, and reports whether it did: not for other
// dtypes or ops, nor for work worth threads.
func dense32(op backend.BinaryOp, dst, a, b backend.Storage, dOff, aOff, bOff, n int) bool {
	k := vecBinOpOf(op)
	if k == nil || n >= 2*k.chunk && NumThreads() > 1 {
		return false
	}
	d, ok := dst.(*Buffer)
	x, okx := a.(*Buffer)
	y, oky := b.(*Buffer)
	if !ok || !okx || !oky || d.dt != backend.Float32 || x.dt != backend.Float32 || y.dt != backend.Float32 {
		return false
	}
	vec32.bin[k.kb](f32s(d, dOff, n), f32s(x, aOff, n), f32s(y, bOff, n))
	return true
}

// f32s is elements [off, off+n) of a float32 buffer.
func f32s(b *Buffer, off, n int) []float32 {
	if n == 0 {
		return nil
	}
	all := unsafe.Slice((*float32)(unsafe.Pointer(&b.words[0])), b.n)
	return all[off : off+n]
}
