#!/usr/bin/python3
"""Writes the PyTorch oracle fixtures for package functional's spatial ops:
convolution, transposed convolution, unfold/fold, pooling, padding and
interpolation.

Run from anywhere with Debian's PyTorch (1.13):

    apt-get install python3-torch
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 nn/functional/testdata/gen_spatial.py

It writes spatial.json next to this script. For every case: the function and
its arguments, the inputs (random normal values from a fixed seed, drawn as
float32 so that both runs below see exactly the same numbers, with how the
op sees them: transposed or sliced with a step), a random cotangent for the
output, and torch's output and gradients of sum(out * cotangent) with
respect to every input, computed once in float64 and once in float32.
Arrays are little-endian IEEE floats in base64 (float32 for the inputs,
the cotangent and the float32 run, float64 for the float64 run) to keep the
file small. The Go side (spatial_test.go) maps each
function name to the Tapir call; this file is the only place the expected
values come from.
"""
import base64
import json
import os
import struct
import warnings

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")
torch.manual_seed(20261123)
torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))


def b64(t, fmt):
    vals = t.detach().reshape(-1).tolist()
    return base64.b64encode(struct.pack("<%d%s" % (len(vals), fmt), *vals)).decode()


def base_shape(shape, view):
    """The shape of the stored tensor that, seen through view, has shape."""
    s = list(shape)
    if view is None:
        return s
    if view[0] == "T":
        s[-1], s[-2] = s[-2], s[-1]
        return s
    if view[0] == "slice":  # ["slice", dim, start, step]: base[start::step] along dim
        _, d, start, step = view
        s[d] = start + (s[d] - 1) * step + 1
        return s
    raise ValueError(view)


def apply_view(t, view):
    if view is None:
        return t
    if view[0] == "T":
        return t.transpose(-1, -2)
    if view[0] == "slice":
        _, d, start, step = view
        idx = [slice(None)] * t.dim()
        idx[d] = slice(start, None, step)
        return t[tuple(idx)]
    raise ValueError(view)


def run(fn, a, ins):
    """Calls the torch function for fn; returns a list of outputs."""
    x = ins[0]
    if fn in ("conv1d", "conv2d"):
        f = F.conv1d if fn == "conv1d" else F.conv2d
        kw = {k: a[k] for k in ("stride", "padding", "dilation", "groups") if k in a}
        return [f(x, ins[1], ins[2] if len(ins) > 2 else None, **kw)]
    if fn in ("conv_transpose1d", "conv_transpose2d"):
        f = F.conv_transpose1d if fn == "conv_transpose1d" else F.conv_transpose2d
        kw = {k: a[k] for k in ("stride", "padding", "output_padding", "groups", "dilation") if k in a}
        return [f(x, ins[1], ins[2] if len(ins) > 2 else None, **kw)]
    if fn == "unfold":
        kw = {k: a[k] for k in ("dilation", "padding", "stride") if k in a}
        return [F.unfold(x, a["kernel"], **kw)]
    if fn == "fold":
        kw = {k: a[k] for k in ("dilation", "padding", "stride") if k in a}
        return [F.fold(x, a["output_size"], a["kernel"], **kw)]
    if fn in ("max_pool1d", "max_pool2d"):
        f = F.max_pool1d if fn == "max_pool1d" else F.max_pool2d
        kw = {k: a[k] for k in ("stride", "padding", "dilation", "ceil_mode") if k in a}
        v, i = f(x, a["kernel"], return_indices=True, **kw)
        return [v, i]
    if fn in ("avg_pool1d", "avg_pool2d", "avg_pool3d"):
        kw = {k: a[k] for k in ("stride", "padding", "ceil_mode", "count_include_pad") if k in a}
        if fn == "avg_pool1d":
            return [F.avg_pool1d(x, a["kernel"], **kw)]
        if "divisor_override" in a:
            kw["divisor_override"] = a["divisor_override"]
        if fn == "avg_pool3d":
            return [F.avg_pool3d(x, a["kernel"], **kw)]
        return [F.avg_pool2d(x, a["kernel"], **kw)]
    if fn == "adaptive_avg_pool1d":
        return [F.adaptive_avg_pool1d(x, a["out"])]
    if fn == "adaptive_avg_pool2d":
        return [F.adaptive_avg_pool2d(x, a["out"])]
    if fn == "adaptive_avg_pool3d":
        return [F.adaptive_avg_pool3d(x, a["out"])]
    if fn == "pad":
        return [F.pad(x, a["pad"], mode=a["mode"], value=a.get("value", 0.0))]
    if fn == "interpolate":
        kw = {k: a[k] for k in ("size", "scale_factor", "mode", "align_corners") if k in a}
        return [F.interpolate(x, **kw)]
    raise ValueError(fn)


