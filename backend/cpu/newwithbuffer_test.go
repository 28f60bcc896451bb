package cpu

import (
	"fmt"
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

// BinaryDense32 (the exported one) agrees with a float64 oracle (rounded to float32) for
// every op with a vector kernel, on every installed kernel table and the
// pure-Go twins, at lengths 0 to past two chunks and at offsets; it
// writes exactly n elements of dst (a guard band after them stays), and
// declines, writing nothing, for the ops and dtypes it does not serve,
// with the vector paths off, and for work worth threads.
func TestBinaryDense32Exported(t *testing.T) {
	ops := []struct {
		op  backend.BinaryOp
		ref func(a, b float64) float64
	}{
		{backend.Add, func(a, b float64) float64 { return a + b }},
		{backend.Sub, func(a, b float64) float64 { return a - b }},
		{backend.Mul, func(a, b float64) float64 { return a * b }},
		{backend.Div, func(a, b float64) float64 { return a / b }},
		{backend.Maximum, math.Max},
		{backend.Minimum, math.Min},
		{backend.Pow, nil}, // no vector kernel: declined
	}
	lengths := []int{0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257}
	if !testing.Short() { // the thread thresholds (Div's is 2·grain/4)
		lengths = append(lengths, grain/2-1, grain/2, 2*grain-1, 2*grain, 2*grain+1)
	}
	tables := append(vecCandidates(), nil) // nil: the pure-Go twins
	defer setVec(setVec(nil, false))
	defer SetNumThreads(SetNumThreads(1))
	const guard = 9
	for _, k := range tables {
		setVec(k, false)
		for _, threads := range []int{1, 4} {
			SetNumThreads(threads)
			for _, c := range ops {
				for _, n := range lengths {
					for _, off := range [][2]int{{0, 0}, {3, 1}} {
						a, b := f32Seq(off[0]+n, 1.7), f32Seq(off[1]+n, 0.3)
						dst := f32Seq(n+guard, 0) // sentinel values
						before := append([]float32(nil), Float32s(dst)...)
						ran := BinaryDense32(c.op, dst, a, b, off[0], off[1], n)
						name := fmt.Sprintf("%v %v n=%d off=%v threads=%d", vec32.name, c.op, n, off, threads)
						want := c.ref != nil && (threads == 1 || n < 2*vecBinOpOf(c.op).chunk)
						if ran != want {
							t.Errorf("%s: ran %v, want %v", name, ran, want)
						}
						got, x, y := Float32s(dst), Float32s(a), Float32s(b)
						for i := range got {
							w := before[i]
							if ran && i < n {
								w = float32(c.ref(float64(x[off[0]+i]), float64(y[off[1]+i])))
							}
							if got[i] != w && !(w != w && got[i] != got[i]) {
								t.Errorf("%s: [%d] = %v, want %v", name, i, got[i], w)
								break
							}
						}
					}
				}
			}
		}
	}
}

// BinaryDense32 declines other dtypes and the generic path's switch.
func TestBinaryDense32Declines(t *testing.T) {
	f := func(dt backend.DType) backend.Storage { s, _ := be.Alloc(dt, 4); return s }
	cases := []struct {
		name    string
		d, a, b backend.Storage
		off     bool
	}{
		{"float64", f(f64), f(f64), f(f64), false},
		{"mixed", f(f32), f(f64), f(f32), false},
		{"bool dst", f(backend.Bool), f(f32), f(f32), false},
		{"vector paths off", f(f32), f(f32), f(f32), true},
	}
	defer setVec(setVec(nil, false))
	for _, c := range cases {
		setVec(vec32, c.off)
		if BinaryDense32(backend.Add, c.d, c.a, c.b, 0, 0, 4) {
			t.Errorf("%s: ran", c.name)
		}
	}
}

// f32Seq is a float32 buffer of n values from a sine of step s (all 7s
// for s = 0: a sentinel), nonzero so that Div has no 0/0.
func f32Seq(n int, s float64) *Buffer {
	b, _ := be.Alloc(f32, n)
	v := Float32s(b)
	for i := range v {
		v[i] = 7
		if s != 0 {
			v[i] = float32(math.Sin(s*float64(i+1))*3 + 0.5)
		}
	}
	return b.(*Buffer)
}
