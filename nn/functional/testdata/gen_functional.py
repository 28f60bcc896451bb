#!/usr/bin/python3
"""Writes the PyTorch oracle fixtures that package functional's tests compare with.

Run from anywhere with Debian's PyTorch (1.13):

    apt-get install python3-torch
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 nn/functional/testdata/gen_functional.py

It writes functional.json next to this script: for every case, the inputs
(with how to view them: transposed, permuted, sliced with a step), the
torch.nn.functional outputs, a random cotangent per floating output, and the
gradients of sum(out * cotangent) with respect to every input marked
requires_grad, in float32 and float64.

Inputs are random (a fixed seed), away from kinks where it matters; shapes
include [N, C, H, W], size-1, unbatched and non-contiguous cases. The Go side
(fixtures_test.go) maps each op name to the Tapir call; this file is the only
place the expected values come from.

torch 1.13 has no public F.scaled_dot_product_attention; its private
F._scaled_dot_product_attention has the same semantics (a Bool mask marks the
keys that take part, a float mask is added) and no scale argument, so a
custom scale s is given to it as q·s·√E.
"""
import json
import math
import os
import warnings

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")
torch.manual_seed(20261122)
torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))


def rand_input(shape, domain):
    """A float64 (or int64 / bool) tensor of shape drawn from domain."""
    if isinstance(domain, tuple):
        kind = domain[0]
        if kind == "int":
            return torch.randint(0, domain[1], shape, dtype=torch.int64)
        if kind == "int_ign":  # class indices with some set to the ignore index
            _, hi, ign = domain
            t = torch.randint(0, hi, shape, dtype=torch.int64)
            m = torch.rand(shape) < 0.3
            flat = m.reshape(-1)
            if flat.numel() > 1:
                flat[0], flat[-1] = True, False  # at least one of each
            return torch.where(m, torch.full_like(t, ign), t)
        if kind == "fixed":
            return torch.tensor(domain[1], dtype=torch.int64).reshape(shape)
        if kind == "fixedf":  # exact float values (kinks of piecewise functions)
            return torch.tensor(domain[1], dtype=torch.float64).reshape(shape)
        if kind == "simplex":
            return torch.softmax(torch.randn(shape, dtype=torch.float64) * 1.5, domain[1])
        if kind == "logsimplex":
            return torch.log_softmax(torch.randn(shape, dtype=torch.float64) * 1.5, domain[1])
        raise ValueError(domain)
    if domain == "any":
        return torch.randn(shape, dtype=torch.float64)
    if domain == "wide":
        return torch.randn(shape, dtype=torch.float64) * 3
    if domain == "away":  # |x| in [0.5, 2]
        s = torch.where(torch.rand(shape) < 0.5, -1.0, 1.0).double()
        return (torch.rand(shape, dtype=torch.float64) * 1.5 + 0.5) * s
    if domain == "pos":
        return torch.rand(shape, dtype=torch.float64) * 1.5 + 0.5
    if domain == "prob":
        return torch.rand(shape, dtype=torch.float64) * 0.9 + 0.05
    if domain == "prob0":  # probabilities with exact zeros
        t = torch.rand(shape, dtype=torch.float64)
        return torch.where(torch.rand(shape) < 0.3, torch.zeros_like(t), t)
    if domain == "mask":  # bool, at least one True along the last dim
        m = torch.rand(shape) < 0.6
        idx = torch.randint(0, shape[-1], shape[:-1] + [1])
        return m.scatter(-1, idx, True)
    raise ValueError(domain)


def apply_view(t, view):
    if view is None:
        return t
    kind = view[0]
    if kind == "T":
        return t.transpose(-1, -2)
    if kind == "perm":
        return t.permute(*view[1])
    if kind == "slice":
        _, d, s, e, st = view
        return t[(slice(None),) * d + (slice(s, e, st),)]
    raise ValueError(view)


def view_base_shape(shape, view):
    """The shape of the base tensor that, viewed by `view`, has `shape`."""
    if view is None:
        return list(shape)
    kind = view[0]
    if kind == "T":
        s = list(shape)
        s[-1], s[-2] = s[-2], s[-1]
        return s
    if kind == "perm":
        s = [0] * len(shape)
        for i, d in enumerate(view[1]):
            s[d] = shape[i]
        return s
    if kind == "slice":
        _, d, s, e, st = view
        out = list(shape)
        out[d] = e
        return out
    raise ValueError(view)


