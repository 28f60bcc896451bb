package cpu

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// BenchmarkConvResNet runs each pass of the convolution of bench's
// BenchmarkConv2dStep alone (3×3, padding 1, 64→64 channels on
// [32, 64, 56, 56]) on one locked thread, in four variants that
// alternate call by call: the 12×32 tile only with the GEMM's column
// blocks ("tile12x32_nc1024", the code before conv_kernel.go and
// implicitNC), the 12×32 tile with implicitNC's blocks ("tile12x32"),
// convKernelFor's choice with the packed implicit GEMM ("packed": 8×48
// for 64 channels on AVX-512), and what runs by default ("auto": the
// channels-last products of conv_nhwc.go). It reports each variant's median CPU time per call: on a
// shared machine whose load drifts, alternation holds the variants to
// the same conditions better than consecutive runs do. b.N counts
// rounds (one call of each variant); run it with -cpu 1.
func BenchmarkConvResNet(b *testing.B) {
	const n, c, h, cout = 32, 64, 56, 64
	be := &CPU{}
	win := backend.Window{Kernel: []int{3, 3}, Stride: []int{1, 1}, Padding: []int{1, 1}, Dilation: []int{1, 1}}
	rng := rand.New(rand.NewPCG(1, 2))
	mk := func(shape ...int) backend.View {
		s, err := be.Alloc(backend.Float32, numel(shape))
		if err != nil {
			b.Fatal(err)
		}
		d := slice[float32](s)
		for i := range d {
			d[i] = float32(rng.Float64()*2 - 1)
		}
		return backend.View{Storage: s, Layout: backend.Contiguous(shape)}
	}
	x, wt := mk(n, c, h, h), mk(cout, c*9)
	y, dw, dx := mk(n, cout, h*h), mk(cout, c*9), mk(n, c, h, h)
	passes := []struct {
		name string
		fn   func()
	}{
		{"fwd", func() { be.ConvForward(y, x, wt, win, 1) }},
		{"bwd_input", func() { be.ConvBackwardInput(dx, y, wt, win, 1) }},
		{"bwd_weight", func() { be.ConvBackwardWeight(dw, y, x, win, 1) }},
	}
	variants := []struct {
		name  string
		tall  bool // convTallKernel
		block int  // implicitBlockBytes
		nhwc  bool // convNHWC
	}{
		{"tile12x32_nc1024", false, 1 << 30, false},
		{"tile12x32", false, implicitBlockBytes, false},
		{"packed", true, implicitBlockBytes, false},
		{"auto", true, implicitBlockBytes, true},
	}
	for _, p := range passes {
		b.Run(p.name, func(b *testing.B) {
			defer func(t bool, bb int, nh bool) {
				convTallKernel, implicitBlockBytes, convNHWC = t, bb, nh
			}(convTallKernel, implicitBlockBytes, convNHWC)
			defer SetNumThreads(SetNumThreads(1))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			times := make([][]float64, len(variants))
			for range b.N {
				for i, v := range variants {
					convTallKernel, implicitBlockBytes, convNHWC = v.tall, v.block, v.nhwc
					t0 := threadCPU()
					p.fn()
					times[i] = append(times[i], threadCPU()-t0)
				}
			}
			for i, v := range variants {
				slices.Sort(times[i])
				b.ReportMetric(times[i][len(times[i])/2]*1e3, v.name+"-cpu-ms")
			}
		})
	}
}
