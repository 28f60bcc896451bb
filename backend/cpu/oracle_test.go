package cpu

// Test-side reference machinery shared by the kernel tests. Nothing here
// calls the backend's iteration code (newIter, parallelFor, slice) or its
// half-precision conversions: elements are read and written through
// Buffer.Bytes with encoding/binary, multi-indices are walked with an
// explicit odometer, and 16-bit floats are decoded by formula and rounded
// by a nearest-neighbour search, so a bug in the kernels' machinery cannot
// hide in the oracle too.

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/backend/internal/halfref"
)

var be = Get()

var (
	f32 = backend.Float32
	f64 = backend.Float64
	f16 = backend.Float16
	bf  = backend.BFloat16
	i64 = backend.Int64
	i32 = backend.Int32
	u8t = backend.Uint8
	bl  = backend.Bool
)

// operand is a kernel operand built by a test: a buffer and the layout
// the kernel sees it through.
type operand struct {
	dt  backend.DType
	buf *Buffer
	l   backend.Layout
}

func (o operand) view() backend.View { return backend.View{Storage: o.buf, Layout: o.l} }

// at reads the logical element idx as float64.
func (o operand) at(idx []int) float64 { return decode(o.dt, getBits(o.buf, pos(o.l, idx))) }

// set writes x (encoded as o.dt) at logical element idx.
func (o operand) set(idx []int, x float64) { setBits(o.buf, pos(o.l, idx), encode(o.dt, x)) }

// values returns every logical element, row-major.
func (o operand) values() []float64 {
	var out []float64
	forEachIndex(o.l.Shape, func(idx []int) { out = append(out, o.at(idx)) })
	return out
}

// snapshot returns the raw bits of every storage element.
func (o operand) snapshot() []uint64 {
	out := make([]uint64, o.buf.Len())
	for i := range out {
		out[i] = getBits(o.buf, i)
	}
	return out
}

// layoutKind names a way of laying a logical shape out in storage.
type layoutKind int

const (
	lkContig    layoutKind = iota // row-major, offset 0
	lkTrans                       // column-major: the reverse of every dim order
	lkStep                        // offset 3, every row-major stride doubled (sliced with step 2)
	lkBcast0                      // dim 0 has stride 0, the rest row-major
	lkBcastLast                   // the last dim has stride 0
	lkFlip                        // row-major flipped along every dim: negative strides (Copy src only)
)

func (k layoutKind) String() string {
	return [...]string{"contig", "trans", "step", "bcast0", "bcastLast", "flip"}[k]
}

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// rowMajor returns row-major strides, computed here rather than with
// backend.ContiguousStrides (which has its own test).
func rowMajor(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= max(shape[i], 1)
	}
	return st
}

// makeLayout returns a layout of kind k for shape and the storage length it
// needs.
func makeLayout(k layoutKind, shape []int) (backend.Layout, int) {
	sh := append([]int{}, shape...)
	n := numel(sh)
	switch k {
	case lkContig:
		return backend.Layout{Shape: sh, Strides: rowMajor(sh)}, n
	case lkTrans:
		st := make([]int, len(sh))
		s := 1
		for i := range sh {
			st[i] = s
			s *= max(sh[i], 1)
		}
		return backend.Layout{Shape: sh, Strides: st}, n
	case lkStep:
		st := rowMajor(sh)
		for i := range st {
			st[i] *= 2
		}
		return backend.Layout{Shape: sh, Strides: st, Offset: 3}, 3 + 2*n + 2
	case lkBcast0, lkBcastLast:
		if len(sh) == 0 {
			return backend.Layout{Shape: sh, Strides: []int{}}, 1
		}
		d := 0
		if k == lkBcastLast {
			d = len(sh) - 1
		}
		phys := append([]int{}, sh...)
		phys[d] = 1
		st := rowMajor(phys)
		st[d] = 0
		return backend.Layout{Shape: sh, Strides: st}, numel(phys)
	case lkFlip:
		st := rowMajor(sh)
		off := 0
		for i := range st {
			if n > 0 {
				off += (sh[i] - 1) * st[i]
			}
			st[i] = -st[i]
		}
		return backend.Layout{Shape: sh, Strides: st, Offset: off}, n
	}
	panic("bad layout kind")
}

// newOperand allocates an operand of kind k and fills every storage
// element (not only those the layout reaches) with gen().
func newOperand(t testing.TB, dt backend.DType, k layoutKind, shape []int, gen func() float64) operand {
	t.Helper()
	l, n := makeLayout(k, shape)
	s, err := be.Alloc(dt, n)
	if err != nil {
		t.Fatal(err)
	}
	o := operand{dt: dt, buf: s.(*Buffer), l: l}
	for i := 0; i < n; i++ {
		setBits(o.buf, i, encode(dt, gen()))
	}
	return o
}

// newOutput allocates an output operand filled with random bits, so stale
// contents cannot pass for results, and returns it with a snapshot.
func newOutput(t testing.TB, dt backend.DType, k layoutKind, shape []int, rng *rand.Rand) (operand, []uint64) {
	t.Helper()
	l, n := makeLayout(k, shape)
	s, err := be.Alloc(dt, n)
	if err != nil {
		t.Fatal(err)
	}
	o := operand{dt: dt, buf: s.(*Buffer), l: l}
	b := o.buf.Bytes()
	for i := range b {
		b[i] = uint8(rng.Uint32())
	}
	return o, o.snapshot()
}

