package cpu

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkSgemm is C = A·B for square row-major float32 matrices with
// every kernel this CPU runs and the pure-Go path (up to 1024), at 1 and 2
// threads. It reports GFLOP/s (2n³ per product) of wall-clock time, and
// GFLOP/cpu-s: per second of CPU time actually used (the locked thread's
// at one thread, the process's at two), which on a shared machine shows
// what a core does while it runs.
func BenchmarkSgemm(b *testing.B) {
	benchGemm(b, []int{256, 512, 1024, 2048}, gemmCandidates32(), kernel64.Load())
}

// BenchmarkDgemm is BenchmarkSgemm in float64.
func BenchmarkDgemm(b *testing.B) {
	benchGemm(b, []int{256, 1024}, gemmCandidates64(), kernel32.Load())
}

func benchGemm[T float, U float](b *testing.B, sizes []int, kernels []*microKernel[T], other *microKernel[U]) {
	for _, n := range sizes {
		rng := rand.New(rand.NewPCG(1, 2))
		A, B, C := make([]T, n*n), make([]T, n*n), make([]T, n*n)
		for i := range A {
			A[i], B[i] = T(rng.Float64()*2-1), T(rng.Float64()*2-1)
		}
		for _, th := range []int{1, 2} {
			for _, kn := range append(kernels, nil) {
				name := "go"
				if kn != nil {
					name = kn.name
				}
				if kn == nil && n > 1024 {
					continue // minutes
				}
				b.Run(fmt.Sprintf("%d/t%d/%s", n, th, name), func(b *testing.B) {
					// kn for T (nil: the pure-Go path), other for the other type
					k32, _ := any(kn).(*microKernel[float32])
					k64, _ := any(kn).(*microKernel[float64])
					if o, ok := any(other).(*microKernel[float32]); ok {
						k32 = o
					}
					if o, ok := any(other).(*microKernel[float64]); ok {
						k64 = o
					}
					old32, old64 := setKernels(k32, k64)
					defer setKernels(old32, old64)
					defer SetNumThreads(SetNumThreads(th))
					cpu := processCPU
					if th == 1 {
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
						cpu = threadCPU
					}
					ma := mat[T]{A, 0, n, n, n, 1}
					mb := mat[T]{B, 0, n, n, n, 1}
					mc := mat[T]{C, 0, n, n, n, 1}
					gemm(mc, ma, mb, th)
					b.ResetTimer()
					t0 := cpu()
					for b.Loop() {
						gemm(mc, ma, mb, th)
					}
					flop := 2 * float64(n) * float64(n) * float64(n) * float64(b.N)
					b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					b.ReportMetric(flop/(cpu()-t0)/1e9, "GFLOP/cpu-s")
				})
			}
		}
	}
}

// BenchmarkGemmKernel runs each micro-kernel alone on L1-resident packed
// panels (k = 256), accumulating into its tile: the kernel's in-cache
// speed, to hold against BenchmarkFMAPeak.
func BenchmarkGemmKernel(b *testing.B) {
	for _, kn := range gemmCandidates32() {
		b.Run("f32 "+kn.name, func(b *testing.B) { benchKernel(b, kn) })
	}
	for _, kn := range gemmCandidates64() {
		b.Run("f64 "+kn.name, func(b *testing.B) { benchKernel(b, kn) })
	}
}

func benchKernel[T float](b *testing.B, kn *microKernel[T]) {
	const k = 256
	a, bb, c := make([]T, k*kn.mr), make([]T, k*kn.nr), make([]T, kn.mr*kn.nr)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	for b.Loop() {
		kn.fn(k, &a[0], &bb[0], &c[0], kn.nr, true)
	}
	flop := 2 * float64(k*kn.mr*kn.nr) * float64(b.N)
	b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(flop/(threadCPU()-t0)/1e9, "GFLOP/cpu-s")
}
