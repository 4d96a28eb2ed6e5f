#!/usr/bin/env bash
# Generic-ingest benchmark (docs/benchmarks.md): `recprism prepare` of a synthetic-shaped CSV log
# (user, item, time, click, conversion, value) against pandas reading the same CSV, sorting it by
# (user, time) and writing the sorted columns with h5py under the same filters, in the same run;
# wall time and peak RSS, median of 3. Then one large out-of-core run with its peak memory.
# usage: tools/bench/run_ingest_bench.sh [build dir] [rows] [large rows] [large budget MiB]
#        defaults: build, 5000000, 100000000, 512 (large rows 0 skips the large run)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
rows=${2:-5000000}
large=${3:-100000000}
budget=${4:-512}
bin=$build/recprism
work=${RECPRISM_BENCH_DIR:-$(mktemp -d)}; trap 'rm -rf "$work"' EXIT
map=(--set data.dataset=generic --set data.generic.user=user --set data.generic.item=item
     --set data.generic.time=time --set data.generic.click=click --set data.generic.conversion=conversion
     --set data.generic.value=value)
source tools/bench/measure.sh
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for ids in int string; do
  flag=$([ $ids = string ] && echo --string-ids || true)
  "$build/recprism_generic_csv" "$rows" "$work/$ids.csv" $flag
  echo "--- $rows rows, $ids ids ($(du -m "$work/$ids.csv" | cut -f1) MiB CSV)"
  measure "recprism $ids" "$bin" prepare "${map[@]}" --set data.generic.path="$work/$ids.csv" --set data.prepared="$work/rp.h5"
  measure "pandas $ids" /usr/bin/python3 tools/bench/prepare_generic_peer.py "$work/$ids.csv" "$work/peer.h5" $flag
  r=recprism_${ids}_s; p=pandas_${ids}_s
  echo "recprism is $(echo "scale=2; ${!p} / ${!r}" | bc)x the speed of pandas with $ids ids"
  rm -f "$work/$ids.csv"
done
if [ "$large" -gt 0 ]; then
  "$build/recprism_generic_csv" "$large" "$work/large.csv"
  echo "--- $large rows, int ids ($(du -m "$work/large.csv" | cut -f1) MiB CSV), data.memory_budget_mb=$budget, one run"
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin" prepare "${map[@]}" --set data.generic.path="$work/large.csv" \
    --set data.prepared="$work/large.h5" --set data.memory_budget_mb="$budget" --set log.level=debug >"$work/out" 2>&1 \
    || { tail -20 "$work/out"; exit 1; }
  read -r t m <"$work/time"
  grep -E "prepare: |rows [0-9]|users" "$work/out" | sed 's/^.*\] //'
  echo "recprism $large rows out of core: $t s, peak RSS $((m / 1024)) MiB, file $(du -m "$work/large.h5" | cut -f1) MiB"
fi
