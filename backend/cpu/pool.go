package cpu

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync"

	"github.com/tapir-ml/tapir/backend"
)

// The pool keeps released buffers by size class for reuse, so a training
// loop that allocates the same shapes every step stops asking the Go heap
// (and stops paying for zeroing fresh memory). Classes are powers of two
// split into four steps, so at most 25% of a pooled buffer is slack.
// Buffers under minPooledWords go to the Go heap directly: the GC handles
// small objects well and pooling them would cost more than it saves.
//
// Most buffers come back from a GC cleanup, one cycle after their tensor
// died; pool_gc.go paces collections by the pool's own allocations so that
// this delay cannot make the heap grow, and drops buffers the pool does
// not reuse.

const minPooledWords = 512 // 4 KiB

var pool poolState

type poolState struct {
	sync.Mutex
	free         map[int]*freeList
	bytes        int64
	limit        int64
	hits, misses uint64
	released     uint64
	evicted      uint64

	// debt is the bytes of pooled size handed out since the last GC
	// cycle and not handed back since: what only a collection can bring
	// back, if it is dead. epoch counts the cycles. See pool_gc.go.
	debt  int64
	epoch uint64
	gcs   uint64 // collections the pool started
	// handed is the bytes handed out since the pool last evicted: its own
	// collections evict only once it reaches minPoolKeep.
	handed int64
	gcDone chan struct{} // while one runs: closed when it is over
}

// freeList is one size class's free buffers, used as a stack: the bottom
// of it is what has waited longest.
type freeList struct {
	bufs [][]uint64
	low  int // fewest buffers held during the current GC cycle
	prev int // the same for the cycle before, less what was evicted since
}

func init() {
	pool.free = map[int]*freeList{}
	pool.limit = 1 << 30
}

// classOf returns the size class for n words and the class's capacity.
func classOf(n int) (class, capacity int) {
	if n <= minPooledWords {
		return -1, n
	}
	e := bits.Len(uint(n-1)) - 1 // 2^e < n <= 2^(e+1)
	step := 1 << (e - 2)         // quarter of 2^e
	q := (n - (1 << e) + step - 1) / step
	return e*4 + q, (1 << e) + q*step
}

// A tag is what poolGet returns for Alloc to keep in Buffer.class and give
// back to poolPut: -1 for a buffer that is not pooled; otherwise the size
// class in the low bits, and above them the GC epoch (cycles the pool has
// seen, see pool_gc.go) in which the buffer was handed out, so that the
// pool can tell whether its return pays off the current debt.
const (
	tagClassBits = 10 // classes run to 4·63+4
	tagClassMask = 1<<tagClassBits - 1
	tagEpochMask = 1<<(62-tagClassBits) - 1
)

func makeTag(class int, epoch uint64) int {
	return class | int(epoch&tagEpochMask)<<tagClassBits
}

// poolGet returns words of memory and its tag. A request Go cannot
// satisfy at all (beyond the address space) becomes an error; exhausting
// the host's memory is fatal in Go, as for any allocation.
func poolGet(words int) (w []uint64, tag int, err error) {
	defer func() {
		if r := recover(); r != nil {
			w, tag, err = nil, -1, fmt.Errorf("cpu: cannot allocate %d bytes: %v: %w", words*8, r, backend.ErrOutOfMemory)
		}
	}()
	w, tag = poolTake(words)
	return w, tag, nil
}

func poolTake(words int) ([]uint64, int) {
	class, capacity := classOf(words)
	if class < 0 {
		return make([]uint64, words), -1
	}
	size := int64(capacity) * 8
	pool.Lock()
	pool.debt += size
	pool.handed += size
	tag := makeTag(class, pool.epoch)
	if w := pool.pop(class); w != nil {
		pool.hits++
		pool.Unlock()
		return w[:words], tag
	}
	// The pool has none. If enough has been handed out since the last
	// cycle that much of it may be dead, waiting for a GC to bring it
	// back, collect (or wait for the collection another goroutine runs)
	// before growing the heap.
	if pool.debt >= gcDebtLimit() {
		done := pool.gcDone
		if done == nil {
			done = make(chan struct{})
			pool.gcDone = done
			pool.gcs++
			pool.Unlock()
			collectGarbage()
			pool.Lock()
			pool.gcDone = nil
			close(done)
		} else {
			pool.Unlock()
			<-done
			pool.Lock()
		}
		// give the cleanups the cycle queued a chance to hand their
		// buffers back
		pool.Unlock()
		runtime.Gosched()
		pool.Lock()
		pool.debt += size // in the new cycle's debt
		tag = makeTag(class, pool.epoch)
		if w := pool.pop(class); w != nil {
			pool.hits++
			pool.Unlock()
			return w[:words], tag
		}
	}
	pool.misses++
	pool.Unlock()
	return make([]uint64, words, capacity), tag
}

// pop takes a buffer of the class, or returns nil. The caller holds the
// lock.
func (p *poolState) pop(class int) []uint64 {
	l := p.free[class]
	if l == nil || len(l.bufs) == 0 {
		return nil
	}
	n := len(l.bufs) - 1
	w := l.bufs[n]
	l.bufs[n] = nil
	l.bufs = l.bufs[:n]
	l.low = min(l.low, n)
	p.bytes -= int64(len(w)) * 8
	return w
}

func poolPut(w []uint64, tag int) {
	if tag < 0 {
		return
	}
	class := tag & tagClassMask
	w = w[:cap(w)]
	size := int64(len(w)) * 8
	pool.Lock()
	defer pool.Unlock()
	pool.released++
	if tag == makeTag(class, pool.epoch) {
		// handed out in this cycle and back without a GC (backward's
		// frees): no collection is needed to reuse it
		pool.debt -= size
	}
	if pool.bytes+size > pool.limit {
		return // over the limit: let the GC have it
	}
	l := pool.free[class]
	if l == nil {
		l = &freeList{}
		pool.free[class] = l
	}
	l.bufs = append(l.bufs, w)
	pool.bytes += size
}

// SetPoolLimit bounds the bytes the pool keeps for reuse (default 1 GiB);
// 0 disables pooling. It returns the previous limit. Lowering it does not
// free what is already pooled; EmptyCache does.
func SetPoolLimit(bytes int64) int64 {
	pool.Lock()
	defer pool.Unlock()
	old := pool.limit
	pool.limit = bytes
	return old
}

// EmptyCache drops every pooled buffer, leaving them to the GC.
func EmptyCache() {
	pool.Lock()
	defer pool.Unlock()
	pool.free = map[int]*freeList{}
	pool.bytes = 0
}

// PooledBytes is the number of bytes now held for reuse.
func PooledBytes() int64 {
	pool.Lock()
	defer pool.Unlock()
	return pool.bytes
}

// PoolStats counts what the pool did since the process started: buffers
// of pooled size served from it (Hits) or freshly allocated (Misses),
// buffers handed back (Released), buffers dropped after going unused for
// two GC cycles (Evicted), the GC cycles the pool started (Collections;
// see the package doc), and the bytes it holds now.
type PoolStats struct {
	Hits, Misses, Released uint64
	Evicted, Collections   uint64
	PooledBytes            int64
}

// Stats returns the pool's counters.
func Stats() PoolStats {
	pool.Lock()
	defer pool.Unlock()
	return PoolStats{Hits: pool.hits, Misses: pool.misses, Released: pool.released,
		Evicted: pool.evicted, Collections: pool.gcs, PooledBytes: pool.bytes}
}
