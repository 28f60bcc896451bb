package backendtest

import (
	"encoding/binary"
	"math"
	"sort"
	"sync"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/backend/internal/halfref"
)

// ---------------------------------------------------------------- elements

// Elements are kept on the host as raw bits (uint64, low bytes used) and
// decoded by definition: IEEE formats with math.Float32frombits and
// friends, the 16-bit formats with the halfref oracle, integers as two's
// complement of their width. Nothing here shares code with a backend.

// decode is the exact value of bits b of dt. Bool decodes its raw byte,
// so a byte other than 0 or 1 shows up as a wrong value.
func decode(dt backend.DType, b uint64) float64 {
	switch dt {
	case f32:
		return float64(math.Float32frombits(uint32(b)))
	case f64:
		return math.Float64frombits(b)
	case f16, bf16:
		return halfValues(dt)[uint16(b)]
	}
	return float64(decodeInt(dt, b))
}

// decodeInt is the integer value of bits b of an integer dt or Bool.
func decodeInt(dt backend.DType, b uint64) int64 {
	switch dt {
	case i64:
		return int64(b)
	case i32:
		return int64(int32(uint32(b)))
	case u8, boolean:
		return int64(uint8(b))
	}
	panic("backendtest: decodeInt of " + dt.String())
}

// The 16-bit formats' values, decoded once by the halfref oracle.
var (
	halfOnce  [2]sync.Once
	halfTable [2][]float64
)

func halfIndex(dt backend.DType) (int, halfref.Format) {
	if dt == f16 {
		return 0, halfref.Float16
	}
	return 1, halfref.BFloat16
}

func halfValues(dt backend.DType) []float64 {
	i, f := halfIndex(dt)
	halfOnce[i].Do(func() {
		t := make([]float64, 1<<16)
		for b := range t {
			t[b] = f.Value(uint16(b))
		}
		halfTable[i] = t
	})
	return halfTable[i]
}

// nearestHalf rounds x to the 16-bit format, ties to the even pattern,
// by searching the oracle's decoded values (the finite non-negative
// patterns are in increasing order; the Inf pattern stands for the value
// the next exponent would have, so rounding at or past it overflows).
func nearestHalf(dt backend.DType, x float64) uint16 {
	_, f := halfIndex(dt)
	if x != x {
		return f.Inf | 1
	}
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	if x >= f.Beyond {
		return sign | f.Inf
	}
	t := halfValues(dt)
	val := func(b int) float64 {
		if b == int(f.Inf) {
			return f.Beyond
		}
		return t[b]
	}
	b := sort.Search(int(f.Inf)+1, func(i int) bool { return val(i) > x }) - 1
	if lo, hi := x-val(b), val(b+1)-x; hi < lo || (hi == lo && b&1 == 1) {
		b++
	}
	return sign | uint16(b)
}

// encode rounds x to dt to nearest (ties to even); integers truncate
// toward zero and wrap to their width; Bool is x ≠ 0.
func encode(dt backend.DType, x float64) uint64 {
	switch dt {
	case f32:
		return uint64(math.Float32bits(float32(x)))
	case f64:
		return math.Float64bits(x)
	case f16, bf16:
		return uint64(nearestHalf(dt, x))
	case boolean:
		if x != 0 {
			return 1
		}
		return 0
	}
	return encodeInt(dt, int64(math.Trunc(x)))
}

// encodeInt is v wrapped to dt's width.
func encodeInt(dt backend.DType, v int64) uint64 {
	switch dt {
	case i64:
		return uint64(v)
	case i32:
		return uint64(uint32(v))
	case u8:
		return uint64(uint8(v))
	case boolean:
		if v != 0 {
			return 1
		}
		return 0
	}
	panic("backendtest: encodeInt of " + dt.String())
}

// wrap is v as dt holds it.
func wrap(dt backend.DType, v int64) int64 { return decodeInt(dt, encodeInt(dt, v)) }

