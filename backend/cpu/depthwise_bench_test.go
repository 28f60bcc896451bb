package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkDepthwisePasses times each pass of the depthwise convolution of
// bench's DepthwiseStep rows (3×3, pad 1, [32, 64, 56, 56], stride 1 and
// 2) through the Convolver methods, reporting the process's CPU time per
// call (cpu-ms/op), which a loaded machine disturbs less than wall time.
func BenchmarkDepthwisePasses(b *testing.B) {
	for _, st := range []int{1, 2} {
		c := convCase{winCase{in: []int{32, 64, 56, 56}, k: []int{3, 3}, s: []int{st, st}, p: []int{1, 1}, d: []int{1, 1}}, 64, 64}
		benchDepthwisePasses(b, fmt.Sprintf("s%d", st), c)
	}
}

// BenchmarkDepthwiseMultiplier is a channel multiplier m of 2 and 4
// (64/m → 64 channels, groups 64/m, else as BenchmarkDepthwisePasses) on the
// direct path and on the GEMM paths (convDepthwise off).
func BenchmarkDepthwiseMultiplier(b *testing.B) {
	defer func(v bool) { convDepthwise = v }(convDepthwise)
	for _, m := range []int{2, 4} {
		for _, st := range []int{1, 2} {
			c := convCase{winCase{in: []int{32, 64 / m, 56, 56}, k: []int{3, 3}, s: []int{st, st}, p: []int{1, 1}, d: []int{1, 1}}, 64, 64 / m}
			for _, direct := range []bool{true, false} {
				convDepthwise = direct
				benchDepthwisePasses(b, fmt.Sprintf("m%d/s%d/direct=%v", m, st, direct), c)
			}
		}
	}
}

// benchDepthwisePasses times the three passes of c, reporting cpu-ms/op.
func benchDepthwisePasses(b *testing.B, name string, c convCase) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := genFor(f32, rng, -1, 1)
	{
		x := newOperand(b, f32, lkContig, c.in, gen)
		w := newOperand(b, f32, lkContig, []int{c.cout, numel(c.k)}, gen)
		yshape := []int{c.in[0], c.cout, numel(c.grid())}
		dy := newOperand(b, f32, lkContig, yshape, gen)
		y, _ := newOutput(b, f32, lkContig, yshape, rng)
		dx, _ := newOutput(b, f32, lkContig, c.in, rng)
		dw, _ := newOutput(b, f32, lkContig, []int{c.cout, numel(c.k)}, rng)
		passes := []struct {
			name string
			run  func()
		}{
			{"fwd", func() { be.ConvForward(y.view(), x.view(), w.view(), c.window(), c.groups) }},
			{"bwdin", func() { be.ConvBackwardInput(dx.view(), dy.view(), w.view(), c.window(), c.groups) }},
			{"bwdw", func() { be.ConvBackwardWeight(dw.view(), dy.view(), x.view(), c.window(), c.groups) }},
		}
		for _, p := range passes {
			b.Run(name+"/"+p.name, func(b *testing.B) {
				p.run()
				t0 := processCPU()
				for b.Loop() {
					p.run()
				}
				b.ReportMetric((processCPU()-t0)*1e3/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
