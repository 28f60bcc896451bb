// Package cublas binds the GEMMs of cuBLAS through purego, and maps
// Tapir's row-major, arbitrarily strided matrix products onto cuBLAS's
// column-major ones ([Plan]).
//
// libcublas is found as package dl describes (TAPIR_CUBLAS,
// TAPIR_CUDA_LIB_DIR, the sonames libcublas.so.13, .12, .11, the pip
// wheels' nvidia/cu*/lib and nvidia/cublas/lib, the toolkit's lib64);
// libcublasLt, which it links against, is preloaded from the same
// directory (TAPIR_CUBLASLT names it explicitly).
//
// purego.SyscallN passes at most 15 arguments, so the batched product
// uses cublas{S,D}gemmBatched (15 arguments, with device arrays of
// matrix pointers) rather than the 18-argument strided-batched form.
package cublas