CASES = []


def case(name, fn, inputs, **a):
    """inputs: list of (shape as the op sees it, view or None)."""
    CASES.append((name, fn, inputs, a))


X = lambda *s: (list(s), None)
XT = lambda *s: (list(s), ["T"])


def XS(d, start, step, *s):
    return (list(s), ["slice", d, start, step])


# --- convolution: [x, weight, bias?]
case("conv2d/basic", "conv2d", [X(2, 3, 7, 6), X(4, 3, 3, 3), X(4)])
case("conv2d/stride2_pad1", "conv2d", [X(1, 3, 8, 7), X(5, 3, 3, 3), X(5)], stride=2, padding=1)
case("conv2d/same_even_kernel", "conv2d", [X(1, 2, 6, 5), X(3, 2, 4, 3), X(3)], padding="same")
case("conv2d/same_dilated", "conv2d", [X(2, 2, 5, 6), X(3, 2, 3, 2), X(3)], padding="same", dilation=[1, 2])
case("conv2d/dilation", "conv2d", [X(1, 2, 9, 8), X(3, 2, 3, 3), X(3)], dilation=[2, 3], padding=[1, 2])
case("conv2d/groups", "conv2d", [X(1, 4, 6, 6), X(6, 2, 3, 3), X(6)], groups=2, padding=1)
case("conv2d/depthwise", "conv2d", [X(2, 3, 7, 7), X(6, 1, 3, 3), X(6)], groups=3, stride=2, padding=1)
case("conv2d/1x1", "conv2d", [X(2, 5, 4, 3), X(3, 5, 1, 1), X(3)])
case("conv2d/1x1_stride2", "conv2d", [X(1, 4, 5, 5), X(2, 4, 1, 1)], stride=2)
case("conv2d/nonsquare_odd", "conv2d", [X(1, 3, 9, 5), X(2, 3, 2, 4), X(2)], stride=[2, 1], padding=[0, 1])
case("conv2d/batch1_nobias", "conv2d", [X(1, 2, 5, 5), X(4, 2, 3, 3)], padding=2)
case("conv2d/unbatched", "conv2d", [X(3, 6, 5), X(2, 3, 3, 2), X(2)], stride=[1, 2])
case("conv2d/transposed_input", "conv2d", [XT(1, 3, 7, 6), X(4, 3, 3, 3), X(4)], padding=1)
case("conv2d/sliced_input", "conv2d", [XS(2, 1, 2, 2, 3, 6, 5), XT(2, 3, 2, 3), X(2)], stride=2)
case("conv2d/kernel_is_input", "conv2d", [X(1, 1, 3, 3), X(2, 1, 3, 3), X(2)])
case("conv1d/basic", "conv1d", [X(2, 3, 9), X(4, 3, 3), X(4)])
case("conv1d/stride_pad_dil_groups", "conv1d", [X(2, 4, 11), X(6, 2, 3), X(6)], stride=2, padding=2, dilation=2, groups=2)
case("conv1d/same", "conv1d", [X(1, 2, 7), X(3, 2, 4), X(3)], padding="same")
case("conv1d/unbatched_transposed", "conv1d", [XT(3, 8), X(2, 3, 2)], padding=1)