def quantize(t):
    """Inputs are rounded to 4 decimals, so that their shortest decimal form
    is short and exact; float32 inputs are those values rounded to float32,
    which the Go side does the same way."""
    return torch.round(t * 1e4) / 1e4


def enc(t, digits=None):
    """The tensor for JSON; floats with `digits` significant digits (inputs,
    already quantized, use their shortest exact form)."""
    if t.dtype == torch.bool:
        return {"dtype": "bool", "shape": list(t.shape), "data": [int(v) for v in t.reshape(-1).tolist()]}
    if t.dtype == torch.int64:
        return {"dtype": "int64", "shape": list(t.shape), "data": t.reshape(-1).tolist()}
    dt = {torch.float32: "float32", torch.float64: "float64"}[t.dtype]
    data = []
    for v in t.detach().reshape(-1).tolist():
        assert math.isfinite(v), ("non-finite fixture value", t)
        data.append(v if digits is None else float("%.*g" % (digits, v)))
    return {"dtype": dt, "shape": list(t.shape), "data": data}


CASES = []


def case(name, op, inputs, fn, args=None, dtypes=("float32", "float64")):
    CASES.append(dict(name=name, op=op, inputs=inputs, fn=fn, args=args or {}, dtypes=dtypes))


def inp(name, shape, domain="any", view=None, rg=True):
    return dict(name=name, shape=list(shape), domain=domain, view=view, rg=rg)


# significant digits kept for outputs and gradients: far below the tests'
# tolerances (relative 1e-4 for float32, 1e-9 for float64). Cotangents are
# quantized like inputs and used exactly as written on both sides.
DIGITS = {torch.float32: 8, torch.float64: 13}


def run_case(c, dtype):
    dt = {"float32": torch.float32, "float64": torch.float64}.get(dtype)
    bases, viewed, specs = [], {}, []
    for s in c["inputs"]:
        b = rand_input(view_base_shape(s["shape"], s["view"]), s["domain"])
        if b.dtype == torch.float64:
            b = quantize(b)
            q = b
            b = b.to(dt)
            if s["rg"]:
                b.requires_grad_(True)
        bases.append(b)
        v = apply_view(b, s["view"])
        assert list(v.shape) == s["shape"], (c["name"], v.shape, s["shape"])
        viewed[s["name"]] = v
        e = enc(q if b.dtype.is_floating_point else b)
        e["dtype"] = enc(b)["dtype"]
        e["name"], e["view"], e["rg"] = s["name"], s["view"], b.requires_grad
        specs.append(e)
    out = c["fn"](viewed, c["args"])
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    loss, cots = None, []
    for o in outs:
        if o.dtype.is_floating_point and o.requires_grad:
            cq = quantize(torch.randn(o.shape, dtype=torch.float64))
            cot = cq.to(o.dtype)
            term = (o * cot).sum()
            loss = term if loss is None else loss + term
            e = enc(cq)
            e["dtype"] = enc(cot)["dtype"]
            cots.append(e)
        else:
            cots.append(None)
    grads = {}
    need = [(s["name"], b) for s, b in zip(c["inputs"], bases) if b.requires_grad]
    if loss is not None and need:
        gs = torch.autograd.grad(loss, [b for _, b in need], allow_unused=True)
        for (n, b), g in zip(need, gs):
            grads[n] = enc(g if g is not None else torch.zeros_like(b), DIGITS[g.dtype])
    return dict(name=f"{c['name']}/{dtype}", op=c["op"], args=c["args"], inputs=specs,
                outputs=[enc(o, DIGITS.get(o.dtype)) for o in outs], cotangents=cots, grads=grads)


