package cpu

// The convolutions with the second tile (conv_kernel.go), against the
// float64 sums over the windows (refConv): M a multiple of 8 and not of
// 12 (forward: output channels; input gradient as a flipped convolution:
// input channels), N and K not whole panels or blocks, several column
// blocks of B, groups, strided operands.

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

var tallKernelCases = []convCase{
	{winCase{in: []int{3, 8, 9, 10}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 16, 1},
	// K = 64·9 = 576: two k blocks; 64 channels both ways
	{winCase{in: []int{3, 64, 7, 5}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 64, 1},
	{winCase{in: []int{3, 16, 6, 13}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 32, 2},
	{winCase{in: []int{3, 8, 17}, k: []int{3}, s: []int{1}, p: []int{1}, d: []int{1}}, 40, 1},
	{winCase{in: []int{1, 8, 1, 1}, k: []int{1, 1}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, 8, 1},
	// weight gradients whose 48-column panels of B span two taps (32 and
	// 16 channels: packed in runs of 16 by packTBRun's packer)
	{winCase{in: []int{3, 32, 5, 6}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 8, 1},
	{winCase{in: []int{3, 16, 4, 9}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, 16, 1},
}

func TestConvTallKernel(t *testing.T) {
	if altKernel(kernelFor[float32]()) == nil {
		t.Skip("no second tile on this CPU")
	}
	rng := rand.New(rand.NewPCG(61, 62))
	for _, c := range tallKernelCases {
		s := convShapeOf("test", backend.Contiguous(c.in), c.window(), c.groups, c.cout)
		if kn := convKernelFor[float32](s.co); kn == kernelFor[float32]() {
			t.Fatalf("%v: convKernelFor(%d) is %s, want the second tile", c, s.co, kn.name)
		}
		if _, run := packTBRun(altKernel(kernelFor[float32]())); s.ci%run == 0 && convBackWeightKernel[float32](s) == kernelFor[float32]() {
			t.Fatalf("%v: the weight gradient does not take the second tile", c)
		}
		for _, threads := range []int{1, 3} {
			for _, block := range []int{0, 1} {
				for _, lk := range []layoutKind{lkContig, lkTrans, lkStep} {
					name := fmt.Sprintf("%v/t%d/block%d/%v", c, threads, block, lk)
					t.Run(name, func(t *testing.T) {
						defer SetNumThreads(SetNumThreads(threads))
						if block > 0 {
							// the smallest column blocks of B: one panel
							defer func(v int) { implicitBlockBytes = v }(implicitBlockBytes)
							implicitBlockBytes = block
						}
						checkConv(t, rng, c, f32, lk)
					})
				}
			}
		}
	}
}

func TestConvKernelFor(t *testing.T) {
	kn := kernelFor[float32]()
	alt := altKernel(kn)
	defer func(v bool) { convTallKernel = v }(convTallKernel)
	for _, c := range []struct {
		m       int
		tall    bool
		wantAlt bool
	}{
		{64, true, true}, {16, true, true}, {8, true, true},
		{24, true, false}, {12, true, false}, {0, true, false}, {5, true, false}, {20, true, false}, {40, true, true},
		{64, false, false},
	} {
		convTallKernel = c.tall
		want := kn
		if c.wantAlt && alt != nil {
			want = alt
		}
		if got := convKernelFor[float32](c.m); got != want {
			t.Errorf("convKernelFor(%d) with tall %v: %s, want %s", c.m, c.tall, kernelName(got), kernelName(want))
		}
	}
	if got := convKernelFor[float64](64); got != kernelFor[float64]() {
		t.Errorf("float64: convKernelFor(64) = %s, want the kernel in use", kernelName(got))
	}
}

func kernelName[T float](kn *microKernel[T]) string {
	if kn == nil {
		return "the pure-Go path"
	}
	return kn.name
}
