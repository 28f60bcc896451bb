#!/usr/bin/python3
"""PyTorch side of Tapir's benchmark suite (see README.md beside this file).

Runs the same workloads as bench_test.go, with the same shapes in float32,
and prints one line per workload:

    BENCH <workload> <median ns/op> ns/op [<metric> <unit>]

Lines starting with '#' are comments (configuration, spread). Usage:

    /usr/bin/python3 bench/torch_bench.py --threads N [--only REGEX] [--check]

The thread and BLAS environment must be set before torch is imported;
run.sh sets it. If something is missing the script warns on stderr and
sets it itself (which works, since nothing has loaded OpenBLAS yet).
"""

import argparse
import os
import re
import statistics
import sys
import time


def thread_env(n):
    return {
        "OPENBLAS_CORETYPE": "SkylakeX",
        "OMP_WAIT_POLICY": "PASSIVE",
        "OMP_NUM_THREADS": str(n),
        "OPENBLAS_NUM_THREADS": str(n),
        "MKL_NUM_THREADS": str(n),
    }


def check_env(n):
    """Warn about, and fill in, the variables that must precede 'import torch'."""
    for k, v in thread_env(n).items():
        have = os.environ.get(k)
        if have is None:
            print(f"torch_bench: WARNING: {k} is not set; setting {k}={v} before importing torch "
                  "(run bench/run.sh to get the whole environment)", file=sys.stderr)
            os.environ[k] = v
        elif k != "OPENBLAS_CORETYPE" and have != v:
            print(f"torch_bench: WARNING: {k}={have} but --threads {n}", file=sys.stderr)


ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--threads", type=int, required=True, help="intra-op threads (torch.set_num_threads)")
ap.add_argument("--only", default="", help="run only the workloads whose name matches this regex")
ap.add_argument("--check", action="store_true",
                help="print the configuration and exit non-zero if PyTorch's BLAS is not OpenBLAS")
args = ap.parse_args()
check_env(args.threads)

import ctypes  # noqa: E402

import torch  # noqa: E402  (after the environment is set)

torch.set_num_threads(args.threads)