# ---- activations -------------------------------------------------------
ACT = {
    "relu": (lambda x, a: F.relu(x), "away", {}),
    "relu6": (lambda x, a: F.relu6(x), "wide", {}),
    "leaky_relu": (lambda x, a: F.leaky_relu(x, a["slope"]), "away", {"slope": 0.2}),
    "elu": (lambda x, a: F.elu(x, a["alpha"]), "wide", {"alpha": 1.0}),
    "elu/alpha": (lambda x, a: F.elu(x, a["alpha"]), "wide", {"alpha": 0.5}),
    "selu": (lambda x, a: F.selu(x), "wide", {}),
    "gelu": (lambda x, a: F.gelu(x, approximate=a["approximate"]), "wide", {"approximate": "none"}),
    "gelu/tanh": (lambda x, a: F.gelu(x, approximate=a["approximate"]), "wide", {"approximate": "tanh"}),
    "silu": (lambda x, a: F.silu(x), "wide", {}),
    "mish": (lambda x, a: F.mish(x), "wide", {}),
    "sigmoid": (lambda x, a: torch.sigmoid(x), "wide", {}),
    "tanh": (lambda x, a: torch.tanh(x), "wide", {}),
    "softplus": (lambda x, a: F.softplus(x, a["beta"], a["threshold"]), "wide", {"beta": 1.0, "threshold": 20.0}),
    "softplus/beta": (lambda x, a: F.softplus(x, a["beta"], a["threshold"]), "wide", {"beta": 2.0, "threshold": 1.5}),
    "hardtanh": (lambda x, a: F.hardtanh(x, a["min"], a["max"]), "wide", {"min": -1.0, "max": 1.0}),
    "hardtanh/range": (lambda x, a: F.hardtanh(x, a["min"], a["max"]), "wide", {"min": -0.5, "max": 2.0}),
    "hardsigmoid": (lambda x, a: F.hardsigmoid(x), "wide", {}),
    "hardswish": (lambda x, a: F.hardswish(x), "wide", {}),
    "logsigmoid": (lambda x, a: F.logsigmoid(x), "wide", {}),
}
for name, (f, dom, args) in ACT.items():
    op = name.split("/")[0]
    case(name, op, [inp("x", [3, 5], dom)], lambda t, a, f=f: f(t["x"], a), args)
for name in ("relu", "gelu/tanh", "elu", "hardswish"):
    f, dom, args = ACT[name]
    case(name + "/strided", name.split("/")[0], [inp("x", [2, 5, 3], dom, ("T",))], lambda t, a, f=f: f(t["x"], a), args)
# ELU just below 0: float64 only, since torch 1.13's float32 ELU computes
# exp(x) − 1 and loses ~1e-3 relative there (Tapir's is accurate; the Go test
# checks float32 against math.Expm1).
case("elu/near0", "elu_near0", [inp("x", [6], "any")], lambda t, a: F.elu(t["x"] * 1e-3, a["alpha"]) * 1e3,
     {"alpha": 1.0}, dtypes=("float64",))
# the gradients at the kinks themselves, which torch defines one way or
# the other (hardtanh: 0 at its bounds; hardswish: x/3 + 1/2 at ±3; …)
KINKS = [-4.0, -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 6.0, 7.0]
for name in ("relu", "relu6", "leaky_relu", "elu", "hardtanh", "hardtanh/range", "hardsigmoid", "hardswish"):
    f, dom, args = ACT[name]
    case(name + "/kinks", name.split("/")[0], [inp("x", [12], ("fixedf", KINKS))], lambda t, a, f=f: f(t["x"], a), args)
for dim in (0, 1, -1):
    case(f"softmax/dim{dim}", "softmax", [inp("x", [2, 3, 4], "wide")], lambda t, a: F.softmax(t["x"], a["dim"]), {"dim": dim})
    case(f"log_softmax/dim{dim}", "log_softmax", [inp("x", [2, 3, 4], "wide")],
         lambda t, a: F.log_softmax(t["x"], a["dim"]), {"dim": dim})
case("softmax/strided", "softmax", [inp("x", [4, 3], "wide", ("T",))], lambda t, a: F.softmax(t["x"], a["dim"]), {"dim": 1})
case("softmax/size1", "softmax", [inp("x", [1, 4])], lambda t, a: F.softmax(t["x"], a["dim"]), {"dim": 0})

# ---- linear ------------------------------------------------------------


def linear(t, a):
    return F.linear(t["x"], t["weight"], t.get("bias"))


