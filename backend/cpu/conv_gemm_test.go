package cpu

// Conformance of the convolution kernels (backend.Convolver) against
// direct float64 loops over every window and tap, written here from the
// definitions in package backend (refWindows), for 1 and 2 spatial dims,
// groups, strided operands, one goroutine and several (whole images per
// goroutine, or each image split), with the SIMD and the pure-Go GEMM.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

type convCase struct {
	winCase
	cout, groups int
}

var convCases = []convCase{
	{winCase{in: []int{2, 3, 5, 4}, k: []int{3, 2}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 4, 1},
	{winCase{in: []int{1, 2, 7, 6}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}}, 5, 1},
	{winCase{in: []int{3, 4, 9, 8}, k: []int{3, 2}, s: []int{2, 3}, p: []int{1, 0}, d: []int{2, 3}}, 6, 2},
	{winCase{in: []int{4, 3, 6, 7}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 3, 3}, // depthwise
	{winCase{in: []int{3, 2, 5, 5}, k: []int{1, 1}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 7, 1},
	{winCase{in: []int{2, 2, 6, 5}, k: []int{1, 1}, s: []int{2, 2}, p: []int{1, 0}, d: []int{1, 1}}, 2, 1},
	{winCase{in: []int{1, 3, 3, 3}, k: []int{3, 3}, s: []int{1, 1}, p: []int{2, 2}, d: []int{1, 1}}, 2, 1},
	{winCase{in: []int{3, 2, 11}, k: []int{3}, s: []int{2}, p: []int{1}, d: []int{2}}, 4, 2},
	{winCase{in: []int{5, 4, 6}, k: []int{2}, s: []int{1}, p: []int{0}, d: []int{1}}, 3, 1},
	// wide rows (the fast Fold path), several column blocks
	{winCase{in: []int{3, 12, 5, 30}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 5, 1},
	// a group of 34 channels: whole panels of B inside one tap and panels
	// across two (the implicit GEMM's packers)
	{winCase{in: []int{3, 34, 6, 7}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 5, 1},
	// at least nhwcMinChannels channels in one group (the channels-last
	// product): one segment of A per kernel row (dilation 1 across), one
	// per tap (dilation 2 across), 1×1 and 1-D windows, output channels
	// past one panel, bands of rows ending inside the image
	{winCase{in: []int{3, 16, 5, 7}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 5, 1},
	{winCase{in: []int{2, 20, 9, 6}, k: []int{3, 2}, s: []int{1, 1}, p: []int{1, 0}, d: []int{2, 2}}, 33, 1},
	{winCase{in: []int{4, 17, 4, 11}, k: []int{1, 1}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 12, 1},
	{winCase{in: []int{3, 18, 13}, k: []int{3}, s: []int{1}, p: []int{2}, d: []int{1}}, 7, 1},
	{winCase{in: []int{1, 16, 40, 3}, k: []int{5, 3}, s: []int{1, 1}, p: []int{2, 1}, d: []int{1, 1}}, 16, 1},
	// empty dims
	{winCase{in: []int{0, 2, 5, 5}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 3, 1},
	{winCase{in: []int{2, 0, 5, 5}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 3, 1},
	{winCase{in: []int{2, 2, 5, 5}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 0, 1},
	{winCase{in: []int{2, 2, 2, 2}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 3, 1}, // no window fits
}

func (c convCase) String() string { return fmt.Sprintf("%v_out%d_g%d", c.winCase, c.cout, c.groups) }

// refConv returns the forward product, the input gradient and the weight
// gradient of c from the definitions, in float64: y[n, o, l] is the sum
// over the group's channels ch and taps of weight[o, ch·K + tap] times
// the input under that tap of window l.
func refConv(c convCase, x, w, dy operand) (y, dx, dw []float64) {
	grid := c.grid()
	k, l := numel(c.k), numel(grid)
	n, cin := c.in[0], c.in[1]
	ci, co := cin/c.groups, c.cout/c.groups
	y = make([]float64, n*c.cout*l)
	dx = make([]float64, numel(c.in))
	dw = make([]float64, c.cout*ci*k)
	for b := 0; b < n; b++ {
		for ch := 0; ch < cin; ch++ {
			g, cg := ch/ci, ch%ci
			refWindows(c.winCase, grid, func(win, tap, in []int, inside bool) {
				if !inside {
					return
				}
				xi := append([]int{b, ch}, in...)
				xv := x.at(xi)
				li, r := linear(grid, win), cg*k+linear(c.k, tap)
				for o := g * co; o < (g+1)*co; o++ {
					wv := w.at([]int{o, r})
					gy := dy.at([]int{b, o, li})
					y[(b*c.cout+o)*l+li] += wv * xv
					dx[linear(c.in, xi)] += wv * gy
					dw[o*ci*k+r] += gy * xv
				}
			})
		}
	}
	return y, dx, dw
}

// convConfigs are the dispatch settings TestConvKernels runs under: the
// SIMD GEMM kernel, the pure-Go GEMM, or microRef as a kernel with tiny
// blocks (several k and column blocks, no edge kernels, the Go packers);
// one goroutine or three (whole images per goroutine where there are
// three images or more, each image split otherwise); column blocks of
// the default size or of the smallest (64 positions, so blocks end
// inside grid rows); the stride-1 input gradient as a flipped
// convolution or through Fold; and the implicit GEMM on or off.
var convConfigs = []struct {
	kern     string // "simd", "go", "ref" or "alt" (the CPU's last SIMD kernel: AVX2)
	threads  int
	chunk    int // convChunkBytes; 1 for the smallest blocks
	flipped  bool
	implicit bool
	nhwc     bool // convNHWC
}{
	{"simd", 1, 0, true, true, true},
	{"simd", 3, 0, true, true, true},
	{"simd", 1, 0, true, true, false},
	{"simd", 3, 0, true, true, false},
	{"alt", 1, 0, true, true, true},
	{"go", 1, 0, true, true, true},
	{"simd", 3, 1, true, false, true},
	{"simd", 1, 1, false, false, true},
	{"go", 3, 0, false, false, true},
	{"ref", 1, 0, true, true, true},
	{"ref", 3, 0, true, true, true},
}

func TestConvKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	k32, k64 := kernelFor[float32](), kernelFor[float64]()
	defer setKernels(k32, k64)
	defChunk, defFlipped, defImplicit, defNHWC := convChunkBytes, convFlipped, convImplicit, convNHWC
	defer func() {
		convChunkBytes, convFlipped, convImplicit, convNHWC = defChunk, defFlipped, defImplicit, defNHWC
	}()
	for _, cfg := range convConfigs {
		switch cfg.kern {
		case "simd":
			setKernels(k32, k64)
		case "alt":
			ks := gemmCandidates32()
			if len(ks) < 2 {
				continue
			}
			setKernels(ks[len(ks)-1], k64)
		case "go":
			setKernels(nil, nil)
		case "ref":
			setKernels(refKernel[float32](5, 8, 12, 24, 10), refKernel[float64](3, 4, 7, 16, 6))
		}
		convChunkBytes, convFlipped, convImplicit, convNHWC = defChunk, cfg.flipped, cfg.implicit, cfg.nhwc
		if cfg.chunk > 0 {
			convChunkBytes = cfg.chunk
		}
		for _, c := range convCases {
			for _, dt := range []backend.DType{f32, f64} {
				for _, lk := range []layoutKind{lkContig, lkTrans, lkStep} {
					name := fmt.Sprintf("%+v/%v/%v/%v", cfg, c, dt, lk)
					t.Run(name, func(t *testing.T) {
						old := SetNumThreads(cfg.threads)
						defer SetNumThreads(old)
						checkConv(t, rng, c, dt, lk)
					})
				}
			}
		}
	}
}

// convShapes returns the weight's and the output's shapes for c.
func convShapes(c convCase) (wshape, yshape []int) {
	k, l := numel(c.k), numel(c.grid())
	return []int{c.cout, c.in[1] / c.groups * k}, []int{c.in[0], c.cout, l}
}

// convOperands draws the input, weight and output gradient of c, values
// in [−1, 1], laid out as lk.
func convOperands(t *testing.T, rng *rand.Rand, c convCase, dt backend.DType, lk layoutKind) (x, w, dy operand) {
	wshape, yshape := convShapes(c)
	x = newOperand(t, dt, lk, c.in, genFor(dt, rng, -1, 1))
	w = newOperand(t, dt, lk, wshape, genFor(dt, rng, -1, 1))
	dy = newOperand(t, dt, lk, yshape, genFor(dt, rng, -1, 1))
	return x, w, dy
}

// runConv runs the three backend.Convolver methods of c on x, w and dy
// into fresh contiguous outputs, and returns the forward product, the
// input gradient and the weight gradient.
func runConv(t *testing.T, rng *rand.Rand, c convCase, dt backend.DType, x, w, dy operand) (y, dx, dw []float64) {
	wshape, yshape := convShapes(c)
	yo, _ := newOutput(t, dt, lkContig, yshape, rng)
	dxo, _ := newOutput(t, dt, lkContig, c.in, rng)
	dwo, _ := newOutput(t, dt, lkContig, wshape, rng)
	be.ConvForward(yo.view(), x.view(), w.view(), c.window(), c.groups)
	be.ConvBackwardInput(dxo.view(), dy.view(), w.view(), c.window(), c.groups)
	be.ConvBackwardWeight(dwo.view(), dy.view(), x.view(), c.window(), c.groups)
	return yo.values(), dxo.values(), dwo.values()
}

// convTol is the relative tolerance of the convolution tests: sums of at
// most a few hundred products of values in [−1, 1].
func convTol(dt backend.DType) float64 {
	if dt == f32 {
		return 2e-5
	}
	return 1e-12
}

func checkConv(t *testing.T, rng *rand.Rand, c convCase, dt backend.DType, lk layoutKind) {
	x, w, dy := convOperands(t, rng, c, dt, lk)
	wantY, wantDx, wantDw := refConv(c, x, w, dy)
	y, dx, dw := runConv(t, rng, c, dt, x, w, dy)
	tol := convTol(dt)
	for _, r := range []struct {
		what      string
		got, want []float64
	}{{"forward", y, wantY}, {"input gradient", dx, wantDx}, {"weight gradient", dw, wantDw}} {
		if len(r.got) != len(r.want) {
			t.Fatalf("%s: %d elements, want %d", r.what, len(r.got), len(r.want))
		}
		for i := range r.got {
			if d := math.Abs(r.got[i] - r.want[i]); !(d <= tol*(1+math.Abs(r.want[i]))) {
				t.Fatalf("%s: element %d = %v, want %v", r.what, i, r.got[i], r.want[i])
			}
		}
	}
}

// The weight gradient sums over images on several goroutines; each takes
// a fixed share, so the bits are the same on every run with the same
// number of threads (training runs are reproducible from a seed).
func TestConvWeightGradientReproducible(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	defImplicit := convImplicit
	defer func() { convImplicit = defImplicit }()
	old := SetNumThreads(3)
	defer SetNumThreads(old)
	c := convCase{winCase{in: []int{11, 6, 9, 8}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 5, 1}
	wshape, yshape := []int{c.cout, c.in[1] * numel(c.k)}, []int{c.in[0], c.cout, numel(c.grid())}
	x := newOperand(t, f32, lkContig, c.in, genFor(f32, rng, -1, 1))
	dy := newOperand(t, f32, lkContig, yshape, genFor(f32, rng, -1, 1))
	for _, implicit := range []bool{true, false} {
		convImplicit = implicit
		var first []float64
		for run := 0; run < 8; run++ {
			dw, _ := newOutput(t, f32, lkContig, wshape, rng)
			be.ConvBackwardWeight(dw.view(), dy.view(), x.view(), c.window(), c.groups)
			got := dw.values()
			if first == nil {
				first = got
				continue
			}
			for i := range got {
				if math.Float64bits(got[i]) != math.Float64bits(first[i]) {
					t.Fatalf("implicit %v: run %d: element %d = %v, first run %v", implicit, run, i, got[i], first[i])
				}
			}
		}
	}
}
