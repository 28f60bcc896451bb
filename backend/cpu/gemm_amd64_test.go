//go:build amd64 && !purego

package cpu

import (
	"fmt"
	"math/rand/v2"
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

// BenchmarkSgemmPeakShare holds the 1024³ float32 product on one thread
// to the FMA peak measured beside it. On one locked thread it alternates
// BenchmarkFMAPeak's AVX-512 loop (about 8 ms) and one product (with the
// kernels the package picked), each timed by the thread's own CPU time,
// and reports the median over the pairs of product rate / peak rate as
// %peak. Measured minutes apart, as BenchmarkFMAPeak and BenchmarkSgemm
// are, the two drift apart with the clock and with other tenants of a
// shared machine (the peak read 213–239 GFLOP/s in different runs on one
// machine); measured in pairs, a drift moves both.
func BenchmarkSgemmPeakShare(b *testing.B) {
	if !hasAVX512 {
		b.Skip("no AVX-512")
	}
	const n, iters = 1024, 1 << 21
	rng := rand.New(rand.NewPCG(1, 2))
	A, B, C := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range A {
		A[i], B[i] = float32(rng.Float64()*2-1), float32(rng.Float64()*2-1)
	}
	ma, mb, mc := mat[float32]{A, 0, n, n, n, 1}, mat[float32]{B, 0, n, n, n, 1}, mat[float32]{C, 0, n, n, n, 1}
	defer SetNumThreads(SetNumThreads(1))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	gemm(mc, ma, mb, 1) // page in C, warm the pack buffers
	var shares, peaks, rates []float64
	for b.Loop() {
		t0 := threadCPU()
		fmaPeakAVX512(iters)
		t1 := threadCPU()
		gemm(mc, ma, mb, 1)
		t2 := threadCPU()
		peak := 24 * 16 * 2 * float64(iters) / (t1 - t0) / 1e9
		rate := 2 * float64(n*n*n) / (t2 - t1) / 1e9
		peaks, rates, shares = append(peaks, peak), append(rates, rate), append(shares, rate/peak)
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(100*med(shares), "%peak")
	b.ReportMetric(med(peaks), "peak-GFLOP/cpu-s")
	b.ReportMetric(med(rates), "GFLOP/cpu-s")
}
