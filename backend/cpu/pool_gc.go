package cpu

import (
	"math"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
)

// GC pacing and eviction for the pool.
//
// Package tensor hands a buffer back to the pool from a cleanup
// (runtime.AddCleanup) on the storage that owns it. The cleanup's argument
// must keep the buffer reachable, so a buffer whose tensor dies during a GC
// cycle is still marked live by that cycle, and comes back only after it.
// Left to itself the GC sets its next goal at twice what it marked, that
// is twice the garbage of the last cycle, and the pool's reuse lets still
// more garbage be made before the goal is reached: the heap doubled on
// every cycle of a training loop (229 → 444 → 852 → 1635 MB in 30 steps of
// examples/char-lstm, 4.6 GB resident after 60).
//
// So the pool paces collections itself. It counts its debt: the bytes of
// pooled size handed out since the last cycle and not handed back since
// (a buffer carries the cycle it was handed out in, so that the returns
// that cycle's collection brings, of buffers handed out before it, do not
// count). When a request finds its class empty and the debt has reached
// gcDebtLimit, the requesting goroutine runs runtime.GC, yields once so
// that the cleanups the cycle queued can run, and takes a buffer from the
// pool if one came back by then. Other goroutines that need fresh memory
// meanwhile wait for that cycle rather than grow the heap: runtime.GC
// sweeps span by span, yielding after each, and goroutines that kept
// allocating would both starve it and outrun it (three goroutines
// training on two cores grew the heap without bound that way, when they
// allocated while the collection ran, in the background or in one of
// them). Marking is cheap here: the buffers hold no pointers, so a cycle
// costs what the small objects (tensors, graph nodes) cost, a millisecond
// or two for a training graph. Memory then stays near the live tensors
// plus one or two debts' worth of buffers, in the GC's pacing's image:
// gcDebtLimit grows with the live heap, so that a large model is not
// collected every few megabytes. A loop that frees explicitly (backward
// frees the gradients it consumed) runs up no debt and gets no extra
// collections.
//
// GC cycles also trim the pool (every cycle but the pool's own, and those
// once minPoolKeep has been handed out since the last trim): buffers that
// sat in it through two whole such cycles, unused, are dropped, as
// sync.Pool drops its victim cache,
// so shapes that stopped coming (an evaluation pass, a finished epoch of
// another length) do not stay pinned up to the pool's limit. It keeps up
// to a quarter of the live heap, or minPoolKeep, of them: when cycles
// come faster than training steps, a buffer used once a step may sit out
// several of them, and dropping it would only make the step allocate it
// afresh.

// minGCDebt is the least debt at which the pool starts a collection
// (at GOGC=100). It is small so that the buffers a loop hands out come
// back while they are still in cache: until a cycle runs, every request
// takes a buffer that no step has touched since the last cycle, and a
// step that needs a few megabytes cycles through debt/step sets of them.
// The MLP's raw training step (bench's BenchmarkMLPStep, one thread,
// about 4 MB of buffers a step, interleaved binaries, medians of 5) took
// 3.41 ms at 64 MiB, 3.17 at 16 and 3.10 at 8, the cycle every two steps
// included; the LeNet, LSTM, Transformer, depthwise and conv2d steps ran
// alike within the noise.
const minGCDebt = 8 << 20

// minPoolKeep is the least the pool keeps of buffers left unused through
// two cycles, and the least it hands out between two evictions that its
// own collections bring about (see endCycle). Neither is tied to the
// debt: a step that hands out more than a debt limit's worth runs a
// collection or more partway through, and a buffer it uses once a step
// would otherwise sit out two of them and be evicted between steps.
const minPoolKeep = 64 << 20

var (
	gcLive    atomic.Int64 // live heap at the end of the last cycle seen (/gc/heap/live:bytes)
	gcPercent atomic.Int64 // GOGC (/gc/gogc:percent) then; < 0 when off
)

