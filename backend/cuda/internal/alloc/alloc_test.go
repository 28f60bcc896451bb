package alloc

import (
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// fakeDevice is device memory with a capacity and counters.
type fakeDevice struct {
	mu                    sync.Mutex
	capacity, used        uint64
	next                  uintptr
	live                  map[uintptr]uint64
	mallocs, frees, syncs int
	failOther             error
}

func newFake(capacity uint64) *fakeDevice {
	return &fakeDevice{capacity: capacity, next: 0x10000, live: map[uintptr]uint64{}}
}

func (f *fakeDevice) Malloc(size uint64) (uintptr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failOther != nil {
		return 0, f.failOther
	}
	if f.used+size > f.capacity {
		return 0, fmt.Errorf("fake cuMemAlloc: %w", ErrDeviceOOM)
	}
	f.mallocs++
	p := f.next
	f.next += uintptr(size)
	f.live[p] = size
	f.used += size
	return p, nil
}

func (f *fakeDevice) Free(p uintptr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	size, ok := f.live[p]
	if !ok {
		return fmt.Errorf("fake: free of unknown pointer %#x", p)
	}
	delete(f.live, p)
	f.used -= size
	f.frees++
	return nil
}

func (f *fakeDevice) Sync() error { f.mu.Lock(); f.syncs++; f.mu.Unlock(); return nil }

func (f *fakeDevice) MemInfo() (uint64, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.capacity - f.used, f.capacity, nil
}

func TestClass(t *testing.T) {
	for _, c := range []struct{ n, want uint64 }{
		{0, 512}, {1, 512}, {512, 512}, {513, 640}, {640, 640}, {641, 768}, {1000, 1024},
		{1024, 1024}, {1025, 1280}, {1 << 20, 1 << 20}, {(1 << 20) + 1, 1<<20 + 1<<18}, {3 << 29, 3 << 29},
	} {
		if got := Class(c.n); got != c.want {
			t.Errorf("Class(%d) = %d, want %d", c.n, got, c.want)
		}
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 100000; i++ {
		n := uint64(r.Int63n(1 << 34))
		c := Class(n)
		if c < n || (n > 512 && float64(c) > 1.25*float64(n)) || Class(c) != c {
			t.Fatalf("Class(%d) = %d: below the request, over 25%% waste, or not a fixed point", n, c)
		}
	}
}

func TestSteadyStateMakesNoDriverAllocation(t *testing.T) {
	dev := newFake(1 << 30)
	a := New(dev)
	sizes := []uint64{4, 1000, 4096, 1 << 20, 3 << 20, 12345}
	step := func() {
		var bs []*Block
		for _, s := range sizes {
			b, err := a.Alloc(s, 0)
			if err != nil {
				t.Fatal(err)
			}
			if b.Size < s {
				t.Fatalf("block of %d for a request of %d", b.Size, s)
			}
			bs = append(bs, b)
		}
		for _, b := range bs {
			a.Free(b)
		}
	}
	step()
	first := dev.mallocs
	if first != len(sizes) {
		t.Fatalf("first step made %d driver allocations, want %d", first, len(sizes))
	}
	for i := 0; i < 100; i++ {
		step()
	}
	st := a.Stats()
	if dev.mallocs != first || st.Mallocs != first {
		t.Fatalf("steady state: %d driver allocations after the first step (stats %d), want 0 more", dev.mallocs-first, st.Mallocs)
	}
	if st.Hits != 100*len(sizes) || st.InUse != 0 || st.InUseBlocks != 0 || st.CachedN != len(sizes) {
		t.Fatalf("stats %+v", st)
	}
	if err := a.EmptyCache(); err != nil {
		t.Fatal(err)
	}
	if len(dev.live) != 0 || dev.syncs != 1 || a.Stats().Cached != 0 {
		t.Fatalf("after EmptyCache: %d live driver blocks, %d syncs, %d cached", len(dev.live), dev.syncs, a.Stats().Cached)
	}
}

func TestBlocksStayOnTheirStream(t *testing.T) {
	dev := newFake(1 << 30)
	a := New(dev)
	b1, _ := a.Alloc(4096, 1)
	a.Free(b1)
	b2, _ := a.Alloc(4096, 2) // another stream: must not reuse b1
	if b2.Ptr == b1.Ptr || dev.mallocs != 2 {
		t.Fatalf("stream 2 got stream 1's block (ptr %#x, %d mallocs)", b2.Ptr, dev.mallocs)
	}
	b3, _ := a.Alloc(4000, 1) // same stream and class: reuses b1
	if b3.Ptr != b1.Ptr || dev.mallocs != 2 {
		t.Fatalf("stream 1 did not reuse its block (ptr %#x, %d mallocs)", b3.Ptr, dev.mallocs)
	}
}

func TestOutOfMemoryFreesCacheThenRetries(t *testing.T) {
	dev := newFake(16 << 10)
	a := New(dev)
	small, err := a.Alloc(8<<10, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.Free(small) // 8 KiB cached
	big, err := a.Alloc(12<<10, 0)
	if err != nil {
		t.Fatalf("retry after freeing the cache failed: %v", err)
	}
	st := a.Stats()
	if dev.syncs != 1 || dev.frees != 1 || st.CacheFlushes != 1 || st.Cached != 0 {
		t.Fatalf("syncs %d, driver frees %d, stats %+v: want the cache synced and freed once", dev.syncs, dev.frees, st)
	}
	// now nothing is cached and the device is full: a clear error
	_, err = a.Alloc(8<<10, 0)
	if !errors.Is(err, backend.ErrOutOfMemory) || !errors.Is(err, ErrDeviceOOM) {
		t.Fatalf("error %v does not wrap backend.ErrOutOfMemory and the device's error", err)
	}
	for _, s := range []string{"out of memory allocating 8.0 KiB", "12.0 KiB in use in 1 blocks", "0 B cached", "device has 4.0 KiB free of 16.0 KiB"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	a.Free(big)
	// other driver errors pass through without flushing
	dev.failOther = errors.New("CUDA_ERROR_ILLEGAL_ADDRESS")
	if _, err := a.Alloc(100<<10, 0); err == nil || errors.Is(err, backend.ErrOutOfMemory) || dev.syncs != 1 {
		t.Fatalf("other error: %v (syncs %d)", err, dev.syncs)
	}
}

func TestDoubleFreePanics(t *testing.T) {
	a := New(newFake(1 << 20))
	b, _ := a.Alloc(10, 0)
	a.Free(b)
	defer func() {
		if recover() == nil {
			t.Fatal("double free did not panic")
		}
	}()
	a.Free(b)
}

func TestConcurrentUse(t *testing.T) {
	dev := newFake(1 << 30)
	a := New(dev)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(g)))
			for i := 0; i < 500; i++ {
				b, err := a.Alloc(uint64(r.Intn(1<<16)), Stream(g%2))
				if err != nil {
					t.Error(err)
					return
				}
				a.Free(b)
			}
		}(g)
	}
	wg.Wait()
	st := a.Stats()
	if st.InUse != 0 || uint64(len(dev.live)) != uint64(st.CachedN) {
		t.Fatalf("after concurrent use: %+v, %d live driver blocks", st, len(dev.live))
	}
}

