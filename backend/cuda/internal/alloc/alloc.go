package alloc

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"github.com/tapir-ml/tapir/backend"
)

// ErrDeviceOOM is wrapped by a Device's Malloc error when the device is full.
var ErrDeviceOOM = errors.New("device out of memory")

// Device is the driver memory interface the allocator sits on.
type Device interface {
	Malloc(size uint64) (uintptr, error) // wraps ErrDeviceOOM when full
	Free(ptr uintptr) error
	Sync() error                              // waits for all queued work
	MemInfo() (free, total uint64, err error) // for error messages
}

// Stream identifies a stream; blocks are reused on their own stream only.
type Stream uintptr

// Block is an allocation.
type Block struct {
	Ptr    uintptr
	Size   uint64 // the class size, ≥ the request
	stream Stream
	live   bool
	epoch  uint64 // the allocator's collection count when handed out
}

// Stats counts the allocator's work.
type Stats struct {
	InUse, Cached        uint64 // bytes
	InUseBlocks, CachedN int
	Mallocs, DriverFrees int // driver calls
	Hits                 int // requests served from the cache
	CacheFlushes         int // out-of-memory retries
	Collections          int // collector runs (see SetCollector)
}

// Allocator is a caching allocator over a Device. It is safe for
// concurrent use.
type Allocator struct {
	dev   Device
	mu    sync.Mutex
	cache map[key][]*Block
	st    Stats

	// the collector (SetCollector) and its pacing
	collect  func()
	minDebt  uint64
	debt     uint64        // bytes handed out since the last collection and not freed since
	live     uint64        // bytes in use after the last collection
	epoch    uint64        // collections so far
	gcDone   chan struct{} // closed when the collection under way ends
	inflight bool
}

type key struct {
	stream Stream
	size   uint64
}

// New returns an allocator over dev.
func New(dev Device) *Allocator { return &Allocator{dev: dev, cache: map[key][]*Block{}} }

// Class is the size class of a request of n bytes.
func Class(n uint64) uint64 {
	if n <= 512 {
		return 512
	}
	// the power of two at or below n, then quarter steps above it
	p := uint64(1) << (63 - bits.LeadingZeros64(n))
	if p == n {
		return n
	}
	q := p / 4
	return (n + q - 1) / q * q
}

// SetCollector gives the allocator a way to get back blocks whose owners
// are garbage: collect runs a garbage collection and returns once the
// blocks it found dead have (mostly) been freed. The allocator keeps a
// debt, the bytes handed out since its last collection and not freed
// since; when a request finds no cached block and the debt has reached
// minDebt, or half of what was in use after the last collection if that
// is more, it collects before asking the driver. It also collects before
// giving up on an out-of-memory error. Frees of blocks handed out in the
// same collection period (a backward pass freeing what it consumed) pay
// the debt back, so a loop that frees explicitly never collects.
func (a *Allocator) SetCollector(collect func(), minDebt uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.collect, a.minDebt = collect, minDebt
}

// take pops a cached block of key k, or returns nil. The caller holds
// the lock.
func (a *Allocator) take(k key) *Block {
	l := a.cache[k]
	if len(l) == 0 {
		return nil
	}
	b := l[len(l)-1]
	a.cache[k] = l[:len(l)-1]
	a.st.Cached -= k.size
	a.st.CachedN--
	a.st.Hits++
	return a.use(b)
}

// collectLocked runs the collector, or waits for the run another
// goroutine started. The caller holds the lock, which is released
// meanwhile so that the collection's frees can come in.
func (a *Allocator) collectLocked() {
	if a.inflight {
		done := a.gcDone
		a.mu.Unlock()
		<-done
		a.mu.Lock()
		return
	}
	done := make(chan struct{})
	a.gcDone, a.inflight = done, true
	a.mu.Unlock()
	a.collect()
	a.mu.Lock()
	a.inflight = false
	close(done)
	a.st.Collections++
	a.epoch++
	a.debt = 0
	a.live = a.st.InUse
}

// Alloc returns a block of at least n bytes for use on stream s.
func (a *Allocator) Alloc(n uint64, s Stream) (*Block, error) {
	size := Class(n)
	a.mu.Lock()
	defer a.mu.Unlock()
	k := key{s, size}
	if b := a.take(k); b != nil {
		return b, nil
	}
	if a.collect != nil && a.debt >= max(a.minDebt, a.live/2) {
		// much was handed out since the last collection: some of it may
		// be garbage, waiting for a GC to free it
		a.collectLocked()
		if b := a.take(k); b != nil {
			return b, nil
		}
	}
	p, err := a.dev.Malloc(size)
	if err != nil && errors.Is(err, ErrDeviceOOM) && a.collect != nil {
		a.collectLocked()
		if b := a.take(k); b != nil {
			return b, nil
		}
		p, err = a.dev.Malloc(size)
	}
	if err != nil && errors.Is(err, ErrDeviceOOM) && a.st.CachedN > 0 {
		a.st.CacheFlushes++
		if ferr := a.flushLocked(); ferr != nil {
			return nil, fmt.Errorf("cuda: allocating %d bytes: freeing the cache after %v: %w", n, err, ferr)
		}
		p, err = a.dev.Malloc(size)
	}
	if err != nil {
		if errors.Is(err, ErrDeviceOOM) {
			free, total, ierr := a.dev.MemInfo()
			dev := "device memory unknown"
			if ierr == nil {
				dev = fmt.Sprintf("device has %s free of %s", human(free), human(total))
			}
			return nil, fmt.Errorf("cuda: out of memory allocating %s (class %s): %s in use in %d blocks, %s cached; %s: %w (%w)",
				human(n), human(size), human(a.st.InUse), a.st.InUseBlocks, human(a.st.Cached), dev, backend.ErrOutOfMemory, err)
		}
		return nil, fmt.Errorf("cuda: allocating %d bytes: %w", n, err)
	}
	a.st.Mallocs++
	return a.use(&Block{Ptr: p, Size: size, stream: s}), nil
}

func (a *Allocator) use(b *Block) *Block {
	b.live = true
	b.epoch = a.epoch
	a.st.InUse += b.Size
	a.st.InUseBlocks++
	a.debt += b.Size
	return b
}

// Free returns b to the cache for later work on its stream. Freeing a
// block twice panics.
func (a *Allocator) Free(b *Block) {
	if b == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !b.live {
		panic("cuda: alloc: block freed twice")
	}
	b.live = false
	if b.epoch == a.epoch {
		a.debt -= min(a.debt, b.Size)
	}
	a.st.InUse -= b.Size
	a.st.InUseBlocks--
	k := key{b.stream, b.Size}
	a.cache[k] = append(a.cache[k], b)
	a.st.Cached += b.Size
	a.st.CachedN++
}

// EmptyCache waits for the device and frees every cached block.
func (a *Allocator) EmptyCache() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.flushLocked()
}

func (a *Allocator) flushLocked() error {
	if a.st.CachedN == 0 {
		return nil
	}
	if err := a.dev.Sync(); err != nil {
		return err
	}
	var first error
	for k, l := range a.cache {
		for _, b := range l {
			if err := a.dev.Free(b.Ptr); err != nil && first == nil {
				first = err
			}
			a.st.DriverFrees++
			a.st.Cached -= b.Size
			a.st.CachedN--
		}
		delete(a.cache, k)
	}
	return first
}

// Stats returns a snapshot of the counters.
func (a *Allocator) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st
}

func human(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, u := float64(n), "B"
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if f < unit {
			break
		}
		f /= unit
		u = s
	}
	return fmt.Sprintf("%.1f %s", f, u)
}
