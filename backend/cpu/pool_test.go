package cpu

import (
	"errors"
	"math"
	"runtime"
	"runtime/debug"
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
	pool.Lock()
	pool.debt, pool.handed = 0, 0
	pool.Unlock()
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
	limit := int(min(1<<40, uint64(math.MaxInt)/16)) // 2^40, or what a 32-bit int holds
	for n := 1 << 17; n < limit; n = n*9/8 + 1 {
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

func debt() int64 {
	pool.Lock()
	defer pool.Unlock()
	return pool.debt
}

func epoch() uint64 {
	pool.Lock()
	defer pool.Unlock()
	return pool.epoch
}

// The debt counts buffers handed out in this GC cycle and not handed back:
// an explicit release pays it off; a release of a buffer handed out before
// the last cycle (what a GC cleanup brings back) does not, nor does it
// disturb the count.
func TestPoolDebt(t *testing.T) {
	isolatePool(t)
	_, capacity := classOf(10000)
	size := int64(capacity * 8)
	for try := 0; ; try++ { // a GC between the steps restarts the count
		e := epoch()
		d0 := debt()
		a, _ := be.Alloc(backend.Float64, 10000)
		d1 := debt()
		be.Release(a)
		d2 := debt()
		if epoch() != e {
			if try < 5 {
				continue
			}
			t.Fatal("a GC cycle came between every try")
		}
		if d1-d0 != size || d2 != d0 {
			t.Fatalf("debt %d → %d after Alloc → %d after Release; want +%d then back", d0, d1, d2, size)
		}
		break
	}
	b, _ := be.Alloc(backend.Float64, 10000)
	runtime.GC()
	gcCycle() // the sentinel may have seen it first: then this is a no-op
	if d := debt(); d != 0 {
		t.Fatalf("debt after a GC cycle = %d, want 0", d)
	}
	e := epoch()
	be.Release(b) // handed out in the cycle before
	c, _ := be.Alloc(backend.Float64, 10000)
	if d := debt(); d != size && epoch() == e {
		t.Errorf("debt = %d after an old buffer came back and a new one went out, want %d", d, size)
	}
	be.Release(c)
	// a loop that frees what it allocates runs up no debt, and so no
	// collections, however much it allocates
	before := Stats()
	for range 300 { // 300 MiB
		s, _ := be.Alloc(backend.Float32, 1<<18)
		be.Release(s)
	}
	if d, after := debt(), Stats(); d > 4<<20 || after.Collections != before.Collections {
		t.Errorf("after 300 MiB allocated and released: debt %d, %d collections", d, after.Collections-before.Collections)
	}
}

// A request that finds its class empty once the debt has reached the limit
// runs a GC cycle first, which starts a new count; below the limit, or
// with a buffer to hand, it does not.
func TestPoolCollectsAtDebtLimit(t *testing.T) {
	isolatePool(t)
	setDebt := func(d int64) {
		pool.Lock()
		pool.debt = d
		pool.Unlock()
	}
	_, capacity := classOf(20000)
	size := int64(capacity * 8)
	for try := 0; ; try++ {
		before := Stats().Collections
		setDebt(gcDebtLimit() - size - 1)
		s, _ := be.Alloc(backend.Float64, 20000) // a miss below the limit
		if got := Stats().Collections; got != before {
			if try < 5 {
				continue // unless a GC reset the debt, this is a bug
			}
			t.Fatalf("a miss below the debt limit ran %d collections", got-before)
		}
		be.Release(s)
		setDebt(gcDebtLimit() - size)
		r, _ := be.Alloc(backend.Float64, 20000) // a hit at the limit
		if got := Stats().Collections; got != before {
			t.Fatalf("a pool hit ran %d collections", got-before)
		}
		be.Release(r)
		EmptyCache()
		setDebt(gcDebtLimit() - size)
		e := epoch()
		s, _ = be.Alloc(backend.Float64, 20000) // a miss at the limit
		if got := Stats().Collections; got != before+1 {
			t.Fatalf("a miss at the debt limit ran %d collections, want 1", got-before)
		}
		if epoch() == e {
			t.Error("the collection did not start a new cycle's count")
		}
		if d := debt(); d != size {
			t.Errorf("debt after the collection = %d, want the one buffer's %d", d, size)
		}
		be.Release(s)
		break
	}
}

// The limit scales with the live heap and with GOGC, and is off with GOGC
// off.
func TestGCDebtLimit(t *testing.T) {
	for _, c := range []struct{ live, gogc, want int64 }{
		{0, 100, minGCDebt},
		{16 << 20, 100, minGCDebt},
		{100 << 20, 100, 25 << 20},
		{1 << 30, 100, 256 << 20},
		{1 << 30, 200, 512 << 20},
		{0, 50, minGCDebt / 2},
		{1 << 30, -1, math.MaxInt64},
	} {
		if got := debtLimit(c.live, c.gogc); math.Abs(float64(got)/float64(c.want)-1) > 1e-6 {
			t.Errorf("live %d, GOGC %d: limit %d, want %d", c.live, c.gogc, got, c.want)
		}
	}
	// GOGC is read at each cycle
	old := debug.SetGCPercent(-1)
	defer func() {
		debug.SetGCPercent(old)
		runtime.GC()
		gcCycle()
	}()
	runtime.GC()
	gcCycle()
	if got := gcPercent.Load(); got != -1 {
		t.Errorf("with GOGC off, gcPercent = %d after a cycle, want -1", got)
	}
	debug.SetGCPercent(150)
	runtime.GC()
	gcCycle()
	if got := gcPercent.Load(); got != 150 {
		t.Errorf("with GOGC 150, gcPercent = %d after a cycle, want 150", got)
	}
}

// Buffers that stay unused in the pool through two whole cycles are
// dropped, largest classes first, down to what the pool may keep; buffers
// in use each cycle are not.
func TestPoolEvict(t *testing.T) {
	isolatePool(t)
	old := debug.SetGCPercent(-1) // no GC cycles but the test's own…
	defer debug.SetGCPercent(old)
	runtime.GC()
	gcCycle() // …and none left for the sentinel to take note of
	evict := func(keep int64) {
		pool.Lock()
		pool.evict(keep)
		pool.Unlock()
	}
	alloc := func(n, words int) []backend.Storage {
		var s []backend.Storage
		for range n {
			b, _ := be.Alloc(backend.Float64, words)
			s = append(s, b)
		}
		return s
	}
	release := func(s []backend.Storage) {
		for _, b := range s {
			be.Release(b)
		}
	}
	const busy, idle, big = 1000, 3000, 100000 // words, in three classes
	_, capBusy := classOf(busy)
	_, capIdle := classOf(idle)
	_, capBig := classOf(big)
	release(alloc(4, busy))
	release(alloc(3, idle))
	release(alloc(2, big))
	all := int64(4*capBusy+3*capIdle+2*capBig) * 8
	if got := PooledBytes(); got != all {
		t.Fatalf("PooledBytes = %d, want %d", got, all)
	}
	// cycle 0, when the buffers came, is not a whole cycle
	for cycle := 0; cycle <= 3; cycle++ {
		if cycle > 0 {
			release(alloc(4, busy)) // the busy class is used every cycle
		}
		evict(0)
		want := all
		if cycle >= 2 { // two whole cycles unused: gone
			want = int64(4*capBusy) * 8
		}
		if got := PooledBytes(); got != want {
			t.Fatalf("after cycle %d: PooledBytes = %d, want %d", cycle, got, want)
		}
	}
	if got := Stats().Evicted; got < 5 {
		t.Errorf("Evicted = %d, want at least 5", got)
	}
	// with room to keep some, the largest idle classes go first
	EmptyCache()
	release(alloc(3, idle))
	release(alloc(2, big))
	keep := int64(3*capIdle+capBig) * 8
	evict(keep)
	evict(keep)
	evict(keep)
	if got := PooledBytes(); got != keep {
		t.Fatalf("with %d bytes to keep: PooledBytes = %d", keep, got)
	}
	if l := pool.free[mustClass(big)]; l == nil || len(l.bufs) != 1 {
		t.Error("eviction did not start with the largest class")
	}
	// a buffer used partway through a cycle counts as used in it
	EmptyCache()
	release(alloc(2, idle))
	evict(0) // end of cycle 0
	release(alloc(1, idle))
	evict(0) // end of cycle 1: one was used
	evict(0) // end of cycle 2: the other has been idle through 1 and 2
	if got, want := PooledBytes(), int64(capIdle*8); got != want {
		t.Errorf("PooledBytes = %d, want %d: the buffer used in the last cycle but one stays", got, want)
	}
	evict(0)
	if got := PooledBytes(); got != 0 {
		t.Errorf("PooledBytes = %d, want 0", got)
	}
}

// The pool's own collections, a few megabytes apart, count as cycles for
// eviction only once minPoolKeep bytes have been handed out since the
// last eviction; every other GC cycle counts.
func TestPoolOwnCyclesEvictSparingly(t *testing.T) {
	isolatePool(t)
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	runtime.GC()
	gcCycle()
	endCycle := func(own bool, handed int64) {
		pool.Lock()
		defer pool.Unlock()
		if own {
			pool.gcDone = make(chan struct{})
			defer func() { pool.gcDone = nil }()
		}
		pool.handed += handed
		pool.endCycle(0)
	}
	const idle = 3000
	_, capIdle := classOf(idle)
	fill := func() int64 {
		EmptyCache()
		for _, s := range []backend.Storage{mustAlloc(t, idle), mustAlloc(t, idle)} {
			be.Release(s)
		}
		return PooledBytes()
	}
	if all := fill(); all != int64(2*capIdle*8) {
		t.Fatalf("PooledBytes = %d, want %d", all, 2*capIdle*8)
	}
	for range 10 {
		endCycle(true, 0)
	}
	if got := PooledBytes(); got != int64(2*capIdle*8) {
		t.Fatalf("own cycles with little handed out evicted: PooledBytes = %d", got)
	}
	// three that each follow minPoolKeep handed out count as TestPoolEvict's
	// three cycles: the buffers are gone after the third, not before
	for i := range 3 {
		if got := PooledBytes(); got == 0 {
			t.Fatalf("gone after %d own cycles of minPoolKeep each, want 3", i)
		}
		endCycle(true, minPoolKeep)
	}
	if got := PooledBytes(); got != 0 {
		t.Errorf("after three own cycles of minPoolKeep each: PooledBytes = %d, want 0", got)
	}
	// other cycles count whatever was handed out
	fill()
	for range 3 {
		endCycle(false, 0)
	}
	if got := PooledBytes(); got != 0 {
		t.Errorf("after three other cycles: PooledBytes = %d, want 0", got)
	}
}

func mustAlloc(t *testing.T, words int) backend.Storage {
	t.Helper()
	s, err := be.Alloc(backend.Float64, words)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustClass(words int) int {
	c, _ := classOf(words)
	return c
}
