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
}

// Stats counts the allocator's work.
type Stats struct {
	InUse, Cached        uint64 // bytes
	InUseBlocks, CachedN int
	Mallocs, DriverFrees int // driver calls
	Hits                 int // requests served from the cache
	CacheFlushes         int // out-of-memory retries
}

// Allocator is a caching allocator over a Device. It is safe for
// concurrent use.
type Allocator struct {
	dev   Device
	mu    sync.Mutex
	cache map[key][]*Block
	st    Stats
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

// Alloc returns a block of at least n bytes for use on stream s.
func (a *Allocator) Alloc(n uint64, s Stream) (*Block, error) {
	size := Class(n)
	a.mu.Lock()
	defer a.mu.Unlock()
	k := key{s, size}
	if l := a.cache[k]; len(l) > 0 {
		b := l[len(l)-1]
		a.cache[k] = l[:len(l)-1]
		a.st.Cached -= size
		a.st.CachedN--
		a.st.Hits++
		return a.use(b), nil
	}
	p, err := a.dev.Malloc(size)
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
	a.st.InUse += b.Size
	a.st.InUseBlocks++
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
