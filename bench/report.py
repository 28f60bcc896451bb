#!/usr/bin/python3
"""Tabulate a run of bench/run.sh: report.py DIR.

DIR holds, for each thread count N and round R:

  go-t<N>-r<R>.txt         go test -bench output
  torch-t<N>-r<R>.txt      torch_bench.py output
  rss-go-t<N>-r<R>.txt     bench/cmd/rss output (peak-RSS rows; optional)
  rss-torch-t<N>-r<R>.txt  torch_bench.py --rss output (optional)

and optionally peak.txt (backend/cpu's BenchmarkFMAPeak and BenchmarkFMAPeakTeam) and
load-start.txt / load-end.txt. For each thread count it prints:

  1. the workloads: median over rounds of Tapir's and PyTorch's figure in
     the workload's unit, the median over rounds of the per-round time
     ratio Tapir/PyTorch (above 1: Tapir is slower) with its range, the
     target ratio and whether the median meets it;
  2. memory bandwidth: each large elementwise op's GB/s as a fraction of
     the same side's copy bandwidth, measured in the same process;
  3. peak RSS of the training loops, in MiB, and the ratio;
  4. SGEMM as a percentage of the measured FMA peak (when peak.txt has it).

Standard library only.
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
    "Conv2dStep": "conv2d_step",
    "DepthwiseStep": "depthwise_step",
    "DepthwiseS2Step": "depthwise_s2_step",
    "LSTMStep": "lstm_step",
    "TransformerStep": "transformer_step",
    "Sgemm256": "sgemm256",
    "Sgemm512": "sgemm512",
    "Sgemm1024": "sgemm1024",
    "Sgemm2048": "sgemm2048",
    "BandwidthCopy": "bw_copy",
    # into a preallocated result (the kernel alone; torch's out=), and
    # as written, allocating the result (torch's `a + b`)
    "BandwidthAddOut": "bw_add",
    "BandwidthMulOut": "bw_mul",
    "BandwidthExpOut": "bw_exp",
    "BandwidthReLUOut": "bw_relu",
    "BandwidthAdd": "bw_add_alloc",
    "BandwidthMul": "bw_mul_alloc",
    "BandwidthExp": "bw_exp_alloc",
    "BandwidthReLU": "bw_relu_alloc",
}

SGEMM_SIZES = (256, 512, 1024, 2048)

# Reference rows: a PyTorch-side workload compared with another workload's
# Go figure (oneDNN's sgemm against Tapir's SGEMM of the same size).
GO_SIDE = {f"sgemm{n}_onednn": f"sgemm{n}" for n in SGEMM_SIZES}

# Workload -> (unit shown, function from ns/op to that unit).
UNITS = {
    "add_tiny": ("ns/op", lambda ns: ns),
    "add_tiny_grad": ("ns/op", lambda ns: ns),
    "matmul_tiny": ("ns/op", lambda ns: ns),
    "matmul1024": ("GFLOP/s", lambda ns: 2 * 1024 ** 3 / ns),
    "mlp_step": ("ms/step", lambda ns: ns / 1e6),
    "mlp_module_step": ("ms/step", lambda ns: ns / 1e6),
    "lenet_step": ("ms/step", lambda ns: ns / 1e6),
    "conv2d_step": ("ms/step", lambda ns: ns / 1e6),
    "depthwise_step": ("ms/step", lambda ns: ns / 1e6),
    "depthwise_s2_step": ("ms/step", lambda ns: ns / 1e6),
    "lstm_step": ("ms/step", lambda ns: ns / 1e6),
    "transformer_step": ("ms/step", lambda ns: ns / 1e6),
}
for _n in SGEMM_SIZES:
    UNITS[f"sgemm{_n}"] = ("GFLOP/s", lambda ns, n=_n: 2 * n ** 3 / ns)
    UNITS[f"sgemm{_n}_onednn"] = UNITS[f"sgemm{_n}"]
ORDER = list(UNITS)

# Targets from the issue: the median ratio Tapir time / PyTorch time must
# be at most this.
TARGETS = {
    "add_tiny": 0.2,
    "add_tiny_grad": 0.2,
    "mlp_step": 0.8,
    "mlp_module_step": 0.8,
    "lenet_step": 0.8,
    "conv2d_step": 1.0,
    "depthwise_step": 1.0,
    "depthwise_s2_step": 1.0,
    "lstm_step": 1.0,
    "transformer_step": 1.0,
}

# Bandwidth rows: float32 elements per operand (bench/bandwidth_bench_test.go,
# torch_bench.py's BW_ELEMS) and operands read + written per element.
BW_ELEMS = 64 << 20
BW_OPS = {"copy": 2, "add": 3, "mul": 3, "exp": 2, "relu": 2}
BW_TARGET = 0.70  # Tapir's op GB/s over its copy GB/s
RSS_TARGET = 1.0  # Tapir's peak RSS over PyTorch's


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


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
                try:
                    vals[unit] = float(v)
                except ValueError:
                    pass
            if "ns/op" in vals:
                lines.setdefault(name, []).append(vals)
    return {name: {"ns": med([v["ns/op"] for v in vs]),
                   "B": med([v.get("B/op") for v in vs]),
                   "allocs": med([v.get("allocs/op") for v in vs]),
                   "copy-GB/s": med([v.get("copy-GB/s") for v in vs])}
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


def parse_rss(path):
    """{model: MiB} from 'RSS <model> <MiB> MiB' lines."""
    out = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 4 and p[0] == "RSS" and p[3] == "MiB":
                out[p[1]] = float(p[2])
    return out


def parse_peak(path):
    """The FMA peaks in GFLOP/s from peak.txt: one core's, from
    BenchmarkFMAPeak's lines (the best GFLOP/cpu-s, per second of the
    thread's own CPU time, which a busy machine does not lower, else the
    best wall-clock GFLOP/s), and {threads: GFLOP/s} from
    BenchmarkFMAPeakTeam's (the rate of the fastest call of that many
    threads running the loop at once), and BenchmarkSgemmPeakShare's
    %peak values (the 1024³ product at one thread over the peak, measured
    in pairs) as a list."""
    best, team = {}, {}
    shares = []
    try:
        with open(path) as f:
            for line in f:
                fields = line.split()
                if not fields or not fields[0].startswith(("BenchmarkFMAPeak", "BenchmarkSgemmPeakShare")):
                    continue  # go test's header lines (goos:, cpu: Intel(R) Xeon(R) …)
                name = fields[0]
                rates = {unit: float(v) for v, unit in zip(fields[2::2], fields[3::2])}
                if name.startswith("BenchmarkSgemmPeakShare"):
                    if "%peak" in rates:
                        shares.append(rates["%peak"])
                    continue
                if name.startswith("BenchmarkFMAPeakTeam/"):
                    m = re.search(r"/p=(\d+)", name)
                    n = int(m.group(1)) if m else 1
                    v = rates.get("best-GFLOP/s") or rates.get("GFLOP/s")
                    if v:
                        team[n] = max(team.get(n, 0), v)
                elif name.startswith("BenchmarkFMAPeak/"):
                    for unit in ("GFLOP/cpu-s", "GFLOP/s"):
                        if unit in rates:
                            best[unit] = max(best.get(unit, 0), rates[unit])
    except OSError:
        pass
    return best.get("GFLOP/cpu-s") or best.get("GFLOP/s"), team, shares


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


def pct(v):
    return "-" if v is None else f"{100 * v:.0f}%"


def status(value, target, at_most=True):
    if value is None or target is None:
        return "-"
    return "met" if (value <= target if at_most else value >= target) else "MISSED"


def table(title, header, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    line = "  ".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(header, widths)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(r, widths))))


def main_table(rounds):
    names = [w for w in ORDER if any(w in rd.get("go", {}) or w in rd.get("torch", {}) for rd in rounds.values())]
    names += sorted({w for rd in rounds.values() for s in ("go", "torch") for w in rd.get(s, {})
                     if not w.startswith("bw_")} - set(names))
    names = [w for w in names if not w.startswith("bw_")]
    rows = []
    for w in names:
        unit, conv = UNITS.get(w, ("ns/op", lambda ns: ns))
        gw = GO_SIDE.get(w, w)
        go_ns = [rd.get("go", {}).get(gw, {}).get("ns") for rd in rounds.values()]
        pt_ns = [rd.get("torch", {}).get(w, {}).get("ns") for rd in rounds.values()]
        ratios = [g / p for g, p in zip(go_ns, pt_ns) if g and p]
        g, p = med(go_ns), med(pt_ns)
        r = med(ratios)
        t = TARGETS.get(w)
        rr = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
        b = med([rd.get("go", {}).get(gw, {}).get("B") for rd in rounds.values()])
        a = med([rd.get("go", {}).get(gw, {}).get("allocs") for rd in rounds.values()])
        rows.append([w, unit, fmt(conv(g) if g else None), fmt(conv(p) if p else None), fmt(r), rr,
                     f"<= {t:g}" if t else "-", status(r, t), fmt_int(b), fmt_int(a)])
    if rows:
        table("workloads (medians over rounds; ratio = Tapir time / PyTorch time, >1 means Tapir is slower)",
              ["workload", "unit", "Tapir", "PyTorch", "ratio", "ratio range", "target", "status",
               "Tapir B/op", "allocs/op"], rows)


def gbs(kind, ns):
    return BW_OPS[kind] * BW_ELEMS * 4 / ns if ns else None


def bandwidth_table(rounds):
    def ns(rd, s, w):
        return rd.get(s, {}).get(w, {}).get("ns")

    def copy_ref(rd, s, w):
        """The copy GB/s measured beside row w (paired with its samples),
        else the standalone copy row's."""
        if s == "go":
            ref = rd.get("go", {}).get(w, {}).get("copy-GB/s")
        else:
            ref = gbs("copy", ns(rd, "torch", f"{w}_copyref"))
        return ref or gbs("copy", ns(rd, s, "bw_copy"))

    def frac(s, k, w):
        fs = []
        for rd in rounds.values():
            v, c = gbs(k, ns(rd, s, w)), copy_ref(rd, s, w)
            if v and c:
                fs.append(v / c)
        return med(fs)

    if not any(ns(rd, s, f"bw_{k}") for rd in rounds.values() for s in ("go", "torch") for k in BW_OPS):
        return
    rows = []
    for k in BW_OPS:
        w = f"bw_{k}"
        def g(side, wl):
            return med([gbs(k, ns(rd, side, wl)) for rd in rounds.values()])
        if k == "copy":
            rows.append([k, f"{BW_OPS[k] * 4} B/elem", fmt(g("go", w)), "100%", fmt(g("torch", w)), "100%",
                         "-", "-", "-", "-", "-", "-"])
            continue
        gf = frac("go", k, w)
        cells = [k, f"{BW_OPS[k] * 4} B/elem"]
        for wl in (w, f"{w}_alloc"):
            cells += [fmt(g("go", wl)), pct(frac("go", k, wl)), fmt(g("torch", wl)), pct(frac("torch", k, wl))]
        rows.append(cells + [f">= {100 * BW_TARGET:.0f}%", status(gf, BW_TARGET, at_most=False)])
    table(f"memory bandwidth, [{BW_ELEMS >> 20}M] float32 operands (GB/s = bytes read + written / time; "
          "% = of the copy bandwidth measured beside the op, on the same side under the same load; "
          "out= is the kernel into a preallocated result (Tapir: the backend kernel, PyTorch: out=), "
          "alloc is the op as written, `a + b`, allocating its result; the target is on Tapir's out= %)",
          ["op", "traffic", "Tapir out= GB/s", "%", "PyTorch out= GB/s", "%",
           "Tapir alloc GB/s", "%", "PyTorch alloc GB/s", "%", "target", "status"], rows)


