#!/usr/bin/python3
"""Writes the PyTorch oracle fixtures that package tensor's tests compare with.

Run from anywhere with Debian's PyTorch:

    apt-get install python3-torch
    /usr/bin/python3 tensor/testdata/gen_fixtures.py

It writes, next to this script:

  ops.json     for every op case: the inputs (and how to view them:
               transposed, sliced with a step, ...), the outputs, a random
               cotangent, and the gradients of sum(out * cotangent) with
               respect to every floating input, in float32 and float64.
  print.json   tensors and str(tensor), for the printing tests.
  second.json  second derivatives: tanh'' and a Hessian-vector product of
               a small MLP loss.

Inputs are random (a fixed seed), never zeros; shapes include broadcast,
non-contiguous and size-1 cases. The Go side (fixtures_test.go) maps each
op name to the Tapir call; this file is the only place the expected values
come from.
"""
import json
import math
import os

import torch

torch.manual_seed(20261121)
torch.set_num_threads(1)  # BLAS results then do not depend on threading
HERE = os.path.dirname(os.path.abspath(__file__))


def rand_input(shape, dtype, domain):
    if domain == "pos":
        t = torch.rand(shape, dtype=torch.float64) * 1.5 + 0.5
    elif domain == "unit":
        t = torch.rand(shape, dtype=torch.float64) * 1.6 - 0.8
    elif domain == "away":  # |x| in [0.5, 2]
        t = (torch.rand(shape, dtype=torch.float64) * 1.5 + 0.5) * torch.where(
            torch.rand(shape) < 0.5, -1.0, 1.0).double()
    elif domain == "grid":  # values on a coarse grid, so ties and equalities occur
        t = torch.randint(-3, 4, shape).double() / 2
    elif domain == "small":  # for products of many numbers
        t = torch.rand(shape, dtype=torch.float64) * 0.8 + 0.6
    elif domain == "bool":
        return torch.rand(shape) < 0.5
    elif isinstance(domain, tuple) and domain[0] == "int":
        return torch.randint(0, domain[1], shape, dtype=torch.int64)
    else:
        t = torch.randn(shape, dtype=torch.float64)
    return t.to(dtype)


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
        p = view[1]
        s = [0] * len(shape)
        for i, d in enumerate(p):
            s[d] = shape[i]
        return s
    if kind == "slice":
        _, d, s, e, st = view
        out = list(shape)
        out[d] = e  # base extends to `end`; the slice takes s:e:st
        return out
    raise ValueError(view)


