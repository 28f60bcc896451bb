//go:build amd64 && !purego

package cpu

import (
	"runtime"
	"testing"
)

// BenchmarkFMAPeak measures one core's float32 FMA throughput with
// register-only loops (no loads): the peak the GEMM kernels are held to.
func BenchmarkFMAPeak(b *testing.B) {
	const iters = 1 << 16
	run := func(b *testing.B, fn func(int), flopsPerIter float64) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		t0 := threadCPU()
		for b.Loop() {
			fn(iters)
		}
		flop := flopsPerIter * iters * float64(b.N)
		b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		b.ReportMetric(flop/(threadCPU()-t0)/1e9, "GFLOP/cpu-s")
	}
	if hasAVX512 {
		b.Run("AVX512", func(b *testing.B) { run(b, fmaPeakAVX512, 24*16*2) })
	}
	if hasAVX2 {
		b.Run("AVX2", func(b *testing.B) { run(b, fmaPeakAVX2, 12*8*2) })
	}
}
