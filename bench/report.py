#!/usr/bin/python3
"""Tabulate a run of bench/run.sh: report.py DIR.

DIR holds go-t<N>-r<R>.txt (go test -bench output) and torch-t<N>-r<R>.txt
(torch_bench.py output) for each thread count N and round R. For each
thread count it prints, per workload, the median over rounds of Tapir's and
PyTorch's figure in the workload's unit, and the median over rounds of the
per-round time ratio Tapir/PyTorch (above 1: Tapir is slower), with the
smallest and largest per-round ratio beside it. Standard library only.
"""

import glob
import os
import re
import statistics
import sys

# Go benchmark name -> workload name used by torch_bench.py.
GO_NAMES = {
    "AddTiny": "add_tiny",
    "AddTinyGrad": "add_tiny_grad",
    "MatMulTiny": "matmul_tiny",
    "MatMul1024": "matmul1024",
    "MLPStep": "mlp_step",
    "MLPModuleStep": "mlp_module_step",
    "LeNetStep": "lenet_step",
    "Sgemm256": "sgemm256",
    "Sgemm512": "sgemm512",
    "Sgemm1024": "sgemm1024",
    "Sgemm2048": "sgemm2048",
}

# Reference rows: a PyTorch-side workload compared with another workload's
# Go figure (oneDNN's sgemm against Tapir's SGEMM of the same size).
GO_SIDE = {f"sgemm{n}_onednn": f"sgemm{n}" for n in (256, 512, 1024, 2048)}

# Workload -> (unit shown, function from ns/op to that unit).
UNITS = {
    "add_tiny": ("ns/op", lambda ns: ns),
    "add_tiny_grad": ("ns/op", lambda ns: ns),
    "matmul_tiny": ("ns/op", lambda ns: ns),
    "matmul1024": ("GFLOP/s", lambda ns: 2 * 1024 ** 3 / ns),
    "mlp_step": ("ms/step", lambda ns: ns / 1e6),
    "mlp_module_step": ("ms/step", lambda ns: ns / 1e6),
    "lenet_step": ("ms/step", lambda ns: ns / 1e6),
}
for _n in (256, 512, 1024, 2048):
    UNITS[f"sgemm{_n}"] = ("GFLOP/s", lambda ns, n=_n: 2 * n ** 3 / ns)
    UNITS[f"sgemm{_n}_onednn"] = UNITS[f"sgemm{_n}"]
ORDER = list(UNITS)


def parse_go(path):
    """{workload: {"ns": ns/op, "B": B/op, "allocs": allocs/op}} from go test -bench output;
    with -count above 1, the median of each workload's lines."""
    lines = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^Benchmark(\w+?)(?:-\d+)?\s+\d+\s+(.*)$", line.strip())
            if not m:
                continue
            name = GO_NAMES.get(m.group(1), m.group(1))
            fields = m.group(2).split()
            vals = {}
            for v, unit in zip(fields[::2], fields[1::2]):
                vals[unit] = float(v)
            if "ns/op" in vals:
                lines.setdefault(name, []).append(vals)
    return {name: {"ns": med([v["ns/op"] for v in vs]),
                   "B": med([v.get("B/op") for v in vs]),
                   "allocs": med([v.get("allocs/op") for v in vs])}
            for name, vs in lines.items()}


def parse_torch(path):
    """{workload: {"ns": ns/op}} from torch_bench.py output."""
    out = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 4 and p[0] == "BENCH" and p[3] == "ns/op":
                out[p[1]] = {"ns": float(p[2])}
    return out


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_int(v):
    return "-" if v is None else f"{v:.0f}"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py DIR")
    d = sys.argv[1]
    runs = {}  # threads -> round -> (go, torch)
    for path in glob.glob(os.path.join(d, "*-t*-r*.txt")):
        m = re.match(r"(go|torch)-t(\d+)-r(\d+)\.txt$", os.path.basename(path))
        if not m:
            continue
        side, n, r = m.group(1), int(m.group(2)), int(m.group(3))
        parsed = parse_go(path) if side == "go" else parse_torch(path)
        runs.setdefault(n, {}).setdefault(r, {})[side] = parsed
    if not runs:
        sys.exit(f"report.py: no results in {d}")

    for n in sorted(runs):
        rounds = runs[n]
        print(f"\n== {n} thread{'s' if n > 1 else ''}, {len(rounds)} round{'s' if len(rounds) > 1 else ''} "
              f"(medians over rounds; ratio = Tapir time / PyTorch time, >1 means Tapir is slower)")
        hdr = f"{'workload':<17} {'unit':<8} {'Tapir':>9} {'PyTorch':>9} {'ratio':>7}  {'ratio range':<13} {'Tapir B/op':>10} {'allocs/op':>9}"
        print(hdr)
        print("-" * len(hdr))
        names = [w for w in ORDER if any(w in rd.get("go", {}) or w in rd.get("torch", {}) for rd in rounds.values())]
        names += sorted({w for rd in rounds.values() for s in rd.values() for w in s} - set(names))
        for w in names:
            unit, conv = UNITS.get(w, ("ns/op", lambda ns: ns))
            gw = GO_SIDE.get(w, w)
            go_ns = [rd.get("go", {}).get(gw, {}).get("ns") for rd in rounds.values()]
            pt_ns = [rd.get("torch", {}).get(w, {}).get("ns") for rd in rounds.values()]
            ratios = [g / p for g, p in zip(go_ns, pt_ns) if g and p]
            g, p = med(go_ns), med(pt_ns)
            rr = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
            b = med([rd.get("go", {}).get(gw, {}).get("B") for rd in rounds.values()])
            a = med([rd.get("go", {}).get(gw, {}).get("allocs") for rd in rounds.values()])
            print(f"{w:<17} {unit:<8} {fmt(conv(g) if g else None):>9} {fmt(conv(p) if p else None):>9} "
                  f"{fmt(med(ratios)):>7}  {rr:<13} {fmt_int(b):>10} {fmt_int(a):>9}")


main()
