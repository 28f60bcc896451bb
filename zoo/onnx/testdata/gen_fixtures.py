#!/usr/bin/env python3
"""Writes the torch-exported ONNX fixtures of zoo/onnx's tests.

Run with Debian's Python and PyTorch (apt-get install python3-torch
python3-onnx; torch 1.13, onnx 1.12), from this directory:

    /usr/bin/python3 gen_fixtures.py

For each of three small models, a CNN (Conv, BatchNormalization, Relu,
MaxPool, Flatten, Gemm, Softmax) and a transformer-style block (MatMul,
attention with Softmax, LayerNorm, GELU through Erf) and a mixed bag
(Conv3d, ConvTranspose, nearest upsampling, reflection Pad, GRU, LSTM:
see Misc), it exports
NAME_opsetN.onnx at opsets 9, 13 and 17 with a dynamic batch axis, and
writes, as ONNX TensorProto files, inputs and torch's outputs at batch
sizes 1 and 3 (NAME_bB_VALUE.pb for each input and output), and, for the
one-output models, the gradients
of loss = sum(output * probe) at batch 3 with respect to the parameters
(NAME_grad_PARAM.pb, with PARAM the state-dict name) and the probe
(NAME_probe.pb). torch is the oracle; the Go tests never compare with
their own output.
"""
import io
import math
import os

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

OPSETS = (9, 13, 17)
BATCHES = (1, 3)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 12, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(12)  # after a pool: stays a BatchNormalization node
        self.fc = nn.Linear(12 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = self.bn2(F.max_pool2d(F.relu(self.conv2(x)), 2))
        x = torch.flatten(x, 1)
        return F.softmax(self.fc(x), dim=1)


class Block(nn.Module):
    """Pre-norm self-attention and feed-forward, as in a transformer layer."""

    def __init__(self, d=16, heads=2, ff=32):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ff)
        self.fc2 = nn.Linear(ff, d)

    def forward(self, x):
        b, t, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        q = q.reshape(b, t, h, d // h).transpose(1, 2)
        k = k.reshape(b, t, h, d // h).transpose(1, 2)
        v = v.reshape(b, t, h, d // h).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // h), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def save_tensor(path, t, name):
    p = numpy_helper.from_array(t.detach().numpy(), name=name)
    with open(path, "wb") as f:
        f.write(p.SerializeToString())


def export(name, model, make_inputs, in_names=("input",), out_names=("output",)):
    """Exports model at each opset and writes its fixtures.

    make_inputs(batch) returns the tuple of inputs; every input and
    output has a dynamic first (batch) axis.
    """
    model.eval()
    axes = {n: {0: "batch"} for n in in_names + out_names}
    for opset in OPSETS:
        buf = io.BytesIO()
        torch.onnx.export(
            model, make_inputs(2), buf, opset_version=opset,
            input_names=list(in_names), output_names=list(out_names),
            dynamic_axes=axes,
        )
        m = onnx.load_from_string(buf.getvalue())
        onnx.checker.check_model(m)
        onnx.save(m, f"{name}_opset{opset}.onnx")
    inputs = {}
    for b in BATCHES:
        xs = inputs[b] = make_inputs(b)
        with torch.no_grad():
            ys = model(*xs)
        if not isinstance(ys, tuple):
            ys = (ys,)
        for n, x in zip(in_names, xs):
            save_tensor(f"{name}_b{b}_{n}.pb", x, n)
        for n, y in zip(out_names, ys):
            save_tensor(f"{name}_b{b}_{n}.pb", y, n)
    # Gradients of sum(output * probe) at the last batch size.
    y = model(*inputs[BATCHES[-1]])
    if isinstance(y, tuple):
        return
    probe = torch.randn(y.shape)
    model.zero_grad()
    (y * probe).sum().backward()
    save_tensor(f"{name}_probe.pb", probe, "probe")
    for pname, p in model.named_parameters():
        save_tensor(f"{name}_grad_{pname}.pb", p.grad, pname)


class Misc(nn.Module):
    """Operators torch exports that the other models lack: a 3-d
    convolution, a transposed convolution with output padding, nearest
    upsampling, reflection padding, global pooling, a bidirectional GRU and
    an LSTM whose initial states depend on the dynamic batch size."""

    def __init__(self):
        super().__init__()
        self.c3 = nn.Conv3d(2, 3, 3, padding=1, stride=(1, 2, 2))
        self.ct = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
        self.gru = nn.GRU(8, 6, batch_first=True, bidirectional=True)
        self.lstm = nn.LSTM(12, 5)

    def forward(self, x, seq):
        y = F.relu(self.c3(x)).mean(2)
        y = self.ct(y)
        y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        y = F.pad(y, (1, 1, 2, 0), mode="reflect")
        y = F.adaptive_avg_pool2d(y, 1).flatten(1)
        s, _ = self.gru(seq)
        s, _ = self.lstm(s.transpose(0, 1))
        return y, s.transpose(0, 1)


def main():
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    torch.manual_seed(0)
    cnn = SmallCNN()
    with torch.no_grad():  # statistics that are not the identity
        for bn in (cnn.bn1, cnn.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    export("cnn", cnn, lambda b: (torch.randn(b, 3, 16, 16),))
    block = Block()
    with torch.no_grad():  # distinct values, or the exporter merges equal initializers
        for ln in (block.ln1, block.ln2):
            ln.weight.uniform_(0.5, 1.5)
            ln.bias.uniform_(-0.5, 0.5)
    export("block", block, lambda b: (torch.randn(b, 5, 16),))
    misc = Misc()
    export("misc", misc, lambda b: (torch.randn(b, 2, 4, 8, 8), torch.randn(b, 7, 8)),
           in_names=("x", "seq"), out_names=("pooled", "states"))


if __name__ == "__main__":
    main()