# --- transposed convolution: [x, weight [Cin, Cout/g, k…], bias?]
case("conv_transpose2d/basic", "conv_transpose2d", [X(2, 3, 4, 5), X(3, 2, 3, 3), X(2)])
case("conv_transpose2d/stride2_outpad", "conv_transpose2d", [X(1, 3, 4, 3), X(3, 4, 3, 3), X(4)], stride=2, padding=1, output_padding=1)
case("conv_transpose2d/groups_dilation", "conv_transpose2d", [X(1, 4, 3, 4), X(4, 3, 2, 3), X(6)], groups=2, dilation=2, padding=[1, 0], stride=[1, 2])
case("conv_transpose2d/outpad_ge_stride", "conv_transpose2d", [X(1, 2, 3, 3), X(2, 2, 3, 3), X(2)], stride=2, dilation=3, output_padding=2, padding=1)
case("conv_transpose2d/unbatched_nobias", "conv_transpose2d", [X(2, 3, 3), X(2, 3, 2, 2)], stride=[2, 1])
case("conv_transpose2d/1x1", "conv_transpose2d", [XT(2, 3, 4, 5), X(3, 2, 1, 1), X(2)])
case("conv_transpose1d/basic", "conv_transpose1d", [X(2, 3, 5), X(3, 2, 3), X(2)], stride=3, padding=1, output_padding=2)

# --- unfold / fold
case("unfold/basic", "unfold", [X(2, 3, 5, 4)], kernel=[2, 3])
case("unfold/all_options", "unfold", [XT(1, 2, 7, 6)], kernel=[3, 2], dilation=[2, 1], padding=[1, 2], stride=[2, 3])
case("unfold/unbatched", "unfold", [X(2, 4, 4)], kernel=2, stride=2)
case("fold/basic", "fold", [X(2, 12, 6)], output_size=[3, 4], kernel=[2, 2])
case("fold/all_options", "fold", [X(1, 12, 12)], output_size=[5, 7], kernel=[3, 2], dilation=[1, 2], padding=1, stride=[2, 2])

# --- max pooling
case("max_pool2d/k2", "max_pool2d", [X(2, 3, 6, 6)], kernel=2)
case("max_pool2d/k3_s2_p1", "max_pool2d", [X(2, 2, 7, 8)], kernel=3, stride=2, padding=1)
case("max_pool2d/ceil", "max_pool2d", [X(1, 2, 7, 6)], kernel=[3, 2], stride=2, padding=[1, 0], ceil_mode=True)
case("max_pool2d/ceil_drop", "max_pool2d", [X(1, 1, 5, 5)], kernel=2, stride=2, padding=1, ceil_mode=True)
case("max_pool2d/dilation", "max_pool2d", [X(1, 2, 9, 8)], kernel=3, stride=1, padding=1, dilation=[2, 3])
case("max_pool2d/nonsquare_stride", "max_pool2d", [X(1, 3, 5, 9)], kernel=[2, 3], stride=[1, 2])
case("max_pool2d/unbatched", "max_pool2d", [X(3, 5, 5)], kernel=2, ceil_mode=True)
case("max_pool2d/transposed", "max_pool2d", [XT(2, 2, 6, 5)], kernel=2, stride=1)
case("max_pool2d/sliced", "max_pool2d", [XS(3, 0, 2, 1, 2, 4, 6)], kernel=[2, 3])
case("max_pool1d/basic", "max_pool1d", [X(2, 3, 8)], kernel=2)
case("max_pool1d/ceil_pad_dil", "max_pool1d", [X(2, 2, 10)], kernel=3, stride=2, padding=1, dilation=2, ceil_mode=True)
case("max_pool1d/unbatched", "max_pool1d", [XT(2, 7)], kernel=3, stride=2)

