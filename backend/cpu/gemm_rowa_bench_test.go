//go:build amd64 && !purego

package cpu

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkSgemmRowA weighs the two ways of a Linear layer's forward,
// C = x·Wᵀ with x [m, k] and W [n, k] row-major, on the AVX-512 12×32
// kernel at one thread, per CPU second: packed (Wᵀ packed as B by the
// transposing pack, x as A) and rowA (Cᵀ = W·xᵀ with W read unpacked,
// gemmTransposedRowA, which rowATransposed picks for m ≤ rowAMaxCols).
// The weight is hot (w1: one copy, in L2 or L3) or rotates among 16
// copies (w16: out of L3 by the time it comes round again, as a training
// step finds it after its optimizer and the other layers have run), and
// so does C.
func BenchmarkSgemmRowA(b *testing.B) {
	if !hasAVX512 {
		b.Skip("no AVX-512")
	}
	packed := *sgemmAVX512
	packed.rowA = nil
	for _, sh := range [][3]int{{128, 512, 784}, {128, 512, 512}, {32, 1024, 256}, {64, 512, 512}, {256, 512, 512}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, copies := range []int{1, 16} {
			for _, rowA := range []bool{false, true} {
				name := "packed"
				if rowA {
					name = "rowA"
				}
				b.Run(fmt.Sprintf("%dx%dx%d/w%d/%s", m, n, k, copies, name), func(b *testing.B) {
					rng := rand.New(rand.NewPCG(5, 7))
					x := make([]float32, m*k)
					discrete(rng, x)
					ws, cs := make([][]float32, copies), make([][]float32, copies)
					for i := range ws {
						ws[i], cs[i] = make([]float32, n*k), make([]float32, m*n)
						discrete(rng, ws[i])
					}
					X := mat[float32]{x, 0, m, k, k, 1}
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					t0 := threadCPU()
					i := 0
					for b.Loop() {
						W := mat[float32]{ws[i%copies], 0, k, n, 1, k} // Wᵀ
						C := mat[float32]{cs[i%copies], 0, m, n, n, 1}
						if rowA {
							gemmTransposedRowA(sgemmAVX512, C, X, W, 1, nil)
						} else {
							gemmPackedRun(&packed, C, X, W, 1, false)
						}
						i++
					}
					b.ReportMetric(2*float64(m*n*k)*float64(b.N)/(threadCPU()-t0)/1e9, "GFLOP/cpu-s")
				})
			}
		}
	}
}
