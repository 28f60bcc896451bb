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
BENCHTIME=${BENCHTIME:-0.4s} # go test -benchtime for each benchmark…
GOCOUNT=${GOCOUNT:-5}        # …run -count times; report.py takes the median of the counts
BENCH=${BENCH:-.}            # go test -bench regex (the torch side runs all workloads…)
TORCH_ONLY=${TORCH_ONLY:-}   # …unless this regex (torch_bench.py --only) narrows them
PYTHON=${PYTHON:-/usr/bin/python3}
# Peak-RSS rows: models to train RSS_STEPS steps of, each in a fresh process
# per side, round and thread count. Default: both, but only for a full run.
if [ "$BENCH" = "." ]; then RSS=${RSS-"mlp lenet"}; else RSS=${RSS-}; fi
RSS_STEPS=${RSS_STEPS:-50}
# The FMA peak (backend/cpu's BenchmarkFMAPeak) for the SGEMM % of peak
# table: 1 to measure it once; by default only when the SGEMM rows run.
case "$BENCH" in .|*[Gg]emm*) PEAK=${PEAK:-1} ;; *) PEAK=${PEAK:-0} ;; esac
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cd "$root"

OUTDIR=${OUTDIR:-$(mktemp -d "${TMPDIR:-/tmp}/tapir-bench.XXXXXX")}
mkdir -p "$OUTDIR"

echo "tapir bench: rounds=$ROUNDS threads=($THREADS) benchtime=$BENCHTIME count=$GOCOUNT bench=$BENCH torch_only=$TORCH_ONLY rss=($RSS) results in $OUTDIR"
echo "load at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >"$OUTDIR/load-start.txt"
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
# and it must compute the right thing: the package's quick tests check that
# every benchmarked workload does real work (a second or two).
(cd "$here" && "$OUTDIR/bench.test") >"$OUTDIR/check.txt" 2>&1 ||
	{ cat "$OUTDIR/check.txt"; echo "run.sh: the correctness checks failed; not benchmarking" >&2; exit 1; }
if [ -n "$RSS" ]; then
	go build -o "$OUTDIR/rss" ./bench/cmd/rss
fi
if [ "$PEAK" = 1 ]; then
	# One core's FMA peak, and that of each thread count's team at once,
	# measured once, and the 1024³ product's share of the peak measured
	# in pairs beside it (BenchmarkSgemmPeakShare); a failure only drops
	# the % of peak table.
	echo "measuring the FMA peak (backend/cpu BenchmarkFMAPeak, BenchmarkFMAPeakTeam, BenchmarkSgemmPeakShare)"
	if go test -c -o "$OUTDIR/cpu.test" ./backend/cpu >"$OUTDIR/peak.txt" 2>&1; then
		(cd "$root/backend/cpu" && "$OUTDIR/cpu.test" -test.run XXX -test.bench 'FMAPeak|SgemmPeakShare' \
			-test.count 3 -test.benchtime 1s) >>"$OUTDIR/peak.txt" 2>&1 ||
			echo "run.sh: FMA peak benchmark failed; see $OUTDIR/peak.txt" >&2
	else
		echo "run.sh: cannot build backend/cpu's tests for the FMA peak; see $OUTDIR/peak.txt" >&2
	fi
fi

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
		if [ -n "$RSS" ]; then
			: >"$OUTDIR/rss-go-t$n-r$r.txt"
			: >"$OUTDIR/rss-torch-t$n-r$r.txt"
		fi
		for m in $RSS; do
			printf ', rss %s' "$m"
			GOMAXPROCS=$n "$OUTDIR/rss" -model "$m" -steps "$RSS_STEPS" >>"$OUTDIR/rss-go-t$n-r$r.txt" 2>&1 ||
				{ cat "$OUTDIR/rss-go-t$n-r$r.txt"; exit 1; }
			OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=$n MKL_NUM_THREADS=$n \
				"$PYTHON" "$here/torch_bench.py" --threads "$n" --rss "$m" --steps "$RSS_STEPS" \
				>>"$OUTDIR/rss-torch-t$n-r$r.txt" 2>&1 || { cat "$OUTDIR/rss-torch-t$n-r$r.txt"; exit 1; }
		done
		echo
	done
done

echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >"$OUTDIR/load-end.txt"
"$PYTHON" "$here/report.py" "$OUTDIR"
