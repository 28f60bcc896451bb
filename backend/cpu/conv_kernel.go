package cpu

// The micro-kernel a convolution's product takes, by its M.
//
// The implicit GEMMs' M is the output channels (forward, weight
// gradient) or the input channels (the input gradient as a flipped
// convolution): 64 in a ResNet stage-1 layer, which the 12×32 AVX-512
// tile covers with 5 panels and a 4-row edge, an edge that reads a whole
// 32-column panel of B for a third of a tile's multiply-adds. Where M is
// a multiple of a second tile's rows but not of the first's, that tile
// takes the product (8×48: 8 whole panels for 64). Measured on Zen 4
// with BenchmarkConvResNet (one thread, alternating call by call, three
// runs of 10 rounds, medians): each pass 0–5% less CPU time than with
// 12×32, the three passes 1–3% together. The weight gradient takes it
// only where its panels of B can be packed in runs (convBackWeightKernel).

// convTallKernel lets convKernelFor take the second tile; tests and
// benchmarks turn it off to hold the paths against each other.
var convTallKernel = true

// convKernelFor returns the kernel for a convolution product of m rows:
// the kernel in use (kernelFor, nil for the pure-Go path), or its
// alternative tile where that divides m and the first does not.
func convKernelFor[T float](m int) *microKernel[T] {
	kn := kernelFor[T]()
	if kn == nil || !convTallKernel || m%kn.mr == 0 {
		return kn
	}
	if alt := altKernel(kn); alt != nil && m%alt.mr == 0 {
		return alt
	}
	return kn
}

// convBackWeightKernel is convKernelFor for implicitBackWeight, whose B
// panels, nr of the Ci·K tap-major columns, take the assembly packers
// only where each panel lies inside one tap's run of Ci channels or
// splits into runs that do (packTBRun); elsewhere a scalar loop packs
// them and the first tile stays (8×48 on 64 channels with the scalar
// loop: 85 → 116 ms per pass).
func convBackWeightKernel[T float](s convShape) *microKernel[T] {
	kn := convKernelFor[T](s.co)
	if kn == kernelFor[T]() || s.ci%kn.nr == 0 {
		return kn
	}
	if part, run := packTBRun(kn); part != nil && s.ci%run == 0 {
		return kn
	}
	return kernelFor[T]()
}
