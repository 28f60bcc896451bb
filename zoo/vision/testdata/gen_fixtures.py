"""Writes the fixtures of package zoo/vision: checks that Tapir's vision
models have torchvision's state-dict keys (names, order, shapes, dtypes)
and give torchvision's logits, and that the preprocessing helpers give
torchvision.transforms' tensors.

torchvision's weights are far too big to commit (resnet50 ~100 MB, vgg11
~500 MB), so every parameter and buffer is overwritten by a formula the Go
test computes too. For the k-th tensor in state-dict order, element i (in
row-major order) is

    offset_k + scale_k * sin(0.37 * (i mod 10007) + k) ** power_k

and num_batches_tracked is the integer 100 + k. The period keeps the Go
side cheap for VGG's 100-million-element classifier. The scales keep
activations of order one: conv weights sqrt(2)*sqrt(2/fan_in)*g (the sine's
mean square is 1/2, so this is He's initialisation times g), linear
weights sqrt(2/in), BatchNorm weights 1 + 0.2*sin (times g on the last
BatchNorm of a residual branch), biases and running means 0.1*sin,
running_var 0.5 + 0.5*sin^2 (positive, and far from torch's defaults 0
and 1, so a model that ignored the running statistics would fail). The
input is x_i = sin(0.11*i + 0.5) over the shape recorded.

Files (all small):
  <arch>.json      keys with formula parameters, input, eval logits
                   (float32; float64 too for resnet18)
  keys.json        keys, shapes and dtypes only, for architectures whose
                   logits are not checked (deeper ResNets, other VGGs)
  train_resnet18.json  a train-mode step of resnet18 in float64: loss,
                   gradient projections of every parameter, BatchNorm
                   running statistics after the step
  *.png, preprocess.json  synthetic images and torchvision.transforms'
                   output for them

Run from the repository root with Debian's PyTorch and torchvision:
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 zoo/vision/testdata/gen_fixtures.py
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T
from PIL import Image

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

HERE = os.path.dirname(os.path.abspath(__file__))
PERIOD = 10007


class LeNet(nn.Module):
    """The CNN Tapir's zoo calls LeNet (Keras' MNIST convnet, with
    parameter names of our own)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(1600, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


def build(arch):
    if arch == "lenet":
        return LeNet()
    if arch == "mobilenet_v2_w0.5":
        return torchvision.models.mobilenet_v2(width_mult=0.5)
    return getattr(torchvision.models, arch)()


def formula(n, k, offset, scale, power):
    i = torch.arange(n, dtype=torch.float64) % PERIOD
    return offset + scale * torch.sin(0.37 * i + k) ** power


def residual_last_bn(arch, name):
    """The last BatchNorm of a residual branch, whose scale g damps the
    growth of the residual stream."""
    if not arch.startswith("resnet"):
        return False
    last = "bn2." if arch in ("resnet18", "resnet34") else "bn3."
    return name.startswith("layer") and last in name


def params_for(arch, name, t, gain):
    if name.endswith("num_batches_tracked"):
        return None
    if name.endswith("running_var"):
        return (0.5, 0.5, 2)
    if name.endswith("running_mean"):
        return (0.0, 0.1, 1)
    if t.dim() == 4:  # conv weight
        fan_in = t[0].numel()
        return (0.0, math.sqrt(2) * math.sqrt(2.0 / fan_in), 1)
    if t.dim() == 2:  # linear weight
        return (0.0, math.sqrt(2.0 / t.shape[1]), 1)
    if name.endswith("weight"):  # BatchNorm weight
        if residual_last_bn(arch, name):
            return (gain, 0.2 * gain, 1)
        return (1.0, 0.2, 1)
    return (0.0, 0.1, 1)  # biases


def formula_state(arch, model, gain):
    sd = model.state_dict()
    keys, new, new64 = [], {}, {}
    for k, (name, t) in enumerate(sd.items()):
        p = params_for(arch, name, t, gain)
        entry = {"key": name, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
        if p is None:
            entry["int"] = 100 + k
            new[name] = new64[name] = torch.full_like(t, 100 + k)
        else:
            entry["offset"], entry["scale"], entry["power"] = p
            new64[name] = formula(t.numel(), k, *p).reshape(t.shape)
            new[name] = new64[name].to(t.dtype)
        keys.append(entry)
    return keys, new, new64


def sine_input(shape, freq=0.11, phase=0.5):
    n = int(np.prod(shape))
    return torch.sin(freq * torch.arange(n, dtype=torch.float64) + phase).reshape(shape)


def f32list(t):
    return [float(np.format_float_positional(v, unique=True)) for v in t.reshape(-1).float().numpy()]


def write(name, obj):
    path = os.path.join(HERE, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    print("%-24s %7d bytes" % (name, os.path.getsize(path)))


def logits_fixture(arch, shape, gain=1.0, float64=False):
    model = build(arch)
    keys, new, new64 = formula_state(arch, model, gain)
    model.load_state_dict(new, strict=True)
    model.eval()
    x = sine_input(shape)
    with torch.no_grad():
        y32 = model(x.float())
    out = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "arch": arch,
        "period": PERIOD,
        "keys": keys,
        "input": {"shape": list(shape), "freq": 0.11, "phase": 0.5},
        "logits_float32": f32list(y32),
    }
    msg = "%s: logits std %.4g max %.4g" % (arch, y32.std().item(), y32.abs().max().item())
    if float64:
        model64 = build(arch).double()
        model64.load_state_dict(new64, strict=True)
        model64.eval()
        with torch.no_grad():
            y64 = model64(x)
        out["logits_float64"] = y64.reshape(-1).tolist()
        msg += "; float32 vs float64 max diff %.3g" % (y32.double() - y64).abs().max().item()
    print(msg)
    write(arch + ".json", out)


def keys_fixture(archs):
    out = {}
    for arch in archs:
        sd = build(arch).state_dict()
        out[arch] = [[k, list(t.shape), str(t.dtype).replace("torch.", "")] for k, t in sd.items()]
    write("keys.json", out)


def train_fixture():
    """One train-mode forward and backward of resnet18 in float64, batch
    4 of 3x32x32 (BatchNorm then uses the batch's statistics and updates
    its running ones), cross-entropy loss against fixed targets."""
    arch = "resnet18"
    model = build(arch).double()
    keys, _, new64 = formula_state(arch, model, 0.5)
    model.load_state_dict(new64, strict=True)
    model.train()
    x = sine_input([4, 3, 32, 32])
    target = torch.tensor([1, 7, 42, 999])
    loss = F.cross_entropy(model(x), target)
    loss.backward()
    grads = []
    for name, p in model.named_parameters():
        g = p.grad.reshape(-1)
        proj = torch.cos(0.13 * torch.arange(g.numel(), dtype=torch.float64))
        grads.append({"name": name, "norm": g.norm().item(), "proj": (g * proj).sum().item()})
    buffers = {}
    for name, b in model.named_buffers():
        if name.startswith("bn1.") or name.startswith("layer4.1.bn2."):
            buffers[name] = b.reshape(-1).tolist()
    write("train_resnet18.json", {
        "arch": arch, "period": PERIOD, "keys": keys,
        "input": {"shape": [4, 3, 32, 32], "freq": 0.11, "phase": 0.5},
        "target": target.tolist(), "loss": loss.item(),
        "grads": grads, "buffers": buffers,
    })


def pattern_image(w, h, mode):
    """A deterministic image with smooth gradients and fine detail, so that
    resizing with and without antialiasing give different results."""
    y, x = np.mgrid[0:h, 0:w]
    chans = []
    for c in range(3):
        v = (x * (5 + 2 * c) + y * (3 + c) + ((x * y + 11 * c) % 17) * 6 + 40 * c) % 256
        chans.append(v)
    arr = np.stack(chans, axis=-1).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    if mode == "L":
        img = img.convert("L")
    return img


MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def preprocess_fixture():
    images = {"rgb_70x45.png": pattern_image(70, 45, "RGB"), "gray_50x80.png": pattern_image(50, 80, "L")}
    for name, img in images.items():
        img.save(os.path.join(HERE, name))
    cases = []
    for name, resize, crop in [
        ("rgb_70x45.png", 16, 16),    # downscale ×2.8, crop the long side
        ("rgb_70x45.png", 30, 24),    # downscale ×1.5
        ("rgb_70x45.png", 100, 24),   # upscale
        ("gray_50x80.png", 20, 20),   # downscale ×2.5, portrait
        ("gray_50x80.png", 64, 24),   # upscale, portrait
    ]:
        img = Image.open(os.path.join(HERE, name)).convert("RGB")
        for aa in (False, True):
            t = T.Compose([T.ToTensor(), T.Resize(resize, antialias=aa), T.CenterCrop(crop), T.Normalize(MEAN, STD)])
            y = t(img)
            cases.append({"image": name, "resize": resize, "crop": crop, "antialias": aa,
                          "shape": list(y.shape), "values": f32list(y)})
    # ImageNetTransform itself (resize 256, crop 224): too many values to
    # keep, so every 37th, with the sum and the sum of squares
    img = Image.open(os.path.join(HERE, "rgb_70x45.png")).convert("RGB")
    y = T.Compose([T.ToTensor(), T.Resize(256), T.CenterCrop(224), T.Normalize(MEAN, STD)])(img)
    flat = y.reshape(-1).double()
    imagenet = {"image": "rgb_70x45.png", "shape": list(y.shape), "stride": 37,
                "values": f32list(flat[::37]), "sum": flat.sum().item(), "sumsq": (flat ** 2).sum().item()}
    write("preprocess.json", {"mean": MEAN, "std": STD, "cases": cases, "imagenet": imagenet})


if __name__ == "__main__":
    logits_fixture("resnet18", [2, 3, 64, 64], gain=0.5, float64=True)
    logits_fixture("resnet34", [1, 3, 64, 64], gain=0.4)
    logits_fixture("resnet50", [1, 3, 64, 64], gain=0.25)
    logits_fixture("mobilenet_v2", [2, 3, 64, 64])
    logits_fixture("vgg11", [1, 3, 32, 32])
    logits_fixture("lenet", [2, 1, 28, 28])
    keys_fixture(["resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2_w0.5",
                  "vgg11_bn", "vgg13", "vgg16", "vgg16_bn", "vgg19_bn"])
    train_fixture()
    preprocess_fixture()