case("linear", "linear", [inp("x", [4, 3]), inp("weight", [5, 3]), inp("bias", [5])], linear)
case("linear/nobias", "linear", [inp("x", [4, 3]), inp("weight", [5, 3])], linear)
case("linear/3d", "linear", [inp("x", [2, 3, 3]), inp("weight", [2, 3]), inp("bias", [2])], linear)
case("linear/1d", "linear", [inp("x", [3]), inp("weight", [4, 3]), inp("bias", [4])], linear)
case("linear/strided", "linear", [inp("x", [4, 3], view=("T",)), inp("weight", [5, 3], view=("T",)),
                                  inp("bias", [5])], linear)


def bilinear(t, a):
    return F.bilinear(t["x1"], t["x2"], t["weight"], t.get("bias"))


case("bilinear", "bilinear", [inp("x1", [4, 3]), inp("x2", [4, 2]), inp("weight", [5, 3, 2]), inp("bias", [5])], bilinear)
case("bilinear/nobias", "bilinear", [inp("x1", [4, 3]), inp("x2", [4, 2]), inp("weight", [2, 3, 2])], bilinear)
case("bilinear/3d", "bilinear", [inp("x1", [2, 2, 3]), inp("x2", [2, 2, 2], view=("T",)), inp("weight", [3, 3, 2]),
                                 inp("bias", [3])], bilinear)

# ---- embedding and one-hot ---------------------------------------------


def embedding(t, a):
    return F.embedding(t["indices"], t["weight"], padding_idx=a.get("padding_idx"))


IDX = [0, 2, 5, 2, 3, 0]
case("embedding", "embedding", [inp("indices", [2, 3], ("fixed", IDX)), inp("weight", [6, 4])], embedding)
case("embedding/padding", "embedding", [inp("indices", [2, 3], ("fixed", IDX)), inp("weight", [6, 4])], embedding,
     {"padding_idx": 2})
case("embedding/padding_neg", "embedding", [inp("indices", [6], ("fixed", IDX)), inp("weight", [6, 4])], embedding,
     {"padding_idx": -1})
case("embedding/0d", "embedding", [inp("indices", [], ("fixed", 4)), inp("weight", [6, 3])], embedding)


def one_hot(t, a):
    return F.one_hot(t["indices"], a["num_classes"])


case("one_hot", "one_hot", [inp("indices", [2, 3], ("int", 4))], one_hot, {"num_classes": 5}, dtypes=("int64",))
case("one_hot/infer", "one_hot", [inp("indices", [6], ("fixed", IDX))], one_hot, {"num_classes": -1}, dtypes=("int64",))
case("one_hot/0d", "one_hot", [inp("indices", [], ("fixed", 2))], one_hot, {"num_classes": 3}, dtypes=("int64",))

# ---- normalization -----------------------------------------------------


def batch_norm(t, a):
    rm = t["running_mean"].clone() if "running_mean" in t else None
    rv = t["running_var"].clone() if "running_var" in t else None
    y = F.batch_norm(t["x"], rm, rv, t.get("weight"), t.get("bias"), a["training"], a["momentum"], a["eps"])
    return (y,) + tuple(r for r in (rm, rv) if r is not None)


def bn_inputs(shape, view=None, stats=True, affine=True):
    c = shape[1]
    ins = [inp("x", shape, "wide", view)]
    if stats:
        ins += [inp("running_mean", [c], "any", rg=False), inp("running_var", [c], "pos", rg=False)]
    if affine:
        ins += [inp("weight", [c]), inp("bias", [c])]
    return ins


BN = {"training": True, "momentum": 0.1, "eps": 1e-5}
case("batch_norm/nc", "batch_norm", bn_inputs([4, 3]), batch_norm, BN)
case("batch_norm/ncl", "batch_norm", bn_inputs([2, 3, 4], affine=False), batch_norm,
     {"training": True, "momentum": 0.3, "eps": 1e-3})
case("batch_norm/nchw", "batch_norm", bn_inputs([2, 3, 2, 3]), batch_norm, BN)
case("batch_norm/nchw_strided", "batch_norm", bn_inputs([2, 3, 2, 3], view=("perm", [0, 2, 1, 3])), batch_norm, BN)
case("batch_norm/n1", "batch_norm", bn_inputs([1, 3, 2, 2]), batch_norm, BN)
case("batch_norm/nostats", "batch_norm", bn_inputs([3, 2, 2], stats=False), batch_norm, BN)
case("batch_norm/eval", "batch_norm", bn_inputs([2, 3, 2, 2]), batch_norm,
     {"training": False, "momentum": 0.1, "eps": 1e-5})
