package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// BenchmarkLayerNorm is LayerNorm's forward and backward kernels on the
// Transformer benchmark's shape, [2048, 256] float32 with w and b: the
// vector kernels ("vec") and the scalar loops ("scalar", lnOff).
func BenchmarkLayerNorm(b *testing.B) {
	const rows, n = 2048, 256
	rng := rand.New(rand.NewPCG(1, 2))
	mk := func(m int) backend.View {
		s, _ := be.Alloc(f32, m)
		v := slice[float32](s)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return backend.View{Storage: s, Layout: backend.Contiguous([]int{m})}
	}
	x, g, w, bb := mk(rows*n), mk(rows*n), mk(n), mk(n)
	y, dx, h := mk(rows*n), mk(rows*n), mk(rows*n)
	mean, rstd := mk(rows), mk(rows)
	cpu := Get()
	for _, mode := range []struct {
		name string
		off  bool
	}{{"vec", false}, {"scalar", true}} {
		b.Run("fwd/"+mode.name, func(b *testing.B) {
			old, oldOff := setLN(ln32, mode.off)
			defer setLN(old, oldOff)
			b.SetBytes(2 * 4 * rows * n)
			c0 := processCPU()
			for b.Loop() {
				cpu.LayerNorm(y, mean, rstd, x, w, bb, 1e-5)
			}
			b.ReportMetric((processCPU()-c0)*1e9/float64(b.N), "cpu-ns/op")
		})
		b.Run("bwd/"+mode.name, func(b *testing.B) {
			old, oldOff := setLN(ln32, mode.off)
			defer setLN(old, oldOff)
			b.SetBytes(4 * 4 * rows * n)
			c0 := processCPU()
			for b.Loop() {
				cpu.LayerNormBackward(dx, h, g, x, mean, rstd, w)
			}
			b.ReportMetric((processCPU()-c0)*1e9/float64(b.N), "cpu-ns/op")
		})
	}
}
