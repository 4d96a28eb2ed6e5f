#!/usr/bin/env bash
# Training benchmarks (docs/benchmarks.md), each against a peer measured in the same run:
#   1. training samples/s of the trainer's step against tools/bench/reference_torch.py (the same
#      model in PyTorch for Python, the same batches, 1 thread each), for encode_once and bst;
#   2. encode_once against bst at 4 sampled negatives per positive (from 1);
#   3. `recprism train` on 2 ranks against 1 rank (1 thread per rank), with the share of step time
#      spent in gradient collectives;
#   4. achieved FLOP/s as a share of the single-core 1024-cube sgemm peak (MFU);
#   5. bytes communicated per step on a synthetic catalogue of 1 M items: item-row exchange against
#      the dense all-reduce, 2 ranks.
# usage: tools/bench/run_train_bench.sh [build dir] [seconds per measurement]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
secs=${2:-8}
bin=$build/recprism
bench=$build/recprism_train_bench
py=/usr/bin/python3
work=${RECPRISM_BENCH_WORK:-$(mktemp -d)}; [ -n "${RECPRISM_BENCH_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export RECPRISM_DATA_DIR=${RECPRISM_DATA_DIR:-$(cd .. && pwd)/shared/data}
mpi=(mpiexec --oversubscribe --bind-to none)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), commit $(git rev-parse --short HEAD)"
data=(--set data.dataset=ml-100k --set data.download=false --set data.prepared="$work/ml.h5" --set run.output_dir="$work/runs")
[ -s "$work/ml.h5" ] || "$bin" prepare "${data[@]}" >/dev/null
value() { grep "^$1 " | awk '{print $2}'; }

echo "--- 4. single-core matrix-product peak"
taskset -c 0 "$bench" sgemm --seconds 3

echo "--- 1+2. trainer step against the PyTorch reference (batch 256, L 50, d 64, 2 layers, dropout 0.1, 1 thread)"
for inter in encode_once bst; do
  "$bench" dump "$work/ml.h5" "$work/$inter.h5" --batch 256 --batches 20 --interaction $inter >/dev/null 2>&1
  best_c=0; best_p=0
  for round in 1 2 3; do  # alternate, best of 3: the machine is shared
    c=$(taskset -c 0 "$bench" speed "$work/ml.h5" --seconds "$secs" --interaction $inter 2>/dev/null | tee "$work/c.txt" | value samples_per_s)
    p=$(taskset -c 0 "$py" tools/bench/reference_torch.py speed "$work/$inter.h5" --seconds "$secs" | value samples_per_s)
    best_c=$(echo "$c $best_c" | awk '{print ($1 > $2) ? $1 : $2}')
    best_p=$(echo "$p $best_p" | awk '{print ($1 > $2) ? $1 : $2}')
    echo "  $inter round $round: recprism $c, python $p samples/s"
  done
  grep -E "histories_per_sample|train_mflop_per_sample|achieved_gflops" "$work/c.txt" | sed 's/^/  /'
  echo "  $inter best: recprism $best_c, python $best_p samples/s, ratio $(echo "$best_c $best_p" | awk '{printf "%.2f", $1/$2}')"
done

echo "--- 3. recprism train: 2 ranks against 1 rank (1 thread per rank, batch 256 per rank)"
common=("${data[@]}" --set train.max_steps=150 --set runtime.threads_per_rank=1 --set train.log_every=1000)
"$bin" train "${common[@]}" --set run.name=w1 2>/dev/null | head -1
"${mpi[@]}" -n 2 "$bin" train "${common[@]}" --set comm.backend=mpi --set run.name=w2 2>/dev/null | head -1
for w in w1 w2; do
  "$py" - "$work/runs/$w/train_log.jsonl" "$w" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"type":"step"' in l][10:]  # skip warm-up
step = sum(x["step_s"] for x in s); comm = sum(x["comm_s"] for x in s)
print(f"  {sys.argv[2]}: {sum(x['samples'] for x in s) / step:.0f} samples/s over steps 11-150, "
      f"{100 * comm / step:.1f}% of step time in gradient collectives, {s[-1]['comm_bytes'] / 1e6:.2f} MB/step")
PY
done

echo "--- 5. 1 M-item catalogue: item-row exchange against dense all-reduce (2 ranks, d 32)"
syn=(--set data.dataset=synthetic --set data.synthetic.rows=2000000 --set data.synthetic.items=1000000
     --set data.prepared="$work/syn.h5" --set run.output_dir="$work/runs")
[ -s "$work/syn.h5" ] || "$bin" prepare "${syn[@]}" >/dev/null
for mode in dense auto; do
  "${mpi[@]}" -n 2 "$bin" train "${syn[@]}" --set comm.backend=mpi --set run.name=syn_$mode --set train.max_steps=8 \
    --set model.d_model=32 --set model.num_layers=1 --set train.sparse_embeddings=$mode --set runtime.threads_per_rank=1 \
    >/dev/null 2>&1
  "$py" - "$work/runs/syn_$mode/train_log.jsonl" "$mode" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"type":"step"' in l][2:]
n = len(s)
print(f"  {sys.argv[2]:5}: {sum(x['comm_bytes'] for x in s) / n / 1e6:8.2f} MB/step/rank, "
      f"{sum(x['comm_s'] for x in s) / n:.3f} s in collectives, {sum(x['step_s'] for x in s) / n:.3f} s/step, "
      f"row exchange used {sum(x['sparse_item_grad'] for x in s)}/{n} steps")
PY
done
