#!/usr/bin/env bash
# Train examples/fashion-mnist and its PyTorch twin (torch_reference.py)
# one after the other on this machine, with the same thread count, and
# print both results with the load average around each run.
#
#   bash examples/fashion-mnist/compare.sh            # 4 epochs, batch 64, 2 threads
#   EPOCHS=1 THREADS=2 bash examples/fashion-mnist/compare.sh
set -euo pipefail

EPOCHS=${EPOCHS:-4}
BATCH=${BATCH:-64}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUTDIR:-$(mktemp -d "${TMPDIR:-/tmp}/fashion-mnist-compare.XXXXXX")}
mkdir -p "$out"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3)"
(cd "$root" && go build -o "$out/fashion-mnist" ./examples/fashion-mnist)

echo "tapir:   load before $(cut -d' ' -f1-3 /proc/loadavg)"
GOMAXPROCS=$THREADS "$out/fashion-mnist" -epochs "$EPOCHS" -batch "$BATCH" -workers 2 \
	-checkpoint "$out/checkpoint.safetensors" -plot "$out/curves.png" >"$out/tapir.txt" 2>"$out/tapir.log"
echo "tapir:   load after  $(cut -d' ' -f1-3 /proc/loadavg)"
grep 'msg=epoch' "$out/tapir.log" | sed 's/^/  /'
sed 's/^/  /' "$out/tapir.txt"

echo "pytorch: load before $(cut -d' ' -f1-3 /proc/loadavg)"
OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS \
	MKL_NUM_THREADS=$THREADS "$PYTHON" "$here/torch_reference.py" --epochs "$EPOCHS" --batch "$BATCH" \
	--threads "$THREADS" >"$out/pytorch.txt"
echo "pytorch: load after  $(cut -d' ' -f1-3 /proc/loadavg)"
sed 's/^/  /' "$out/pytorch.txt"
echo "raw outputs in $out"
