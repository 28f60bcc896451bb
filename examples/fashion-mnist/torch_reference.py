#!/usr/bin/python3
"""PyTorch reference for examples/fashion-mnist: the same network, data,
normalization, batch size, optimizer, schedule and thread count, so that
accuracy and epoch time can be compared in one run (see compare.sh).

    OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2 \\
    OPENBLAS_NUM_THREADS=2 /usr/bin/python3 examples/fashion-mnist/torch_reference.py

It reads Debian's dataset-fashion-mnist files (or --data DIR) with gzip
and numpy, and prints one line per epoch and a closing RESULT line. The
epoch time is the training pass alone, as the Go program reports it;
evaluation is timed apart.
"""

import argparse
import gzip
import os
import sys
import time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
ap.add_argument("--epochs", type=int, default=4)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: every epoch)")
args = ap.parse_args()

# The thread and BLAS environment must be set before torch is imported.
for k, v in {"OPENBLAS_CORETYPE": "SkylakeX", "OMP_WAIT_POLICY": "PASSIVE",
             "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads),
             "MKL_NUM_THREADS": str(args.threads)}.items():
    if os.environ.get(k) is None:
        print(f"torch_reference: {k} is not set; setting {k}={v} before importing torch", file=sys.stderr)
        os.environ[k] = v

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)

PIXEL_MEAN, PIXEL_STD = 0.2860, 0.3530


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def split(prefix):
    x = read_idx(os.path.join(args.data, f"{prefix}-images-idx3-ubyte.gz"), 16).reshape(-1, 1, 28, 28)
    y = read_idx(os.path.join(args.data, f"{prefix}-labels-idx1-ubyte.gz"), 8)
    x = (torch.from_numpy(x.astype(np.float32)) / 255 - PIXEL_MEAN) / PIXEL_STD
    return x.contiguous(), torch.from_numpy(y.astype(np.int64))


class CNN(nn.Module):
    """examples/fashion-mnist's CNN, layer for layer."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.drop = nn.Dropout(0.25)
        self.fc2 = nn.Linear(128, 10)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.bn2(self.conv2(x))))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(self.drop(x))


def evaluate(model, x, y):
    model.eval()
    loss = correct = 0.0
    with torch.no_grad():
        for i in range(0, len(y), 1000):
            logits = model(x[i:i + 1000])
            loss += F.cross_entropy(logits, y[i:i + 1000], reduction="sum").item()
            correct += (logits.argmax(1) == y[i:i + 1000]).sum().item()
    model.train()
    return loss / len(y), correct / len(y)


def main():
    xtr, ytr = split("train")
    xte, yte = split("t10k")
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"train {len(ytr)}, test {len(yte)}, batch {args.batch}", flush=True)
    model = CNN()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    g = torch.Generator().manual_seed(args.seed)
    step, times, acc = 0, [], float("nan")
    for epoch in range(args.epochs):
        perm = torch.randperm(len(ytr), generator=g)
        t0 = time.perf_counter()
        loss_sum = n_sum = correct = 0
        for i in range(0, len(ytr), args.batch):
            idx = perm[i:i + args.batch]
            xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * len(yb)
            n_sum += len(yb)
            correct += (logits.argmax(1) == yb).sum().item()
            if args.steps and step >= args.steps:
                break
        elapsed = time.perf_counter() - t0
        complete = not (args.steps and step >= args.steps and n_sum < len(ytr))
        if complete:
            sched.step()
            times.append(elapsed)
        t1 = time.perf_counter()
        test_loss, acc = evaluate(model, xte, yte)
        print(f"epoch {epoch + 1}/{args.epochs} test_acc={acc:.4f} epoch_time={elapsed:.2f}s "
              f"train_loss={loss_sum / n_sum:.4f} train_acc={correct / n_sum:.4f} "
              f"test_loss={test_loss:.4f} eval_time={time.perf_counter() - t1:.2f}s", flush=True)
        if args.steps and step >= args.steps:
            break
    mean = sum(times) / len(times) if times else float("nan")
    print(f"RESULT pytorch test_acc={acc:.4f} mean_epoch_time={mean:.2f}s epochs={len(times)} "
          f"batch={args.batch} threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
