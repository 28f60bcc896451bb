// Package cuda is Tapir's CUDA backend. Importing it registers the
// backend for backend.CUDAType, as database/sql drivers register:
//
//	import _ "github.com/tapir-ml/tapir/backend/cuda"
//
// It needs no cgo and no CUDA toolkit to build: the driver API
// (libcuda.so.1), NVRTC and cuBLAS are opened at run time with
// github.com/ebitengine/purego, the first time a CUDA device is opened.
// Kernels are CUDA C generated per (op, dtype) from Go templates,
// compiled by NVRTC to PTX for the device's architecture and cached on
// disk. Without a driver, backend.Open(backend.CUDA(i)) returns an error
// ("cuda: no driver: libcuda.so.1 not found in …"), never a panic, and
// package tensor reports it as ErrDevice.
//
// # Finding the libraries
//
// Each library is searched in this order (package internal/dl):
//
//  1. its own variable, naming a file: TAPIR_LIBCUDA, TAPIR_NVRTC,
//     TAPIR_CUBLAS, TAPIR_CUBLASLT, TAPIR_CUDNN; when set, nothing else
//     is tried, so a wrong path is an error rather than another copy;
//  2. the directories in TAPIR_CUDA_LIB_DIR (colon-separated);
//  3. the sonames, newest first — libcuda.so.1; libnvrtc.so.13, .12,
//     .11.2; libcublas.so.13, .12, .11 (and libcublasLt alike) — through
//     the dynamic loader (LD_LIBRARY_PATH, the ld.so cache);
//  4. NVIDIA's pip wheels, as PyTorch installs them:
//     site-packages/nvidia/cu*/lib, then site-packages/nvidia/*/lib, for
//     the site-packages of $VIRTUAL_ENV, $CONDA_PREFIX, /opt/torch/.venv,
//     ~/.local, /usr/local and /usr;
//  5. $CUDA_HOME/lib64, $CUDA_PATH/lib64, /usr/local/cuda/lib64.
//
// The driver is looked for only in 1 to 3. A library found in a
// directory has its companions (libnvrtc-builtins, libcublasLt) loaded
// first from the same directory.
//
// # Kernel cache
//
// Compiled PTX is kept in TAPIR_CUDA_CACHE (a directory; "off" keeps
// nothing on disk), by default os.UserCacheDir()/tapir/cuda, under a
// hash of the source, the compile options, and the NVRTC and driver
// versions. Entries are written atomically and checksummed; a damaged
// one is compiled again.
//
// # Execution model
//
// All work of a device is queued on the legacy default stream of the
// device's primary context, in call order; Sync waits for it and
// returns the first error a kernel launch reported since the last Sync
// (methods without an error result record launch failures there).
// Memory comes from a caching, stream-ordered allocator (internal/alloc):
// released buffers are reused by later work without a driver call, and
// when the device is full the cache is freed and the allocation retried
// before Alloc fails with backend.ErrOutOfMemory. Tensors that die
// unreferenced return their buffers from a GC cleanup, and the Go GC
// paces itself by the Go heap alone, so the allocator runs a collection
// itself once 256 MB (or half the memory in use after its last one)
// has been handed out and not released since, before it asks the
// driver for more: a training loop then makes no driver allocation in
// steady state, and its device memory stays flat.
//
// Float matrix products use cuBLAS (float32 and float64, no TF32);
// integer ones a direct kernel. The fused optimizer steps
// (backend.FusedOptimizer) take contiguous float32 and float64
// operands. There is no backend.Convolver yet: convolutions run as
// unfold + cuBLAS + fold, correct but far slower than cuDNN. Layouts of
// more than 8 dims, or windows of more than 6 spatial dims, are not
// supported.
//
// # Tests and benchmarks on a GPU
//
// The tests named TestGPU… run the backend conformance suite on cuda:0,
// train the MLP and run ResNet-18 against the CPU backend, and count
// driver allocations over 1,000 training steps; BenchmarkGPU… time
// SGEMM 8192³ and MLP, CNN and ResNet-18 training steps, and
// bench/gpu_torch.py times the same workloads in PyTorch. Without a
// device they skip.
package cuda
