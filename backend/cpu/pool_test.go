package cpu

import (
	"errors"
	"math"
	"testing"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
)

// isolatePool starts the test with an empty pool under the default limit
// and puts the global settings back afterwards.
func isolatePool(t *testing.T) {
	t.Helper()
	old := SetPoolLimit(1 << 30)
	EmptyCache()
	t.Cleanup(func() {
		SetPoolLimit(old)
		EmptyCache()
	})
}

func TestClassOf(t *testing.T) {
	capOf := map[int]int{} // class → capacity: one capacity per class
	prevClass := -1
	check := func(n int) {
		class, capacity := classOf(n)
		if n <= minPooledWords {
			if class != -1 || capacity != n {
				t.Fatalf("classOf(%d) = %d, %d; want -1, %d (not pooled)", n, class, capacity, n)
			}
			return
		}
		if capacity < n {
			t.Fatalf("classOf(%d): capacity %d < request", n, capacity)
		}
		if 4*(capacity-n) > n { // slack at most 25% of the request
			t.Fatalf("classOf(%d): capacity %d wastes %d words (> 25%%)", n, capacity, capacity-n)
		}
		if c, ok := capOf[class]; ok && c != capacity {
			t.Fatalf("classOf(%d): class %d has capacity %d, earlier %d", n, class, capacity, c)
		}
		capOf[class] = capacity
		if class < prevClass {
			t.Fatalf("classOf(%d) = class %d, below the class of a smaller size (%d)", n, class, prevClass)
		}
		prevClass = class
		// the capacity itself is in its class: a buffer handed back fits
		// any request of that class
		if c2, cap2 := classOf(capacity); c2 != class || cap2 != capacity {
			t.Fatalf("classOf(%d) = %d, %d; classOf(capacity) = %d, %d", n, class, capacity, c2, cap2)
		}
	}
	for n := 0; n <= 1<<17; n++ {
		check(n)
	}
	for n := 1 << 17; n < 1<<40; n = n*9/8 + 1 {
		check(n)
	}
}

func bufPtr(s backend.Storage) unsafe.Pointer {
	return unsafe.Pointer(unsafe.SliceData(s.(*Buffer).words))
}

func TestPoolReuse(t *testing.T) {
	isolatePool(t)
	// 5000 float32 = 2500 words; 2400 float64 = 2400 words: one class
	c1, cap1 := classOf(2500)
	if c2, _ := classOf(2400); c1 != c2 {
		t.Fatalf("test premise: 2500 and 2400 words in classes %d and %d", c1, c2)
	}
	a, err := be.Alloc(backend.Float32, 5000)
	if err != nil {
		t.Fatal(err)
	}
	p := bufPtr(a)
	if got := PooledBytes(); got != 0 {
		t.Fatalf("PooledBytes before release = %d, want 0", got)
	}
	be.Release(a)
	if got, want := PooledBytes(), int64(cap1*8); got != want {
		t.Fatalf("PooledBytes after release = %d, want %d", got, want)
	}
	be.Release(a) // a second release is a no-op
	if got, want := PooledBytes(), int64(cap1*8); got != want {
		t.Fatalf("PooledBytes after a double release = %d, want %d", got, want)
	}
	b, _ := be.Alloc(backend.Float64, 2400)
	if bufPtr(b) != p {
		t.Error("an allocation of the same class did not reuse the released buffer")
	}
	if b.Len() != 2400 || len(Float64s(b)) != 2400 {
		t.Errorf("reused buffer: Len %d, %d float64s; want 2400", b.Len(), len(Float64s(b)))
	}
	if got := PooledBytes(); got != 0 {
		t.Errorf("PooledBytes after reuse = %d, want 0", got)
	}
	// another class does not get it
	be.Release(b)
	c, _ := be.Alloc(backend.Float64, 4000)
	if bufPtr(c) == p {
		t.Error("an allocation of a larger class reused a smaller buffer")
	}
	if got, want := PooledBytes(), int64(cap1*8); got != want {
		t.Errorf("PooledBytes = %d, want %d", got, want)
	}
	be.Release(c)
	_, cap3 := classOf(4000)
	if got, want := PooledBytes(), int64((cap1+cap3)*8); got != want {
		t.Errorf("PooledBytes with two classes = %d, want %d", got, want)
	}
	EmptyCache()
	if got := PooledBytes(); got != 0 {
		t.Errorf("PooledBytes after EmptyCache = %d, want 0", got)
	}
	d, _ := be.Alloc(backend.Float32, 5000)
	if bufPtr(d) == p {
		t.Error("EmptyCache kept a buffer")
	}
}

func TestPoolSmallNotPooled(t *testing.T) {
	isolatePool(t)
	for _, n := range []int{0, 1, 100, minPooledWords} {
		s, _ := be.Alloc(backend.Float64, n)
		be.Release(s)
		if got := PooledBytes(); got != 0 {
			t.Errorf("a buffer of %d words was pooled (%d bytes)", n, got)
		}
	}
}

func TestPoolLimit(t *testing.T) {
	isolatePool(t)
	_, capacity := classOf(1000)
	if old := SetPoolLimit(0); old != 1<<30 {
		t.Errorf("SetPoolLimit returned %d, want the previous limit %d", old, 1<<30)
	}
	s, _ := be.Alloc(backend.Int64, 1000)
	be.Release(s)
	if got := PooledBytes(); got != 0 {
		t.Errorf("with limit 0, PooledBytes = %d", got)
	}
	// a limit of one buffer keeps one, not two
	SetPoolLimit(int64(capacity * 8))
	a, _ := be.Alloc(backend.Int64, 1000)
	b, _ := be.Alloc(backend.Int64, 1000)
	be.Release(a)
	be.Release(b)
	if got, want := PooledBytes(), int64(capacity*8); got != want {
		t.Errorf("with room for one buffer, PooledBytes = %d, want %d", got, want)
	}
	// lowering the limit frees nothing already pooled
	SetPoolLimit(0)
	if got, want := PooledBytes(), int64(capacity*8); got != want {
		t.Errorf("after lowering the limit, PooledBytes = %d, want %d", got, want)
	}
}

// A buffer that comes back from the pool is a working buffer of the new
// dtype and length, whatever it held before.
func TestPoolReusedBufferWorks(t *testing.T) {
	isolatePool(t)
	a, _ := be.Alloc(backend.Float64, 3000)
	for i := range Float64s(a) {
		Float64s(a)[i] = float64(i)
	}
	be.Release(a)
	b, _ := be.Alloc(backend.Float32, 5900)
	v := backend.View{Storage: b, Layout: backend.Layout{Shape: []int{5900}, Strides: []int{1}}}
	be.Fill(v, 2.5)
	for i, x := range Float32s(b) {
		if x != 2.5 {
			t.Fatalf("element %d = %v after Fill", i, x)
		}
	}
	if len(b.(*Buffer).Bytes()) != 5900*4 {
		t.Errorf("Bytes() has %d bytes, want %d", len(b.(*Buffer).Bytes()), 5900*4)
	}
}

func TestAllocErrors(t *testing.T) {
	if _, err := be.Alloc(backend.Float32, -1); err == nil {
		t.Error("Alloc(-1): no error")
	}
	if _, err := be.Alloc(backend.DType(200), 4); err == nil {
		t.Error("Alloc of an invalid dtype: no error")
	}
	// n·8 bytes overflows int
	if _, err := be.Alloc(backend.Float64, math.MaxInt/4); !errors.Is(err, backend.ErrOutOfMemory) {
		t.Errorf("Alloc of MaxInt/4 float64s: err = %v, want ErrOutOfMemory", err)
	}
}
