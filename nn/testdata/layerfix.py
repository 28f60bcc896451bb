"""Shared writer for nn layer fixtures (imported by the gen_*.py scripts here).

A case records a torch module's state dict, its inputs, its forward
outputs, a random cotangent per output, and the gradients of
sum(output * cotangent) with respect to every parameter ("param.<name>")
and every floating-point input ("input.<i>"). nn/fixture_test.go reads it.
Run the generators with Debian's /usr/bin/python3 (python3-torch 1.13):
OPENBLAS_NUM_THREADS=1 /usr/bin/python3 nn/testdata/gen_layers.py
"""
import json
import math

import torch


def enc(t):
    t = t.detach()
    if t.dtype == torch.bool:
        data = [bool(v) for v in t.reshape(-1).tolist()]
    elif t.dtype.is_floating_point:
        data = []
        for v in t.reshape(-1).double().tolist():
            if math.isnan(v):
                data.append("nan")
            elif math.isinf(v):
                data.append("inf" if v > 0 else "-inf")
            else:
                data.append(v)
    else:
        data = [int(v) for v in t.reshape(-1).tolist()]
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "data": data}


def case(name, module, inputs, forward=None, config=None, seed=0, train=True):
    """Runs module (in its current dtype) on inputs and returns a case dict.

    forward(module, *inputs) returns a tensor or a tuple of tensors
    (nested tuples are flattened, non-float outputs are kept without
    cotangent); by default module(*inputs). Inputs that are floating point
    get requires_grad.
    """
    module.train(train)
    ins = []
    for x in inputs:
        if isinstance(x, torch.Tensor) and x.dtype.is_floating_point:
            x = x.detach().clone().requires_grad_(True)
        ins.append(x)
    state = {k: enc(v) for k, v in module.state_dict().items()}
    out = forward(module, *ins) if forward else module(*ins)
    outs = flatten(out)
    g = torch.Generator().manual_seed(seed + 12345)
    loss = 0
    cots = []
    for o in outs:
        if o.dtype.is_floating_point:
            c = torch.randn(o.shape, generator=g, dtype=torch.float64).to(o.dtype)
            cots.append(enc(c))
            loss = loss + (o * c).sum()
        else:
            cots.append(None)
    pnames = {k for k, _ in module.named_parameters()}
    after = {k: enc(v) for k, v in module.state_dict().items() if k not in pnames}
    params = [(k, p) for k, p in module.named_parameters() if p.requires_grad]
    wrt = [p for _, p in params] + [x for x in ins if isinstance(x, torch.Tensor) and x.requires_grad]
    grads = torch.autograd.grad(loss, wrt, allow_unused=True) if wrt else []
    gd = {}
    for (k, _), gr in zip(params, grads[: len(params)]):
        if gr is not None:
            gd["param." + k] = enc(gr)
    gi = iter(grads[len(params):])
    for i, x in enumerate(ins):
        if isinstance(x, torch.Tensor) and x.requires_grad:
            gr = next(gi)
            if gr is not None:
                gd["input.%d" % i] = enc(gr)
    return {
        "name": name,
        "dtype": case_dtype(module, ins),
        "config": config or {},
        "train": train,
        "state": state,
        "state_keys": list(module.state_dict().keys()),
        "inputs": [enc(x) if isinstance(x, torch.Tensor) else x for x in ins],
        "outputs": [enc(o) for o in outs],
        "cotangents": cots,
        "grads": gd,
        "buffers_after": after,
    }


def case_dtype(module, ins):
    """The dtype that sets the tolerance: the first floating-point parameter
    or buffer, else the first floating-point input."""
    for v in list(module.state_dict().values()) + [x for x in ins if isinstance(x, torch.Tensor)]:
        if v.dtype.is_floating_point:
            return str(v.dtype).replace("torch.", "")
    return "float32"


def flatten(out):
    if isinstance(out, torch.Tensor):
        return [out]
    res = []
    for o in out:
        if o is None:
            continue
        res.extend(flatten(o))
    return res


def write(path, cases):
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
