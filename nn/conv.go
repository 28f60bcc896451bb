package nn

import (
	"math"
	"slices"

	F "github.com/tapir-ml/tapir/nn/functional"
	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/tensor"
)

// ConvConfig holds the options of the convolution layers; the zero value
// is torch's default (stride 1, no padding, dilation 1, one group, a bias,
// zero padding). The int fields apply to every spatial dim; a non-nil
// …Dims slice (one value per spatial dim, as torch's tuples) overrides
// its int field.
type ConvConfig struct {
	Stride   int // 0 means 1
	Padding  int // implicit padding on both sides of each spatial dim
	Dilation int // spacing of kernel taps; 0 means 1
	Groups   int // in and out channels split into Groups blocks; 0 means 1
	// Same pads so the output has the input's size (torch's
	// padding="same"); stride must be 1. Not for ConvTranspose2d.
	Same   bool
	NoBias bool // no additive bias (torch's bias=False)
	// OutputPadding adds rows/cols to one side of ConvTranspose2d's
	// output, to pick among the input sizes a strided convolution maps to
	// the same size; it must be smaller than the stride or the dilation.
	OutputPadding int
	// PaddingMode is how padding is filled: "" or "zeros" (torch's
	// default), "reflect", "replicate" or "circular". ConvTranspose2d
	// supports only zeros.
	PaddingMode string

	// Per-dimension overrides, one value per spatial dim ([H, W] for the
	// 2-d layers), as torch's tuple arguments: KernelDims replaces the
	// kernel argument, the others their int fields.
	KernelDims, StrideDims, PaddingDims, DilationDims, OutputPaddingDims []int

	// Generator draws the initial weights; nil: tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// convGeom is the geometry shared by the convolution layers.
type convGeom struct {
	kernel, stride, padding, dilation, outputPadding []int
	groups                                           int
}

// dims expands an int option to nd values or takes its override.
func dims(layer, what string, v int, override []int, nd, zeroMeans int) []int {
	if override != nil {
		if len(override) != nd {
			layerPanic(layer, tensor.ErrShape, "%s %v must have %d values", what, override, nd)
		}
		return slices.Clone(override)
	}
	if v == 0 {
		v = zeroMeans
	}
	out := make([]int, nd)
	for i := range out {
		out[i] = v
	}
	return out
}

// newConv checks the configuration of an nd-dimensional convolution
// layer and returns its weight and bias, initialized as torch's
// reset_parameters: Kaiming-uniform weights with a = √5, i.e.
// U(−1/√fan_in, 1/√fan_in), and bias from the same range.
func newConv(layer string, nd, in, out, kernel int, c ConvConfig, transposed bool) (w, b *Parameter, g convGeom) {
	g.kernel = dims(layer, "kernel size", kernel, c.KernelDims, nd, 0)
	g.stride = dims(layer, "stride", c.Stride, c.StrideDims, nd, 1)
	g.padding = dims(layer, "padding", c.Padding, c.PaddingDims, nd, 0)
	g.dilation = dims(layer, "dilation", c.Dilation, c.DilationDims, nd, 1)
	g.outputPadding = dims(layer, "output padding", c.OutputPadding, c.OutputPaddingDims, nd, 0)
	g.groups = c.Groups
	if g.groups == 0 {
		g.groups = 1
	}
	switch {
	case in <= 0 || out <= 0 || g.groups < 0:
		layerPanic(layer, tensor.ErrShape, "in_channels %d, out_channels %d and groups %d must be positive", in, out, g.groups)
	case in%g.groups != 0:
		layerPanic(layer, tensor.ErrShape, "in_channels %d must be divisible by groups %d", in, g.groups)
	case out%g.groups != 0:
		layerPanic(layer, tensor.ErrShape, "out_channels %d must be divisible by groups %d", out, g.groups)
	}
	for i := range nd {
		if g.kernel[i] <= 0 || g.stride[i] <= 0 || g.dilation[i] <= 0 || g.padding[i] < 0 || g.outputPadding[i] < 0 {
			layerPanic(layer, tensor.ErrShape, "kernel %v, stride %v and dilation %v must be positive, padding %v and output padding %v non-negative",
				g.kernel, g.stride, g.dilation, g.padding, g.outputPadding)
		}
		if transposed && g.outputPadding[i] >= max(g.stride[i], g.dilation[i]) {
			layerPanic(layer, tensor.ErrShape, "output padding %v must be smaller than stride %v or dilation %v", g.outputPadding, g.stride, g.dilation)
		}
	}
	if !transposed && slices.ContainsFunc(g.outputPadding, func(p int) bool { return p != 0 }) {
		layerPanic(layer, tensor.ErrShape, "output padding %v is only for transposed convolutions", g.outputPadding)
	}
	if c.Same {
		if transposed {
			layerPanic(layer, tensor.ErrShape, "padding \"same\" is not supported for transposed convolutions")
		}
		if slices.ContainsFunc(g.stride, func(s int) bool { return s != 1 }) {
			layerPanic(layer, tensor.ErrShape, "padding \"same\" is not supported for strided convolutions (stride %v)", g.stride)
		}
		if slices.ContainsFunc(g.padding, func(p int) bool { return p != 0 }) {
			layerPanic(layer, tensor.ErrShape, "padding \"same\" and padding %v both given", g.padding)
		}
	}
	switch c.PaddingMode {
	case "", "zeros":
	case "reflect", "replicate", "circular":
		if transposed {
			layerPanic(layer, tensor.ErrShape, "only \"zeros\" padding mode is supported, not %q", c.PaddingMode)
		}
	default:
		layerPanic(layer, tensor.ErrShape, "padding mode must be zeros, reflect, replicate or circular, not %q", c.PaddingMode)
	}
	shape := []int{out, in / g.groups}
	if transposed {
		shape = []int{in, out / g.groups}
	}
	shape = append(shape, g.kernel...)
	wt := tensor.Zeros(shape...)
	nninit.KaimingUniform(wt, math.Sqrt(5), "fan_in", "leaky_relu", c.Generator)
	w = NewParameter(wt)
	if !c.NoBias {
		fanIn, _ := nninit.FanInAndFanOut(wt)
		b = uniformBias(out, fanIn, c.Generator)
	}
	return w, b, g
}

// samePadding returns, per spatial dim, the padding before and after
// that keeps the size at stride 1: total d·(k−1), the odd one after, as
// torch does.
func samePadding(kernel, dilation []int) (before, after []int) {
	for i := range kernel {
		total := dilation[i] * (kernel[i] - 1)
		before = append(before, total/2)
		after = append(after, total-total/2)
	}
	return
}

// padFor pads x explicitly for a non-zero padding mode, with torch's
// order for F.Pad: the last dim first, (before, after) each.
func padFor(x *tensor.Tensor, mode string, before, after []int) *tensor.Tensor {
	nd := len(before)
	pad := make([]int, 0, 2*nd)
	for i := nd - 1; i >= 0; i-- {
		pad = append(pad, before[i], after[i])
	}
	return F.Pad(x, pad, mode, 0)
}

// batched adds a batch dim to an unbatched input ([C, *] of nd+1 dims)
// and reports whether it did; other ranks but nd+2 panic.
func batched(layer string, x *tensor.Tensor, nd, channels int, what string) (*tensor.Tensor, bool) {
	switch {
	case x.Dim() == nd+1 && x.Size(0) == channels:
		return x.Unsqueeze(0), true
	case x.Dim() == nd+2 && x.Size(1) == channels:
		return x, false
	}
	layerPanic(layer, tensor.ErrShape, "input %v does not fit %s: want %d channels in [N, C, %s] or [C, %s]",
		x.Shape(), what, channels, spatialNames(nd), spatialNames(nd))
	return nil, false
}

func spatialNames(nd int) string {
	switch nd {
	case 1:
		return "L"
	case 2:
		return "H, W"
	}
	return "D, H, W"
}

// convForward runs a (non-transposed) convolution of nd spatial dims.
func convForward(layer string, nd int, x *tensor.Tensor, w, b *Parameter, inC int, g convGeom, same bool, mode string,
	fn func(x, w, b *tensor.Tensor, opt ...F.ConvOptions) *tensor.Tensor) *tensor.Tensor {
	x, unbatched := batched(layer, x, nd, inC, "in_channels")
	opt := F.ConvOptions{Stride: g.stride, Padding: g.padding, Dilation: g.dilation, Groups: g.groups, Same: same}
	if same {
		opt.Padding = nil // F takes no padding with Same
	}
	if mode != "" && mode != "zeros" {
		before, after := g.padding, g.padding
		if same {
			before, after = samePadding(g.kernel, g.dilation)
		}
		x = padFor(x, mode, before, after)
		opt.Padding, opt.Same = make([]int, nd), false
	}
	y := fn(x, w.Tensor, biasTensor(b), opt)
	if unbatched {
		y = y.Squeeze(0)
	}
	return y
}

// Conv1d is a 1-d convolution (torch.nn.Conv1d, which computes a
// cross-correlation): input [N, InChannels, L] (or unbatched [C, L]),
// output [N, OutChannels, L_out] with L_out = ⌊(L + 2·padding −
// dilation·(k−1) − 1)/stride⌋ + 1. Weight is [out, in/groups, k], Bias
// [out] or nil.
type Conv1d struct {
	Weight *Parameter
	Bias   *Parameter

	InChannels, OutChannels               int
	KernelSize, Stride, Padding, Dilation []int
	Groups                                int
	Same                                  bool   // padding="same"
	PaddingMode                           string // "" (zeros), reflect, replicate or circular
}

// NewConv1d returns a Conv1d from in to out channels with kernel size
// kernel, initialized as torch does (Kaiming-uniform with a = √5; bias
// U(−1/√fan_in, 1/√fan_in), fan_in = in/groups·k).
func NewConv1d(in, out, kernel int, cfg ...ConvConfig) *Conv1d {
	var c ConvConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	w, b, g := newConv("Conv1d", 1, in, out, kernel, c, false)
	return &Conv1d{Weight: w, Bias: b, InChannels: in, OutChannels: out, KernelSize: g.kernel, Stride: g.stride,
		Padding: g.padding, Dilation: g.dilation, Groups: g.groups, Same: c.Same, PaddingMode: c.PaddingMode}
}

func (c *Conv1d) geom() convGeom {
	return convGeom{c.KernelSize, c.Stride, c.Padding, c.Dilation, nil, c.Groups}
}

// Forward convolves x ([N, C, L] or [C, L]).
func (c *Conv1d) Forward(x *tensor.Tensor) *tensor.Tensor {
	return convForward("Conv1d", 1, x, c.Weight, c.Bias, c.InChannels, c.geom(), c.Same, c.PaddingMode, F.Conv1d)
}

// Conv2d is a 2-d convolution (torch.nn.Conv2d, a cross-correlation):
// input [N, InChannels, H, W] (or unbatched [C, H, W]), output
// [N, OutChannels, H_out, W_out] with H_out = ⌊(H + 2·padding −
// dilation·(kH−1) − 1)/stride⌋ + 1 and likewise W_out. Weight is
// [out, in/groups, kH, kW], Bias [out] or nil. Groups = in = out/m makes
// a depthwise convolution.
type Conv2d struct {
	Weight *Parameter
	Bias   *Parameter

	InChannels, OutChannels               int
	KernelSize, Stride, Padding, Dilation []int // [H, W] each
	Groups                                int
	Same                                  bool   // padding="same"
	PaddingMode                           string // "" (zeros), reflect, replicate or circular
}

// NewConv2d returns a Conv2d from in to out channels with a kernel×kernel
// kernel (KernelDims for another shape), initialized as torch does
// (Kaiming-uniform with a = √5; bias U(−1/√fan_in, 1/√fan_in), fan_in =
// in/groups·kH·kW).
func NewConv2d(in, out, kernel int, cfg ...ConvConfig) *Conv2d {
	var c ConvConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	w, b, g := newConv("Conv2d", 2, in, out, kernel, c, false)
	return &Conv2d{Weight: w, Bias: b, InChannels: in, OutChannels: out, KernelSize: g.kernel, Stride: g.stride,
		Padding: g.padding, Dilation: g.dilation, Groups: g.groups, Same: c.Same, PaddingMode: c.PaddingMode}
}

func (c *Conv2d) geom() convGeom {
	return convGeom{c.KernelSize, c.Stride, c.Padding, c.Dilation, nil, c.Groups}
}

// Forward convolves x ([N, C, H, W] or [C, H, W]).
func (c *Conv2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	return convForward("Conv2d", 2, x, c.Weight, c.Bias, c.InChannels, c.geom(), c.Same, c.PaddingMode, F.Conv2d)
}

// ConvTranspose2d is the transposed 2-d convolution, the gradient of
// Conv2d with respect to its input (torch.nn.ConvTranspose2d): input
// [N, InChannels, H, W] (or [C, H, W]), output [N, OutChannels, H_out,
// W_out] with H_out = (H−1)·stride − 2·padding + dilation·(kH−1) +
// output_padding + 1. Weight is [in, out/groups, kH, kW] as torch stores
// it, Bias [out] or nil.
type ConvTranspose2d struct {
	Weight *Parameter
	Bias   *Parameter

	InChannels, OutChannels                              int
	KernelSize, Stride, Padding, Dilation, OutputPadding []int // [H, W] each
	Groups                                               int
}

// NewConvTranspose2d returns a ConvTranspose2d from in to out channels
// with a kernel×kernel kernel, initialized as torch does (Kaiming-uniform
// with a = √5 on the [in, out/groups, kH, kW] weight, whose fan_in is
// out/groups·kH·kW; bias from U(−1/√fan_in, 1/√fan_in)).
func NewConvTranspose2d(in, out, kernel int, cfg ...ConvConfig) *ConvTranspose2d {
	var c ConvConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	w, b, g := newConv("ConvTranspose2d", 2, in, out, kernel, c, true)
	return &ConvTranspose2d{Weight: w, Bias: b, InChannels: in, OutChannels: out, KernelSize: g.kernel, Stride: g.stride,
		Padding: g.padding, Dilation: g.dilation, OutputPadding: g.outputPadding, Groups: g.groups}
}

// Forward applies the transposed convolution to x ([N, C, H, W] or
// [C, H, W]).
func (c *ConvTranspose2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	x, unbatched := batched("ConvTranspose2d", x, 2, c.InChannels, "in_channels")
	y := F.ConvTranspose2d(x, c.Weight.Tensor, biasTensor(c.Bias), F.ConvTransposeOptions{
		Stride: c.Stride, Padding: c.Padding, OutputPadding: c.OutputPadding, Dilation: c.Dilation, Groups: c.Groups})
	if unbatched {
		y = y.Squeeze(0)
	}
	return y
}
