#!/usr/bin/python3
"""PyTorch side of bench/ops's BenchmarkOps (ops_bench_test.go).

Times the same single forward ops, without gradients (and, in the cases
named *_fb, an activation's forward and backward), on the same shapes,
each allocating its result, and prints one line per op:

    OPS <name> <median µs per call>

Run with one thread and the BLAS environment set before torch loads:

    OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 \\
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/ops/ops_torch.py

and compare with `go test -run '^$' -bench Ops -cpu 1 ./bench/ops` (ns/op):
given that output (--go FILE, several -count runs allowed), it prints a
table of Tapir time / PyTorch time per op instead, from the medians, the
slowest ratios first.
"""

import argparse
import os
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F

threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
torch.set_num_threads(threads)

# As bench/run.sh does, refuse to time PyTorch on Debian's reference BLAS
# (libblas3, ~25x slower at matmul than OpenBLAS): the ratios would flatter
# every op that reaches a BLAS call.
torch.mm(torch.ones(8, 8), torch.ones(8, 8))  # load the BLAS library
with open("/proc/self/maps") as maps:
    if "openblas" not in maps.read() and not os.environ.get("ALLOW_REFERENCE_BLAS"):
        sys.exit("ops_torch: PyTorch is not using OpenBLAS; install it "
                 "(apt-get install libopenblas0-pthread) or set ALLOW_REFERENCE_BLAS=1")
torch.manual_seed(1)
torch.set_grad_enabled(False)

n = 1 << 20
x = torch.randn(n)
pos = x.abs() + 0.1
y = torch.randn(n)
u = torch.rand(n)
cond = x > 0
zero = torch.tensor(0.0)
s1k = torch.randn(1024, 1024)
s128 = torch.randn(128, 10)
img = torch.randn(8, 64, 56, 56)
big = torch.randn(8, 64, 112, 112)
seq = torch.randn(16, 128, 256)
w256, b256 = torch.randn(256), torch.randn(256)
w64, b64 = torch.randn(64), torch.randn(64)
emb, idx = torch.randn(30000, 256), torch.randint(0, 30000, (32, 128))
q, k, v = (torch.randn(16, 4, 128, 64) for _ in range(3))
x1, w1 = torch.randn(32, 64, 1000), torch.randn(64, 64, 3)
xt, wt = torch.randn(8, 64, 28, 28), torch.randn(64, 32, 4, 4)
logits, labels = torch.randn(4096, 1000), torch.randint(0, 1000, (4096,))
img28, img7 = torch.randn(8, 64, 28, 28), torch.randn(8, 64, 7, 7)


def sdpa(q, k, v):
    # torch 1.13 has no F.scaled_dot_product_attention: the same math
    return torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, -1) @ v


cases = {
    "abs": lambda: x.abs(),
    "exp": lambda: x.exp(),
    "log": lambda: pos.log(),
    "log1p": lambda: pos.log1p(),
    "sin": lambda: x.sin(),
    "cos": lambda: x.cos(),
    "tanh": lambda: x.tanh(),
    "sigmoid": lambda: x.sigmoid(),
    "erf": lambda: x.erf(),
    "sqrt": lambda: pos.sqrt(),
    "rsqrt": lambda: pos.rsqrt(),
    "floor": lambda: x.floor(),
    "clamp": lambda: x.clamp(-0.5, 0.5),
    "pow3": lambda: x.pow(3),
    "pow2.5": lambda: pos.pow(2.5),
    "pow-0.5": lambda: pos.pow(-0.5),
    "gt": lambda: x > y,
    "where": lambda: torch.where(cond, x, y),
    "where_scalar": lambda: torch.where(cond, x, zero),
    "logical_and": lambda: cond.logical_and(cond),
    "softplus": lambda: F.softplus(x),
    "silu": lambda: F.silu(x),
    "gelu": lambda: F.gelu(x),
    "gelu_tanh": lambda: F.gelu(x, approximate="tanh"),
    "elu": lambda: F.elu(x),
    "selu": lambda: F.selu(x),
    "mish": lambda: F.mish(x),
    "hardsigmoid": lambda: F.hardsigmoid(x),
    "hardswish": lambda: F.hardswish(x),
    "logsigmoid": lambda: F.logsigmoid(x),
    "sum0_128x10": lambda: s128.sum(0),
    "sum0_1k": lambda: s1k.sum(0),
    "sum1_1k": lambda: s1k.sum(1),
    "mean0_1k": lambda: s1k.mean(0),
    "var1_1k": lambda: s1k.var(1),
    "max1_1k": lambda: s1k.max(1),
    "argmax1_1k": lambda: s1k.argmax(1),
    "cumsum1_1k": lambda: s1k.cumsum(1),
    "softmax1_1k": lambda: s1k.softmax(1),
    "log_softmax1_1k": lambda: s1k.log_softmax(1),
    "layer_norm": lambda: F.layer_norm(seq, (256,), w256, b256),
    "group_norm": lambda: F.group_norm(img, 8, w64, b64),
    "max_pool3s2": lambda: F.max_pool2d(big, 3, 2, 1),
    "avg_pool2": lambda: F.avg_pool2d(img, 2),
    "adaptive_avg7": lambda: F.adaptive_avg_pool2d(img, (7, 7)),
    "interp_nearest2x": lambda: F.interpolate(img, scale_factor=2),
    "interp_bilinear2x": lambda: F.interpolate(img, scale_factor=2, mode="bilinear"),
    "pad_constant": lambda: F.pad(img, (1, 1, 1, 1)),
    "pad_reflect": lambda: F.pad(img, (1, 1, 1, 1), mode="reflect"),
    "embedding": lambda: F.embedding(idx, emb),
    "sdpa": lambda: sdpa(q, k, v),
    "conv1d": lambda: F.conv1d(x1, w1, padding=1),
    "conv_transpose2d": lambda: F.conv_transpose2d(xt, wt, stride=2, padding=1),
    "cross_entropy": lambda: F.cross_entropy(logits, labels),
    "bce_with_logits": lambda: F.binary_cross_entropy_with_logits(x, u),
    "mse": lambda: F.mse_loss(x, u),
}


