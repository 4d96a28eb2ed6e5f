#!/usr/bin/env bash
# The README's main job: set up (install, build), then
#   1. prepare MovieLens-100K from the dataset mirror into runs/quickstart/data/ml-100k.h5,
#   2. inspect it, with the shard balance for 2 ranks,
#   3. run RecPrism on 2 MPI ranks: start-up banner, verified collectives, timed all-reduce.
# Later issues extend it with pretrain -> train -> evaluate -> report.
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
echo "quickstart: outputs in runs/quickstart/ (data/ml-100k.h5, config.yaml, comm_check.json, logs/rank-*.log)"
