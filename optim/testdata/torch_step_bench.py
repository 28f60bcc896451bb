"""Times torch.optim steps on the parameters of a 784-512-512-10 MLP, the
workload of optim's BenchmarkOptimStepMLP. Run with Debian's PyTorch 1.13:

  OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE OPENBLAS_CORETYPE=SkylakeX \
      /usr/bin/python3 optim/testdata/torch_step_bench.py [threads]

Prints, per optimizer, the median over 15 rounds of the wall time and of
the process CPU time per step.
"""
import statistics
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
torch.manual_seed(1)
shapes = [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)]


def params():
    ps = []
    for sh in shapes:
        p = torch.nn.Parameter(torch.randn(*sh) * 0.05)
        p.grad = torch.randn(*sh) * 0.01
        ps.append(p)
    return ps


configs = {
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "adam_foreach": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-3),
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9),
    "sgd_momentum_foreach": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, foreach=True),
}

print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
for name, mk in configs.items():
    opt = mk(params())
    opt.step()
    n = 50
    walls, cpus = [], []
    for _ in range(15):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            opt.step()
        walls.append((time.perf_counter() - w0) / n)
        cpus.append((time.process_time() - c0) / n)
    print(f"{name:22s} wall {statistics.median(walls)*1e6:8.0f} us/step   cpu {statistics.median(cpus)*1e6:8.0f} us/step")