def blas_info():
    """Name the BLAS library torch loaded and, for OpenBLAS, the core it uses."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # make sure it is loaded
    with open("/proc/self/maps") as f:
        libs = sorted({ln.split()[-1] for ln in f if re.search(r"blas", ln.split()[-1] if ln.split() else "")})
    info = {"libs": libs, "openblas": any("openblas" in p for p in libs)}
    if info["openblas"]:
        try:
            ob = ctypes.CDLL("libopenblas.so.0")
            ob.openblas_get_corename.restype = ctypes.c_char_p
            ob.openblas_get_config.restype = ctypes.c_char_p
            info["core"] = ob.openblas_get_corename().decode()
            info["config"] = ob.openblas_get_config().decode()
            info["threads"] = ob.openblas_get_num_threads()
        except OSError as e:
            info["core"] = f"? ({e})"
    return info


def print_config():
    bi = blas_info()
    print(f"# torch {torch.__version__}, get_num_threads={torch.get_num_threads()}, "
          f"parallel backend: {torch.__config__.parallel_info().splitlines()[-1].strip()}")
    print("# env: " + " ".join(f"{k}={os.environ.get(k)}" for k in thread_env(args.threads)))
    print(f"# blas libs: {' '.join(bi['libs']) or 'none found'}")
    if bi["openblas"]:
        print(f"# openblas: core={bi.get('core')} threads={bi.get('threads')} config={bi.get('config')}")
    else:
        print("torch_bench: WARNING: PyTorch is not using OpenBLAS (Debian's reference libblas3 is "
              "~25x slower at matmul); install it: apt-get install libopenblas0-pthread",
              file=sys.stderr)
    return bi


def measure(fn, inner, samples, warmup):
    """Median and spread of ns per call of fn over `samples` timings of `inner` calls."""
    for _ in range(warmup):
        for _ in range(inner):
            fn()
    per = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        for _ in range(inner):
            fn()
        per.append((time.perf_counter_ns() - t0) / inner)
    return statistics.median(per), min(per), max(per)


def tiny():
    return torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([5.0, 6.0, 7.0, 8.0])


def add_tiny():
    a, b = tiny()
    return measure(lambda: a.add(b), 20000, 9, 1)


def add_tiny_grad():
    a, b = tiny()
    a.requires_grad_(True)
    return measure(lambda: a.add(b), 20000, 9, 1)


def matmul_tiny():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    return measure(lambda: a.matmul(b), 20000, 9, 1)


N = 1024


def matmul1024():
    a, b = torch.randn(N, N), torch.randn(N, N)
    return measure(lambda: a.matmul(b), 1, 30, 5)


def sgemm(n):
    """torch.mm of two n×n float32 matrices (the SGEMM rows)."""
    def run():
        a, b = torch.randn(n, n), torch.randn(n, n)
        inner = max(1, int(5e8 // (2 * n ** 3)))  # at least ~a few ms per sample
        return measure(lambda: torch.mm(a, b), inner, 15, 3)
    return run


def onednn_sgemm(n):
    """oneDNN's dnnl_sgemm (libdnnl.so.2, the JIT AVX-512 GEMM PyTorch uses
    inside convolutions) on two n×n row-major matrices, through ctypes:
    a reference beside torch.mm. Its OpenMP threads follow OMP_NUM_THREADS."""
    def run():
        lib = ctypes.CDLL("libdnnl.so.2")
        f = lib.dnnl_sgemm
        f.restype = ctypes.c_int
        i64, fl, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
        f.argtypes = [ctypes.c_char, ctypes.c_char, i64, i64, i64, fl, ptr, i64, ptr, i64, fl, ptr, i64]
        a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)

        def call():
            st = f(b"N", b"N", n, n, n, 1.0, a.data_ptr(), n, b.data_ptr(), n, 0.0, c.data_ptr(), n)
            if st != 0:
                raise RuntimeError(f"dnnl_sgemm returned status {st}")
        call()
        if not torch.allclose(c, a @ b, rtol=1e-3, atol=1e-3):
            raise RuntimeError("dnnl_sgemm disagrees with torch.mm")
        inner = max(1, int(5e8 // (2 * n ** 3)))
        return measure(call, inner, 15, 3)
    return run


def have_onednn():
    try:
        ctypes.CDLL("libdnnl.so.2").dnnl_sgemm
        return True
    except (OSError, AttributeError):
        return False


def mlp_step():
    torch.manual_seed(1)

    def param(fan_in, *shape):
        bound = 1 / fan_in ** 0.5
        return (torch.rand(*shape) * (2 * bound) - bound).requires_grad_(True)

    params = [param(784, 784, 512), param(784, 512),
              param(512, 512, 512), param(512, 512),
              param(512, 512, 10), param(512, 10)]
    w1, b1, w2, b2, w3, b3 = params
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))

    def step():
        h = x.matmul(w1).add(b1).relu()
        h = h.matmul(w2).add(b2).relu()
        logp = h.matmul(w3).add(b3).log_softmax(1)
        loss = logp.gather(1, y.unsqueeze(1)).mean().neg()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-0.01)
                p.grad = None  # Tapir's ZeroGrad drops the gradient too
        return loss

    return measure(step, 1, 40, 5)


def sgd_step_workload(model, x, y):
    """One training step as bench/nn_bench_test.go's trainStep: zero_grad,
    cross entropy, backward, SGD (lr 0.01, momentum 0.9)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)  # Tapir's ZeroGrad drops gradients too
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return measure(step, 1, 30, 3)


def mlp_module_step():
    torch.manual_seed(1)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    return sgd_step_workload(model, torch.randn(128, 784), torch.randint(0, 10, (128,)))


def lenet_step():
    torch.manual_seed(1)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    return sgd_step_workload(model, torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,)))


WORKLOADS = [
    ("add_tiny", add_tiny, None),
    ("add_tiny_grad", add_tiny_grad, None),
    ("matmul_tiny", matmul_tiny, None),
    ("matmul1024", matmul1024, lambda ns: (2 * N ** 3 / ns, "GFLOP/s")),
    ("mlp_step", mlp_step, lambda ns: (ns / 1e6, "ms/step")),
    ("mlp_module_step", mlp_module_step, lambda ns: (ns / 1e6, "ms/step")),
    ("lenet_step", lenet_step, lambda ns: (ns / 1e6, "ms/step")),
]
SGEMM_SIZES = (256, 512, 1024, 2048)
WORKLOADS += [(f"sgemm{n}", sgemm(n), lambda ns, n=n: (2 * n ** 3 / ns, "GFLOP/s")) for n in SGEMM_SIZES]
if have_onednn():  # Debian's libdnnl2; rows absent without it
    WORKLOADS += [(f"sgemm{n}_onednn", onednn_sgemm(n), lambda ns, n=n: (2 * n ** 3 / ns, "GFLOP/s"))
                  for n in SGEMM_SIZES]


def main():
    bi = print_config()
    if args.check:
        sys.exit(0 if bi["openblas"] or os.environ.get("ALLOW_REFERENCE_BLAS") else 1)
    for name, fn, metric in WORKLOADS:
        if args.only and not re.search(args.only, name):
            continue
        med, lo, hi = fn()
        extra = ""
        if metric:
            v, unit = metric(med)
            extra = f" {v:.4g} {unit}"
        print(f"# {name}: min {lo:.1f} max {hi:.1f} ns/op")
        print(f"BENCH {name} {med:.1f} ns/op{extra}", flush=True)


main()
