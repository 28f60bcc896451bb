package cpu

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
)

// BenchmarkSgemmShapes runs the float32 products of one Transformer
// encoder layer step (bench's BenchmarkTransformerStep: tokens 2048,
// d 256, ff 1024) one at a time, at one thread, with the operand layouts
// the layer uses: the forward x·Wᵀ (B column-major), the input gradient
// g·W (both row-major) and the weight gradient gᵀ·x (A column-major,
// k = 2048), and the attention's per-head [128,64]×[64,128] and
// [128,128]×[128,64]. It reports GFLOP/s per CPU second of the locked
// thread, to hold each shape against BenchmarkFMAPeak.
func BenchmarkSgemmShapes(b *testing.B) {
	benchShapes(b, []gemmShape{
		{2048, 768, 256, false, true, "qkv"},
		{2048, 256, 256, false, true, "out"},
		{2048, 1024, 256, false, true, "ff1"},
		{2048, 256, 1024, false, true, "ff2"},
		{2048, 256, 768, false, false, "dqkv"},
		{2048, 256, 1024, false, false, "dff1"},
		{2048, 1024, 256, false, false, "dff2"},
		{768, 256, 2048, true, false, "wqkv"},
		{256, 256, 2048, true, false, "wout"},
		{1024, 256, 2048, true, false, "wff1"},
		{256, 1024, 2048, true, false, "wff2"},
		{128, 128, 64, false, true, "qk"},
		{128, 64, 128, false, false, "pv"},
		{256, 256, 256, false, false, "sq256"},
		{512, 512, 512, false, false, "sq512"},
		{1024, 1024, 1024, false, false, "sq1024"},
		{2048, 2048, 2048, false, false, "sq2048"},
	})
}

// gemmShape is one product for benchShapes: C[m,n] = A[m,k]·B[k,n].
type gemmShape struct {
	m, n, k int
	ta, tb  bool // A, B stored transposed (column-major)
	name    string
}

// benchShapes runs each product alone at one locked thread and reports
// GFLOP/s and GFLOP/cpu-s. TAPIR_GEMM_THREADS=N runs it on N threads
// instead, with the process's CPU time.
func benchShapes(b *testing.B, shapes []gemmShape) {
	kn := kernel32.Load()
	if kn == nil {
		b.Skip("no SIMD kernel")
	}
	if blk := os.Getenv("TAPIR_GEMM_BLK"); blk != "" { // kc,nc,mc: a blocking to try
		k := *kn
		fmt.Sscanf(blk, "%d,%d,%d", &k.kc, &k.nc, &k.mc)
		old, _ := setKernels(&k, kernel64.Load())
		defer setKernels(old, kernel64.Load())
	}
	// TAPIR_GEMM_COLD=1 evicts the operands (writes 64 MB) before each
	// product, timed apart.
	cold := os.Getenv("TAPIR_GEMM_COLD") != ""
	threads := 1
	if th := os.Getenv("TAPIR_GEMM_THREADS"); th != "" {
		fmt.Sscanf(th, "%d", &threads)
	}
	defer SetNumThreads(SetNumThreads(threads))
	cpu := processCPU
	if threads == 1 {
		cpu = threadCPU
	}
	var flush []int64
	if cold {
		flush = make([]int64, 8<<20)
	}
	for _, s := range shapes {
		b.Run(fmt.Sprintf("%s_%dx%dx%d", s.name, s.m, s.n, s.k), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			A, B, C := make([]float32, s.m*s.k), make([]float32, s.k*s.n), make([]float32, s.m*s.n)
			for i := range A {
				A[i] = float32(rng.Float64()*2 - 1)
			}
			for i := range B {
				B[i] = float32(rng.Float64()*2 - 1)
			}
			ma := mat[float32]{A, 0, s.m, s.k, s.k, 1}
			if s.ta {
				ma.rs, ma.cs = 1, s.m
			}
			mb := mat[float32]{B, 0, s.k, s.n, s.n, 1}
			if s.tb {
				mb.rs, mb.cs = 1, s.k
			}
			mc := mat[float32]{C, 0, s.m, s.n, s.n, 1}
			if threads == 1 {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			gemm(mc, ma, mb, threads)
			b.ResetTimer()
			if cold { // operands out of cache, as a layer step leaves them
				var used float64
				for b.Loop() {
					b.StopTimer()
					for i := range flush {
						flush[i]++
					}
					b.StartTimer()
					t0 := cpu()
					gemm(mc, ma, mb, threads)
					used += cpu() - t0
				}
				flop := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flop/used/1e9, "GFLOP/cpu-s")
				return
			}
			t0 := cpu()
			for b.Loop() {
				gemm(mc, ma, mb, threads)
			}
			flop := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
			b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(flop/(cpu()-t0)/1e9, "GFLOP/cpu-s")
		})
	}
}