def rss_table(rss):
    models = sorted({m for rd in rss.values() for s in rd.values() for m in s})
    if not models:
        return
    rows = []
    for m in models:
        go = [rd.get("go", {}).get(m) for rd in rss.values()]
        pt = [rd.get("torch", {}).get(m) for rd in rss.values()]
        ratios = [g / p for g, p in zip(go, pt) if g and p]
        r = med(ratios)
        rows.append([f"{m} training loop", fmt(med(go)), fmt(med(pt)), fmt(r),
                     f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-",
                     f"<= {RSS_TARGET:g}", status(r, RSS_TARGET)])
    table("peak RSS (VmHWM) of a fresh process running the training steps, MiB; ratio = Tapir / PyTorch",
          ["workload", "Tapir MiB", "PyTorch MiB", "ratio", "ratio range", "target", "status"], rows)


def peak_table(rounds, n, peak, team, shares):
    """SGEMM rates against n times one core's peak and, where measured, the
    peak of n threads at once (which shared cores or power limits hold
    below n times one core's)."""
    if not peak:
        return
    top, tp = peak * n, team.get(n) if n > 1 else None
    rows = []
    for size in SGEMM_SIZES:
        def gf(side, w):
            return med([2 * size ** 3 / ns for ns in
                        (rd.get(side, {}).get(w, {}).get("ns") for rd in rounds.values()) if ns])
        t, p, d = gf("go", f"sgemm{size}"), gf("torch", f"sgemm{size}"), gf("torch", f"sgemm{size}_onednn")
        if t or p or d:
            row = [f"sgemm{size}"]
            for v in (t, p, d):
                row += [fmt(v), pct(v / top if v else None)]
                if tp:
                    row.append(pct(v / tp if v else None))
            rows.append(row)
    if rows:
        cols = ["size"]
        for side in ("Tapir GFLOP/s", "torch.mm", "oneDNN"):
            cols += [side, "% peak"] + (["% team"] if tp else [])
        title = (f"SGEMM against the FMA peak (backend/cpu BenchmarkFMAPeak: {peak:.1f} GFLOP/s per core, x {n} = "
                 f"{top:.1f}; % = wall-clock GFLOP/s / that")
        if tp:
            title += f"; % team = against BenchmarkFMAPeakTeam, {n} threads at once: {tp:.1f} GFLOP/s, {tp / peak:.2f}x one core"
        table(title + ")", cols, rows)
    if shares and n == 1:
        print(f"sgemm1024 at one thread, paired with the peak (backend/cpu BenchmarkSgemmPeakShare: product and FMA loop "
              f"alternated on one thread, each by its CPU time): {med(shares):.1f}% of the peak "
              f"(median of {len(shares)} runs' medians, range {min(shares):.1f}-{max(shares):.1f}%)")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py DIR")
    d = sys.argv[1]
    runs = {}  # threads -> round -> {"go": …, "torch": …}
    rss = {}   # threads -> round -> {"go": {model: MiB}, "torch": …}
    for path in glob.glob(os.path.join(d, "*-t*-r*.txt")):
        base = os.path.basename(path)
        m = re.match(r"(go|torch)-t(\d+)-r(\d+)\.txt$", base)
        if m:
            side, n, r = m.group(1), int(m.group(2)), int(m.group(3))
            parsed = parse_go(path) if side == "go" else parse_torch(path)
            runs.setdefault(n, {}).setdefault(r, {})[side] = parsed
            continue
        m = re.match(r"rss-(go|torch)-t(\d+)-r(\d+)\.txt$", base)
        if m:
            side, n, r = m.group(1), int(m.group(2)), int(m.group(3))
            rss.setdefault(n, {}).setdefault(r, {})[side] = parse_rss(path)
    if not runs and not rss:
        sys.exit(f"report.py: no results in {d}")
    peak, team, shares = parse_peak(os.path.join(d, "peak.txt"))
    for name in ("load-start.txt", "load-end.txt"):
        try:
            with open(os.path.join(d, name)) as f:
                print(f.read().strip())
        except OSError:
            pass

    for n in sorted(set(runs) | set(rss)):
        rounds = runs.get(n, {})
        k = max(len(rounds), len(rss.get(n, {})))
        print(f"\n== {n} thread{'s' if n > 1 else ''}, {k} round{'s' if k > 1 else ''}")
        main_table(rounds)
        bandwidth_table(rounds)
        rss_table(rss.get(n, {}))
        peak_table(rounds, n, peak, team, shares)


main()
