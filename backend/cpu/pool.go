package cpu

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/tapir-ml/tapir/backend"
)

// The pool keeps released buffers by size class for reuse, so a training
// loop that allocates the same shapes every step stops asking the Go heap
// (and stops paying for zeroing fresh memory). Classes are powers of two
// split into four steps, so at most 25% of a pooled buffer is slack.
// Buffers under minPooledWords go to the Go heap directly: the GC handles
// small objects well and pooling them would cost more than it saves.

const minPooledWords = 512 // 4 KiB

var pool struct {
	sync.Mutex
	free         map[int][][]uint64
	bytes        int64
	limit        int64
	hits, misses uint64
	released     uint64
}

func init() {
	pool.free = map[int][][]uint64{}
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

// poolGet returns words of memory. A request Go cannot satisfy at all
// (beyond the address space) becomes an error; exhausting the host's
// memory is fatal in Go, as for any allocation.
func poolGet(words int) (w []uint64, class int, err error) {
	defer func() {
		if r := recover(); r != nil {
			w, class, err = nil, -1, fmt.Errorf("cpu: cannot allocate %d bytes: %v: %w", words*8, r, backend.ErrOutOfMemory)
		}
	}()
	w, class = poolTake(words)
	return w, class, nil
}

func poolTake(words int) ([]uint64, int) {
	class, capacity := classOf(words)
	if class < 0 {
		return make([]uint64, words), -1
	}
	pool.Lock()
	if l := pool.free[class]; len(l) > 0 {
		w := l[len(l)-1]
		l[len(l)-1] = nil
		pool.free[class] = l[:len(l)-1]
		pool.bytes -= int64(len(w)) * 8
		pool.hits++
		pool.Unlock()
		return w[:words], class
	}
	pool.misses++
	pool.Unlock()
	return make([]uint64, words, capacity), class
}

func poolPut(w []uint64, class int) {
	if class < 0 {
		return
	}
	w = w[:cap(w)]
	pool.Lock()
	defer pool.Unlock()
	pool.released++
	if pool.bytes+int64(len(w))*8 > pool.limit {
		return // over the limit: let the GC have it
	}
	pool.free[class] = append(pool.free[class], w)
	pool.bytes += int64(len(w)) * 8
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
	pool.free = map[int][][]uint64{}
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
// buffers handed back (Released), and the bytes it holds now.
type PoolStats struct {
	Hits, Misses, Released uint64
	PooledBytes            int64
}

// Stats returns the pool's counters.
func Stats() PoolStats {
	pool.Lock()
	defer pool.Unlock()
	return PoolStats{Hits: pool.hits, Misses: pool.misses, Released: pool.released, PooledBytes: pool.bytes}
}