# --- average pooling
case("avg_pool2d/k2", "avg_pool2d", [X(2, 3, 6, 6)], kernel=2)
case("avg_pool2d/k3_s2_p1", "avg_pool2d", [X(2, 2, 7, 8)], kernel=3, stride=2, padding=1)
case("avg_pool2d/exclude_pad", "avg_pool2d", [X(1, 2, 7, 8)], kernel=3, stride=2, padding=1, count_include_pad=False)
case("avg_pool2d/ceil", "avg_pool2d", [X(1, 2, 7, 6)], kernel=[3, 2], stride=2, padding=[1, 0], ceil_mode=True)
case("avg_pool2d/ceil_exclude", "avg_pool2d", [X(2, 1, 6, 7)], kernel=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
case("avg_pool2d/divisor", "avg_pool2d", [X(1, 2, 5, 5)], kernel=2, stride=1, padding=1, divisor_override=3)
case("avg_pool2d/unbatched_transposed", "avg_pool2d", [XT(3, 5, 4)], kernel=[2, 3], stride=[1, 2])
case("avg_pool1d/basic", "avg_pool1d", [X(2, 3, 9)], kernel=3, stride=2)
case("avg_pool1d/ceil_exclude", "avg_pool1d", [X(1, 2, 10)], kernel=4, stride=3, padding=2, ceil_mode=True, count_include_pad=False)

# --- adaptive average pooling
case("adaptive_avg_pool2d/nondivisible", "adaptive_avg_pool2d", [X(2, 3, 7, 5)], out=[3, 2])
case("adaptive_avg_pool2d/divisible", "adaptive_avg_pool2d", [X(1, 2, 6, 6)], out=[3, 3])
case("adaptive_avg_pool2d/upsample", "adaptive_avg_pool2d", [X(1, 2, 3, 4)], out=[5, 7])
case("adaptive_avg_pool2d/global", "adaptive_avg_pool2d", [XT(2, 3, 4, 5)], out=[1, 1])
case("adaptive_avg_pool2d/unbatched", "adaptive_avg_pool2d", [X(2, 9, 4)], out=[4, 3])
case("adaptive_avg_pool1d/basic", "adaptive_avg_pool1d", [X(2, 3, 10)], out=4)

# --- padding (pad lists start at the last dim)
case("pad/constant", "pad", [X(1, 3, 4, 5)], pad=[1, 2, 0, 3], mode="constant", value=1.5)
case("pad/constant_negative", "pad", [X(2, 3, 5, 6)], pad=[-1, 2, 1, -2], mode="constant", value=0.0)
case("pad/constant_3dims", "pad", [XT(2, 4, 3)], pad=[1, 0, 0, 2, 1, 1], mode="constant", value=-0.5)
case("pad/reflect1d", "pad", [X(2, 3, 6)], pad=[2, 3], mode="reflect")
case("pad/reflect2d", "pad", [X(1, 2, 4, 5)], pad=[3, 1, 2, 3], mode="reflect")
case("pad/reflect2d_sliced", "pad", [XS(3, 1, 2, 2, 2, 3, 4)], pad=[1, 2, 2, 0], mode="reflect")
case("pad/replicate2d", "pad", [X(2, 2, 3, 4)], pad=[2, 1, 0, 3], mode="replicate")
case("pad/replicate1d", "pad", [X(1, 3, 4)], pad=[3, 5], mode="replicate")
case("pad/circular2d", "pad", [X(1, 2, 4, 5)], pad=[2, 3, 1, 4], mode="circular")

# --- interpolation
case("interpolate/nearest_size", "interpolate", [X(2, 1, 5, 4)], size=[7, 9], mode="nearest")
case("interpolate/nearest_scale2", "interpolate", [X(1, 2, 3, 4)], scale_factor=2.0, mode="nearest")
case("interpolate/nearest_scale_frac", "interpolate", [X(1, 2, 6, 7)], scale_factor=[1.7, 0.6], mode="nearest")
case("interpolate/nearest_down", "interpolate", [X(1, 2, 9, 7)], size=[4, 3], mode="nearest")
case("interpolate/nearest_1d", "interpolate", [X(2, 2, 5)], size=8, mode="nearest")
case("interpolate/nearest_exact", "interpolate", [X(1, 2, 5, 7)], size=[8, 4], mode="nearest-exact")
# sizes where a source coordinate rounds across an integer in float32 (and
# torch floors it as a float even for float64 inputs)
case("interpolate/nearest_rounding_up", "interpolate", [X(1, 1, 18)], size=66, mode="nearest")
case("interpolate/nearest_rounding_down", "interpolate", [X(1, 1, 26)], size=22, mode="nearest")
case("interpolate/nearest_exact_rounding", "interpolate", [X(1, 1, 14)], size=23, mode="nearest-exact")
case("interpolate/bilinear_size", "interpolate", [X(1, 2, 5, 4)], size=[7, 9], mode="bilinear", align_corners=False)
case("interpolate/bilinear_align", "interpolate", [X(1, 2, 5, 4)], size=[8, 3], mode="bilinear", align_corners=True)
case("interpolate/bilinear_scale", "interpolate", [X(1, 2, 4, 6)], scale_factor=[1.5, 0.6], mode="bilinear", align_corners=False)
case("interpolate/bilinear_down", "interpolate", [XT(2, 2, 9, 8)], size=[4, 3], mode="bilinear", align_corners=False)
case("interpolate/bilinear_to1", "interpolate", [X(1, 1, 4, 5)], size=[1, 3], mode="bilinear", align_corners=True)
case("interpolate/linear", "interpolate", [X(2, 3, 6)], size=11, mode="linear", align_corners=False)
case("interpolate/linear_align_scale", "interpolate", [X(1, 2, 5)], scale_factor=2.5, mode="linear", align_corners=True)

# --- three spatial dims (added last, so that the cases above keep their
# random values)
case("avg_pool3d/k2", "avg_pool3d", [X(2, 2, 4, 6, 6)], kernel=2)
case("avg_pool3d/k3_s2_p1_ceil_exclude", "avg_pool3d", [X(1, 2, 5, 6, 7)], kernel=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
case("avg_pool3d/divisor_transposed", "avg_pool3d", [XT(1, 2, 4, 5, 6)], kernel=[2, 3, 2], stride=1, padding=1, divisor_override=7)
case("avg_pool3d/unbatched", "avg_pool3d", [X(2, 4, 4, 5)], kernel=[2, 2, 3], stride=[1, 2, 2])
case("adaptive_avg_pool3d/nondivisible", "adaptive_avg_pool3d", [X(1, 2, 5, 7, 6)], out=[3, 4, 4])
case("adaptive_avg_pool3d/unbatched_transposed", "adaptive_avg_pool3d", [XT(2, 4, 6, 6)], out=[2, 3, 3])


# torch 1.13's float64 backward of nearest interpolation recomputes the
# source index in float32 arithmetic, so at these sizes it routes one
# gradient to a different input than its own forward read (torch's float32
# run is consistent). The float64 gradients of these cases are not an
# oracle; the Go side checks them by gradcheck instead.
TORCH_GRAD64_INCONSISTENT = {"interpolate/nearest_rounding_down", "interpolate/nearest_exact_rounding"}


def compute(fn, a, bases, views, cot_of, dtype):
    leaves = [b.to(dtype).requires_grad_() for b in bases]
    ins = [apply_view(l, v) for l, v in zip(leaves, views)]
    outs = run(fn, a, ins)
    y = outs[0]
    cot = cot_of(y.shape).to(dtype)
    grads = torch.autograd.grad([y], leaves, [cot])
    return outs, grads, cot


def main():
    out = []
    for name, fn, inputs, a in CASES:
        shapes = [s for s, _ in inputs]
        views = [v for _, v in inputs]
        # float32 values, so that both runs see exactly the same inputs
        bases = [torch.randn(base_shape(s, v)).double() for s, v in inputs]
        cot64 = []

        def cot_of(shape):
            if not cot64:
                cot64.append(torch.randn(shape).double())
            return cot64[0]

        c = {"name": name, "fn": fn, "args": a,
             "inputs": [{"shape": list(b.shape), "view": v, "data": b64(b, "f")} for b, v in zip(bases, views)]}
        for dt, fmt, key in ((torch.float64, "d", "float64"), (torch.float32, "f", "float32")):
            outs, grads, _ = compute(fn, a, bases, views, cot_of, dt)
            r = {"out": {"shape": list(outs[0].shape), "data": b64(outs[0], fmt)},
                 "grads": [b64(g, fmt) for g in grads]}
            if len(outs) > 1:
                r["indices"] = outs[1].reshape(-1).tolist()
            c[key] = r
        c["cotangent"] = b64(cot64[0], "f")
        if name in TORCH_GRAD64_INCONSISTENT:
            del c["float64"]["grads"]
            c["float64"]["grads_omitted"] = "torch's float64 backward disagrees with its forward"
        assert [list(apply_view(b, v).shape) for b, v in zip(bases, views)] == shapes, name
        out.append(c)
    path = os.path.join(HERE, "spatial.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": out}, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %d cases to %s (%d bytes)" % (len(out), path, os.path.getsize(path)))


if __name__ == "__main__":
    main()