// checkUntouched fails if a storage element outside o's layout differs
// from before: a kernel must write only through its output's layout.
func checkUntouched(t testing.TB, name string, o operand, before []uint64) {
	t.Helper()
	reached := make([]bool, len(before))
	forEachIndex(o.l.Shape, func(idx []int) { reached[pos(o.l, idx)] = true })
	for i, b := range before {
		if !reached[i] && getBits(o.buf, i) != b {
			t.Errorf("%s: storage element %d outside the output layout was written", name, i)
			return
		}
	}
}

// forEachIndex calls fn with every multi-index of shape in row-major
// order; idx is reused between calls.
func forEachIndex(shape []int, fn func(idx []int)) {
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

// pos is the storage position of multi-index idx.
func pos(l backend.Layout, idx []int) int {
	p := l.Offset
	for i, x := range idx {
		p += x * l.Strides[i]
	}
	return p
}

// linear is the row-major linear index of idx in shape.
func linear(shape, idx []int) int {
	p := 0
	for i, x := range idx {
		p = p*shape[i] + x
	}
	return p
}

func getBits(b *Buffer, i int) uint64 {
	size := b.DType().Size()
	p := b.Bytes()[i*size : (i+1)*size]
	switch size {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(p))
	case 4:
		return uint64(binary.LittleEndian.Uint32(p))
	}
	return binary.LittleEndian.Uint64(p)
}

func setBits(b *Buffer, i int, v uint64) {
	size := b.DType().Size()
	p := b.Bytes()[i*size : (i+1)*size]
	switch size {
	case 1:
		p[0] = uint8(v)
	case 2:
		binary.LittleEndian.PutUint16(p, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(p, uint32(v))
	default:
		binary.LittleEndian.PutUint64(p, v)
	}
}

// decode interprets raw element bits of dt as a float64 (exactly).
func decode(dt backend.DType, v uint64) float64 {
	switch dt {
	case f32:
		return float64(math.Float32frombits(uint32(v)))
	case f64:
		return math.Float64frombits(v)
	case f16:
		return halfref.Float16.Value(uint16(v))
	case bf:
		return halfref.BFloat16.Value(uint16(v))
	case i64:
		return float64(int64(v))
	case i32:
		return float64(int32(uint32(v)))
	case u8t, bl:
		return float64(uint8(v))
	}
	panic("decode: bad dtype")
}

// encode converts x to dt's bits: floats round to nearest (16-bit formats
// by the neighbour-search oracle), integers truncate toward zero and wrap
// to their width, Bool is x ≠ 0.
func encode(dt backend.DType, x float64) uint64 {
	switch dt {
	case f32:
		return uint64(math.Float32bits(float32(x)))
	case f64:
		return math.Float64bits(x)
	case f16:
		return uint64(halfref.Float16.Nearest(x))
	case bf:
		return uint64(halfref.BFloat16.Nearest(x))
	case i64, i32, u8t:
		return wrapInt(dt, truncInt(x))
	case bl:
		if x != 0 {
			return 1
		}
		return 0
	}
	panic("encode: bad dtype")
}

// truncInt rounds x toward zero; NaN, ±Inf and values outside int64 give 0.
func truncInt(x float64) int64 {
	if !(x >= -0x1p63 && x < 0x1p63) {
		return 0
	}
	return int64(math.Trunc(x))
}

// wrapInt returns the two's-complement bits of v in dt's width.
func wrapInt(dt backend.DType, v int64) uint64 {
	switch dt {
	case i64:
		return uint64(v)
	case i32:
		return uint64(v) & 0xffffffff
	case u8t:
		return uint64(v) & 0xff
	}
	panic("wrapInt: bad dtype")
}

// wrapped is v wrapped to dt's width, as a float64 value.
func wrapped(dt backend.DType, v int64) float64 { return decode(dt, wrapInt(dt, v)) }

// rtolOf is the relative tolerance of one correctly rounded result.
func rtolOf(dt backend.DType) float64 {
	switch dt {
	case f64:
		return 1e-12
	case f32:
		return 1e-6
	}
	return 0 // integers, Bool, and 16-bit values that were only moved
}

// near reports whether got matches want within rtol·|want| + atol; NaN
// matches NaN and an infinity only itself.
func near(got, want, rtol, atol float64) bool {
	switch {
	case math.IsNaN(want):
		return math.IsNaN(got)
	case math.IsInf(want, 0):
		return got == want
	}
	return math.Abs(got-want) <= rtol*math.Abs(want)+atol
}

func shapeName(s []int) string { return fmt.Sprint(s) }

// genFor returns a random value generator suited to dt: floats uniform in
// [lo, hi), integers in [-5, 5] ([0, 10] for Uint8), Bool 0/1.
func genFor(dt backend.DType, rng *rand.Rand, lo, hi float64) func() float64 {
	switch dt {
	case i64, i32:
		return func() float64 { return float64(rng.IntN(11) - 5) }
	case u8t:
		return func() float64 { return float64(rng.IntN(11)) }
	case bl:
		return func() float64 { return float64(rng.IntN(2)) }
	}
	return func() float64 { return lo + (hi-lo)*rng.Float64() }
}

// genDiscrete draws floats from {-3, -2.5, …, 3}, so ties and equal pairs
// are common; integers as genFor.
func genDiscrete(dt backend.DType, rng *rand.Rand) func() float64 {
	if dt.IsFloat() {
		return func() float64 { return float64(rng.IntN(13)-6) / 2 }
	}
	return genFor(dt, rng, 0, 0)
}

// shapes used by most conformance tables: 0-d, 1-d, 2-d, 3-d, size-1 dims
// and empty dims.
var confShapes = [][]int{
	{}, {1}, {7}, {3, 4}, {1, 5}, {4, 1}, {2, 3, 4}, {2, 1, 3}, {0}, {3, 0}, {0, 2, 3},
}
