package cpu

// The small-row weight gradient (conv_bwdweight_small.go), and the
// forward product of the same shapes, against the
// float64 sums over the windows (refConv): one input channel and more,
// odd sizes, padding, dilation, groups, 1-d, strided inputs, one image
// and more than the threads, positions spanning several k blocks, output
// channels that end inside a panel, with the SIMD kernel and with microRef
// as a kernel (no edge kernels, tiny blocks), and guard bands around the
// output.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

var smallWeightCases = []convCase{
	// the LeNet conv1 shape at a smaller batch: 676 positions, two k blocks
	{winCase{in: []int{3, 1, 28, 28}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 32, 1},
	{winCase{in: []int{4, 1, 7, 9}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 5, 1},
	{winCase{in: []int{2, 1, 11, 6}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 33, 1},
	{winCase{in: []int{5, 1, 9, 8}, k: []int{3, 2}, s: []int{1, 1}, p: []int{2, 1}, d: []int{2, 3}}, 40, 1},
	{winCase{in: []int{1, 1, 13, 13}, k: []int{4, 4}, s: []int{1, 1}, p: []int{1, 2}, d: []int{1, 1}}, 20, 1}, // 16 rows: two panels of 12
	{winCase{in: []int{3, 2, 6, 5}, k: []int{2, 2}, s: []int{1, 1}, p: []int{0, 1}, d: []int{1, 1}}, 64, 1},
	{winCase{in: []int{4, 4, 6, 7}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 64, 4}, // depthwise, 16 per group
	{winCase{in: []int{3, 6, 5, 5}, k: []int{1, 1}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 9, 3},
	{winCase{in: []int{5, 1, 17}, k: []int{5}, s: []int{1}, p: []int{2}, d: []int{1}}, 3, 1},
	{winCase{in: []int{2, 1, 1, 1}, k: []int{1, 1}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 1, 1}, // size-1 everything
	{winCase{in: []int{3, 1, 1, 9}, k: []int{1, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 2, 1}, // one row
}

func TestConvBackWeightSmall(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	k32, k64 := kernelFor[float32](), kernelFor[float64]()
	defer setKernels(k32, k64)
	kerns := []struct {
		name     string
		k32      *microKernel[float32]
		k64      *microKernel[float64]
		withSIMD bool
	}{
		{"simd", k32, k64, true},
		// microRef with a 32-wide panel (so that rows up to 16 take the
		// path), 5 or 3 rows (several row panels, no edge kernels) and
		// tiny k and column blocks
		{"ref", refKernel[float32](5, 32, 12, 24, 10), refKernel[float64](3, 32, 7, 16, 6), false},
	}
	for _, kn := range kerns {
		if kn.withSIMD && k32 == nil {
			continue
		}
		setKernels(kn.k32, kn.k64)
		for _, c := range smallWeightCases {
			for _, dt := range []backend.DType{f32, f64} {
				for _, lk := range []layoutKind{lkContig, lkTrans, lkStep} {
					for _, threads := range []int{1, 3} {
						name := fmt.Sprintf("%s/%v/%v/%v/t%d", kn.name, c, dt, lk, threads)
						t.Run(name, func(t *testing.T) {
							defer SetNumThreads(SetNumThreads(threads))
							checkSmallWeight(t, rng, c, dt, lk)
						})
					}
				}
			}
		}
	}
}

// A depthwise convolution with up to four output channels per group
// keeps implicitBackWeight, whose product is then the cheaper.
func TestConvBackWeightSmallDispatch(t *testing.T) {
	if kernelFor[float32]() == nil {
		t.Skip("no SIMD kernel")
	}
	for _, c := range []struct {
		c, cout, groups int
		want            bool
	}{{1, 32, 1, true}, {1, 1, 1, false}, {1, 2, 1, false}, {1, 4, 1, false}, {1, 8, 1, true}, {8, 8, 8, false}, {8, 16, 8, false}, {4, 64, 4, true}} {
		s := convShapeOf("test", backend.Contiguous([]int{2, c.c, 6, 6}), winCase{k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}.window(), c.groups, c.cout)
		if got := useBackWeightSmall[float32](s); got != c.want {
			t.Errorf("%d→%d channels in %d groups: %v, want %v", c.c, c.cout, c.groups, got, c.want)
		}
	}
}

func checkSmallWeight(t *testing.T, rng *rand.Rand, c convCase, dt backend.DType, lk layoutKind) {
	s := convShapeOf("test", backend.Contiguous(c.in), c.window(), c.groups, c.cout)
	taken := useBackWeightSmall[float32](s)
	if dt == f64 {
		taken = useBackWeightSmall[float64](s)
	}
	if !taken && (dt == f32 || kernelFor[float64]().nr == 32) {
		// (float64's AVX-512 panels are 16 wide: only 8 rows take it)
		t.Fatalf("the case does not take the small-row path")
	}
	wshape, yshape := convShapes(c)
	x := newOperand(t, dt, lk, c.in, genFor(dt, rng, -1, 1))
	w := newOperand(t, dt, lkContig, wshape, genFor(dt, rng, -1, 1))
	dy := newOperand(t, dt, lk, yshape, genFor(dt, rng, -1, 1))
	wantY, _, want := refConv(c, x, w, dy)
	tol := 1e-12
	if dt == f32 {
		tol = 5e-5
	}
	// the forward product of these shapes unfolds its columns
	// (smallRowsForward)
	y, _ := newOutput(t, dt, lkContig, yshape, rng)
	be.ConvForward(y.view(), x.view(), w.view(), c.window(), c.groups)
	for i, v := range y.values() {
		if d := math.Abs(v - wantY[i]); !(d <= tol*(1+math.Abs(wantY[i]))) {
			t.Fatalf("forward: element %d = %v, want %v", i, v, wantY[i])
		}
	}
	// the output, contiguous, with guard bands of random bits before
	// (offset 7) and after it
	n := numel(wshape)
	st, err := be.Alloc(dt, n+7+9)
	if err != nil {
		t.Fatal(err)
	}
	dw := operand{dt: dt, buf: st.(*Buffer), l: backend.Layout{Shape: wshape, Strides: rowMajor(wshape), Offset: 7}}
	b := dw.buf.Bytes()
	for i := range b {
		b[i] = uint8(rng.Uint32())
	}
	before := dw.snapshot()
	var first []uint64
	for run := 0; run < 2; run++ {
		be.ConvBackwardWeight(dw.view(), dy.view(), x.view(), c.window(), c.groups)
		checkUntouched(t, "weight gradient", dw, before)
		got := dw.values()
		for i := range got {
			if d := math.Abs(got[i] - want[i]); !(d <= tol*(1+math.Abs(want[i]))) {
				t.Fatalf("weight gradient: element %d = %v, want %v", i, got[i], want[i])
			}
		}
		// the same bits on every run at a fixed thread count
		snap := dw.snapshot()
		if first == nil {
			first = snap
			continue
		}
		for i := range snap {
			if snap[i] != first[i] {
				t.Fatalf("run %d: storage element %d differs from the first run", run, i)
			}
		}
	}
}
