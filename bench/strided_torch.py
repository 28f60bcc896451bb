#!/usr/bin/python3
"""PyTorch side of backend/cpu's BenchmarkStrided (strided_bench_test.go).

Times the same elementwise ops on non-contiguous float32 views, writing
into a preallocated contiguous output (out=) as Tapir does, and prints one
line per case:

    STRIDED <case> <median ns/element>

Run with one thread and the BLAS environment set before torch loads:

    OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/strided_torch.py
"""

import os
import statistics
import sys
import time

import torch

threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
torch.set_num_threads(threads)
torch.manual_seed(1)

n = 1024
x = torch.randn(n, n)
y = torch.randn(n, n)
dst = torch.empty(n, n)
wide = torch.randn(n, 2 * n)
row = torch.randn(1, n)
col = torch.randn(n, 1)
x4 = x.view(64, 64, 16, 16).permute(0, 2, 3, 1)
y4 = y.view(64, 16, 16, 64)
d4 = dst.view(64, 16, 16, 64)
t_short = x.view(16, 65536).t()
y_short = y.view(65536, 16)
d_short = dst.view(65536, 16)
t_long = x.view(65536, 16).t()
y_long = y.view(16, 65536)
d_long = dst.view(16, 65536)

row16 = torch.randn(1, 16)
col16 = torch.randn(65536, 1)
d64 = torch.empty(n, n, dtype=torch.float64)
cond = y > torch.randn(n, n)
xi = x.to(torch.int32)
di = torch.empty(n, n, dtype=torch.int32)
d_step = wide[:, ::2]
di_step = torch.empty(n, 2 * n, dtype=torch.int32)[:, ::2]
col1k = torch.randn(1024, 1)
y1k = y.view(65536, 16)[:1024]
d1k = dst.view(65536, 16)[:1024]

cases = {
    "add_contig": lambda: torch.add(x, y, out=dst),
    "add_T": lambda: torch.add(x.t(), y, out=dst),
    "add_step2": lambda: torch.add(wide[:, ::2], y, out=dst),
    "add_row": lambda: torch.add(y, row, out=dst),
    "add_col": lambda: torch.add(y, col, out=dst),
    "exp_T": lambda: torch.exp(x.t(), out=dst),
    "relu_T": lambda: torch.clamp_min(x.t(), 0, out=dst),
    "mul_perm4d": lambda: torch.mul(x4, y4, out=d4),
    "add_T_65536x16": lambda: torch.add(t_short, y_short, out=d_short),
    "add_T_16x65536": lambda: torch.add(t_long, y_long, out=d_long),
    "add_row16": lambda: torch.add(y_short, row16, out=d_short),
    "add_col16": lambda: torch.add(y_short, col16.expand(65536, 16), out=d_short),
    "cast_T_f64": lambda: d64.copy_(x.t()),
    "add_into_T": lambda: torch.add(x, y, out=dst.t()),
    "where_contig": lambda: torch.where(cond, x, y, out=dst),
    "where_T": lambda: torch.where(cond, x.t(), y, out=dst),
    "where_into_T": lambda: torch.where(cond, x, y, out=dst.t()),
    "where_row16": lambda: torch.where(cond.view(65536, 16), row16, y_short, out=d_short),
    "log1p_T": lambda: torch.log1p(x.t(), out=dst),
    "neg_i32_T": lambda: torch.neg(xi.t(), out=di),
    "neg_i32": lambda: torch.neg(xi, out=di),
    "add_into_step2": lambda: torch.add(x, y, out=d_step),
    "exp_into_step2": lambda: torch.exp(x, out=d_step),
    "neg_into_step2": lambda: torch.neg(x, out=d_step),
    "floor_into_step2": lambda: torch.floor(x, out=d_step),
    "neg_i32_into_step2": lambda: torch.neg(xi, out=di_step),
    "add_col_1024x16": lambda: torch.add(y1k, col1k, out=d1k),
}

# elements per case, where not n*n
sizes = {"add_col_1024x16": 1024 * 16}

only = sys.argv[1] if len(sys.argv) > 1 else ""
print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s), ns per element, median of 7")
for name, fn in cases.items():
    if only not in name:
        continue
    for _ in range(3):
        fn()
    reps = []
    for _ in range(7):
        k = 20
        t0 = time.process_time_ns()
        for _ in range(k):
            fn()
        reps.append((time.process_time_ns() - t0) / k / sizes.get(name, n * n))
    print(f"STRIDED {name} {statistics.median(reps):.4f}")
