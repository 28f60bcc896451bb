package cpu

// The input gradient as a product and a fold (conv_bwdinput_fold.go)
// against the float64 sums over the windows (refConv): no padding and
// some, dilation, groups, 1-d, one input channel and many, strided
// operands, products in several column blocks and k blocks, with the SIMD
// kernel and with microRef as a kernel (no edge kernels, tiny blocks),
// guard bands around the output, and the same bits on every run.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

var foldInputCases = []convCase{
	// the LeNet conv2 image size: 141 columns, two images per product
	// (three images: the last product has one)
	{winCase{in: []int{3, 8, 13, 13}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 16, 1},
	// the LeNet conv2 channels (288 rows, 24 panels) on a smaller image
	{winCase{in: []int{3, 32, 6, 7}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 64, 1},
	{winCase{in: []int{3, 9, 9, 11}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 20, 1},
	{winCase{in: []int{4, 5, 7, 9}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 7, 1},
	{winCase{in: []int{3, 1, 8, 6}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 33, 1},
	{winCase{in: []int{3, 6, 11, 10}, k: []int{5, 5}, s: []int{1, 1}, p: []int{1, 2}, d: []int{1, 1}}, 9, 1},
	{winCase{in: []int{3, 4, 12, 11}, k: []int{3, 2}, s: []int{1, 1}, p: []int{1, 0}, d: []int{2, 3}}, 6, 2},
	{winCase{in: []int{5, 6, 7, 8}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 9, 3},
	{winCase{in: []int{3, 4, 19}, k: []int{5}, s: []int{1}, p: []int{0}, d: []int{1}}, 5, 1},
	{winCase{in: []int{3, 3, 3, 3}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 4, 1}, // one position
	{winCase{in: []int{3, 2, 1, 9}, k: []int{1, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 3, 1}, // one row
}

func TestConvFoldInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	k32, k64 := kernelFor[float32](), kernelFor[float64]()
	defer setKernels(k32, k64)
	kerns := []struct {
		name     string
		k32      *microKernel[float32]
		k64      *microKernel[float64]
		withSIMD bool
	}{
		{"simd", k32, k64, true},
		{"ref", refKernel[float32](5, 8, 12, 24, 10), refKernel[float64](3, 4, 7, 16, 6), false},
	}
	for _, kn := range kerns {
		if kn.withSIMD && k32 == nil {
			continue
		}
		setKernels(kn.k32, kn.k64)
		for _, c := range foldInputCases {
			for _, dt := range []backend.DType{f32, f64} {
				for _, lk := range []layoutKind{lkContig, lkTrans, lkStep} {
					for _, cfg := range []struct{ threads, chunk int }{{1, 0}, {3, 1}} {
						name := fmt.Sprintf("%s/%v/%v/%v/t%d/chunk%d", kn.name, c, dt, lk, cfg.threads, cfg.chunk)
						t.Run(name, func(t *testing.T) {
							defer SetNumThreads(SetNumThreads(cfg.threads))
							if cfg.chunk > 0 {
								// the smallest column blocks: one panel
								defer func(v int) { convFoldChunkBytes = v }(convFoldChunkBytes)
								convFoldChunkBytes = cfg.chunk
							}
							checkFoldInput(t, rng, c, dt, lk)
						})
					}
				}
			}
		}
	}
}

func TestFoldImages(t *testing.T) {
	for _, c := range []struct{ lext, nr, n, want int }{
		{141, 32, 128, 2}, // LeNet conv2: 288 columns for two, not 320
		{141, 32, 1, 1},
		{160, 32, 128, 1},
		{26, 32, 128, 1},
		{26, 8, 128, 4},  // 104 columns: 26 each, not 32, 28 or 26.7
		{17, 16, 128, 4}, // 68 → 80 columns: 20 each, not 32 (or 24 for two)
		{17, 16, 3, 3},
	} {
		if got := foldImages(c.lext, c.nr, c.n); got != c.want {
			t.Errorf("foldImages(%d, %d, %d) = %d, want %d", c.lext, c.nr, c.n, got, c.want)
		}
	}
}

func checkFoldInput(t *testing.T, rng *rand.Rand, c convCase, dt backend.DType, lk layoutKind) {
	s := convShapeOf("test", backend.Contiguous(c.in), c.window(), c.groups, c.cout)
	taken := useFoldInput[float32](s)
	if dt == f64 {
		taken = useFoldInput[float64](s)
	}
	if !taken {
		t.Fatalf("the case does not take the fold path")
	}
	grid := c.grid()
	k, l := numel(c.k), numel(grid)
	ci := c.in[1] / c.groups
	wshape, yshape := []int{c.cout, ci * k}, []int{c.in[0], c.cout, l}
	x := newOperand(t, dt, lkContig, c.in, genFor(dt, rng, -1, 1))
	w := newOperand(t, dt, lk, wshape, genFor(dt, rng, -1, 1))
	dy := newOperand(t, dt, lk, yshape, genFor(dt, rng, -1, 1))
	_, want, _ := refConv(c, x, w, dy)
	n := numel(c.in)
	st, err := be.Alloc(dt, n+5+11)
	if err != nil {
		t.Fatal(err)
	}
	dx := operand{dt: dt, buf: st.(*Buffer), l: backend.Layout{Shape: append([]int{}, c.in...), Strides: rowMajor(c.in), Offset: 5}}
	b := dx.buf.Bytes()
	for i := range b {
		b[i] = uint8(rng.Uint32())
	}
	before := dx.snapshot()
	tol := 1e-12
	if dt == f32 {
		tol = 5e-5
	}
	var first []uint64
	for run := 0; run < 2; run++ {
		be.ConvBackwardInput(dx.view(), dy.view(), w.view(), c.window(), c.groups)
		checkUntouched(t, "input gradient", dx, before)
		got := dx.values()
		for i := range got {
			if d := math.Abs(got[i] - want[i]); !(d <= tol*(1+math.Abs(want[i]))) {
				t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
			}
		}
		snap := dx.snapshot()
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