def jfloat(v):
    """A float for JSON: non-finite values as the strings nan, inf, -inf."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def enc(t):
    if t.dtype == torch.bool:
        data = [bool(v) for v in t.reshape(-1).tolist()]
        dt = "bool"
    elif t.dtype in (torch.int64, torch.int32, torch.uint8):
        data = [int(v) for v in t.reshape(-1).tolist()]
        dt = {torch.int64: "int64", torch.int32: "int32", torch.uint8: "uint8"}[t.dtype]
    else:
        data = [jfloat(v) for v in t.detach().reshape(-1).tolist()]
        dt = {torch.float32: "float32", torch.float64: "float64"}[t.dtype]
    return {"dtype": dt, "shape": list(t.shape), "data": data}


# Each case: name, op, input specs (shape, domain, view), args, torch function.
# fn receives the (viewed) inputs and the args and returns a tensor or a
# tuple of tensors.
CASES = []


def case(name, op, inputs, fn, args=None, dtypes=("float32", "float64")):
    CASES.append(dict(name=name, op=op, inputs=inputs, fn=fn, args=args or {}, dtypes=dtypes))


def inp(shape, domain="any", view=None):
    return dict(shape=list(shape), domain=domain, view=view)


# ---- elementwise unary -------------------------------------------------
UNARY = {
    "neg": (torch.neg, "any"), "abs": (torch.abs, "away"), "sign": (torch.sign, "away"),
    "exp": (torch.exp, "any"), "log": (torch.log, "pos"), "log1p": (torch.log1p, "pos"),
    "sqrt": (torch.sqrt, "pos"), "rsqrt": (torch.rsqrt, "pos"), "square": (torch.square, "any"),
    "reciprocal": (torch.reciprocal, "away"), "sin": (torch.sin, "any"), "cos": (torch.cos, "any"),
    "tanh": (torch.tanh, "any"), "sigmoid": (torch.sigmoid, "any"), "relu": (torch.relu, "away"),
    "gelu": (torch.nn.functional.gelu, "any"), "silu": (torch.nn.functional.silu, "any"),
    "softplus": (torch.nn.functional.softplus, "any"), "erf": (torch.erf, "any"),
    "floor": (torch.floor, "any"), "ceil": (torch.ceil, "any"), "round": (torch.round, "any"),
}
for name, (f, dom) in UNARY.items():
    case(f"{name}", name, [inp([3, 4], dom)], lambda x, a, f=f: f(x))
    case(f"{name}/strided", name, [inp([4, 3], dom, ("T",))], lambda x, a, f=f: f(x))
case("neg/0d", "neg", [inp([])], lambda x, a: torch.neg(x))
case("exp/empty", "exp", [inp([0, 3])], lambda x, a: torch.exp(x))
case("leaky_relu", "leaky_relu", [inp([3, 4], "away")],
     lambda x, a: torch.nn.functional.leaky_relu(x, a["slope"]), {"slope": 0.1})
case("softplus/beta", "softplus_beta", [inp([3, 4])],
     lambda x, a: torch.nn.functional.softplus(x, a["beta"], a["threshold"]), {"beta": 2.0, "threshold": 1.5})
case("clamp", "clamp", [inp([3, 4], "unit")], lambda x, a: torch.clamp(x, a["min"], a["max"]),
     {"min": -0.5, "max": 0.4})
case("clamp/min", "clamp_min", [inp([3, 4], "unit")], lambda x, a: torch.clamp(x, min=a["min"]), {"min": -0.2})

# ---- scalar ops ----------------------------------------------------------
SCALAR = {
    "add_scalar": (lambda x, v: x + v, "any", 1.5), "sub_scalar": (lambda x, v: x - v, "any", 0.7),
    "rsub_scalar": (lambda x, v: v - x, "any", 2.0), "mul_scalar": (lambda x, v: x * v, "any", -1.3),
    "div_scalar": (lambda x, v: x / v, "any", 0.8), "rdiv_scalar": (lambda x, v: v / x, "away", 2.0),
}
for name, (f, dom, v) in SCALAR.items():
    case(name, name, [inp([2, 5], dom)], lambda x, a, f=f: f(x, a["v"]), {"v": v})
for p, dom in [(2.0, "any"), (3.0, "any"), (0.5, "pos"), (-1.5, "pos"), (0.0, "any")]:
    case(f"pow_scalar/{p}", "pow_scalar", [inp([3, 3], dom)], lambda x, a: torch.pow(x, a["v"]), {"v": p})

# ---- binary ----------------------------------------------------------------
BINARY = {
    "add": (torch.add, "any", "any"), "sub": (torch.sub, "any", "any"), "mul": (torch.mul, "any", "any"),
    "div": (torch.div, "any", "away"), "pow": (torch.pow, "pos", "unit"),
    "maximum": (torch.maximum, "any", "any"), "minimum": (torch.minimum, "any", "any"),
}
SHAPES = {
    "same": ([3, 4], [3, 4], None, None),
    "bcast": ([3, 1], [1, 4], None, None),
    "bcast3": ([2, 3, 4], [4], None, None),
    "strided": ([3, 4], [3, 4], ("T",), ("slice", 1, 0, 8, 2)),
    "size1": ([1, 4], [1, 1], None, None),
}
for name, (f, da, db) in BINARY.items():
    for sname, (sa, sb, va, vb) in SHAPES.items():
        case(f"{name}/{sname}", name, [inp(sa, da, va), inp(sb, db, vb)], lambda x, y, a, f=f: f(x, y))
case("maximum/ties", "maximum", [inp([3, 4], "grid"), inp([3, 4], "grid")], lambda x, y, a: torch.maximum(x, y))
case("minimum/ties", "minimum", [inp([3, 4], "grid"), inp([3, 4], "grid")], lambda x, y, a: torch.minimum(x, y))
case("add/0d", "add", [inp([3, 2]), inp([])], lambda x, y, a: x + y)
case("mul/empty", "mul", [inp([0, 4]), inp([4])], lambda x, y, a: x * y)
for name, f in {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge}.items():
    case(name, name, [inp([3, 4], "grid"), inp([1, 4], "grid")], lambda x, y, a, f=f: f(x, y))
case("where", "where", [inp([3, 4], "bool"), inp([3, 4]), inp([1, 4])], lambda c, x, y, a: torch.where(c, x, y))
case("where/bcast", "where", [inp([3, 1], "bool"), inp([4]), inp([3, 4], "any", ("T",))],
     lambda c, x, y, a: torch.where(c, x, y))
case("masked_fill", "masked_fill", [inp([3, 4]), inp([1, 4], "bool")],
     lambda x, m, a: x.masked_fill(m, a["v"]), {"v": 2.5})

# ---- reductions ------------------------------------------------------------
case("sum/all", "sum", [inp([3, 4])], lambda x, a: x.sum())
case("sum/dim", "sum", [inp([3, 4, 2])], lambda x, a: x.sum(a["dims"]), {"dims": [1]})
case("sum/dims", "sum", [inp([3, 4, 2], "any", ("perm", [2, 0, 1]))], lambda x, a: x.sum(a["dims"]), {"dims": [0, 2]})
case("sum/neg", "sum", [inp([3, 4])], lambda x, a: x.sum(a["dims"]), {"dims": [-1]})
case("sum/keepdim", "sum_keepdim", [inp([3, 4, 2])], lambda x, a: x.sum(a["dims"], keepdim=True), {"dims": [0, 2]})
case("sum/empty", "sum", [inp([0, 3])], lambda x, a: x.sum(a["dims"]), {"dims": [0]})
case("sum/0d", "sum", [inp([])], lambda x, a: x.sum())
case("mean/all", "mean", [inp([3, 4])], lambda x, a: x.mean())
case("mean/dim", "mean", [inp([3, 4, 2], "any", ("slice", 1, 1, 8, 2))], lambda x, a: x.mean(a["dims"]), {"dims": [1]})
case("mean/keepdim", "mean_keepdim", [inp([3, 4])], lambda x, a: x.mean(a["dims"], keepdim=True), {"dims": [1]})
case("prod/dim", "prod", [inp([3, 4], "small")], lambda x, a: x.prod(a["dims"][0]), {"dims": [1]})
case("prod/all", "prod", [inp([2, 3], "small")], lambda x, a: x.prod())
case("amax/dim", "amax", [inp([3, 4])], lambda x, a: x.amax(a["dims"]), {"dims": [1]})
case("amax/ties", "amax", [inp([3, 4], "grid")], lambda x, a: x.amax(a["dims"]), {"dims": [0]})
case("amin/dims", "amin", [inp([2, 3, 4])], lambda x, a: x.amin(a["dims"]), {"dims": [0, 2]})
case("var/all", "var", [inp([3, 4])], lambda x, a: x.var())
case("var/dim", "var", [inp([3, 4])], lambda x, a: x.var(a["dims"]), {"dims": [1]})
case("std/dim", "std", [inp([4, 3], "any", ("T",))], lambda x, a: x.std(a["dims"]), {"dims": [0]})
case("max/dim", "max_dim", [inp([3, 4])], lambda x, a: torch.max(x, a["dim"]), {"dim": 1})
case("max/dim0", "max_dim", [inp([3, 4], "any", ("T",))], lambda x, a: torch.max(x, a["dim"]), {"dim": 0})
case("min/dim", "min_dim", [inp([3, 4])], lambda x, a: torch.min(x, a["dim"]), {"dim": -1})
case("argmax", "argmax", [inp([3, 4])], lambda x, a: torch.argmax(x, a["dim"]), {"dim": 1})
case("argmin", "argmin", [inp([3, 4])], lambda x, a: torch.argmin(x, a["dim"]), {"dim": 0})
case("logsumexp", "logsumexp", [inp([3, 4])], lambda x, a: torch.logsumexp(x, a["dim"]), {"dim": 1})
case("softmax", "softmax", [inp([3, 4])], lambda x, a: torch.softmax(x, a["dim"]), {"dim": 1})
case("softmax/dim0", "softmax", [inp([4, 3], "any", ("T",))], lambda x, a: torch.softmax(x, a["dim"]), {"dim": 0})
case("log_softmax", "log_softmax", [inp([3, 4])], lambda x, a: torch.log_softmax(x, a["dim"]), {"dim": 1})
case("log_softmax/3d", "log_softmax", [inp([2, 3, 4])], lambda x, a: torch.log_softmax(x, a["dim"]), {"dim": 1})
case("cumsum", "cumsum", [inp([3, 4])], lambda x, a: torch.cumsum(x, a["dim"]), {"dim": 1})
case("cumsum/dim0", "cumsum", [inp([3, 4], "any", ("T",))], lambda x, a: torch.cumsum(x, a["dim"]), {"dim": 0})

# ---- matmul ----------------------------------------------------------------
MM = {
    "dot": ([4], [4], None, None), "mv": ([3, 4], [4], None, None), "vm": ([4], [4, 5], None, None),
    "mm": ([3, 4], [4, 5], None, None), "mm_T": ([3, 4], [4, 5], ("T",), ("T",)),
    "bmm": ([2, 3, 4], [2, 4, 5], None, None), "bcast": ([2, 1, 3, 4], [3, 4, 5], None, None),
    "batch_mat": ([2, 3, 4], [4, 5], None, None), "batch_vec": ([2, 3, 4], [4], None, None),
    "vec_batch": ([4], [2, 4, 5], None, None),
}
for name, (sa, sb, va, vb) in MM.items():
    case(f"matmul/{name}", "matmul", [inp(sa, "any", va), inp(sb, "any", vb)], lambda x, y, a: torch.matmul(x, y))

# ---- shapes and views ------------------------------------------------------
case("reshape", "reshape", [inp([3, 4])], lambda x, a: x.reshape(a["shape"]), {"shape": [2, -1, 3]})
case("reshape/strided", "reshape", [inp([4, 3], "any", ("T",))], lambda x, a: x.reshape(a["shape"]), {"shape": [12]})
case("flatten", "flatten", [inp([2, 3, 4])], lambda x, a: x.flatten(a["start"], a["end"]), {"start": 1, "end": 2})
case("squeeze", "squeeze", [inp([3, 1, 4, 1])], lambda x, a: x.squeeze())
case("squeeze/dim", "squeeze_dim", [inp([3, 1, 4, 1])], lambda x, a: x.squeeze(a["dim"]), {"dim": 1})
case("unsqueeze", "unsqueeze", [inp([3, 4])], lambda x, a: x.unsqueeze(a["dim"]), {"dim": 1})
case("unsqueeze/end", "unsqueeze", [inp([3, 4])], lambda x, a: x.unsqueeze(a["dim"]), {"dim": -1})
case("transpose", "transpose", [inp([2, 3, 4])], lambda x, a: x.transpose(a["d0"], a["d1"]), {"d0": 0, "d1": 2})
case("permute", "permute", [inp([2, 3, 4])], lambda x, a: x.permute(a["dims"]), {"dims": [1, 2, 0]})
case("t", "t", [inp([3, 4])], lambda x, a: x.t())
case("expand", "expand", [inp([3, 1])], lambda x, a: x.expand(a["shape"]), {"shape": [2, 3, 4]})
case("narrow", "narrow", [inp([5, 4])], lambda x, a: x.narrow(a["dim"], a["start"], a["length"]),
     {"dim": 0, "start": 1, "length": 3})
case("slice/step", "slice", [inp([4, 7])], lambda x, a: x[:, 1:6:2], {"dim": 1, "start": 1, "end": 6, "step": 2})
case("slice/neg", "slice", [inp([6, 3])], lambda x, a: x[-4:-1], {"dim": 0, "start": -4, "end": -1, "step": 1})
case("select", "select", [inp([3, 4])], lambda x, a: x.select(a["dim"], a["index"]), {"dim": 1, "index": 2})
case("chunk", "chunk", [inp([7, 2])], lambda x, a: torch.chunk(x, a["n"], a["dim"]), {"n": 3, "dim": 0})
case("split", "split", [inp([2, 5])], lambda x, a: torch.split(x, a["size"], a["dim"]), {"size": 2, "dim": 1})
case("flip", "flip", [inp([3, 4])], lambda x, a: torch.flip(x, a["dims"]), {"dims": [1]})
case("flip/both", "flip", [inp([2, 3, 4], "any", ("perm", [1, 0, 2]))], lambda x, a: torch.flip(x, a["dims"]), {"dims": [0, 2]})
case("repeat", "repeat", [inp([2, 3])], lambda x, a: x.repeat(a["times"]), {"times": [2, 1, 3]})
case("cat", "cat", [inp([2, 3]), inp([4, 3]), inp([1, 3])], lambda x, y, z, a: torch.cat([x, y, z], a["dim"]), {"dim": 0})
case("cat/dim1", "cat", [inp([2, 3], "any", ("T",)), inp([2, 1])], lambda x, y, a: torch.cat([x, y], a["dim"]), {"dim": 1})
case("stack", "stack", [inp([2, 3]), inp([2, 3])], lambda x, y, a: torch.stack([x, y], a["dim"]), {"dim": 1})
case("index_select", "index_select", [inp([5, 3]), inp([4], ("int", 5))],
     lambda x, i, a: torch.index_select(x, a["dim"], i), {"dim": 0})
case("index_select/dim1", "index_select", [inp([3, 5], "any", ("T",)), inp([6], ("int", 3))],
     lambda x, i, a: torch.index_select(x, a["dim"], i), {"dim": 1})
case("gather", "gather", [inp([3, 4]), inp([3, 2], ("int", 4))], lambda x, i, a: torch.gather(x, a["dim"], i), {"dim": 1})
case("gather/dim0", "gather", [inp([3, 4]), inp([2, 4], ("int", 3))], lambda x, i, a: torch.gather(x, a["dim"], i), {"dim": 0})
case("scatter_add", "scatter_add", [inp([3, 4]), inp([3, 2], ("int", 4)), inp([3, 2])],
     lambda x, i, s, a: x.scatter_add(a["dim"], i, s), {"dim": 1})
case("scatter_add/dim0", "scatter_add", [inp([4, 3]), inp([2, 3], ("int", 4)), inp([2, 3])],
     lambda x, i, s, a: x.scatter_add(a["dim"], i, s), {"dim": 0})
case("index_add", "index_add", [inp([5, 3]), inp([4], ("int", 5)), inp([4, 3])],
     lambda x, i, s, a: x.index_add(a["dim"], i, s), {"dim": 0})
case("contiguous", "contiguous", [inp([4, 3], "any", ("T",))], lambda x, a: x.contiguous())
case("clone", "clone", [inp([3, 4])], lambda x, a: x.clone())
case("to_other", "to_other", [inp([3, 4])],
     lambda x, a: x.to(torch.float64 if x.dtype == torch.float32 else torch.float32))

# ---- in-place on non-leaf tensors ------------------------------------------
case("add_inplace", "add_inplace", [inp([3, 4]), inp([4])], lambda x, y, a: (x * 1).add_(y))
case("mul_inplace", "mul_inplace", [inp([3, 4]), inp([3, 4])], lambda x, y, a: (x * 1).mul_(y))
case("mul_scalar_inplace", "mul_scalar_inplace", [inp([3, 4])], lambda x, a: (x * 1).mul_(a["v"]), {"v": 3.0})
case("relu_inplace", "relu_inplace", [inp([3, 4], "away")], lambda x, a: (x * 1).relu_())
case("masked_fill_inplace", "masked_fill_inplace", [inp([3, 4]), inp([3, 4], "bool")],
     lambda x, m, a: (x * 1).masked_fill_(m, a["v"]), {"v": -1.0})

TORCH_DT = {"float32": torch.float32, "float64": torch.float64}


def run_case(c, dtype):
    dt = TORCH_DT[dtype]
    bases, viewed, specs = [], [], []
    for s in c["inputs"]:
        dom = s["domain"]
        base_shape = view_base_shape(s["shape"], s["view"])
        b = rand_input(base_shape, dt, dom)
        if b.dtype.is_floating_point:
            b.requires_grad_(True)
        bases.append(b)
        v = apply_view(b, s["view"])
        assert list(v.shape) == s["shape"], (c["name"], v.shape, s["shape"])
        viewed.append(v)
        enc_b = enc(b)
        enc_b["view"] = s["view"]
        specs.append(enc_b)
    out = c["fn"](*viewed, c["args"])
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    loss = None
    cots = []
    for o in outs:
        if o.dtype.is_floating_point and o.requires_grad:
            cot = torch.randn(o.shape, dtype=o.dtype)
            term = (o * cot).sum()
            loss = term if loss is None else loss + term
            cots.append(enc(cot))
        else:
            cots.append(None)
    grads = [None] * len(bases)
    if loss is not None:
        need = [b for b in bases if b.requires_grad]
        gs = torch.autograd.grad(loss, need, allow_unused=True)
        k = 0
        for i, b in enumerate(bases):
            if b.requires_grad:
                g = gs[k]
                k += 1
                grads[i] = enc(g if g is not None else torch.zeros_like(b))
    return dict(name=f"{c['name']}/{dtype}", op=c["op"], args=c["args"], inputs=specs,
                outputs=[enc(o) for o in outs], cotangents=cots, grads=grads)


def write(name, obj):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")


def gen_ops():
    res = []
    for c in CASES:
        for dt in c["dtypes"]:
            res.append(run_case(c, dt))
    write("ops.json", {"torch": torch.__version__, "cases": res})
    print(f"ops.json: {len(res)} cases, {len(CASES)} op variants")


def gen_print():
    ts = {
        "float_mixed": torch.tensor([[1.5, -2.25, 3.0], [0.125, 4.0, -0.5]]),
        "float_int_valued": torch.tensor([1.0, 2.0, -3.0]),
        "float_sci_small": torch.tensor([1e-5, 2.0, 3.0]),
        "float_sci_big": torch.tensor([1e9, 2.0]),
        "float_ratio": torch.tensor([0.001, 5.0]),
        "float_nan_inf": torch.tensor([float("nan"), float("inf"), -float("inf"), 1.5]),
        "int_valued_nan": torch.tensor([1.0, float("nan"), 3.0]),
        "zeros": torch.zeros(2, 3),
        "neg_zero": torch.tensor([-0.0, 1.0]),
        "float64": torch.tensor([1.0, 2.5], dtype=torch.float64),
        "int64": torch.tensor([[1, -20], [300, 4]]),
        "int32": torch.tensor([7, 8], dtype=torch.int32),
        "uint8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "scalar_int": torch.tensor(-4),
        "empty": torch.zeros(0),
        "empty_2d": torch.zeros(0, 3),
        "empty_f64": torch.zeros(0, dtype=torch.float64),
        "empty_int": torch.zeros(2, 0, dtype=torch.int64),
        "wide": torch.arange(30, dtype=torch.float32) / 7,
        "wide_int": torch.arange(40) * 1001,
        "big": torch.arange(2000, dtype=torch.float32).reshape(40, 50) / 3,
        "big_3d": torch.arange(1200).reshape(12, 10, 10),
        "big_1d": torch.arange(1500, dtype=torch.float64) / 8,
        "three_d": torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) - 10.5,
        "requires_grad": torch.tensor([1.0, 2.0], requires_grad=True),
        "requires_grad_f64": torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True),
        "long_suffix": torch.arange(12, dtype=torch.float64).reshape(2, 6) * 1234.5678,
    }
    res = []
    for name, t in ts.items():
        e = enc(t.detach())
        e["name"] = name
        e["requires_grad"] = t.requires_grad
        e["str"] = str(t)
        res.append(e)
    # a grad_fn suffix
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    y = a * 2
    e = enc(y.detach())
    e.update(name="grad_fn_mul", requires_grad=False, str=str(y))
    res.append(e)
    write("print.json", {"torch": torch.__version__, "cases": res})
    print(f"print.json: {len(res)} cases")


def gen_second():
    out = {"torch": torch.__version__}
    # tanh'' at a few points
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.7], dtype=torch.float64, requires_grad=True)
    y = torch.tanh(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x)
    out["tanh"] = {"x": enc(x.detach()), "d1": enc(g.detach()), "d2": enc(gg)}
    # Hessian-vector product of an MLP's loss with respect to its parameters
    torch.manual_seed(7)
    dt = torch.float64
    X = torch.randn(6, 4, dtype=dt)
    Y = torch.randint(0, 3, (6,))
    W1 = (torch.randn(4, 5, dtype=dt) * 0.5).requires_grad_()
    b1 = (torch.randn(5, dtype=dt) * 0.1).requires_grad_()
    W2 = (torch.randn(5, 3, dtype=dt) * 0.5).requires_grad_()
    b2 = (torch.randn(3, dtype=dt) * 0.1).requires_grad_()
    params = [W1, b1, W2, b2]
    V = [torch.randn_like(p) for p in params]
    h = torch.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    logp = torch.log_softmax(logits, 1)
    loss = -logp.gather(1, Y.unsqueeze(1)).mean()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    gv = sum((g * v).sum() for g, v in zip(grads, V))
    hvp = torch.autograd.grad(gv, params)
    out["mlp_hvp"] = {
        "X": enc(X), "Y": enc(Y), "params": [enc(p.detach()) for p in params], "V": [enc(v) for v in V],
        "loss": loss.item(), "grads": [enc(g.detach()) for g in grads], "hvp": [enc(h) for h in hvp],
    }
    write("second.json", out)
    print("second.json written")


def gen_creation():
    out = {"torch": torch.__version__, "cases": []}

    def add(name, t, **args):
        e = enc(t)
        e["name"] = name
        e["args"] = args
        out["cases"].append(e)

    for start, end, n in [(0, 1, 7), (-3, 5, 10), (2, 2, 1), (1, -1, 4), (0, 10, 0)]:
        add("linspace", torch.linspace(start, end, n), start=start, end=end, n=n)
    for start, end, step in [(0, 5, 1), (2, 11, 3), (5, 0, -2), (0, 1, 0.1), (-1.5, 2, 0.5), (0, 0, 1)]:
        add("arange", torch.arange(start, end, step), start=start, end=end, step=step)
    add("eye", torch.eye(3), n=3)
    add("eye", torch.eye(0), n=0)
    write("creation.json", out)
    print(f"creation.json: {len(out['cases'])} cases")


def gen_promotion():
    """torch.result_type for every pair of dtypes, each operand either a
    tensor with dims or a 0-d tensor."""
    dts = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
           torch.uint8, torch.bool]
    names = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
             torch.bfloat16: "bfloat16", torch.int64: "int64", torch.int32: "int32", torch.uint8: "uint8",
             torch.bool: "bool"}
    res = []
    for a in dts:
        for b in dts:
            for da in (True, False):
                for db in (True, False):
                    x = torch.ones([2] if da else [], dtype=a)
                    y = torch.ones([2] if db else [], dtype=b)
                    r = torch.result_type(x, y)
                    add = None
                    try:
                        add = names[(x + y).dtype]
                    except RuntimeError:
                        pass
                    res.append({"a": names[a], "b": names[b], "a_dims": da, "b_dims": db,
                                "result": names[r], "add": add,
                                "div": names[torch.div(x, y).dtype]})
    write("promotion.json", {"torch": torch.__version__, "cases": res})
    print(f"promotion.json: {len(res)} cases")


if __name__ == "__main__":
    gen_ops()
    gen_print()
    gen_second()
    gen_creation()
    gen_promotion()
