// Package kernels generates the CUDA C source of the backend's kernels
// from Go text/template, one module per (family, dtype), e.g. "unary_f32"
// holds every unary op on float32.
//
// Kernels are extern "C" (unmangled names) and use grid-stride loops, so
// any grid size covers any element count. Most come in two entries: a
// contiguous fast path (suffix _c, operands dense from their offset) and
// a strided/broadcast path (suffix _s) that takes each operand's layout
// as a [Layout] struct passed by value (up to [MaxDims] dims; stride 0
// broadcasts, negative strides walk backwards). The index, window,
// random and optimizer kernels have one entry each.
//
// Half types (float16, bfloat16) are stored as 16-bit words and computed
// in float32; conversion to float16 uses the PTX cvt instruction and to
// bfloat16 rounds to nearest even as package backend does. Float sums,
// means and cumulative sums accumulate in float64 as the CPU backend
// documents; integer ones in int64.
//
// The sources need no headers, so NVRTC compiles them without an
// include path. Package kernels' tests compile every module with the
// installed NVRTC for compute_80 and compute_90 and check the PTX for
// every expected entry.
package kernels
