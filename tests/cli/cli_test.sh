#!/usr/bin/env bash
# The recprism binary as a user runs it: exit codes, messages, banner, run directory, and the
# first distributed job under a real mpiexec. Args: <recprism binary> <source dir> <mpiexec>.
set -u
bin=$1; src=$2; mpiexec=$3
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
mpi() { timeout 120 "$mpiexec" --oversubscribe --bind-to none "$@"; }

"$bin" --version >"$work/v" 2>&1; rc=$?
check "--version exits 0 and names the version" '[ $rc = 0 ] && grep -q "^recprism [0-9.]* (commit " "$work/v"'
if head=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null); then
  # Stamped at build time: a binary rebuilt after a commit names that commit (-dirty with changes).
  check "--version names the checkout's commit ($head)" 'grep -qE "\(commit $head(-dirty)?\)" "$work/v" || cat "$work/v"'
fi
"$bin" frobnicate >"$work/o" 2>&1; rc=$?
check "unknown command exits 2 and says so" '[ $rc = 2 ] && grep -q "unknown command .frobnicate." "$work/o"'
"$bin" comm check --sizemb 3 >"$work/o" 2>&1; rc=$?
check "unknown option exits 2 naming it" '[ $rc = 2 ] && grep -q "unknown option .--sizemb." "$work/o"'
for cmd in config comm info; do
  "$bin" $cmd --help >"$work/o" 2>&1; rc=$?
  check "$cmd --help exits 0 with usage" '[ $rc = 0 ] && grep -q "usage: recprism" "$work/o"'
done

# Banner names the BLAS actually loaded.
"$bin" info --set run.output_dir="$work/runs" >"$work/info" 2>&1; rc=$?
check "info exits 0" '[ $rc = 0 ]'
check "banner names OpenBLAS (installed by tools/setup.sh)" 'grep -q "^BLAS: OpenBLAS" "$work/info"'
check "banner names LibTorch, world size, backend and config hash" \
  'grep -q "^LibTorch 1\." "$work/info" && grep -q "world size 1, backend local" "$work/info" && grep -qE "config hash [0-9a-f]{16}" "$work/info"'
ref=/usr/lib/x86_64-linux-gnu/blas
if [ -e "$ref/libblas.so.3" ]; then
  LD_LIBRARY_PATH=$ref "$bin" info --set run.output_dir="$work/runs" >"$work/ref" 2>&1
  check "banner warns loudly on the reference BLAS" 'grep -q "BLAS: reference BLAS (netlib)" "$work/ref" && grep -q "\[warning\] !!! BLAS is .reference BLAS" "$work/ref"'
else
  echo "skip: reference BLAS not installed ($ref), warning path not exercised"
fi

# Config commands.
cfg=$src/configs/quickstart.yaml
"$bin" config check "$cfg" >"$work/o" 2>&1; rc=$?
check "config check accepts the quickstart config" '[ $rc = 0 ] && grep -qE "config OK: .*quickstart.yaml \(hash [0-9a-f]{16}\)" "$work/o"'
printf 'data:\n  dataset: ml-100k\ntrain:\n  lr: fast\n  epoch: 3\n' >"$work/bad.yaml"
"$bin" config check "$work/bad.yaml" >"$work/o" 2>&1; rc=$?
check "bad config exits 3" '[ $rc = 3 ]'
check "bad config error names file:line:col and key" 'grep -q "$work/bad.yaml:4:7: train.lr: expected a number, found .fast." "$work/o"'
check "unknown key gets a suggestion" 'grep -q "$work/bad.yaml:5:3: train.epoch: unknown key (did you mean .train.epochs.?)" "$work/o"'
"$bin" config show "$cfg" --set train.lr=3e-4 >"$work/show" 2>&1; rc=$?
check "config show applies --set" '[ $rc = 0 ] && grep -q "lr: 0.0003" "$work/show"'
"$bin" config docs >"$work/docs.md"; rc=$?
check "config docs matches docs/config.md" '[ $rc = 0 ] && cmp -s "$work/docs.md" "$src/docs/config.md"'

# The first distributed job: 2 ranks, real all-reduce, run directory laid out.
mpi -n 2 "$bin" comm check --config "$cfg" --set run.output_dir="$work/runs" --set run.name=np2 --size-mb 2 \
  >"$work/np2.out" 2>&1; rc=$?
run=$work/runs/np2
check "mpiexec -n 2 comm check exits 0" '[ $rc = 0 ]'
check "comm check reports success from rank 0" 'grep -q "\[rank 0/2\] \[info\] comm check passed" "$work/np2.out"'
check "INFO is printed by rank 0 only" '! grep -q "\[rank 1/2\] \[info\]" "$work/np2.out"'
check "run dir has the effective config with its hash" 'grep -qE "^# RecPrism effective config, hash [0-9a-f]{16}" "$run/config.yaml" && grep -q "backend: mpi" "$run/config.yaml"'
check "run dir has one log per rank, each line tagged with its rank" \
  '[ -s "$run/logs/rank-0.log" ] && [ -s "$run/logs/rank-1.log" ] && ! grep -v "\[rank 1/2\]" "$run/logs/rank-1.log" | grep -q .'
check "comm_check.json records the run" 'grep -q "\"world_size\": 2" "$run/comm_check.json" && grep -q "\"passed\": true" "$run/comm_check.json"'
hash=$(sed -n 's/^# RecPrism effective config, hash \([0-9a-f]*\)$/\1/p' "$run/config.yaml")
check "banner hash equals the written config's hash" 'grep -q "config hash $hash" "$work/np2.out"'

# Misuse: several processes with the world-of-one backend asked for explicitly.
mpi -n 2 "$bin" comm check --set run.output_dir="$work/runs" --set comm.backend=local >"$work/o" 2>&1; rc=$?
check "local backend under mpiexec -n 2 exits 3 and names the fix" '[ $rc = 3 ] && grep -q "set comm.backend: auto" "$work/o"'

# NCCL without a GPU: a clear error naming the alternative.
if "$bin" comm check --help >/dev/null && ! nvidia-smi -L >/dev/null 2>&1; then
  mpi -n 2 "$bin" comm check --set comm.backend=nccl --set run.output_dir="$work/runs" >"$work/o" 2>&1; rc=$?
  check "nccl without a CUDA device exits 6 naming comm.backend: mpi" \
    '[ $rc = 6 ] && grep -q "sees no CUDA device" "$work/o" && grep -q "set comm.backend: mpi" "$work/o"'
fi

[ $fail = 0 ] && echo "cli tests: all passed"
exit $fail
