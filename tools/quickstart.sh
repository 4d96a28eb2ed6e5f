#!/usr/bin/env bash
# The README's main job: set up (install, build), then run RecPrism on 2 MPI ranks.
# Today this is `recprism comm check`: start-up banner, a verified all-reduce/all-gather-v/
# broadcast on every rank, and a timed all-reduce; outputs in runs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build=${RECPRISM_BUILD_DIR:-build}
ranks=${RECPRISM_RANKS:-2}
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mpirun -n "$ranks" --oversubscribe --bind-to none "$build/recprism" comm check --config configs/quickstart.yaml "$@"
echo "quickstart: outputs in runs/quickstart/ (config.yaml, comm_check.json, logs/rank-*.log)"
