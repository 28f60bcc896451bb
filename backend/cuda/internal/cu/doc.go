// Package cu binds the parts of the CUDA driver API (libcuda.so.1) that
// the backend uses, through github.com/ebitengine/purego: no cgo, no
// toolkit. The library is found as package dl describes (TAPIR_LIBCUDA,
// TAPIR_CUDA_LIB_DIR, then libcuda.so.1 by the dynamic loader's search).
//
// Every call checks its CUresult and turns a failure into an [*Error]
// that names the call and the code's name from cuGetErrorName, e.g.
// "cuda: cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory".
// Such an error matches [ErrOutOfMemory] with errors.Is when the code
// is CUDA_ERROR_OUT_OF_MEMORY.
//
// The driver keeps a current context per OS thread: callers lock their
// goroutine to its thread (runtime.LockOSThread) and make the context
// current (SetCurrent) before a run of calls.
package cu
