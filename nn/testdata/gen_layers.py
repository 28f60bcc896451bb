"""Writes layers.json: PyTorch reference cases for the feed-forward layers
of package nn (nn/layers_test.go reads them through nn/fixture_test.go).

Run from the repository root with Debian's PyTorch:
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 nn/testdata/gen_layers.py

Each case's "config" names the layer ("kind") and its torch arguments; the
Go test builds the same layer from it. Inputs and parameters are rounded
to multiples of 1/64 (exact in float32 and float64) to keep the file
small; outputs and gradients are torch's, unrounded. Every layer has
float32 cases for all its configurations and float64 cases for some.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layerfix  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

Q = 64.0


def q(t):
    return torch.round(t * Q) / Q


def rin(*shape, dtype=torch.float32, scale=1.0):
    return q(torch.randn(*shape, dtype=torch.float64) * scale).to(dtype)


def quantize(m):
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(q(p))
    return m


cases = []


def add(name, module, inputs, config, dtypes=("float32", "float64"), train=True, prepare=None, forward=None):
    for dt in dtypes:
        torch_dt = getattr(torch, dt)
        # the same module, inputs and state for both dtypes
        g = torch.get_rng_state()
        m = quantize(module()).to(torch_dt)
        if prepare:
            prepare(m)
        ins = [x.to(torch_dt) if isinstance(x, torch.Tensor) and x.dtype.is_floating_point else x for x in inputs]
        c = layerfix.case("%s/%s" % (name, dt), m, ins, forward=forward, config=config, train=train, seed=len(cases))
        # layerfix takes the dtype from the state dict, which parameterless
        # layers lack: set it, so float64 cases get float64 tolerances.
        c["dtype"] = dt
        cases.append(c)
        torch.set_rng_state(g)
    torch.manual_seed(len(cases))


# ---- Linear, Bilinear, Identity, Flatten, Unflatten
add("linear", lambda: nn.Linear(5, 3), [rin(4, 5)], {"kind": "linear", "in": 5, "out": 3})
add("linear/nobias_3d", lambda: nn.Linear(4, 2, bias=False), [rin(2, 3, 4)], {"kind": "linear", "in": 4, "out": 2, "bias": False}, ("float32",))
add("linear/1d", lambda: nn.Linear(3, 2), [rin(3)], {"kind": "linear", "in": 3, "out": 2}, ("float32",))
add("bilinear", lambda: nn.Bilinear(3, 4, 2), [rin(5, 3), rin(5, 4)], {"kind": "bilinear", "in1": 3, "in2": 4, "out": 2},
    forward=lambda m, a, b: m(a, b))
add("bilinear/nobias", lambda: nn.Bilinear(2, 3, 2, bias=False), [rin(2, 2, 2), rin(2, 2, 3)],
    {"kind": "bilinear", "in1": 2, "in2": 3, "out": 2, "bias": False}, ("float32",), forward=lambda m, a, b: m(a, b))
add("identity", lambda: nn.Identity(), [rin(2, 3)], {"kind": "identity"})
add("flatten", lambda: nn.Flatten(), [rin(2, 2, 2, 3)], {"kind": "flatten"})
add("flatten/dims", lambda: nn.Flatten(0, 2), [rin(2, 2, 2, 3)], {"kind": "flatten", "start": 0, "end": 2}, ("float32",))
add("unflatten", lambda: nn.Unflatten(1, (2, -1)), [rin(2, 6, 2)], {"kind": "unflatten", "dim": 1, "sizes": [2, -1]})

# ---- convolutions
def conv_cfg(kind, cin, cout, k, **kw):
    c = {"kind": kind, "in": cin, "out": cout, "kernel": k}
    c.update(kw)
    return c


def conv1d(name, cin, cout, k, shape, dtypes=("float32",), **kw):
    add(name, lambda: nn.Conv1d(cin, cout, k, **kw), [rin(*shape)], conv_cfg("conv1d", cin, cout, k, **kw), dtypes)


def conv2d(name, cin, cout, k, shape, dtypes=("float32",), **kw):
    add(name, lambda: nn.Conv2d(cin, cout, k, **kw), [rin(*shape)], conv_cfg("conv2d", cin, cout, k, **kw), dtypes)


def convt2d(name, cin, cout, k, shape, dtypes=("float32",), **kw):
    add(name, lambda: nn.ConvTranspose2d(cin, cout, k, **kw), [rin(*shape)], conv_cfg("conv_transpose2d", cin, cout, k, **kw), dtypes)


conv1d("conv1d", 3, 4, 3, (2, 3, 8), ("float32", "float64"))
conv1d("conv1d/stride2_pad1", 3, 2, 3, (1, 3, 9), stride=2, padding=1)
conv1d("conv1d/dilation2_groups", 4, 2, 2, (1, 4, 7), dilation=2, groups=2)
conv1d("conv1d/same_nobias", 2, 3, 4, (1, 2, 7), padding="same", bias=False)

conv2d("conv2d", 3, 4, 3, (2, 3, 5, 5), ("float32", "float64"))
conv2d("conv2d/stride2_pad1", 3, 2, 3, (1, 3, 6, 6), ("float32", "float64"), stride=2, padding=1)
conv2d("conv2d/dilation2", 2, 2, 3, (1, 2, 7, 6), dilation=2, padding=1)
conv2d("conv2d/groups2", 4, 2, 3, (1, 4, 5, 5), groups=2)
conv2d("conv2d/depthwise", 3, 6, 3, (1, 3, 5, 5), groups=3, padding=1, bias=False)
conv2d("conv2d/same", 2, 3, 3, (1, 2, 5, 4), padding="same")
conv2d("conv2d/same_even_dilated", 2, 2, 4, (1, 2, 6, 6), padding="same", dilation=2)
conv2d("conv2d/nobias", 2, 3, 1, (2, 2, 3, 3), bias=False)
conv2d("conv2d/rect", 2, 2, (2, 3), (1, 2, 5, 6), stride=(1, 2), padding=(1, 0), dilation=(2, 1))
conv2d("conv2d/reflect", 2, 2, 3, (1, 2, 4, 5), padding=1, padding_mode="reflect")
conv2d("conv2d/circular", 2, 2, 3, (1, 2, 4, 4), padding=(1, 2), padding_mode="circular")
conv2d("conv2d/same_reflect_even", 2, 2, (4, 3), (1, 2, 5, 6), padding="same", padding_mode="reflect")
conv2d("conv2d/replicate", 1, 2, 3, (1, 1, 4, 4), stride=2, padding=1, padding_mode="replicate")

convt2d("conv_transpose2d", 3, 2, 3, (2, 3, 4, 4), ("float32", "float64"))
convt2d("conv_transpose2d/stride2_outpad", 2, 3, 3, (1, 2, 3, 3), ("float32", "float64"), stride=2, padding=1, output_padding=1)
convt2d("conv_transpose2d/groups2", 4, 2, 2, (1, 4, 3, 3), stride=2, groups=2)
convt2d("conv_transpose2d/dilation_nobias", 2, 2, 3, (1, 2, 3, 4), dilation=2, padding=2, bias=False)
convt2d("conv_transpose2d/rect", 2, 2, (2, 3), (1, 2, 3, 3), stride=(2, 1), padding=(0, 1), output_padding=(1, 0))

# ---- pooling
def pool(name, ctor, kind, shape, dtypes=("float32",), **kw):
    c = {"kind": kind}
    c.update(kw)
    add(name, lambda: ctor(**kw), [rin(*shape)], c, dtypes)


pool("maxpool1d", nn.MaxPool1d, "maxpool1d", (2, 2, 7), ("float32", "float64"), kernel_size=3, stride=2, padding=1)
pool("maxpool1d/ceil", nn.MaxPool1d, "maxpool1d", (1, 2, 8), kernel_size=3, stride=2, ceil_mode=True)
pool("maxpool2d", nn.MaxPool2d, "maxpool2d", (2, 2, 4, 4), ("float32", "float64"), kernel_size=2)
pool("maxpool2d/k3s2p1", nn.MaxPool2d, "maxpool2d", (1, 2, 7, 6), kernel_size=3, stride=2, padding=1)
pool("maxpool2d/ceil_dilation", nn.MaxPool2d, "maxpool2d", (1, 1, 8, 7), kernel_size=2, stride=2, dilation=2, ceil_mode=True)
pool("avgpool2d", nn.AvgPool2d, "avgpool2d", (2, 2, 4, 4), ("float32", "float64"), kernel_size=2)
pool("avgpool2d/k3s2p1", nn.AvgPool2d, "avgpool2d", (1, 2, 7, 6), kernel_size=3, stride=2, padding=1)
pool("avgpool2d/exclude_pad_ceil", nn.AvgPool2d, "avgpool2d", (1, 2, 6, 5), kernel_size=3, stride=2, padding=1,
     ceil_mode=True, count_include_pad=False)
pool("avgpool2d/divisor", nn.AvgPool2d, "avgpool2d", (1, 1, 4, 6), kernel_size=(2, 3), stride=(2, 1), divisor_override=5)
pool("adaptive_avgpool2d/1", nn.AdaptiveAvgPool2d, "adaptive_avgpool2d", (2, 3, 4, 5), ("float32", "float64"), output_size=(1, 1))
pool("adaptive_avgpool2d/uneven", nn.AdaptiveAvgPool2d, "adaptive_avgpool2d", (1, 2, 7, 5), output_size=(3, 2))


# ---- normalization
def bn_prepare(nbt=0):
    def prep(m):
        with torch.no_grad():
            if m.affine:
                m.weight.copy_(q(1 + 0.5 * torch.randn(m.num_features)))
                m.bias.copy_(q(0.5 * torch.randn(m.num_features)))
            if m.track_running_stats:
                m.running_mean.copy_(q(torch.randn(m.num_features)))
                m.running_var.copy_(q(0.5 + torch.rand(m.num_features)))
                m.num_batches_tracked.fill_(nbt)
    return prep


def bn_cfg(kind, c, **kw):
    cfg = {"kind": kind, "features": c}
    cfg.update(kw)
    return cfg


def bn(name, ctor, kind, c, shape, dtypes=("float32",), train=True, nbt=0, **kw):
    add(name, lambda: ctor(c, **kw), [rin(*shape, scale=2) + 1], bn_cfg(kind, c, **kw), dtypes, train=train, prepare=bn_prepare(nbt))


bn("batchnorm1d/train", nn.BatchNorm1d, "batchnorm1d", 3, (6, 3), ("float32", "float64"))
bn("batchnorm1d/train_3d_momentum", nn.BatchNorm1d, "batchnorm1d", 3, (4, 3, 5), momentum=0.3, nbt=7)
bn("batchnorm1d/eval", nn.BatchNorm1d, "batchnorm1d", 3, (4, 3, 5), ("float32", "float64"), train=False)
bn("batchnorm1d/cumulative", nn.BatchNorm1d, "batchnorm1d", 3, (5, 3), momentum=None, nbt=3)
bn("batchnorm1d/noaffine_eps", nn.BatchNorm1d, "batchnorm1d", 2, (4, 2), affine=False, eps=1e-3)
bn("batchnorm1d/notrack_train", nn.BatchNorm1d, "batchnorm1d", 2, (4, 2, 3), track_running_stats=False)
bn("batchnorm1d/notrack_eval", nn.BatchNorm1d, "batchnorm1d", 2, (4, 2, 3), train=False, track_running_stats=False)
bn("batchnorm2d/train", nn.BatchNorm2d, "batchnorm2d", 3, (2, 3, 3, 4), ("float32", "float64"), nbt=2)
bn("batchnorm2d/eval", nn.BatchNorm2d, "batchnorm2d", 3, (2, 3, 3, 3), ("float32", "float64"), train=False, nbt=5)
bn("batchnorm2d/eval_noaffine", nn.BatchNorm2d, "batchnorm2d", 2, (1, 2, 3, 3), train=False, affine=False)


def ln_prepare(m):
    with torch.no_grad():
        if m.elementwise_affine:
            m.weight.copy_(q(1 + 0.5 * torch.randn(m.weight.shape)))
            m.bias.copy_(q(0.5 * torch.randn(m.bias.shape)))


add("layernorm", lambda: nn.LayerNorm(5), [rin(3, 5, scale=2)], {"kind": "layernorm", "shape": [5]}, prepare=ln_prepare)
add("layernorm/2dims", lambda: nn.LayerNorm((3, 4)), [rin(2, 3, 4, scale=2)], {"kind": "layernorm", "shape": [3, 4]}, prepare=ln_prepare)
add("layernorm/noaffine_eps", lambda: nn.LayerNorm(4, eps=1e-2, elementwise_affine=False), [rin(2, 3, 4)],
    {"kind": "layernorm", "shape": [4], "eps": 1e-2, "affine": False}, ("float32",))


def gn(name, groups, c, shape, dtypes=("float32",), **kw):
    cfg = {"kind": "groupnorm", "groups": groups, "channels": c}
    cfg.update(kw)
    add(name, lambda: nn.GroupNorm(groups, c, **kw), [rin(*shape, scale=2)], cfg, dtypes, prepare=ln_prepare_gn)


def ln_prepare_gn(m):
    with torch.no_grad():
        if m.affine:
            m.weight.copy_(q(1 + 0.5 * torch.randn(m.weight.shape)))
            m.bias.copy_(q(0.5 * torch.randn(m.bias.shape)))


gn("groupnorm", 2, 6, (2, 6, 2, 3), ("float32", "float64"))
gn("groupnorm/one_group", 1, 3, (2, 3, 4))
gn("groupnorm/per_channel_noaffine", 4, 4, (2, 4, 3), affine=False, eps=1e-3)

# ---- embedding
idx = torch.tensor([[1, 3, 3, 0, 9], [0, 0, 7, 3, 1]])
add("embedding", lambda: nn.Embedding(10, 3), [idx], {"kind": "embedding", "num": 10, "dim": 3})
add("embedding/padding0", lambda: nn.Embedding(10, 3, padding_idx=0), [idx], {"kind": "embedding", "num": 10, "dim": 3, "padding_idx": 0})
add("embedding/padding_neg", lambda: nn.Embedding(10, 2, padding_idx=-1), [torch.tensor([9, 2, 9, 4])],
    {"kind": "embedding", "num": 10, "dim": 2, "padding_idx": -1}, ("float32",))

# ---- activations
def act(name, module, cfg, dtypes=("float32",)):
    cfg = dict(cfg)
    cfg["kind"] = "activation"
    add(name, module, [rin(3, 5, scale=2)], cfg, dtypes)


act("relu", lambda: nn.ReLU(), {"name": "relu"}, ("float32", "float64"))
act("leaky_relu", lambda: nn.LeakyReLU(), {"name": "leaky_relu"}, ("float32", "float64"))
act("leaky_relu/0.2", lambda: nn.LeakyReLU(0.2), {"name": "leaky_relu", "slope": 0.2})
act("gelu", lambda: nn.GELU(), {"name": "gelu"}, ("float32", "float64"))
act("gelu/tanh", lambda: nn.GELU(approximate="tanh"), {"name": "gelu", "approximate": "tanh"}, ("float32", "float64"))
act("silu", lambda: nn.SiLU(), {"name": "silu"}, ("float32", "float64"))
act("tanh", lambda: nn.Tanh(), {"name": "tanh"}, ("float32", "float64"))
act("sigmoid", lambda: nn.Sigmoid(), {"name": "sigmoid"}, ("float32", "float64"))
act("softmax", lambda: nn.Softmax(dim=1), {"name": "softmax", "dim": 1}, ("float32", "float64"))
act("softmax/dim0", lambda: nn.Softmax(dim=0), {"name": "softmax", "dim": 0})
act("log_softmax", lambda: nn.LogSoftmax(dim=-1), {"name": "log_softmax", "dim": -1}, ("float32", "float64"))

# ---- init: torch.nn.init.calculate_gain, for nn/init's tests
gains = []
for nl, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                  ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 5 ** 0.5), ("selu", None)]:
    gains.append({"nonlinearity": nl, "param": param, "gain": nn.init.calculate_gain(nl, param)})

here = os.path.dirname(os.path.abspath(__file__))
layerfix.write(os.path.join(here, "layers.json"), cases)
import json  # noqa: E402

with open(os.path.join(here, "..", "init", "testdata", "gains.json"), "w") as f:
    json.dump({"torch": torch.__version__, "gains": gains}, f, indent=1)
print(len(cases), "cases,", os.path.getsize(os.path.join(here, "layers.json")), "bytes")
