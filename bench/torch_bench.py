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
ap.add_argument("--rss", metavar="MODEL",
                help="instead of timing: run --steps training steps of MODEL (mlp or lenet) and print "
                     "the process's peak RSS (VmHWM) as 'RSS MODEL <MiB> MiB'")
ap.add_argument("--steps", type=int, default=50, help="training steps for --rss")
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
    """Two [16] tensors: 1…16 and 17…32 (bench_test.go's tiny)."""
    return torch.arange(1.0, 17.0), torch.arange(17.0, 33.0)


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


def train_step(model):
    """One training step as bench/models.go's TrainStep: zero_grad, cross
    entropy, backward, SGD (lr 0.01, momentum 0.9)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        opt.zero_grad(set_to_none=True)  # Tapir's ZeroGrad drops gradients too
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def workload(name):
    """bench/models.go's NewWorkload: the model and a fixed batch of 128."""
    torch.manual_seed(1)
    nn = torch.nn
    if name == "mlp":
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
        return model, torch.randn(128, 784), torch.randint(0, 10, (128,))
    if name == "lenet":
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
        return model, torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
    raise ValueError(f"no workload {name!r}")


def sgd_step_workload(name):
    model, x, y = workload(name)
    step = train_step(model)
    return measure(lambda: step(x, y), 1, 30, 3)


def mlp_module_step():
    return sgd_step_workload("mlp")


def lenet_step():
    return sgd_step_workload("lenet")


def layer_step(m, x, fwd=None, samples=10, warmup=2):
    """bench/layers_bench_test.go's layer.step: one forward and backward
    pass of a layer in the middle of a network. Parameters and the input x
    require grad; the output's gradient gy is fixed and random, so no loss
    is timed; the previous step's gradients are dropped first."""
    fwd = fwd or m
    x.requires_grad_(True)
    gy = torch.randn_like(fwd(x).detach())

    def step():
        m.zero_grad(set_to_none=True)
        x.grad = None
        y = fwd(x)
        y.backward(gy)
        return y

    return measure(step, 1, samples, warmup)


def conv2d_step():
    """Conv2d(64, 64, 3, padding=1) with bias on [32, 64, 56, 56]."""
    torch.manual_seed(1)
    return layer_step(torch.nn.Conv2d(64, 64, 3, padding=1), torch.randn(32, 64, 56, 56))


def depthwise_step(stride):
    """Conv2d(64, 64, 3, padding=1, groups=64, stride) with bias on [32, 64, 56, 56]."""
    def run():
        torch.manual_seed(1)
        conv = torch.nn.Conv2d(64, 64, 3, padding=1, stride=stride, groups=64)
        return layer_step(conv, torch.randn(32, 64, 56, 56))
    return run


def lstm_step():
    """One-layer LSTM(128, 256), time-major, on [64, 32, 128]."""
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(128, 256)
    return layer_step(lstm, torch.randn(64, 32, 128), fwd=lambda x: lstm(x)[0])


def transformer_step():
    """Post-norm TransformerEncoderLayer(256, 4, 1024, ReLU, dropout 0,
    batch_first) in training mode on [16, 128, 256]."""
    torch.manual_seed(1)
    layer = torch.nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, activation="relu", batch_first=True)
    layer.train()
    return layer_step(layer, torch.randn(16, 128, 256))


BW_ELEMS = 64 << 20  # float32 elements per operand: 256 MiB, as bench/bandwidth_bench_test.go


def bandwidth(kind):
    """Large elementwise ops on [64M] float32 tensors (bandwidth rows).
    'copy' is dst.copy_(src); the op rows write into a preallocated
    result (out=), i.e. the kernel alone; the _alloc rows are the op as
    one writes it (a + b), allocating a fresh 256 MiB result each call.
    As bench/bandwidth_bench_test.go does, every op sample is paired with
    a copy_ sample just before it, whose median comes back as the extra
    'copyref' row: the bandwidth the op is held to, under the same load."""
    def run():
        torch.manual_seed(1)
        a, b = torch.randn(BW_ELEMS), torch.randn(BW_ELEMS)
        c, d = torch.empty(BW_ELEMS), torch.empty(BW_ELEMS)
        c.zero_()  # fault the pages in
        d.zero_()
        copy = lambda: d.copy_(a)  # noqa: E731
        fn = {
            "copy": copy,
            "add": lambda: torch.add(a, b, out=c),
            "mul": lambda: torch.mul(a, b, out=c),
            "exp": lambda: torch.exp(a, out=c),
            "relu": lambda: torch.clamp_min(a, 0, out=c),  # relu has no out=
            "add_alloc": lambda: a + b,
            "mul_alloc": lambda: a * b,
            "exp_alloc": lambda: a.exp(),
            "relu_alloc": lambda: a.relu(),
        }[kind]
        if kind == "copy":
            return measure(fn, 1, 7, 2)
        for _ in range(2):
            copy()
            fn()
        ops, copies = [], []
        for _ in range(7):
            t0 = time.perf_counter_ns()
            copy()
            t1 = time.perf_counter_ns()
            fn()
            t2 = time.perf_counter_ns()
            copies.append(t1 - t0)
            ops.append(t2 - t1)
        return statistics.median(ops), min(ops), max(ops), {"copyref": statistics.median(copies)}
    return run