// round is x as dt holds it.
func round(dt backend.DType, x float64) float64 { return decode(dt, encode(dt, x)) }

// poison is what outputs hold before a kernel runs: a quiet NaN with a
// payload for floats, a byte pattern for integers, and for Bool a byte
// that is neither 0 nor 1.
func poison(dt backend.DType) uint64 {
	switch dt {
	case f32:
		return 0x7fc5a5a5
	case f64:
		return 0x7ff8a5a5a5a5a5a5
	case f16:
		return 0x7e5a
	case bf16:
		return 0x7fda
	case i64:
		return 0x5a5a5a5a5a5a5a5a
	case i32:
		return 0x5a5a5a5a
	}
	return 0xa5
}

func pack(dt backend.DType, bits []uint64) []byte {
	size := dt.Size()
	out := make([]byte, len(bits)*size)
	for i, b := range bits {
		p := out[i*size:]
		switch size {
		case 1:
			p[0] = uint8(b)
		case 2:
			binary.LittleEndian.PutUint16(p, uint16(b))
		case 4:
			binary.LittleEndian.PutUint32(p, uint32(b))
		default:
			binary.LittleEndian.PutUint64(p, b)
		}
	}
	return out
}

func unpack(dt backend.DType, raw []byte) []uint64 {
	size := dt.Size()
	out := make([]uint64, len(raw)/size)
	for i := range out {
		p := raw[i*size:]
		switch size {
		case 1:
			out[i] = uint64(p[0])
		case 2:
			out[i] = uint64(binary.LittleEndian.Uint16(p))
		case 4:
			out[i] = uint64(binary.LittleEndian.Uint32(p))
		default:
			out[i] = binary.LittleEndian.Uint64(p)
		}
	}
	return out
}

// ---------------------------------------------------------------- index walking

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// each calls fn with every multi-index of shape, row-major (an odometer);
// idx is reused between calls.
func each(shape []int, fn func(idx []int)) {
	if numel(shape) == 0 {
		return
	}
	idx := make([]int, len(shape))
	for {
		fn(idx)
		d := len(shape) - 1
		for ; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// at is the storage position of multi-index idx under l.
func at(l backend.Layout, idx []int) int {
	p := l.Offset
	for i, x := range idx {
		p += x * l.Strides[i]
	}
	return p
}

// lin is the row-major position of idx in shape.
func lin(shape, idx []int) int {
	p := 0
	for i, x := range idx {
		p = p*shape[i] + x
	}
	return p
}

func clone(s []int) []int { return append([]int{}, s...) }

// with returns shape with dim d set to n.
func with(shape []int, d, n int) []int {
	out := clone(shape)
	out[d] = n
	return out
}

// ---------------------------------------------------------------- layouts

// kind is a way of laying a logical shape out in its storage.
type kind int

const (
	kContig     kind = iota // row-major at offset 0, storage exactly the elements
	kPerm                   // dims stored in reverse order (a transposed/permuted view)
	kGap                    // offset 5, row-major strides doubled: a gap after every element, padding at both ends
	kPad                    // row-major (contiguous) at offset 3, 4 elements of padding after
	kBcastFirst             // the first dim of size > 1 has stride 0, the rest row-major
	kBcastLast              // the last dim of size > 1 has stride 0
	kFlip                   // row-major walked backwards in every dim: negative strides (Copy's src only)
)

var kindNames = [...]string{"contig", "perm", "gap", "pad", "bcastFirst", "bcastLast", "flip"}

func (k kind) String() string { return kindNames[k] }

// denseStrides is row-major strides over shape (sizes 0 counted as 1).
func denseStrides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= max(shape[i], 1)
	}
	return st
}

