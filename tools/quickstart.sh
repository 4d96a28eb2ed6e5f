#!/usr/bin/env bash
# The README's main job: set up (install, build), then
#   1. prepare MovieLens-100K from the dataset mirror into runs/quickstart/data/ml-100k.h5,
#   2. inspect it, with the shard balance for 2 ranks,
#   3. run RecPrism on 2 MPI ranks: start-up banner, verified collectives, timed all-reduce,
#   4. pretrain the sequence encoder (masked items) on 2 ranks -> runs/quickstart/pretrain/encoder.pt,
#   5. fine-tune the ESMM model from it on 2 ranks -> runs/quickstart/checkpoints/best.pt,
#   6. evaluate that checkpoint on the test split on 2 ranks: one report
#      (runs/quickstart/report/report.html) with intervals, slices and baselines, over each test
#      user's logged candidates (the held-out item and its 4 sampled negatives),
#   7. rank each test user's held-out item against the whole catalogue (eval.protocol=full):
#      runs/quickstart/report-full/, where hit rate, NDCG, coverage and personalization at K
#      tell models apart (over 5 candidates every model's hit_rate@10 is 1).
# Every distributed step goes through launchers/local.sh (mpirun, binding, threads per rank).
# RECPRISM_OUTPUT_DIR moves the outputs (default runs/); extra arguments go to every step after
# prepare, e.g. `tools/quickstart.sh --set train.max_steps=100`.
set -euo pipefail
cd "$(dirname "$0")/.."
# RECPRISM_SKIP_SETUP=1: use the existing build as is (the quickstart test, which runs beside other
# tests that must not see their binary rebuilt).
[ -n "${RECPRISM_SKIP_SETUP:-}" ] || tools/setup.sh
export RECPRISM_BUILD_DIR=${RECPRISM_BUILD_DIR:-build}
export RECPRISM_RANKS=${RECPRISM_RANKS:-2}
export RECPRISM_DATA_DIR=${RECPRISM_DATA_DIR:-$(cd .. && pwd)/shared/data}
out=${RECPRISM_OUTPUT_DIR:-runs}
run=$out/quickstart
data=$run/data/ml-100k.h5
cfg=(--config configs/quickstart.yaml --set run.output_dir="$out" --set data.prepared="$data")
launch=launchers/local.sh
"$launch" prepare "${cfg[@]}" --output "$data"
"$launch" data inspect "$data" --world-size "$RECPRISM_RANKS"
"$launch" comm check "${cfg[@]}" "$@"
"$launch" pretrain "${cfg[@]}" "$@"
"$launch" train "${cfg[@]}" --init-from "$run/pretrain/encoder.pt" "$@"
"$launch" evaluate "${cfg[@]}" --checkpoint "$run/checkpoints/best.pt" --split test --output "$run/report" "$@"
"$launch" evaluate "${cfg[@]}" --checkpoint "$run/checkpoints/best.pt" --split test --output "$run/report-full" \
  --set eval.protocol=full "$@"
echo "quickstart: outputs in $run/: data/ml-100k.h5, pretrain/encoder.pt, checkpoints/ (best.pt, step-*.pt),"
echo "  weights.h5, train_log.jsonl, tensorboard/, config.yaml, comm_check.json, logs/rank-*.log"
echo "quickstart: reports $run/report/report.html (the test rows and their candidates) and"
echo "  $run/report-full/report.html (each held-out item ranked against the whole catalogue)"
