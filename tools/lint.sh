#!/usr/bin/env bash
# Naming check (clang-tidy readability-identifier-naming, .clang-tidy) over the modules that do
# not include LibTorch (eval/model_scoring.cc, heldout_ranking.cc and importance.cc, which run a model, are left out). Needs a configured build directory (compile_commands.json).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
files=$(ls src/core/*.cc src/comm/*.cc src/comm/*/*.cc src/config/*.cc src/data/*.cc src/metrics/*.cc src/eval/*.cc src/cli/*.cc | grep -v -e nccl -e model_scoring -e heldout_ranking -e importance)
clang-tidy -p "$build" --quiet $files