// garbage stands for tensors that died unreferenced: their blocks come
// back only when the collector runs.
type garbage struct {
	a    *Allocator
	dead []*Block
	runs int
}

func (g *garbage) collect() {
	g.runs++
	for _, b := range g.dead {
		g.a.Free(b)
	}
	g.dead = g.dead[:0]
}

func TestCollectorPacesByDebt(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		name        string
		explicit    bool // the loop frees its blocks itself
		wantCollect bool
	}{
		{"garbage", false, true},
		{"explicit frees", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev := newFake(1 << 40)
			a := New(dev)
			g := &garbage{a: a}
			a.SetCollector(g.collect, 8*mb)
			for i := 0; i < 1000; i++ {
				size := uint64(mb)
				if c.explicit {
					// a new size class now and then, so that requests
					// reach the debt check: freed blocks must pay back
					size = mb * uint64(1+i/10)
				}
				b, err := a.Alloc(size, 1)
				if err != nil {
					t.Fatal(err)
				}
				if c.explicit {
					a.Free(b)
				} else {
					g.dead = append(g.dead, b)
				}
			}
			st := a.Stats()
			if c.wantCollect {
				// a collection once per 8 MB of debt, each bringing the
				// garbage back for reuse: about 8 blocks ever allocated
				if st.Collections < 100 || st.Mallocs > 9 {
					t.Errorf("%d collections and %d driver allocations; want a collection per 8 MB and no more than 9 blocks", st.Collections, st.Mallocs)
				}
			} else if st.Collections != 0 {
				t.Errorf("%d collections, want 0", st.Collections)
			}
			if st.Collections != g.runs {
				t.Errorf("Stats.Collections %d, collector ran %d times", st.Collections, g.runs)
			}
		})
	}
}

func TestOutOfMemoryCollectsFirst(t *testing.T) {
	const mb = 1 << 20
	dev := newFake(4 * mb)
	a := New(dev)
	g := &garbage{a: a}
	a.SetCollector(g.collect, 1<<40) // never by debt
	for i := 0; i < 4; i++ {
		b, err := a.Alloc(mb, 1)
		if err != nil {
			t.Fatal(err)
		}
		g.dead = append(g.dead, b)
	}
	// the device is full of garbage; a 2 MB request collects, finds no
	// cached 2 MB block, frees the cache and gets one from the driver
	if _, err := a.Alloc(2*mb, 1); err != nil {
		t.Fatalf("with 4 MB of garbage, a 2 MB request failed: %v", err)
	}
	if st := a.Stats(); st.Collections != 1 || st.CacheFlushes != 1 {
		t.Errorf("%d collections and %d cache flushes, want 1 and 1", st.Collections, st.CacheFlushes)
	}
}
