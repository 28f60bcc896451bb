//go:build amd64 && !purego

package cpu

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"
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

// BenchmarkFMAPeakTeam runs BenchmarkFMAPeak's loop on p goroutines at
// once (the GEMM's team: the caller and spinning helpers), for p from 1
// to GOMAXPROCS, and reports their combined wall-clock GFLOP/s, on
// average and in its fastest calls: the ceiling of a parallel product on
// this machine. Cores that share a physical core, a power budget or a
// hypervisor's time slices give less than p times one core's peak, and
// only this measures by how much. (The thread count is in the name:
// given a list of -test.cpu values, Go runs every sub-benchmark at the
// GOMAXPROCS its parent ran with.)
func BenchmarkFMAPeakTeam(b *testing.B) {
	const iters = 1 << 16
	run := func(b *testing.B, p int, fn func(int), flopsPerIter float64) {
		var calls []time.Duration
		for b.Loop() {
			t0 := time.Now()
			runTeam(p, func(int) { fn(iters) })
			calls = append(calls, time.Since(t0))
		}
		flop := flopsPerIter * iters * float64(p)
		b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		// The calls that found every core free, on a machine where other
		// processes take turns on them: the 10th percentile of the call
		// times (the single fastest is at the mercy of one clock reading).
		slices.Sort(calls)
		b.ReportMetric(flop/calls[len(calls)/10].Seconds()/1e9, "best-GFLOP/s")
	}
	for p := 1; p <= runtime.GOMAXPROCS(0); p++ {
		if hasAVX512 {
			b.Run(fmt.Sprintf("AVX512/p=%d", p), func(b *testing.B) { run(b, p, fmaPeakAVX512, 24*16*2) })
		}
		if hasAVX2 {
			b.Run(fmt.Sprintf("AVX2/p=%d", p), func(b *testing.B) { run(b, p, fmaPeakAVX2, 12*8*2) })
		}
	}
}
