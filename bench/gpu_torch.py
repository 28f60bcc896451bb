#!/usr/bin/env python3
"""PyTorch's side of backend/cuda's GPU benchmarks (bench_test.go there):
the same workloads, timed the same way, on the GPU machine's PyTorch.

    python3 bench/gpu_torch.py

GEMM: C = A·B at 8192³ on random operands, timed with CUDA events over
repeated products (float32 with TF32 off, TF32, bf16). Training steps:
zero_grad, forward, cross entropy, backward, SGD (lr 0.01, momentum 0.9),
loss.item() each step, on one batch already on the device; the median of
several timed runs of consecutive steps.
"""
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def gemm(dtype, tf32, n=8192, reps=20):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    g = torch.Generator(device="cuda").manual_seed(1)
    a = torch.randn(n, n, device="cuda", generator=g).to(dtype)
    b = torch.randn(n, n, device="cuda", generator=g).to(dtype)
    c = torch.empty(n, n, device="cuda", dtype=dtype)
    torch.mm(a, b, out=c)
    torch.cuda.synchronize()
    times = []
    for _ in range(5):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(reps):
            torch.mm(a, b, out=c)
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) / 1e3 / reps)
    torch.backends.cuda.matmul.allow_tf32 = False
    return 2 * n**3 / statistics.median(times) / 1e12


def steps(model, x, y, n=20, runs=5):
    model = model.cuda()
    x, y = x.cuda(), y.cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(3):
        step()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(n):
            step()
        times.append((time.perf_counter() - t) / n)
    return statistics.median(times)


def resnet18():
    try:
        import torchvision
        return torchvision.models.resnet18(num_classes=1000), "torchvision"
    except ImportError:
        return None, "torchvision missing"


def main():
    torch.manual_seed(1)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    for name, dt, tf32 in [("sgemm fp32", torch.float32, False), ("sgemm tf32", torch.float32, True), ("gemm bf16", torch.bfloat16, False)]:
        print(f"{name} 8192^3: {gemm(dt, tf32):.1f} TFLOP/s")
    mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    t = steps(mlp, torch.randn(128, 784), torch.randint(0, 10, (128,)), n=200)
    print(f"mlp step b128: {t*1e3:.3f} ms/step")
    cnn = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    t = steps(cnn, torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,)), n=100)
    print(f"cnn step b128: {t*1e3:.3f} ms/step")
    m, how = resnet18()
    if m is None:
        print(f"resnet18: skipped ({how})")
        return
    t = steps(m, torch.randn(64, 3, 224, 224), torch.randint(0, 1000, (64,)), n=10)
    print(f"resnet18 step b64 ({how}): {t*1e3:.2f} ms/step, {64/t:.0f} img/s")


if __name__ == "__main__":
    main()