case("batch_norm/eval_noaffine", "batch_norm", bn_inputs([4, 3], affine=False), batch_norm,
     {"training": False, "momentum": 0.1, "eps": 1e-3})


def layer_norm(t, a):
    return F.layer_norm(t["x"], a["shape"], t.get("weight"), t.get("bias"), a["eps"])


case("layer_norm", "layer_norm", [inp("x", [3, 4], "wide"), inp("weight", [4]), inp("bias", [4])], layer_norm,
     {"shape": [4], "eps": 1e-5})
case("layer_norm/2dims", "layer_norm", [inp("x", [2, 3, 4], "wide"), inp("weight", [3, 4]), inp("bias", [3, 4])],
     layer_norm, {"shape": [3, 4], "eps": 1e-5})
case("layer_norm/noaffine", "layer_norm", [inp("x", [2, 3, 4], "wide")], layer_norm, {"shape": [4], "eps": 1e-3})
case("layer_norm/strided", "layer_norm", [inp("x", [3, 5], "wide", ("T",)), inp("weight", [5]), inp("bias", [5])],
     layer_norm, {"shape": [5], "eps": 1e-5})
# Normalizing over one element gives exactly bias; in float32 torch's x − mean
# is off by rounding that 1/√eps amplifies to ~3e-5, so that case is float64
# only. A batch of size-1 dims is checked in both dtypes.
case("layer_norm/size1", "layer_norm", [inp("x", [3, 1], "wide"), inp("weight", [1]), inp("bias", [1])], layer_norm,
     {"shape": [1], "eps": 1e-5}, dtypes=("float64",))
case("layer_norm/size1_batch", "layer_norm", [inp("x", [1, 1, 4], "wide"), inp("weight", [4]), inp("bias", [4])],
     layer_norm, {"shape": [4], "eps": 1e-5})


def group_norm(t, a):
    return F.group_norm(t["x"], a["groups"], t.get("weight"), t.get("bias"), a["eps"])


case("group_norm", "group_norm", [inp("x", [2, 6, 3], "wide"), inp("weight", [6]), inp("bias", [6])], group_norm,
     {"groups": 3, "eps": 1e-5})
case("group_norm/nchw", "group_norm", [inp("x", [2, 4, 2, 2], "wide"), inp("weight", [4]), inp("bias", [4])],
     group_norm, {"groups": 2, "eps": 1e-5})
case("group_norm/one", "group_norm", [inp("x", [2, 4, 3], "wide")], group_norm, {"groups": 1, "eps": 1e-5})
case("group_norm/instance", "group_norm", [inp("x", [2, 3, 4], "wide")], group_norm, {"groups": 3, "eps": 1e-3})
# (groups of 3: a group of 2 normalizes to ±1 whatever x is, so its
# gradient is pure float32 rounding)
case("group_norm/2d", "group_norm", [inp("x", [3, 6], "wide"), inp("weight", [6]), inp("bias", [6])], group_norm,
     {"groups": 2, "eps": 1e-5})
case("group_norm/strided", "group_norm", [inp("x", [2, 4, 3], "wide", ("perm", [0, 2, 1])), inp("weight", [4]),
                                          inp("bias", [4])], group_norm, {"groups": 2, "eps": 1e-5})

# ---- attention ---------------------------------------------------------


def sdpa(t, a):
    q = t["q"]
    if a.get("scale"):
        q = q * (a["scale"] * math.sqrt(q.shape[-1]))
    out, _ = F._scaled_dot_product_attention(q, t["k"], t["v"], t.get("mask"), 0.0, False, a.get("is_causal", False))
    return out


