package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// grain is the number of elements below which an elementwise kernel runs
// on one goroutine: starting a goroutine costs about a microsecond, and
// 32K simple elements take about that long per core.
const grain = 1 << 15

// parallelFor runs fn over [0, n) split into at most NumThreads chunks of
// at least minChunk elements, on the calling goroutine and helpers.
func parallelFor(n, minChunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	p := NumThreads()
	if minChunk < 1 {
		minChunk = 1
	}
	if c := n / minChunk; c < p {
		p = c
	}
	if p <= 1 {
		fn(0, n)
		return
	}
	runTeam(p, func(i int) { fn(n*i/p, n*(i+1)/p) })
}

// Helpers. A kernel split over p goroutines runs part 0 on the caller and
// hands parts 1…p-1 to helper goroutines. A goroutine started for each
// part starts late: the runtime queues it on the caller's P, and another
// P's thread has to wake (tens of microseconds on this machine's virtual
// CPUs) and steal it, while a product of 256³ takes 170 µs on two cores.
// So a helper that has finished its part stays, spinning, for up to
// helperSpin, and the next kernel that splits hands it a part at once;
// a kernel in a training loop follows the last within microseconds. A
// helper that gets no part within helperSpin exits: idle programs keep
// no goroutines of the backend, and a goroutine-leak check sees none
// once the kernels are done.
//
// A spinning helper yields to the Go scheduler as it spins, so other
// goroutines still run; it holds its thread, which is the point, for at
// most helperSpin after each parallel kernel. Measured on two cores
// (float32 products, median GFLOP/s, goroutine per part → helpers): 256³
// 139 → 165, [32,256]×[256,1024] 102 → 159, [128,784]×[784,512] 164 →
// 187; 1024³ unchanged at 194.

// helperSpin is how long an idle helper waits for the next part before
// it exits, and waitSpin how long a caller spins for its helpers before
// it blocks.
const (
	helperSpin = 100 * time.Microsecond
	waitSpin   = 50 * time.Microsecond
)

// teamPart is one part of a parallel kernel, for a helper.
type teamPart struct {
	fn      func(i int)
	i       int
	pending *atomic.Int32
	wg      *sync.WaitGroup
}

// helper is one helper goroutine's mailbox.
type helper struct{ part chan teamPart }

// idleHelpers are the helpers spinning for a part, guarded by helperMu: a
// helper is taken off the list by the caller that hands it a part, or by
// itself when it gives up and exits, never both.
var (
	helperMu    sync.Mutex
	idleHelpers []*helper
)

// runTeam runs fn(0) on the caller and fn(1…p-1) on helpers, and returns
// when all have returned.
func runTeam(p int, fn func(i int)) {
	var pending atomic.Int32
	var wg sync.WaitGroup
	pending.Store(int32(p - 1))
	wg.Add(p - 1)
	for i := 1; i < p; i++ {
		part := teamPart{fn, i, &pending, &wg}
		helperMu.Lock()
		if n := len(idleHelpers); n > 0 {
			h := idleHelpers[n-1]
			idleHelpers[n-1] = nil
			idleHelpers = idleHelpers[:n-1]
			helperMu.Unlock()
			h.part <- part // buffered: never blocks
			continue
		}
		helperMu.Unlock()
		h := &helper{part: make(chan teamPart, 1)}
		h.part <- part
		go h.run()
	}
	fn(0)
	if pending.Load() > 0 {
		start := time.Now()
		for i := 0; pending.Load() > 0; i++ {
			if i%64 == 63 {
				if time.Since(start) > waitSpin {
					break
				}
				runtime.Gosched()
			}
		}
	}
	wg.Wait()
}

// run is a helper's life: run the part in its mailbox, then spin for the
// next one for up to helperSpin, and exit when none comes.
func (h *helper) run() {
	for {
		part := <-h.part
		part.fn(part.i)
		part.pending.Add(-1)
		part.wg.Done()
		helperMu.Lock()
		idleHelpers = append(idleHelpers, h)
		helperMu.Unlock()
		if !h.spin() {
			return
		}
	}
}

// spin waits for the next part for up to helperSpin; it reports false,
// having taken h off the idle list, if none came.
func (h *helper) spin() bool {
	start := time.Now()
	for i := 0; ; i++ {
		if len(h.part) > 0 {
			return true
		}
		if i%64 == 63 {
			if time.Since(start) > helperSpin {
				break
			}
			runtime.Gosched()
		}
	}
	helperMu.Lock()
	defer helperMu.Unlock()
	for j, x := range idleHelpers {
		if x == h {
			idleHelpers = append(idleHelpers[:j], idleHelpers[j+1:]...)
			return false
		}
	}
	return true // a caller took h off the list: its part is on the way
}
