// Package cpu is Tapir's CPU backend: kernels in pure Go that accept
// strided and broadcast operands, split large work over goroutines, and
// recycle buffers through a size-class pool.
//
// Importing the package (package tensor always does) registers the backend
// for [backend.CPUType]. Its knobs are process-wide and safe to change at
// any time: [SetNumThreads] bounds the goroutines one kernel uses (default
// GOMAXPROCS), [SetPoolLimit] bounds the bytes kept for reuse, and
// [EmptyCache] drops them.
//
// Kernels take their fast path when every operand is contiguous, and a
// strided path otherwise that walks the coalesced dims and runs the
// innermost one as a plain loop, so a transposed or broadcast operand costs
// a little, not a cliff.
//
// The iteration (iter.go) lives in fixed arrays for up to eight dims
// after coalescing, so a broadcast or strided elementwise op on one
// thread allocates nothing; buffers of up to 1 KiB are one allocation,
// their elements in the same object as their header.
//
// # Memory
//
// Buffers of more than 4 KiB come from a pool of size classes (powers of
// two in quarter steps) and go back to it on [CPU.Release]: package tensor
// releases a buffer when backward has consumed it, and otherwise from a
// GC cleanup once its tensor is unreachable. A cleanup keeps its buffer
// alive through the GC cycle that found the tensor dead, so what a loop
// leaves to the GC counts as live heap for one cycle and comes back only
// after it; left to the GC's own pacing, which sets the next goal at
// twice what it marked, the heap of a training loop doubled from cycle to
// cycle. The pool therefore paces collections itself:
//
//   - It keeps a debt: the bytes handed out since the last GC cycle and
//     not released since. When a request finds its size class empty and
//     the debt has reached a limit, a GC cycle runs before the heap grows
//     (other goroutines that need memory meanwhile wait for it), and the
//     request is served from what the cycle brought back. The limit is a
//     quarter of the live heap and at least 8 MiB, both scaled by
//     GOGC/100; with GOGC=off the pool never starts a collection. A loop
//     that releases what it allocates runs up no debt. [PoolStats]
//     counts the collections.
//   - At each GC cycle, buffers that stayed unused in the pool through the
//     last two cycles are dropped, largest first, as long as the pool
//     holds more than a quarter of the live heap or 64 MiB, so shapes
//     that stopped coming (an evaluation pass, another sequence length)
//     do not stay pinned. The pool's own cycles count for this only once
//     64 MiB has been handed out since the last such trim.
//
// A training loop then runs in about its live tensors plus two debt
// limits and the pool's keep (char-lstm, with a 64 MiB limit: 236 MB
// resident instead of 6.8 GB after 100 steps, with no GOMEMLIMIT), at the
// price of a GC cycle every 8 MiB or more allocated and not released;
// the buffers hold no pointers, so such a cycle costs what the graph's
// small objects cost, and the buffers it brings back are still in cache
// (the MLP's raw step ran 9% faster than with a cycle every 64 MiB).
// [SetPoolLimit] (default 1 GiB) caps the pool's bytes.
package cpu
