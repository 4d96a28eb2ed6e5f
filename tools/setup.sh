#!/usr/bin/env bash
# Idempotent set-up: installs RecPrism's Debian packages when missing, then configures and builds.
# Safe to run repeatedly; the README's two commands both call it.
#
#   tools/setup.sh          what building and running RecPrism need (compiler, LibTorch, Open MPI,
#                           HDF5, yaml-cpp, spdlog, OpenBLAS, GoogleTest)
#   tools/setup.sh --test   also what only the tests need: scikit-learn, PyTorch and h5py for Python
#                           (reference checks), Chromium (the HTML report), protobuf (TensorBoard
#                           files), Slurm and munge (launcher tests), clang-tidy (naming check)
#
# Environment:
#   RECPRISM_BUILD_DIR   build directory (default: build)
#   RECPRISM_BUILD_TYPE  CMake build type (default: RelWithDebInfo)
#   RECPRISM_WERROR      ON to treat warnings as errors (CI sets it)
#   RECPRISM_CMAKE_ARGS  extra CMake arguments, e.g. "-DRECPRISM_WITH_NCCL=OFF"
set -euo pipefail
cd "$(dirname "$0")/.."

# Package names (also listed in README.md for clusters that use environment modules).
packages=(
  cmake make g++ ccache pkg-config git curl unzip
  libtorch-dev libopenmpi-dev openmpi-bin libhdf5-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libgtest-dev googletest zlib1g-dev nlohmann-json3-dev
  libopenblas0-pthread libopenblas-pthread-dev
)
test_packages=(
  clang-tidy python3-sklearn python3-torch python3-h5py python3-numpy python3-pandas chromium
  protobuf-compiler python3-protobuf slurm-wlm munge
)
case "${1:-}" in
  --test) packages+=("${test_packages[@]}") ;;
  "") ;;
  *) echo "usage: tools/setup.sh [--test]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=${RECPRISM_BUILD_DIR:-build}
jobs=$(nproc)
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
mkdir -p "$build"
# shellcheck disable=SC2086
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${RECPRISM_BUILD_TYPE:-RelWithDebInfo}" \
  -DRECPRISM_WERROR="${RECPRISM_WERROR:-OFF}" -DRECPRISM_BUILD_TESTS=ON ${RECPRISM_CMAKE_ARGS:-} >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs"
echo "setup: built $build/recprism"
