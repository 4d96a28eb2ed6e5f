#!/usr/bin/env bash
# Real processes, real Open MPI: one rank stalling or throwing must end every rank promptly with a
# non-zero exit, never hang. Args: <recprism binary> <source dir> <mpiexec>.
set -u
bin=$1; src=$2; mpiexec=$3
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }

run() {  # run <name> <ranks> <args...>: sets rc, secs, out
  local name=$1 n=$2; shift 2
  SECONDS=0
  timeout 120 "$mpiexec" -n "$n" --oversubscribe --bind-to none "$bin" comm check \
    --set comm.backend=mpi --set run.output_dir="$work" --set run.name="$name" --size-mb 1 --iters 2 "$@" \
    >"$work/$name.out" 2>&1
  rc=$?
  secs=$SECONDS
  out=$(cat "$work/$name.out")
}

# 1. A stalled rank (3 ranks, odd size): peers time out after comm.timeout_s = 2 and abort the job.
run stall 3 --set comm.timeout_s=2 --inject-fault stall:1
check "stall: exit code is 5 (communication failure), got $rc" '[ "$rc" = 5 ]'
check "stall: job ended within 60 s (took $secs s)" '[ "$secs" -lt 60 ]'
check "stall: the error names the operation and its sequence number" 'grep -qE "allreduce #[0-9]+ \([0-9]+ bytes, backend mpi\) on rank [02] of 3 did not complete within comm.timeout_s = 2 s" <<<"$out"'

# 2. A rank that throws (rank 2 of 3): the handler aborts everyone with the error's exit code.
run throw 3 --set comm.timeout_s=600 --inject-fault throw:2
check "throw: exit code is 4 (data error), got $rc" '[ "$rc" = 4 ]'
check "throw: job ended long before the 600 s timeout (took $secs s)" '[ "$secs" -lt 60 ]'
check "throw: the log names the rank and the error" 'grep -q "\[rank 2/3\] \[error\] data error: injected fault on rank 2" <<<"$out"'

# 3. Rank 0 throws with 2 ranks.
run throw0 2 --set comm.timeout_s=600 --inject-fault throw:0
check "throw on rank 0: exit code 4, got $rc" '[ "$rc" = 4 ]'
check "throw on rank 0: prompt (took $secs s)" '[ "$secs" -lt 60 ]'

# 4. The backend follows the job (comm.backend: auto), and the launcher never overrides a choice.
RECPRISM_BIN=$bin timeout 120 "$src/launchers/local.sh" -n 2 comm check --set run.output_dir="$work" \
  --set run.name=auto2 --size-mb 1 --iters 2 >"$work/auto2.out" 2>&1; rc=$?
out=$(cat "$work/auto2.out")
check "auto, 2 ranks through launchers/local.sh: mpi, and the banner says why (exit $rc)" \
  '[ $rc = 0 ] && grep -q "backend mpi (comm.backend auto: 2 processes on the CPU)" <<<"$out"'
timeout 60 "$bin" comm check --set run.output_dir="$work" --set run.name=auto1 --size-mb 1 --iters 2 >"$work/auto1.out" 2>&1; rc=$?
out=$(cat "$work/auto1.out")
check "auto, one process: local (exit $rc)" '[ $rc = 0 ] && grep -q "backend local (comm.backend auto: one process)" <<<"$out"'
printf 'comm:\n  backend: nccl\n' >"$work/nccl.yaml"
RECPRISM_BIN=$bin timeout 120 "$src/launchers/local.sh" -n 2 comm check --config "$work/nccl.yaml" \
  --set run.output_dir="$work" --set run.name=nccl --size-mb 1 --iters 2 >"$work/nccl.out" 2>&1; rc=$?
out=$(cat "$work/nccl.out")
# Without a GPU (or NCCL in the build) nccl fails with exit 6 saying why; with one it runs on nccl.
check "a config's comm.backend: nccl is not overridden by the launcher (exit $rc)" \
  '{ [ $rc = 6 ] && grep -qE "nccl.*(no CUDA device|not compiled)" <<<"$out"; } || { [ $rc = 0 ] && grep -q "backend nccl (set by comm.backend)" <<<"$out"; }'

[ $fail = 0 ] && echo "fault tests: all passed" || { echo "--- last output:"; echo "$out"; }
exit $fail
