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
package cpu
