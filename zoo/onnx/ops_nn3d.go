package onnx

import (
	"math"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// Three spatial dims. Tapir's window primitives (Unfold, MaxPool) take one
// or two spatial dims, so [N, C, D, H, W] operations are composed from
// them: a 3-d convolution is a sum over the kernel's depth taps of 2-d
// convolutions of strided depth slices; max pooling is separable, a 2-d
// pool over (H, W) followed by a 1-d pool over D (average pooling has
// F.AvgPool3d); a transposed convolution adds
// each depth tap's 2-d transposed convolution at its strided depth
// positions. All of it stays differentiable.

// conv3d convolves an explicitly padded x with w ([M, C/groups, kD, kH, kW]).
func conv3d(c *opCtx, x, w *tensor.Tensor, strides, dil []int, groups int) *tensor.Tensor {
	N, D := x.Size(0), x.Size(2)
	kD := w.Size(2)
	span := (kD-1)*dil[0] + 1
	if D < span {
		c.fail("input depth %d is smaller than the dilated kernel %d", D, span)
	}
	oD := (D-span)/strides[0] + 1
	opt := F.ConvOptions{Stride: strides[1:], Dilation: dil[1:], Groups: groups}
	var y *tensor.Tensor
	for k := 0; k < kD; k++ {
		start := k * dil[0]
		xs := x.Slice(2, start, start+(oD-1)*strides[0]+1, strides[0]) // [N, C, oD, H, W]
		xs = xs.Permute(0, 2, 1, 3, 4)
		xs = xs.Reshape(N*oD, xs.Size(2), xs.Size(3), xs.Size(4))
		term := F.Conv2d(xs, w.Select(2, k), nil, opt)
		if y == nil {
			y = term
		} else {
			y = y.Add(term)
		}
	}
	y = y.Reshape(N, oD, y.Size(1), y.Size(2), y.Size(3))
	return y.Permute(0, 2, 1, 3, 4)
}

// maxPool3dPadded max-pools an explicitly padded x over its three
// spatial dims.
func maxPool3dPadded(x *tensor.Tensor, w window, ceil bool) *tensor.Tensor {
	N, C, D, H, W := x.Size(0), x.Size(1), x.Size(2), x.Size(3), x.Size(4)
	hw := F.PoolOptions{Stride: w.strides[1:], CeilMode: ceil}
	d := F.PoolOptions{Stride: w.strides[:1], CeilMode: ceil}
	hw.Dilation, d.Dilation = w.dilations[1:], w.dilations[:1]
	y := F.MaxPool2d(x.Reshape(N, C*D, H, W), w.kernel[1:], hw)
	oh, ow := y.Size(2), y.Size(3)
	y = y.Reshape(N, C, D, oh, ow).Permute(0, 1, 3, 4, 2).Reshape(N, C*oh*ow, D)
	y = F.MaxPool1d(y, w.kernel[:1], d)
	od := y.Size(2)
	return y.Reshape(N, C, oh, ow, od).Permute(0, 1, 4, 2, 3)
}

// maxPool3d is MaxPool over three spatial dims (values only).
func maxPool3d(c *opCtx, x *tensor.Tensor, w window) *tensor.Tensor {
	if len(c.n.outputs) > 1 && c.n.outputs[1] != "" {
		c.fail("the Indices output of a 3-d MaxPool is not supported")
	}
	return maxPool3dPadded(padSpatial(x, w, math.Inf(-1)), w, c.int("ceil_mode", 0) == 1)
}

// convTranspose3d is the transposed 3-d convolution of x ([N, C, D, H, W])
// with w ([C, M/groups, kD, kH, kW]), without padding: the result has
// depth stride·(D−1) + dilated kernel depth.
func convTranspose3d(x, w *tensor.Tensor, strides, dil []int, groups int) *tensor.Tensor {
	N, D := x.Size(0), x.Size(2)
	kD := w.Size(2)
	full := strides[0]*(D-1) + (kD-1)*dil[0] + 1
	opt := F.ConvTransposeOptions{Stride: strides[1:], Dilation: dil[1:], Groups: groups}
	xs := x.Permute(0, 2, 1, 3, 4).Reshape(N*D, x.Size(1), x.Size(3), x.Size(4))
	var y *tensor.Tensor
	for k := 0; k < kD; k++ {
		t := F.ConvTranspose2d(xs, w.Select(2, k), nil, opt) // [N·D, M, oH, oW]
		t = t.Reshape(N, D, t.Size(1), t.Size(2), t.Size(3))
		if y == nil {
			y = tensor.Zeros(N, full, t.Size(2), t.Size(3), t.Size(4)).ToDevice(x.Device()).To(t.DType())
		}
		idx := make([]int64, D)
		for i := range idx {
			idx[i] = int64(i*strides[0] + k*dil[0])
		}
		y = y.IndexAdd(1, tensor.FromSlice(idx).ToDevice(x.Device()), t)
	}
	return y.Permute(0, 2, 1, 3, 4)
}
