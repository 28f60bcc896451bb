package cpu

import (
	"math"
	"testing"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
)

// header stands in for package tensor's storage record: pointers and
// words that must survive writes to the elements, and the reverse.
type header struct {
	p    *int
	a, b uint64
}

// NewWithBuffer gives a zeroed header and a zeroed buffer of the right
// length at every size up to smallWords words and past it (the pooled
// path), and neither overlaps the other, nor another pair's.
func TestNewWithBuffer(t *testing.T) {
	for _, dt := range []backend.DType{u8t, f16, f32, f64} {
		for n := 0; n <= (smallWords+3)*8/dt.Size(); n += 1 + n/9 {
			h, b, err := NewWithBuffer[header](dt, n)
			h2, b2, err2 := NewWithBuffer[header](dt, n)
			if err != nil || err2 != nil {
				t.Fatalf("%v n=%d: %v, %v", dt, n, err, err2)
			}
			if *h != (header{}) {
				t.Fatalf("%v n=%d: header not zeroed: %+v", dt, n, *h)
			}
			if b.DType() != dt || b.Len() != n || len(b.Bytes()) != n*dt.Size() {
				t.Fatalf("%v n=%d: buffer %v of %d elements, %d bytes", dt, n, b.DType(), b.Len(), len(b.Bytes()))
			}
			small := (n*dt.Size()+7)/8 <= smallWords
			if small && b.class != -1 {
				t.Fatalf("%v n=%d: a small buffer has pool class %d", dt, n, b.class)
			}
			for _, x := range b.Bytes() {
				if x != 0 {
					t.Fatalf("%v n=%d: elements not zeroed", dt, n)
				}
			}
			// fill one pair entirely, then check the other pair and the
			// first pair's header are intact
			v := 7
			*h = header{p: &v, a: math.MaxUint64, b: 0x0123456789abcdef}
			for i := range b.Bytes() {
				b.Bytes()[i] = 0xa5
			}
			if h.p != &v || h.a != math.MaxUint64 || h.b != 0x0123456789abcdef {
				t.Fatalf("%v n=%d: writing the elements changed the header: %+v", dt, n, *h)
			}
			if *h2 != (header{}) {
				t.Fatalf("%v n=%d: the pairs share memory", dt, n)
			}
			for _, x := range b2.Bytes() {
				if x != 0 {
					t.Fatalf("%v n=%d: the buffers share memory", dt, n)
				}
			}
			for i := range b.Bytes() {
				if b.Bytes()[i] != 0xa5 {
					t.Fatalf("%v n=%d: element byte %d changed", dt, n, i)
				}
			}
			if small && n > 0 {
				// one object: the elements follow the header closely
				d := uintptr(unsafe.Pointer(&b.Bytes()[0])) - uintptr(unsafe.Pointer(h))
				if d > unsafe.Sizeof(header{})+unsafe.Sizeof(Buffer{}) {
					t.Fatalf("%v n=%d: elements %d bytes after the header", dt, n, d)
				}
			}
			be.Release(b)
			be.Release(b2)
			if b.Len() != 0 || b.Bytes() != nil {
				t.Fatalf("%v n=%d: released buffer still has elements", dt, n)
			}
		}
	}
}

// Bad requests get Alloc's errors, not a panic or a huge allocation.
func TestNewWithBufferErrors(t *testing.T) {
	cases := []struct {
		dt backend.DType
		n  int
	}{
		{f32, -1},
		{backend.DType(200), 4},
		{f64, math.MaxInt/4 + 1}, // bytes overflow
	}
	for _, c := range cases {
		h, b, err := NewWithBuffer[header](c.dt, c.n)
		if err == nil || h != nil || b != nil {
			t.Errorf("NewWithBuffer(%v, %d) = %v, %v, %v; want an error", c.dt, c.n, h, b, err)
		}
		if _, err2 := be.Alloc(c.dt, c.n); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("NewWithBuffer(%v, %d): %v; Alloc says %v", c.dt, c.n, err, err2)
		}
	}
}

// A small pair is one allocation, and Alloc's small buffer too.
func TestNewWithBufferAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	var sink *Buffer
	if a := testing.AllocsPerRun(100, func() { _, sink, _ = NewWithBuffer[header](f32, 16) }); a != 1 {
		t.Errorf("NewWithBuffer of 16 float32: %v allocations, want 1", a)
	}
	if a := testing.AllocsPerRun(100, func() { s, _ := be.Alloc(f32, 16); sink = s.(*Buffer) }); a != 1 {
		t.Errorf("Alloc of 16 float32: %v allocations, want 1", a)
	}
	_ = sink
}