// layoutOf returns a layout of kind k over shape and the storage length
// it needs.
func layoutOf(k kind, shape []int) (backend.Layout, int) {
	sh := clone(shape)
	n := numel(sh)
	switch k {
	case kContig:
		return backend.Layout{Shape: sh, Strides: denseStrides(sh)}, n
	case kPerm:
		st := make([]int, len(sh))
		s := 1
		for i := range sh {
			st[i] = s
			s *= max(sh[i], 1)
		}
		return backend.Layout{Shape: sh, Strides: st}, n
	case kGap:
		st := denseStrides(sh)
		for i := range st {
			st[i] *= 2
		}
		return backend.Layout{Shape: sh, Strides: st, Offset: 5}, 5 + 2*n + 3
	case kPad:
		return backend.Layout{Shape: sh, Strides: denseStrides(sh), Offset: 3}, 3 + n + 4
	case kBcastFirst, kBcastLast:
		d := -1
		for i := range sh {
			if sh[i] > 1 && (d < 0 || k == kBcastLast) {
				d = i
			}
		}
		if d < 0 {
			return layoutOf(kContig, sh)
		}
		phys := with(sh, d, 1)
		st := denseStrides(phys)
		st[d] = 0
		return backend.Layout{Shape: sh, Strides: st}, numel(phys)
	case kFlip:
		st := denseStrides(sh)
		off := 0
		for i := range st {
			if n > 0 {
				off += (sh[i] - 1) * st[i]
			}
			st[i] = -st[i]
		}
		return backend.Layout{Shape: sh, Strides: st, Offset: off}, n
	}
	panic("backendtest: bad layout kind")
}

// ---------------------------------------------------------------- operands

// operand is a kernel operand: a storage on the device, the layout the
// kernel sees it through, and the host's copy of every storage element.
type operand struct {
	dt  backend.DType
	st  backend.Storage
	l   backend.Layout
	mem []uint64 // bits of every storage element, as last uploaded or checked
}

func (o *operand) view() backend.View { return backend.View{Storage: o.st, Layout: o.l} }

// get is the value at multi-index idx.
func (o *operand) get(idx []int) float64 { return decode(o.dt, o.mem[at(o.l, idx)]) }

// geti is the integer value at multi-index idx.
func (o *operand) geti(idx []int) int64 { return decodeInt(o.dt, o.mem[at(o.l, idx)]) }

// set writes x (rounded to dt) at idx on the host; upload sends it.
func (o *operand) set(idx []int, x float64) { o.mem[at(o.l, idx)] = encode(o.dt, x) }

// values are the logical elements in row-major order.
func (o *operand) values() []float64 {
	out := make([]float64, 0, numel(o.l.Shape))
	each(o.l.Shape, func(idx []int) { out = append(out, o.get(idx)) })
	return out
}

// ints are the logical elements of an integer or Bool operand.
func (o *operand) ints() []int64 {
	out := make([]int64, 0, numel(o.l.Shape))
	each(o.l.Shape, func(idx []int) { out = append(out, o.geti(idx)) })
	return out
}

// alloc allocates storage for n elements, released when c ends.
func (c *ctx) alloc(dt backend.DType, n int) backend.Storage {
	c.Helper()
	st, err := c.s.be.Alloc(dt, n)
	if err != nil {
		c.Fatalf("%s: Alloc(%v, %d): %v", c.path, dt, n, err)
	}
	if st.Len() != n || st.DType() != dt {
		c.Fatalf("%s: Alloc(%v, %d) returned storage of %d elements of %v", c.path, dt, n, st.Len(), st.DType())
	}
	c.owned = append(c.owned, st)
	return st
}

// upload sends o's host copy to the device.
func (c *ctx) upload(o *operand) {
	c.Helper()
	if err := c.s.be.Upload(o.st, pack(o.dt, o.mem)); err != nil {
		c.Fatalf("%s: Upload: %v", c.path, err)
	}
}

