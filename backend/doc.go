// Package backend is the contract between package tensor and the devices
// that run its kernels.
//
// It is a leaf package: it defines data types ([DType]), devices ([Device]),
// strided layouts ([Layout]), the operand of every kernel ([View]: a storage
// plus a layout) and the [Backend] interface a device implements. Package
// tensor decides shapes, broadcasting, type promotion and autograd; a
// backend only runs kernels on operands whose shapes already agree.
//
// Backends register themselves with [Register], the way database/sql drivers
// do: the CPU backend (package backend/cpu) is always linked in by package
// tensor; others (CUDA) register when their package is imported.
//
// Kernel conventions, shared by every backend:
//
//   - Inputs may be arbitrarily strided: transposed, sliced with a step,
//     or broadcast (stride 0). Outputs are written through their own layout,
//     which package tensor makes contiguous except for in-place operations.
//   - Element types of inputs and outputs are stated per method; package
//     tensor converts operands before calling a kernel, so kernels never
//     promote types themselves.
//   - Random numbers come from a counter-based generator (Philox4x32-10)
//     keyed by a seed and an offset, so every backend draws the same stream;
//     see [RandomSpec].
//
// Beyond [Backend], a device may implement optional interfaces for fused
// kernels, which package tensor finds with a type assertion and otherwise
// replaces by compositions of Backend methods: [Convolver] (convolutions
// without an unfolded copy), [FusedOptimizer] (one-pass SGD and Adam
// steps), [LSTMCeller], [SoftmaxBackwarder], [LayerNormer],
// [GroupNormer], [MaxPoolBackwarder], [ReLUBackwarder],
// [ActivationBackwarder], [CrossEntropier], [MSELosser], [AvgPooler],
// [LinearInterpolater] and [NearestInterpolater].
package backend
