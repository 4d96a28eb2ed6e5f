#!/usr/bin/env bash
# The README's main job: set up (install, build), then
#   1. prepare MovieLens-100K from the dataset mirror into runs/quickstart/data/ml-100k.h5,
#   2. inspect it, with the shard balance for 2 ranks,
#   3. run RecPrism on 2 MPI ranks: start-up banner, verified collectives, timed all-reduce,
#   4. evaluate a demo scorer's predictions for MovieLens-100K on the same ranks: one report
#      (runs/quickstart/report/report.html) with intervals, slices and baselines.
# Later issues put pretrain -> train before step 4, scoring a trained model instead.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build=${RECPRISM_BUILD_DIR:-build}
ranks=${RECPRISM_RANKS:-2}
export RECPRISM_DATA_DIR=${RECPRISM_DATA_DIR:-$(cd .. && pwd)/shared/data}
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
data=runs/quickstart/data/ml-100k.h5
"$build/recprism" prepare --config configs/quickstart.yaml --output "$data"
"$build/recprism" data inspect "$data" --world-size "$ranks"
mpirun -n "$ranks" --oversubscribe --bind-to none "$build/recprism" comm check --config configs/quickstart.yaml "$@"
/usr/bin/python3 tools/make_demo_predictions.py "$RECPRISM_DATA_DIR" runs/quickstart/demo_predictions.csv
mpirun -n "$ranks" --oversubscribe --bind-to none "$build/recprism" evaluate --config configs/quickstart.yaml \
  --predictions runs/quickstart/demo_predictions.csv --output runs/quickstart/report
echo "quickstart: outputs in runs/quickstart/ (data/ml-100k.h5, config.yaml, comm_check.json, report/report.html, logs/rank-*.log)"
