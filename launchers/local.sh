#!/usr/bin/env bash
# Runs a recprism subcommand on this machine, under mpirun with N ranks when it is distributed.
#
# usage: launchers/local.sh [-n RANKS] [-t THREADS_PER_RANK] [--] <subcommand> [args...]
#   e.g. launchers/local.sh -n 2 train --config configs/quickstart.yaml --resume
#
# - Ranks: -n, else $RECPRISM_RANKS, else 2. prepare, data, config and compare run once, without mpirun.
# - Threads per rank: -t, else cores / ranks (at least 1); passed as runtime.threads_per_rank and
#   OMP_NUM_THREADS. Ranks are bound to cores (--map-by slot:PE=T --bind-to core) when
#   ranks x threads fits the cores, and left unbound (--bind-to none --oversubscribe) when it does not.
# - Backend: comm.backend auto (the default) picks mpi for several ranks on the CPU and nccl when
#   train.device is cuda; the script never overrides what a config or --set chose.
# - Root: Open MPI refuses root unless told; this script tells it (containers and CI run as root).
# - The binary: $RECPRISM_BIN, else $RECPRISM_BUILD_DIR/recprism (default build/, relative to the
#   repository).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${RECPRISM_BUILD_DIR:-build}
case $build in /*) ;; *) build=$here/$build ;; esac
bin=${RECPRISM_BIN:-$build/recprism}
ranks=${RECPRISM_RANKS:-2}
threads=""
while [ $# -gt 0 ]; do
  case $1 in
    -n) ranks=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n "2,17p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "launchers/local.sh: no recprism subcommand given (see --help)" >&2; exit 2; }
[ -x "$bin" ] || { echo "launchers/local.sh: $bin is not built (run tools/setup.sh, or set RECPRISM_BIN)" >&2; exit 2; }
case $ranks in ''|*[!0-9]*|0) echo "launchers/local.sh: -n expects a positive rank count, found '$ranks'" >&2; exit 2 ;; esac
cores=$(nproc)
[ -n "$threads" ] || threads=$(( cores / ranks > 0 ? cores / ranks : 1 ))
export OMP_NUM_THREADS=$threads
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
# Containers often lack the kernel support for single-copy shared memory (CMA); fall back quietly.
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}

sub=$1
case $sub in
  prepare|data|config|compare|leaderboard|sweep|--version|--help) exec "$bin" "$@" ;;
esac
extra=(--set "runtime.threads_per_rank=$threads")
if [ $(( ranks * threads )) -le "$cores" ]; then
  bind=(--map-by "slot:PE=$threads" --bind-to core)
else
  bind=(--oversubscribe --bind-to none)
fi
if [ "$ranks" = 1 ]; then exec "$bin" "$@" "${extra[@]}"; fi
exec mpirun -n "$ranks" "${bind[@]}" "$bin" "$@" "${extra[@]}"