QKV = [inp("q", [2, 3, 4]), inp("k", [2, 5, 4]), inp("v", [2, 5, 6])]
case("sdpa", "sdpa", QKV, sdpa)
case("sdpa/bool_mask", "sdpa", QKV + [inp("mask", [3, 5], "mask")], sdpa)
case("sdpa/float_mask", "sdpa", QKV + [inp("mask", [3, 5], "any", rg=False)], sdpa)
case("sdpa/heads_mask", "sdpa", [inp("q", [2, 2, 3, 4]), inp("k", [2, 2, 5, 4]), inp("v", [2, 2, 5, 3]),
                                 inp("mask", [2, 1, 3, 5], "mask")], sdpa)
case("sdpa/causal", "sdpa", [inp("q", [2, 4, 3]), inp("k", [2, 4, 3]), inp("v", [2, 4, 2])], sdpa, {"is_causal": True})
case("sdpa/causal_rect", "sdpa", QKV, sdpa, {"is_causal": True})
case("sdpa/scale", "sdpa", QKV, sdpa, {"scale": 0.3})
case("sdpa/strided", "sdpa", [inp("q", [2, 3, 4], view=("T",)), inp("k", [2, 5, 4]), inp("v", [2, 5, 6], view=("T",))],
     sdpa)
case("sdpa/unbatched", "sdpa", [inp("q", [1, 4]), inp("k", [3, 4]), inp("v", [3, 2])], sdpa)

# ---- losses ------------------------------------------------------------
# A loss case returns one output per reduction in args["reductions"], all
# from the same inputs (so the gradients are those of the sum of the three
# cotangent-weighted outputs).
REDS = ["mean", "sum", "none"]


def loss_case(name, op, ins, fn, reds=REDS, **args):
    args = dict(args, reductions=list(reds))
    case(name, op, ins, lambda t, a, fn=fn: tuple(fn(t, a, r) for r in a["reductions"]), args)


def ce(t, a, r):
    return F.cross_entropy(t["input"], t["target"], weight=t.get("weight"), ignore_index=a.get("ignore_index", -100),
                           reduction=r, label_smoothing=a.get("label_smoothing", 0.0))


W4 = inp("weight", [4], "pos", rg=False)
CE = "cross_entropy"
loss_case("cross_entropy/index", CE, [inp("input", [5, 4]), inp("target", [5], ("int", 4))], ce)
loss_case("cross_entropy/weight", CE, [inp("input", [5, 4]), inp("target", [5], ("int", 4)), W4], ce)
loss_case("cross_entropy/ignore", CE, [inp("input", [6, 4]), inp("target", [6], ("int_ign", 4, -100))], ce)
loss_case("cross_entropy/smoothing", CE, [inp("input", [5, 4]), inp("target", [5], ("int", 4))], ce, label_smoothing=0.1)
loss_case("cross_entropy/ignore_smoothing", CE, [inp("input", [6, 4]), inp("target", [6], ("int_ign", 4, -100))], ce,
          label_smoothing=0.3)
loss_case("cross_entropy/all_options", CE, [inp("input", [6, 4]), inp("target", [6], ("int_ign", 4, 1)), W4], ce,
          ignore_index=1, label_smoothing=0.2)
loss_case("cross_entropy/nchw", CE, [inp("input", [2, 4, 2, 3]), inp("target", [2, 2, 3], ("int_ign", 4, 3)), W4], ce,
          ignore_index=3, label_smoothing=0.15)
loss_case("cross_entropy/unbatched", CE, [inp("input", [4]), inp("target", [], ("int", 4)), W4], ce,
          label_smoothing=0.1)
loss_case("cross_entropy/batch1", CE, [inp("input", [1, 4]), inp("target", [1], ("int", 4))], ce)
loss_case("cross_entropy/strided", CE, [inp("input", [5, 4], view=("T",)), inp("target", [5], ("int", 4))], ce,
          label_smoothing=0.1)
loss_case("cross_entropy/prob", CE, [inp("input", [5, 4]), inp("target", [5, 4], ("simplex", 1))], ce)
loss_case("cross_entropy/prob_weight_smoothing", CE, [inp("input", [5, 4]), inp("target", [5, 4], ("simplex", 1)), W4],
          ce, label_smoothing=0.2)
loss_case("cross_entropy/prob_nchw", CE, [inp("input", [2, 4, 2, 2]), inp("target", [2, 4, 2, 2], ("simplex", 1)), W4],
          ce)
loss_case("cross_entropy/prob_unbatched", CE, [inp("input", [4]), inp("target", [4], ("simplex", 0))], ce,
          label_smoothing=0.1)


