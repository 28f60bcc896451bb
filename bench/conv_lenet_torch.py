#!/usr/bin/python3
"""Times each pass of the LeNet step's two convolutions in PyTorch, the
twin of backend/cpu's BenchmarkConvLeNet: forward, input gradient and
weight gradient (no bias) of conv1 (1→32, 3×3 on [128, 1, 28, 28]) and
conv2 (32→64, 3×3 on [128, 32, 13, 13]), float32, no padding.

    OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=N \\
    OPENBLAS_NUM_THREADS=N /usr/bin/python3 bench/conv_lenet_torch.py --threads N

Prints one line per pass: name, median ms over --reps timings of a batch
of calls, GFLOP/s (2·N·Cout·Ci·9·L per pass).
"""

import argparse
import statistics
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--reps", type=int, default=15)
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(1)

layers = [("conv1", 128, 1, 28, 28, 32), ("conv2", 128, 32, 13, 13, 64)]
for name, n, c, h, w, cout in layers:
    x = torch.randn(n, c, h, w)
    wt = torch.randn(cout, c, 3, 3)
    y = torch.nn.functional.conv2d(x, wt)
    dy = torch.randn_like(y)
    flops = 2.0 * n * cout * c * 9 * y.shape[2] * y.shape[3]
    passes = [
        ("fwd", lambda: torch.nn.functional.conv2d(x, wt)),
        ("bwd_input", lambda: torch.nn.grad.conv2d_input(x.shape, wt, dy)),
        ("bwd_weight", lambda: torch.nn.grad.conv2d_weight(x, wt.shape, dy)),
    ]
    # the autograd path (what the training step runs): one backward giving
    # both gradients, or only the weight's when x needs none (conv1)
    xg = x.clone().requires_grad_(c > 1)
    wg = wt.clone().requires_grad_(True)

    def autograd_bwd():
        out = torch.nn.functional.conv2d(xg, wg)
        out.backward(dy)
        wg.grad = None
        xg.grad = None

    passes.append(("fwd+autograd_bwd", autograd_bwd))
    for pname, fn in passes:
        for _ in range(3):
            fn()
        t0 = time.perf_counter()
        fn()
        one = time.perf_counter() - t0
        calls = max(1, int(0.2 / max(one, 1e-6)))
        ts = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            ts.append((time.perf_counter() - t0) / calls)
        med = statistics.median(ts)
        fl = flops * (3 if pname.startswith("fwd+") and c > 1 else 2 if pname.startswith("fwd+") else 1)
        print(f"{name}/{pname}\t{med * 1e3:.3f} ms\t{fl / med / 1e9:.1f} GFLOP/s")