// gcDebtLimit is the debt at which a request that finds its class empty
// runs a collection first: a quarter of the live heap, and at least
// minGCDebt, both scaled by GOGC/100 as the GC scales its own goal; none
// with GOGC=off. What a cycle marks live includes the garbage of the
// cycle before (see above), L + D for live tensors L and debt D; with a
// quarter the limit settles near L/3 instead of feeding back into itself,
// and the heap peaks below 2L, as with the GC's own pacing.
func gcDebtLimit() int64 { return debtLimit(gcLive.Load(), gcPercent.Load()) }

func debtLimit(live, gogc int64) int64 {
	if gogc < 0 {
		return math.MaxInt64
	}
	return max(minGCDebt/100*gogc, live/400*gogc)
}

// collectGarbage runs a GC cycle for the pool and takes note of it.
func collectGarbage() {
	runtime.GC()
	gcCycle()
}

var gcSeen struct {
	sync.Mutex
	cycles uint64
}

// gcCycle is called after a GC cycle ends, by the pool's own collections
// and by a sentinel's cleanup for every other. It starts the next cycle's
// accounting once per cycle: it clears the debt, reads the live heap, and
// evicts buffers left unused through the last two cycles (see endCycle).
func gcCycle() {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}, {Name: "/gc/gogc:percent"}}
	gcSeen.Lock()
	defer gcSeen.Unlock()
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		n := s[0].Value.Uint64()
		if n == gcSeen.cycles {
			return // seen already
		}
		gcSeen.cycles = n
	}
	readGCSettings(s[1:])
	pool.Lock()
	defer pool.Unlock()
	pool.endCycle(max(minPoolKeep, gcLive.Load()/4))
}

// endCycle starts the next cycle's count and evicts down to keep, unless
// the cycle that ended was the pool's own (one is running) and less than
// minPoolKeep has been handed out since the last eviction. The caller
// holds the lock.
func (p *poolState) endCycle(keep int64) {
	p.debt = 0
	p.epoch++
	if p.gcDone != nil && p.handed < minPoolKeep {
		return
	}
	p.handed = 0
	p.evict(keep)
}

// readGCSettings stores the live heap and GOGC from samples read by
// metrics.Read.
func readGCSettings(s []metrics.Sample) {
	for _, x := range s {
		if x.Value.Kind() != metrics.KindUint64 {
			continue
		}
		v := x.Value.Uint64()
		switch x.Name {
		case "/gc/heap/live:bytes":
			gcLive.Store(int64(min(v, math.MaxInt64)))
		case "/gc/gogc:percent":
			if v > math.MaxInt32 { // the runtime's -1: GOGC=off
				gcPercent.Store(-1)
			} else {
				gcPercent.Store(int64(v))
			}
		}
	}
}

// evict drops buffers that stayed at the bottom of their class's stack
// through the last two cycles, largest classes first, until the pool holds
// no more than keep bytes; and it starts a new cycle's low-water marks. The
// caller holds the lock.
func (p *poolState) evict(keep int64) {
	classes := make([]int, 0, len(p.free))
	for class := range p.free {
		classes = append(classes, class)
	}
	slices.Sort(classes)
	for i := len(classes) - 1; i >= 0; i-- {
		class := classes[i]
		l := p.free[class]
		if e := min(l.prev, l.low); e > 0 && p.bytes > keep {
			size := int64(len(l.bufs[0])) * 8 // all of a class's buffers have its capacity
			e = min(e, int((p.bytes-keep+size-1)/size))
			n := copy(l.bufs, l.bufs[e:])
			clear(l.bufs[n:])
			l.bufs = l.bufs[:n]
			l.low -= e
			p.bytes -= int64(e) * size
			p.evicted += uint64(e)
		}
		l.prev, l.low = l.low, len(l.bufs)
		if len(l.bufs) == 0 && l.prev == 0 {
			delete(p.free, class)
		}
	}
}

// gcSentinel is an object made only to die: its cleanup runs after every
// GC cycle, whoever started it, and arms the next one.
type gcSentinel struct {
	_ *int // a pointer keeps it out of the tiny allocator
	_ [8]byte
}

func armSentinel() {
	runtime.AddCleanup(new(gcSentinel), func(struct{}) {
		gcCycle()
		armSentinel()
	}, struct{}{})
}

func init() {
	gcPercent.Store(100)
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	readGCSettings(s)
	armSentinel()
}