def nll(t, a, r):
    return F.nll_loss(t["input"], t["target"], weight=t.get("weight"), ignore_index=a.get("ignore_index", -100),
                      reduction=r)


loss_case("nll_loss", "nll_loss", [inp("input", [5, 4], ("logsimplex", 1)), inp("target", [5], ("int", 4))], nll)
loss_case("nll_loss/weight_ignore", "nll_loss", [inp("input", [6, 4], ("logsimplex", 1)),
                                                 inp("target", [6], ("int_ign", 4, 0)), W4], nll, ignore_index=0)
loss_case("nll_loss/kdim", "nll_loss", [inp("input", [2, 4, 3], ("logsimplex", 1)),
                                        inp("target", [2, 3], ("int_ign", 4, -100)), W4], nll)
loss_case("nll_loss/unbatched", "nll_loss", [inp("input", [4], ("logsimplex", 0)), inp("target", [], ("int", 4))], nll)

PAIR = [inp("input", [3, 4], "wide"), inp("target", [3, 4], "wide")]
PAIR_STRIDED = [inp("input", [3, 4], "wide", ("slice", 1, 0, 8, 2)), inp("target", [3, 4], "wide", ("T",))]
for op, fn in (("mse_loss", lambda t, a, r: F.mse_loss(t["input"], t["target"], reduction=r)),
               ("l1_loss", lambda t, a, r: F.l1_loss(t["input"], t["target"], reduction=r))):
    loss_case(op, op, PAIR, fn)
    loss_case(op + "/strided", op, PAIR_STRIDED, fn)
    loss_case(op + "/size1", op, [inp("input", [1], "wide"), inp("target", [1], "wide")], fn)
loss_case("smooth_l1_loss", "smooth_l1_loss", PAIR,
          lambda t, a, r: F.smooth_l1_loss(t["input"], t["target"], reduction=r))
loss_case("smooth_l1_loss/beta", "smooth_l1_loss", PAIR_STRIDED,
          lambda t, a, r: F.smooth_l1_loss(t["input"], t["target"], reduction=r, beta=a["beta"]), beta=2.5)
KINK_PAIR = [inp("input", [12], ("fixedf", KINKS)), inp("target", [12], ("fixedf", [0.0] * 12))]
loss_case("l1_loss/kinks", "l1_loss", KINK_PAIR, lambda t, a, r: F.l1_loss(t["input"], t["target"], reduction=r))
loss_case("smooth_l1_loss/kinks", "smooth_l1_loss", KINK_PAIR,
          lambda t, a, r: F.smooth_l1_loss(t["input"], t["target"], reduction=r))
loss_case("huber_loss/kinks", "huber_loss", KINK_PAIR,
          lambda t, a, r: F.huber_loss(t["input"], t["target"], reduction=r, delta=a["delta"]), delta=2.0)
loss_case("huber_loss", "huber_loss", PAIR, lambda t, a, r: F.huber_loss(t["input"], t["target"], reduction=r))
loss_case("huber_loss/delta", "huber_loss", PAIR_STRIDED,
          lambda t, a, r: F.huber_loss(t["input"], t["target"], reduction=r, delta=a["delta"]), delta=2.5)


def bce(t, a, r):
    return F.binary_cross_entropy(t["input"], t["target"], weight=t.get("weight"), reduction=r)


PROB = [inp("input", [3, 4], "prob"), inp("target", [3, 4], "prob")]
loss_case("bce", "bce", PROB, bce)
loss_case("bce/weight", "bce", PROB + [inp("weight", [4], "pos", rg=False)], bce)
loss_case("bce/weight_full", "bce", [inp("input", [2, 3, 2], "prob", ("perm", [0, 2, 1])),
                                     inp("target", [2, 3, 2], "prob"), inp("weight", [2, 3, 2], "pos", rg=False)], bce)


def bce_logits(t, a, r):
    return F.binary_cross_entropy_with_logits(t["input"], t["target"], weight=t.get("weight"),
                                              pos_weight=t.get("pos_weight"), reduction=r)


