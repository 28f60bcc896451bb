//go:build amd64 && !purego

package cpu

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// The 8×48 AVX-512 kernel, its edge variants and its packers against
// their Go twins (microRef and the packing loops), as TestGemmKernels
// does for the kernels gemmCandidates32 lists.
func TestGemmKernel8x48(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	testKernel(t, sgemmAVX512x8)
	testPacks(t, sgemmAVX512x8)
}

// packTBRun's packer for the 8×48 kernel fills 16 rows of a 48-wide
// panel from a strided source and leaves the other 32 alone, for k from
// 0 to 40, at each of the three offsets, with guard bands.
func TestPackTBRun(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	part, run := packTBRun(sgemmAVX512x8)
	if part == nil || run != 16 {
		t.Fatalf("packTBRun(8×48) = %v, %d; want a packer of 16 rows", part != nil, run)
	}
	rng := rand.New(rand.NewPCG(71, 72))
	const nr = 48
	for k := 0; k <= 40; k++ {
		for at := 0; at < nr; at += run {
			ld := k + 3
			src := make([]float32, run*ld+1)
			discrete(rng, src)
			got := sentinels[float32](guard + k*nr + guard)
			want := append([]float32(nil), got...)
			for i := 0; i < run; i++ {
				for p := 0; p < k; p++ {
					want[guard+p*nr+at+i] = src[i*ld+p]
				}
			}
			part(&got[guard+at], &src[0], ld, k)
			for i := range got {
				if !sameValue(got[i], want[i]) {
					t.Fatalf("k=%d offset %d: element %d is %v, want %v", k, at, i, got[i], want[i])
				}
			}
		}
	}
}

// The blocked product with the 8×48 kernel installed, against the
// pure-Go path: edges in M, N and K, strided and transposed operands.
func TestGemm8x48MatchesGo(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	testGemmAgainstGo(t, sgemmAVX512x8)
}

// BenchmarkGemmKernelTiles runs the float32 AVX-512 tiles alone on
// L1-resident packed panels (k = 256), per CPU second of the locked
// thread: 12×32, its 4-row edge (the last panel of 64 rows), 8×48, and
// 12×32 reading A unpacked (rows k apart).
func BenchmarkGemmKernelTiles(b *testing.B) {
	if !hasAVX512 {
		b.Skip("no AVX-512")
	}
	for _, c := range []struct {
		name   string
		fn     func(k int, a, b, c *float32, ldc int, accum bool)
		mr, nr int
		rows   int
	}{
		{"12x32", sgemmAVX512_12x32, 12, 32, 12},
		{"12x32_r4", sgemmAVX512_12x32_r4, 12, 32, 4},
		{"8x48", sgemmAVX512_8x48, 8, 48, 8},
		{"12x32_ra", func(k int, a, b, c *float32, ldc int, accum bool) { sgemmAVX512_12x32_ra(k, a, k, b, c, ldc, accum) }, 12, 32, 12},
	} {
		b.Run(c.name, func(b *testing.B) {
			const k = 256
			a, bb, cc := make([]float32, k*c.mr), make([]float32, k*c.nr), make([]float32, c.mr*c.nr)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := threadCPU()
			for b.Loop() {
				c.fn(k, &a[0], &bb[0], &cc[0], c.nr, true)
			}
			flop := 2 * float64(k*c.rows*c.nr) * float64(b.N)
			b.ReportMetric(flop/(threadCPU()-t0)/1e9, "GFLOP/cpu-s")
		})
	}
}
