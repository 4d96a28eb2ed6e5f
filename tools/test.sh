#!/usr/bin/env bash
# The README's test command: set up (install, build, and the test-only packages), then run every
# CTest label but gpu.
# Extra arguments go to ctest (e.g. -L unit, -R config).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --test
build=${RECPRISM_BUILD_DIR:-build}
# Tests and benchmarks read datasets from the shared mirror beside the checkout.
export RECPRISM_DATA_DIR=${RECPRISM_DATA_DIR:-$(cd .. && pwd)/shared/data}
cd "$build"
ctest -LE gpu --output-on-failure -j "$(nproc)" "$@"
