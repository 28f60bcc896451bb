package cpu

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// BenchmarkConvLeNet times each pass of the two convolutions of the
// LeNet training step (bench/models.go) alone, at batch 128: conv1 is
// 1→32 channels, 3×3 on 28×28; conv2 32→64, 3×3 on 13×13; no padding.
// Run it with -cpu 1 or -cpu 2 (one process per thread count); the
// threads follow GOMAXPROCS. GFLOP/s counts 2·N·Cout·Ci·K·L per pass.
// bench/conv_lenet_torch.py times the same passes in PyTorch.
func BenchmarkConvLeNet(b *testing.B) {
	layers := []struct {
		name             string
		n, c, h, w, cout int
	}{
		{"conv1", 128, 1, 28, 28, 32},
		{"conv2", 128, 32, 13, 13, 64},
	}
	be := &CPU{}
	for _, ly := range layers {
		win := backend.Window{Kernel: []int{3, 3}, Stride: []int{1, 1}, Padding: []int{0, 0}, Dilation: []int{1, 1}}
		oh, ow := ly.h-2, ly.w-2
		l := oh * ow
		rng := rand.New(rand.NewPCG(1, 2))
		mk := func(shape ...int) backend.View {
			n := 1
			for _, d := range shape {
				n *= d
			}
			s, err := be.Alloc(backend.Float32, n)
			if err != nil {
				b.Fatal(err)
			}
			d := slice[float32](s)
			for i := range d {
				d[i] = float32(rng.Float64()*2 - 1)
			}
			return backend.View{Storage: s, Layout: backend.Contiguous(shape)}
		}
		x := mk(ly.n, ly.c, ly.h, ly.w)
		wt := mk(ly.cout, ly.c*9)
		y := mk(ly.n, ly.cout, l)
		dw := mk(ly.cout, ly.c*9)
		dx := mk(ly.n, ly.c, ly.h, ly.w)
		flops := 2.0 * float64(ly.n*ly.cout*ly.c*9*l)
		passes := []struct {
			name string
			fn   func()
		}{
			{"fwd", func() { be.ConvForward(y, x, wt, win, 1) }},
			{"bwd_input", func() { be.ConvBackwardInput(dx, y, wt, win, 1) }},
			{"bwd_weight", func() { be.ConvBackwardWeight(dw, y, x, win, 1) }},
		}
		for _, p := range passes {
			b.Run(fmt.Sprintf("%s/%s", ly.name, p.name), func(b *testing.B) {
				th := runtime.GOMAXPROCS(0)
				defer SetNumThreads(SetNumThreads(th))
				cpu := processCPU
				if th == 1 {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					cpu = threadCPU
				}
				p.fn()
				b.ResetTimer()
				c0 := cpu()
				for range b.N {
					p.fn()
				}
				cs := cpu() - c0
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cs > 0 {
					b.ReportMetric(cs/float64(b.N)*1e3, "cpu-ms/op")
					b.ReportMetric(flops*float64(b.N)/cs/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}