# bytes read + written per element of each bandwidth row
BW_STREAMS = {"copy": 2, "add": 3, "mul": 3, "exp": 2, "relu": 2}


WORKLOADS = [
    ("add_tiny", add_tiny, None),
    ("add_tiny_grad", add_tiny_grad, None),
    ("matmul_tiny", matmul_tiny, None),
    ("matmul1024", matmul1024, lambda ns: (2 * N ** 3 / ns, "GFLOP/s")),
    ("mlp_step", mlp_step, lambda ns: (ns / 1e6, "ms/step")),
    ("mlp_module_step", mlp_module_step, lambda ns: (ns / 1e6, "ms/step")),
    ("lenet_step", lenet_step, lambda ns: (ns / 1e6, "ms/step")),
    ("conv2d_step", conv2d_step, lambda ns: (ns / 1e6, "ms/step")),
    ("depthwise_step", depthwise_step(1), lambda ns: (ns / 1e6, "ms/step")),
    ("depthwise_s2_step", depthwise_step(2), lambda ns: (ns / 1e6, "ms/step")),
    ("lstm_step", lstm_step, lambda ns: (ns / 1e6, "ms/step")),
    ("transformer_step", transformer_step, lambda ns: (ns / 1e6, "ms/step")),
]
for _k in ("copy", "add", "mul", "exp", "relu", "add_alloc", "mul_alloc", "exp_alloc", "relu_alloc"):
    WORKLOADS.append((f"bw_{_k}", bandwidth(_k),
                      lambda ns, k=_k: (BW_STREAMS[k.split("_")[0]] * BW_ELEMS * 4 / ns, "GB/s")))
SGEMM_SIZES = (256, 512, 1024, 2048)
WORKLOADS += [(f"sgemm{n}", sgemm(n), lambda ns, n=n: (2 * n ** 3 / ns, "GFLOP/s")) for n in SGEMM_SIZES]
if have_onednn():  # Debian's libdnnl2; rows absent without it
    WORKLOADS += [(f"sgemm{n}_onednn", onednn_sgemm(n), lambda ns, n=n: (2 * n ** 3 / ns, "GFLOP/s"))
                  for n in SGEMM_SIZES]


def vm_hwm_mib():
    """The process's peak resident set size (VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss(name, steps):
    """Peak RSS of `steps` training steps of a workload, in this fresh process."""
    base = vm_hwm_mib()
    model, x, y = workload(name)
    step = train_step(model)
    for _ in range(steps):
        loss = step(x, y)
    print(f"# rss {name}: {steps} steps, last loss {loss.item():.4f}, "
          f"VmHWM after import torch {base:.1f} MiB")
    print(f"RSS {name} {vm_hwm_mib():.1f} MiB", flush=True)


def malloc_at_its_best():
    """Has glibc serve PyTorch's tensors of up to 32 MiB from its heap.

    By default glibc maps every block of 128 KiB or more afresh (mmap) and
    unmaps it when freed, so each step's activations page-fault in again,
    until freeing such a block raises the threshold to its size. Timed
    alone, the MLP step took 4.7 ms that way and 3.6-3.9 ms after the
    rise, which a full run reaches only because workloads before it freed
    large blocks. The timing runs fix the threshold where the rise leads
    (M_MMAP_THRESHOLD 32 MiB, its maximum, M_TRIM_THRESHOLD twice that, as
    glibc sets them), whatever runs first. The peak-RSS runs keep glibc's
    defaults."""
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    ok = libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)
    print(f"pytorch: glibc malloc: mmap threshold 32 MiB, trim threshold 64 MiB{'' if ok else ' (mallopt failed)'}")


def main():
    if args.rss:
        rss(args.rss, args.steps)
        return
    bi = print_config()
    if args.check:
        sys.exit(0 if bi["openblas"] or os.environ.get("ALLOW_REFERENCE_BLAS") else 1)
    malloc_at_its_best()
    for name, fn, metric in WORKLOADS:
        if args.only and not re.search(args.only, name):
            continue
        med, lo, hi, *more = fn()
        extra = ""
        if metric:
            v, unit = metric(med)
            extra = f" {v:.4g} {unit}"
        print(f"# {name}: min {lo:.1f} max {hi:.1f} ns/op")
        print(f"BENCH {name} {med:.1f} ns/op{extra}", flush=True)
        for k, ns in (more[0] if more else {}).items():  # paired reference rows
            print(f"BENCH {name}_{k} {ns:.1f} ns/op", flush=True)


main()