LOGITS = [inp("input", [3, 4], "wide"), inp("target", [3, 4], "prob")]
BL = "bce_logits"
loss_case(BL, BL, LOGITS, bce_logits)
loss_case(BL + "/pos_weight", BL, LOGITS + [inp("pos_weight", [4], "pos", rg=False)], bce_logits)
loss_case(BL + "/both", BL, LOGITS + [inp("weight", [3, 1], "pos", rg=False), inp("pos_weight", [4], "pos", rg=False)],
          bce_logits)
loss_case(BL + "/nchw", BL, [inp("input", [2, 3, 2, 2], "wide"), inp("target", [2, 3, 2, 2], "prob"),
                             inp("pos_weight", [3, 1, 1], "pos", rg=False)], bce_logits)
loss_case(BL + "/strided", BL, [inp("input", [3, 4], "wide", ("T",)), inp("target", [3, 4], "prob")], bce_logits)


def kl(t, a, r):
    return F.kl_div(t["input"], t["target"], reduction=r, log_target=a["log_target"])


KL_REDS = REDS + ["batchmean"]
loss_case("kl_div", "kl_div", [inp("input", [3, 4], ("logsimplex", 1)), inp("target", [3, 4], ("simplex", 1))], kl,
          KL_REDS, log_target=False)
loss_case("kl_div/log_target", "kl_div", [inp("input", [3, 4], ("logsimplex", 1)),
                                          inp("target", [3, 4], ("logsimplex", 1))], kl, KL_REDS, log_target=True)
loss_case("kl_div/zeros", "kl_div", [inp("input", [3, 4], ("logsimplex", 1)), inp("target", [3, 4], "prob0", rg=False)],
          kl, KL_REDS, log_target=False)


# CTC: the inputs are logits, taken through log_softmax on both sides, so
# that the gradients compared are those with respect to the logits (torch's
# gradient with respect to log_probs carries an extra exp(log_probs) term
# that log_softmax's backward cancels).
def ctc(t, a, r):
    lp = F.log_softmax(t["logits"], -1)
    return F.ctc_loss(lp, t["targets"], t["input_lengths"], t["target_lengths"], blank=a.get("blank", 0),
                      reduction=r, zero_infinity=a.get("zero_infinity", False))


loss_case("ctc_loss/padded", "ctc_loss", [inp("logits", [6, 3, 4]),
                                          inp("targets", [3, 3], ("fixed", [1, 1, 2, 3, 2, 0, 2, 0, 0])),
                                          inp("input_lengths", [3], ("fixed", [6, 5, 4])),
                                          inp("target_lengths", [3], ("fixed", [3, 2, 1]))], ctc)
loss_case("ctc_loss/concat_blank", "ctc_loss", [inp("logits", [5, 2, 3]),
                                                inp("targets", [4], ("fixed", [0, 1, 1, 1])),
                                                inp("input_lengths", [2], ("fixed", [5, 5])),
                                                inp("target_lengths", [2], ("fixed", [1, 3]))], ctc, blank=2)
loss_case("ctc_loss/zero_infinity", "ctc_loss", [inp("logits", [4, 2, 3]),
                                                 inp("targets", [2, 3], ("fixed", [1, 1, 1, 2, 1, 0])),
                                                 inp("input_lengths", [2], ("fixed", [4, 3])),
                                                 inp("target_lengths", [2], ("fixed", [3, 2]))], ctc,
          zero_infinity=True)
loss_case("ctc_loss/unbatched", "ctc_loss", [inp("logits", [5, 3]), inp("targets", [2], ("fixed", [2, 1])),
                                             inp("input_lengths", [], ("fixed", 4)),
                                             inp("target_lengths", [], ("fixed", 2))], ctc)
loss_case("ctc_loss/strided", "ctc_loss", [inp("logits", [4, 2, 3], view=("perm", [1, 0, 2])),
                                           inp("targets", [2, 2], ("fixed", [1, 2, 2, 0])),
                                           inp("input_lengths", [2], ("fixed", [4, 2])),
                                           inp("target_lengths", [2], ("fixed", [2, 1]))], ctc)


def main():
    res = []
    for c in CASES:
        for dt in c["dtypes"]:
            res.append(run_case(c, dt))
    path = os.path.join(HERE, "functional.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": res}, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"functional.json: {len(res)} cases, {len(CASES)} variants, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
