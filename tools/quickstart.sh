#!/usr/bin/env bash
# The README's main job: set up (install, build), then
#   1. prepare MovieLens-100K from the dataset mirror into runs/quickstart/data/ml-100k.h5,
#   2. inspect it, with the shard balance for 2 ranks,
#   3. run RecPrism on 2 MPI ranks: start-up banner, verified collectives, timed all-reduce,
#   4. pretrain the sequence encoder (masked items) on 2 ranks -> runs/quickstart/pretrain/encoder.pt,
#   5. fine-tune the ESMM model from it on 2 ranks -> runs/quickstart/checkpoints/best.pt,
#   6. evaluate that checkpoint on the test split on 2 ranks: one report
#      (runs/quickstart/report/report.html) with intervals, slices and baselines.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build=${RECPRISM_BUILD_DIR:-build}
ranks=${RECPRISM_RANKS:-2}
export RECPRISM_DATA_DIR=${RECPRISM_DATA_DIR:-$(cd .. && pwd)/shared/data}
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
data=runs/quickstart/data/ml-100k.h5
mpi=(mpirun -n "$ranks" --oversubscribe --bind-to none)
"$build/recprism" prepare --config configs/quickstart.yaml --output "$data"
"$build/recprism" data inspect "$data" --world-size "$ranks"
"${mpi[@]}" "$build/recprism" comm check --config configs/quickstart.yaml "$@"
"${mpi[@]}" "$build/recprism" pretrain --config configs/quickstart.yaml "$@"
"${mpi[@]}" "$build/recprism" train --config configs/quickstart.yaml --init-from runs/quickstart/pretrain/encoder.pt "$@"
"${mpi[@]}" "$build/recprism" evaluate --config configs/quickstart.yaml --checkpoint runs/quickstart/checkpoints/best.pt \
  --split test --output runs/quickstart/report "$@"
echo "quickstart: outputs in runs/quickstart/: data/ml-100k.h5, pretrain/encoder.pt, checkpoints/ (best.pt, step-*.pt),"
echo "  weights.h5, train_log.jsonl, tensorboard/, report/report.html, config.yaml, comm_check.json, logs/rank-*.log"
