#!/usr/bin/env bash
# Tapir vs PyTorch on this machine: see bench/README.md.
#
#   bash bench/run.sh                 # 3 rounds, 1 and 2 threads
#   ROUNDS=5 THREADS="2" bash bench/run.sh
#
# For each round and each thread count N it runs the Go benchmarks
# (go test -bench with -cpu N, i.e. GOMAXPROCS=N) and then torch_bench.py
# with N threads, each in a fresh process, so the two sides alternate and
# share the machine's noise. report.py then prints one table per N.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-"1 2"}
BENCHTIME=${BENCHTIME:-2s}   # go test -benchtime for each benchmark
GOCOUNT=${GOCOUNT:-1}        # go test -count; above 1, report.py takes the median
BENCH=${BENCH:-.}            # go test -bench regex (the torch side runs all workloads…)
TORCH_ONLY=${TORCH_ONLY:-}   # …unless this regex (torch_bench.py --only) narrows them
PYTHON=${PYTHON:-/usr/bin/python3}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cd "$root"

OUTDIR=${OUTDIR:-$(mktemp -d "${TMPDIR:-/tmp}/tapir-bench.XXXXXX")}
mkdir -p "$OUTDIR"

echo "tapir bench: rounds=$ROUNDS threads=($THREADS) benchtime=$BENCHTIME count=$GOCOUNT results in $OUTDIR"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg)"

# PyTorch must use OpenBLAS; Debian's reference libblas3 is ~25x slower.
if ! OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	"$PYTHON" "$here/torch_bench.py" --threads 1 --check >"$OUTDIR/torch-config.txt"; then
	cat "$OUTDIR/torch-config.txt"
	echo "run.sh: PyTorch does not use OpenBLAS; install it (apt-get install libopenblas0-pthread)" \
		"or set ALLOW_REFERENCE_BLAS=1 to go on anyway" >&2
	exit 1
fi
grep -E '^# (torch|blas|openblas)' "$OUTDIR/torch-config.txt" | sed 's/^# /pytorch: /'

# One test binary for every round: the same code, and no build in the timings.
go test -c -o "$OUTDIR/bench.test" ./bench
# and it must compute the right thing: the quick check that the MLP step trains.
(cd "$here" && "$OUTDIR/bench.test" -test.run 'TestMLPLossDecreases$') >"$OUTDIR/check.txt" 2>&1 ||
	{ cat "$OUTDIR/check.txt"; echo "run.sh: the correctness check failed; not benchmarking" >&2; exit 1; }

for r in $(seq 1 "$ROUNDS"); do
	for n in $THREADS; do
		printf 'round %d/%d, %d thread(s): tapir' "$r" "$ROUNDS" "$n"
		(cd "$here" && "$OUTDIR/bench.test" -test.run XXX -test.bench "$BENCH" -test.cpu "$n" \
			-test.count "$GOCOUNT" -test.benchtime "$BENCHTIME" -test.benchmem) >"$OUTDIR/go-t$n-r$r.txt" 2>&1 ||
			{ cat "$OUTDIR/go-t$n-r$r.txt"; exit 1; }
		printf ', pytorch'
		OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=$n MKL_NUM_THREADS=$n \
			"$PYTHON" "$here/torch_bench.py" --threads "$n" --only "$TORCH_ONLY" >"$OUTDIR/torch-t$n-r$r.txt" 2>&1 ||
			{ cat "$OUTDIR/torch-t$n-r$r.txt"; exit 1; }
		echo
	done
done

"$PYTHON" "$here/report.py" "$OUTDIR"
