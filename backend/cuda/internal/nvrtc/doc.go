// Package nvrtc binds NVIDIA's run-time compiler (libnvrtc) through
// purego and keeps its output in a disk cache.
//
// The library is found as package dl describes: TAPIR_NVRTC (a file),
// the directories of TAPIR_CUDA_LIB_DIR, the sonames libnvrtc.so.13, .12
// and .11.2 through the dynamic loader, the lib directories of NVIDIA's
// pip wheels (site-packages/nvidia/cu*/lib, site-packages/nvidia/*/lib),
// then the CUDA toolkit's lib64. libnvrtc-builtins, which libnvrtc loads
// by soname, is preloaded from the same directory.
//
// # Cache
//
// [Cache] stores compiled PTX in a directory: TAPIR_CUDA_CACHE if set
// ("off" disables the disk cache), else os.UserCacheDir()/tapir/cuda.
// A file's name is the SHA-256 of the kernel source, the compile options,
// the NVRTC version and the driver version, so a change of any of them
// misses. Files are written to a temporary name and renamed into place,
// so a reader never sees half a file; each holds a checksum of its
// payload, and a file that fails it is compiled again and replaced.
package nvrtc
