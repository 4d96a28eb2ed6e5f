#!/usr/bin/env bash
# Data benchmarks (docs/benchmarks.md): prepare throughput and peak memory for ML-1M against a
# plain Python/NumPy peer in the same run, synthetic prepare at 1M and 10M rows, and loader
# throughput against the training step it feeds (one core each).
# usage: tools/bench/run_data_bench.sh [build dir]   (needs RECPRISM_DATA_DIR = the mirror)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
bin=$build/recprism
mirror=${RECPRISM_DATA_DIR:-$(cd .. && pwd)/shared/data}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export RECPRISM_DATA_DIR=$mirror
source tools/bench/measure.sh
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
measure "recprism prepare ml-1m" "$bin" prepare --dataset ml-1m --output "$work/ml1m.h5" --set run.output_dir="$work/runs"
measure "python peer ml-1m" /usr/bin/python3 tools/bench/prepare_peer.py "$mirror/ml-1m/ratings_no_timestamp.csv.gz" "$work/peer.npz"
rows=$(grep -o 'rows [0-9]*' "$work/out" | head -1 | cut -d' ' -f2)
echo "ml-1m output rows: $rows (1,000,209 ratings + 4 negatives each)"
echo "prepare speed-up vs peer: $(echo "scale=1; $python_peer_ml_1m_s / $recprism_prepare_ml_1m_s" | bc)x"
measure "recprism prepare synthetic 1M" "$bin" prepare --dataset synthetic --rows 1000000 --output "$work/s1.h5" --set run.output_dir="$work/runs"
measure "recprism prepare synthetic 10M" "$bin" prepare --dataset synthetic --rows 10000000 --output "$work/s10.h5" --set run.output_dir="$work/runs"
echo "synthetic 10M: $(echo "scale=0; 10000000 / $recprism_prepare_synthetic_10M_s" | bc) rows/s, file $(du -m "$work/s10.h5" | cut -f1) MiB"
echo "--- loader vs training step, one core each (taskset -c 0)"
taskset -c 0 "$build/recprism_loader_bench" "$work/ml1m.h5" --seconds 10 || true
taskset -c 0 "$build/recprism_loader_bench" "$work/s10.h5" --seconds 10 || true
