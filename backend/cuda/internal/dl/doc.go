// Package dl finds and opens the shared libraries of the CUDA backend
// (the driver, NVRTC, cuBLAS, cuBLASLt, cuDNN) at run time with
// github.com/ebitengine/purego, so that nothing is needed to build.
//
// # Search order
//
// For a library, [Candidates] lists, first to last:
//
//  1. the path in the library's own environment variable, if set:
//     TAPIR_LIBCUDA, TAPIR_NVRTC, TAPIR_CUBLAS, TAPIR_CUBLASLT, TAPIR_CUDNN
//     (a file; used as is, and the only candidate: a library it names
//     that does not open is an error, not a reason to look elsewhere);
//  2. each directory of TAPIR_CUDA_LIB_DIR (a list separated by the OS's
//     path-list separator, ':' on Linux), tried with every soname;
//  3. the bare sonames (libcuda.so.1; libnvrtc.so.13, .12, .11.2;
//     libcublas.so.13, .12, .11; …), newest first, which the dynamic
//     loader resolves through LD_LIBRARY_PATH, the ld.so cache and its
//     default directories;
//  4. the lib directories of NVIDIA's pip wheels (the ones PyTorch
//     installs) under every site-packages directory found by
//     [SitePackages]: site-packages/nvidia/cu*/lib first (the CUDA 13
//     wheels' layout), then site-packages/nvidia/*/lib;
//  5. $CUDA_HOME/lib64, $CUDA_PATH/lib64, /usr/local/cuda/lib64 and
//     /usr/local/cuda/targets/x86_64-linux/lib.
//
// [SitePackages] looks under $VIRTUAL_ENV, $CONDA_PREFIX, /opt/torch/.venv,
// $HOME/.local, /usr/local and /usr for lib/python3*/site-packages and
// dist-packages.
//
// When a candidate with a directory is opened, the libraries it depends
// on and would not find by itself (libnvrtc-builtins beside libnvrtc,
// libcublasLt beside libcublas) are loaded first from the same directory
// with RTLD_GLOBAL, so the loader finds them by soname.
package dl