def fwd_bwd(f, src=x, grad=y):
    """Forward and backward of f on a fresh leaf over src (x), with
    gradient grad (y)."""

    def run():
        with torch.enable_grad():
            leaf = src.detach().requires_grad_()
            f(leaf).backward(grad)
            return leaf.grad

    return run


cases.update({
    "relu_fb": fwd_bwd(F.relu),
    "gelu_fb": fwd_bwd(F.gelu),
    "gelu_tanh_fb": fwd_bwd(lambda v: F.gelu(v, approximate="tanh")),
    "silu_fb": fwd_bwd(F.silu),
    "tanh_fb": fwd_bwd(torch.tanh),
    "sigmoid_fb": fwd_bwd(torch.sigmoid),
    "leaky_relu_fb": fwd_bwd(lambda v: F.leaky_relu(v, 0.01)),
    "elu_fb": fwd_bwd(F.elu),
    "hardswish_fb": fwd_bwd(F.hardswish),
    "hardsigmoid_fb": fwd_bwd(F.hardsigmoid),
    "mse_fb": fwd_bwd(lambda v: F.mse_loss(v, u), x, torch.tensor(1.0)),
    "interp_bilinear2x_fb": fwd_bwd(
        lambda v: F.interpolate(v, scale_factor=2, mode="bilinear"), img, big),
    "avg_pool2_fb": fwd_bwd(lambda v: F.avg_pool2d(v, 2), img, img28),
    "adaptive_avg7_fb": fwd_bwd(
        lambda v: F.adaptive_avg_pool2d(v, (7, 7)), img, img7),
    "interp_nearest2x_fb": fwd_bwd(
        lambda v: F.interpolate(v, scale_factor=2), img, big),
})


def go_times(path):
    """Median µs per op of BenchmarkOps lines in a go test -bench output."""
    runs = {}
    pat = re.compile(r"^BenchmarkOps/(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op")
    with open(path) as f:
        for line in f:
            m = pat.match(line)
            if m:
                runs.setdefault(m.group(1), []).append(float(m.group(2)) / 1e3)
    return {k: statistics.median(v) for k, v in runs.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--go", help="go test -bench Ops output to compare with")
    args = ap.parse_args()
    ours = go_times(args.go) if args.go else None
    rows = []
    for name, f in cases.items():
        f()
        times = []
        for _ in range(5):
            t0, m = time.perf_counter(), 0
            while True:
                f()
                m += 1
                if time.perf_counter() - t0 > 0.1:
                    break
            times.append((time.perf_counter() - t0) / m)
        us = statistics.median(times) * 1e6
        if ours is None:
            print(f"OPS {name} {us:.1f}")
        elif name in ours:
            rows.append((ours[name] / us, name, ours[name], us))
    if ours is not None:
        print(f"{'op':<20} {'Tapir µs':>10} {'PyTorch µs':>11} {'ratio':>7}")
        for r, name, t, p in sorted(rows, reverse=True):
            print(f"{name:<20} {t:>10.1f} {p:>11.1f} {r:>7.2f}")


main()