// fetch downloads the whole storage of o.
func (c *ctx) fetch(o *operand) []uint64 {
	c.Helper()
	if err := c.s.be.Sync(); err != nil {
		c.Fatalf("%s: Sync: %v", c.path, err)
	}
	n := o.st.Len()
	raw := make([]byte, n*o.dt.Size())
	if err := c.s.be.Download(raw, backend.View{Storage: o.st, Layout: backend.Contiguous([]int{n})}); err != nil {
		c.Fatalf("%s: Download: %v", c.path, err)
	}
	return unpack(o.dt, raw)
}

// input makes an operand of kind k over shape whose every storage element
// (also those the layout does not reach) is gen() rounded to dt.
func (c *ctx) input(dt backend.DType, k kind, shape []int, gen func() float64) *operand {
	c.Helper()
	l, n := layoutOf(k, shape)
	o := &operand{dt: dt, st: c.alloc(dt, n), l: l, mem: make([]uint64, n)}
	for i := range o.mem {
		o.mem[i] = encode(dt, gen())
	}
	c.upload(o)
	return o
}

// output makes a poisoned operand of kind k over shape.
func (c *ctx) output(dt backend.DType, k kind, shape []int) *operand {
	c.Helper()
	l, n := layoutOf(k, shape)
	o := &operand{dt: dt, st: c.alloc(dt, n), l: l, mem: make([]uint64, n)}
	p := poison(dt)
	for i := range o.mem {
		o.mem[i] = p
	}
	c.upload(o)
	return o
}

// outputFinite is output poisoned with a finite value (1234.5 for
// floats) instead of a NaN, for cases whose reference holds NaNs, where
// an unwritten NaN poison would pass.
func (c *ctx) outputFinite(dt backend.DType, k kind, shape []int) *operand {
	c.Helper()
	o := c.output(dt, k, shape)
	if dt.IsFloat() {
		for i := range o.mem {
			o.mem[i] = encode(dt, 1234.5)
		}
		c.upload(o)
	}
	return o
}

// unchanged checks that a kernel left o's storage exactly as uploaded
// (an input it must not write).
func (c *ctx) unchanged(what string, o *operand) bool {
	c.Helper()
	now := c.fetch(o)
	for i, b := range now {
		if b != o.mem[i] {
			c.Errorf("%s: input storage element %d was written (%#x, was %#x)", what, i, b, o.mem[i])
			return false
		}
	}
	return true
}

// written downloads output o, checks that no storage element outside its
// layout changed, and updates o's host copy. It reports false if it
// found stray writes.
func (c *ctx) written(what string, o *operand) bool {
	c.Helper()
	now := c.fetch(o)
	inside := make([]bool, len(now))
	each(o.l.Shape, func(idx []int) { inside[at(o.l, idx)] = true })
	ok := true
	for i, b := range now {
		if !inside[i] && b != o.mem[i] {
			c.Errorf("%s: storage element %d outside the output view (shape %v, strides %v, offset %d, storage %d) was written: %#x, was %#x",
				what, i, o.l.Shape, o.l.Strides, o.l.Offset, len(now), b, o.mem[i])
			ok = false
			break
		}
	}
	o.mem = now
	return ok
}

// ---------------------------------------------------------------- comparing

// bound is the absolute error allowed at row-major position i.
type bound func(i int) float64

func exact(int) float64 { return 0 }

// maxReports bounds the mismatches one check lists.
const maxReports = 4

