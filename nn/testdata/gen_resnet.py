"""Writes resnet18.json: a check that Tapir's ResNet-18 (nn/resnet_test.go)
has torchvision's state-dict keys and gives torchvision's eval-mode logits.

torchvision's own weights are 45 MB, so instead every parameter and buffer
of torchvision.models.resnet18() is overwritten by a formula that the Go
test computes too. For the k-th tensor in state-dict order, element i (in
row-major order) is

    offset_k + scale_k * sin(0.37*i + k) ** power_k

with power 1, except running_var (power 2, so it stays positive), and
num_batches_tracked is the integer 100 + k. The scales keep activations
of order one: conv weights sqrt(2)*sqrt(2/fan_in) (the sine's mean square
is 1/2), BatchNorm weights 1 + 0.2*sin, biases and running means 0.1*sin,
running_var 0.5 + 0.5*sin^2, fc weight sqrt(2/512)*sin. The input is
x_i = sin(0.11*i + 0.5) over a [2, 3, 64, 64] tensor.

The file records, for each key in order, its shape, dtype, offset, scale
and power, and the logits [2, 1000] in float32 and float64.

Run from the repository root with Debian's PyTorch and torchvision:
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 nn/testdata/gen_resnet.py
"""
import json
import math
import os

import numpy as np
import torch
import torchvision

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def formula(n, k, offset, scale, power):
    i = torch.arange(n, dtype=torch.float64)
    return offset + scale * torch.sin(0.37 * i + k) ** power


def params_for(name, t):
    if name.endswith("num_batches_tracked"):
        return None
    if name.endswith("running_var"):
        return (0.5, 0.5, 2)
    if name.endswith("running_mean"):
        return (0.0, 0.1, 1)
    if t.dim() == 4:  # conv weight
        fan_in = t[0].numel()
        return (0.0, math.sqrt(2) * math.sqrt(2.0 / fan_in), 1)
    if name == "fc.weight":
        return (0.0, math.sqrt(2.0 / t.shape[1]), 1)
    if name.endswith("weight"):  # BatchNorm weight
        return (1.0, 0.2, 1)
    return (0.0, 0.1, 1)  # biases


model = torchvision.models.resnet18()
sd = model.state_dict()
keys = []
new = {}
new64 = {}  # the same values before rounding to float32
for k, (name, t) in enumerate(sd.items()):
    p = params_for(name, t)
    entry = {"key": name, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
    if p is None:
        entry["int"] = 100 + k
        new[name] = new64[name] = torch.full_like(t, 100 + k)
    else:
        entry["offset"], entry["scale"], entry["power"] = p
        new64[name] = formula(t.numel(), k, *p).reshape(t.shape)
        new[name] = new64[name].to(t.dtype)
    keys.append(entry)
model.load_state_dict(new, strict=True)  # converts the float64 values to float32
model.eval()
# the float64 model gets the formula's float64 values, not float32's
model64 = torchvision.models.resnet18().double()
model64.load_state_dict(new64, strict=True)
model64.eval()

x64 = torch.sin(0.11 * torch.arange(2 * 3 * 64 * 64, dtype=torch.float64) + 0.5).reshape(2, 3, 64, 64)
with torch.no_grad():
    y32 = model(x64.float())
    y64 = model64(x64)
print("logits float32: std %.4g max %.4g; float32 vs float64 max diff %.3g"
      % (y32.std().item(), y32.abs().max().item(), (y32.double() - y64).abs().max().item()))

out = {
    "torch": torch.__version__,
    "torchvision": torchvision.__version__,
    "keys": keys,
    "input": {"shape": [2, 3, 64, 64], "freq": 0.11, "phase": 0.5},
    "logits_float32": [float(np.format_float_positional(v, unique=True)) for v in y32.reshape(-1).numpy()],
    "logits_float64": y64.reshape(-1).tolist(),
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resnet18.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print(len(keys), "keys,", os.path.getsize(path), "bytes")
