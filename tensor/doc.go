// Package tensor is Tapir's n-dimensional array with reverse-mode
// automatic differentiation, in the style of PyTorch's torch.Tensor.
//
// # Tensors
//
// A Tensor is a storage plus a layout (shape, strides in elements, and an
// offset). Creation functions make Float32 tensors on the CPU unless the
// data says otherwise ([FromSlice] of []int64 is Int64); [Tensor.To] and
// [Tensor.ToDevice] convert. Reshape (when the strides allow), Transpose,
// Permute, T, Expand, Narrow, Slice, Select, Squeeze, Unsqueeze, Chunk,
// Split, SplitSizes and Unbind return views that share storage with their
// source, as in PyTorch; Contiguous, Clone and the ops return new,
// contiguous storage. The pieces of Chunk, Split, SplitSizes and Unbind
// are recorded as one op whose backward is a single Cat, so taking a
// tensor apart into many pieces (time steps, heads) and using them all
// costs time linear in its size; one Narrow per piece would cost a
// full-size gradient per piece.
//
// Elementwise ops broadcast with NumPy's rules and promote dtypes as
// torch.result_type does (a 0-d tensor does not widen a tensor with dims
// of its own category; integers divided give Float32). Reductions take a
// list of dims, none meaning all, and drop them unless the KeepDim variant
// is used. MatMul follows torch.matmul, including 1-d operands and
// broadcast batch dims.
//
// Methods with the suffix In write in place (torch's trailing underscore):
// AddIn, MulScalarIn, ZeroIn, FillIn, CopyIn…; they bump a version counter
// on the storage that backward checks, so overwriting a tensor that a
// recorded op saved is reported, not silently wrong.
//
// # Autograd
//
// A tensor that requires grad ([Tensor.SetRequiresGrad]) makes every op on
// it record a [Node]: the op, its attributes, and where its inputs'
// gradients go. Nothing is recorded when no input requires grad, so
// inference pays nothing. [Tensor.Backward] walks the graph back and
// accumulates gradients into the leaves' [Tensor.Grad]; package autograd
// has torch.autograd.grad, gradients of gradients, no-grad scopes, custom
// functions, gradcheck and checkpointing. Each op's derivative lives in one
// table (derivatives.go), written with tensor ops so that a backward pass
// can itself be recorded and differentiated.
//
// # Errors
//
// Ops chain, so they cannot return errors. A programmer error (shapes that
// do not fit, a dtype an op does not take, a dim out of range, tensors on
// different devices) panics with a *[Error] that names the op and the
// shapes, e.g. "tensor: matmul: [2 3] × [4 5]: inner dimensions differ",
// and whose Kind is one of ErrShape, ErrDType, ErrDevice, ErrIndex,
// ErrAutograd, ErrInPlace or ErrAnomaly. [Try] turns such a panic into an
// error and lets any other panic through.
//
// # Concurrency
//
// Tensors may be read from many goroutines at once, and one model may run
// forward passes in many goroutines while another trains it. Writes (the
// In methods, SetRequiresGrad, optimizer steps) need the caller's
// synchronization, as for any Go value. Grad mode is per goroutine: see
// [WithGradEnabled] and autograd.NoGrad.
//
// # Memory
//
// Host buffers of 4 KiB and more come from the CPU backend's size-class
// pool and go back to it when backward has consumed them or when the GC
// finds them unreachable, so a training loop that repeats the same shapes
// stops allocating fresh memory. What goes back through the GC comes back
// one GC cycle late, so the pool starts a GC cycle itself once it has
// handed out 8 MiB, or a quarter of the live heap, that has not come back
// since the last one: a loop that drops its tensors runs in about its live
// tensors plus a few of those amounts, with the default settings and no
// memory limit. See package backend/cpu for the policy and its knobs.
//
// # Randomness
//
// [Rand], [Randn], [RandInt], [RandPerm] and [Multinomial] draw from a
// seeded, counter-based generator ([ManualSeed], [Generator]); the same
// seed gives the same numbers for any number of threads.
package tensor