// check compares got (dst's logical elements after the call) with want:
//
//   - integer types and Bool exactly;
//   - floats: a NaN in want needs a NaN, an infinity the same infinity,
//     and a finite value a finite got within tol(i) of it; when norm > 0
//     also ‖got−want‖₂/‖want‖₂ ≤ norm over the finite elements.
func (c *ctx) check(what string, dst *operand, want []float64, tol bound, norm float64) bool {
	c.Helper()
	shape := dst.l.Shape
	got := dst.values()
	if len(got) != len(want) {
		c.Errorf("%s: %d results, reference has %d", what, len(got), len(want))
		return false
	}
	bad := 0
	var diff2, ref2 float64
	for i, g := range got {
		w := want[i]
		if dst.dt == f32 {
			w = float64(float32(w)) // what float32 can hold: overflow is ±Inf, underflow 0
		}
		ok := true
		var allowed float64
		switch {
		case !dst.dt.IsFloat():
			ok = g == w
		case math.IsNaN(w):
			ok = math.IsNaN(g)
		case math.IsInf(w, 0):
			ok = g == w
		case math.IsNaN(g) || math.IsInf(g, 0):
			ok = false
		default:
			allowed = tol(i)
			ok = math.Abs(g-w) <= allowed
			diff2 += (g - w) * (g - w)
			ref2 += w * w
		}
		if !ok {
			if bad < maxReports {
				c.Errorf("%s: at %v: got %v, want %v (allowed error %.3g)", what, multi(shape, i), g, w, allowed)
			}
			bad++
		}
	}
	if bad > maxReports {
		c.Errorf("%s: %d of %d elements wrong in all", what, bad, len(got))
	}
	if bad == 0 && norm > 0 && ref2 > 0 && math.Sqrt(diff2/ref2) > norm {
		c.Errorf("%s: relative error ‖got−want‖/‖want‖ = %.3g, more than %.3g", what, math.Sqrt(diff2/ref2), norm)
		bad++
	}
	return bad == 0
}

// checkInts compares an integer (or Bool) output with want exactly.
func (c *ctx) checkInts(what string, dst *operand, want []int64) bool {
	c.Helper()
	got := dst.ints()
	bad := 0
	for i, g := range got {
		if g != want[i] {
			if bad < maxReports {
				c.Errorf("%s: at %v: got %d, want %d", what, multi(dst.l.Shape, i), g, want[i])
			}
			bad++
		}
	}
	if bad > maxReports {
		c.Errorf("%s: %d of %d elements wrong in all", what, bad, len(got))
	}
	return bad == 0
}

// multi is the multi-index of row-major position i in shape.
func multi(shape []int, i int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = i % shape[d]
			i /= shape[d]
		}
	}
	return idx
}

// relTol is the bound r·|want| (r·max(|want|, floor) with a floor).
func relTol(want []float64, r, floor float64) bound {
	return func(i int) float64 { return r * max(math.Abs(want[i]), floor) }
}

// ---------------------------------------------------------------- generators

// uniform draws floats in [lo, hi).
func (c *ctx) uniform(lo, hi float64) func() float64 {
	return func() float64 { return lo + (hi-lo)*c.rng.Float64() }
}

// intsIn draws integers in [lo, hi].
func (c *ctx) intsIn(lo, hi int) func() float64 {
	return func() float64 { return float64(lo + c.rng.IntN(hi-lo+1)) }
}

// discrete draws multiples of 1/2 in [-3, 3] for floats (ties are
// common), small integers for integer types and 0/1 for Bool.
func (c *ctx) discrete(dt backend.DType) func() float64 {
	switch {
	case dt == boolean:
		return c.intsIn(0, 1)
	case dt == u8:
		return c.intsIn(0, 6)
	case dt.IsInt():
		return c.intsIn(-3, 3)
	}
	return func() float64 { return float64(c.rng.IntN(13)-6) / 2 }
}

// values draws data of any dtype: floats in [-3, 3) (exactly
// representable in the 16-bit types: multiples of 1/64), integers in
// [-50, 50] ([0, 200] for Uint8), Bool 0/1.
func (c *ctx) values(dt backend.DType) func() float64 {
	switch {
	case dt == boolean:
		return c.intsIn(0, 1)
	case dt == u8:
		return c.intsIn(0, 200)
	case dt.IsInt():
		return c.intsIn(-50, 50)
	case dt.IsHalf():
		return func() float64 { return float64(c.rng.IntN(384)-192) / 64 }
	}
	return c.uniform(-3, 3)
}
