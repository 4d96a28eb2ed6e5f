#!/usr/bin/env bash
# One run of a sweep: train (resuming from the run's own checkpoints when it has them), then
# evaluate --checkpoint best.pt on the valid split. The sweep's pipeline (sweep.meta: pretrain,
# eval_split, protocols) adds pretraining first, the test split, and one report per protocol
# (report-<protocol>/, the first also copied to report/). Writes DONE, or FAILED with the exit code and
# the last error line, into the run directory. Called by `recprism sweep` (locally) and by
# launchers/slurm/sweep_array.sbatch (one array task per run).
#
# usage: launchers/sweep_run.sh SWEEP_DIR INDEX
#   Under Slurm (SLURM_JOB_ID set) ranks start with `srun --mpi=pmix` over the job's tasks;
#   otherwise through launchers/local.sh with $RECPRISM_RANKS ranks (default 1).
set -uo pipefail
dir=$1; index=$2
here=$(cd "$(dirname "$0")" && pwd)
build=${RECPRISM_BUILD_DIR:-build}
case $build in /*) ;; *) build=$here/../$build ;; esac
bin=${RECPRISM_BIN:-$build/recprism}
line=$(awk -F'\t' -v i="$index" '$1 == i' "$dir/runs.tsv")
[ -n "$line" ] || { echo "sweep_run.sh: no run $index in $dir/runs.tsv" >&2; exit 2; }
IFS=$'\t' read -r -a fields <<<"$line"
id=${fields[1]}
base=$(sed -n 's/^base=//p' "$dir/sweep.meta")
run=$dir/runs/$id
mkdir -p "$run"
rm -f "$run/FAILED" "$run/DONE"
sets=()
for ((k = 2; k < ${#fields[@]}; ++k)); do sets+=(--set "${fields[k]}"); done
common=(--config "$base" --set run.output_dir="$dir/runs" --set run.name="$id" "${sets[@]}")
if [ -n "${SLURM_JOB_ID:-}" ]; then
  ntasks=${SLURM_NTASKS:-1}
  launch=(srun --mpi=pmix -n "$ntasks" --kill-on-bad-exit=1 "$bin")
  export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
  common+=(--set runtime.threads_per_rank="$OMP_NUM_THREADS")
  [ -z "${RECPRISM_BACKEND:-}" ] || common+=(--set comm.backend="$RECPRISM_BACKEND")
else
  launch=("$here/local.sh" -n "${RECPRISM_RANKS:-1}")
fi
fail() {  # fail <step> <rc> <log>
  local msg
  msg=$(grep -E "\[(error|critical)\]" "$3" | tail -1 | sed 's/^.*\] \[[a-z]*\] //')
  echo "$1 exited with $2: ${msg:-see $3}" >"$run/FAILED"
  echo "sweep_run.sh: run $id: $1 exited with $2 (log $3)" >&2
  exit "$2"
}
meta() { sed -n "s/^$1=//p" "$dir/sweep.meta"; }
pretrain=$(meta pretrain); split=$(meta eval_split); protocols=$(meta protocols)
resume=()
ls "$run/checkpoints/"step-*.pt >/dev/null 2>&1 && resume=(--resume)
if [ "${pretrain:-0}" = 1 ] && [ ${#resume[@]} -eq 0 ]; then
  # The pipeline's pretraining (its own resume is not needed: encoder.pt is written at its end).
  if [ ! -f "$run/pretrain/encoder.pt" ]; then
    "${launch[@]}" pretrain "${common[@]}" >>"$run/pretrain.out" 2>&1 || fail pretrain $? "$run/pretrain.out"
  fi
  resume=(--init-from "$run/pretrain/encoder.pt")
fi
"${launch[@]}" train "${common[@]}" "${resume[@]}" >>"$run/train.out" 2>&1 || fail train $? "$run/train.out"
first=1
IFS=, read -r -a plist <<<"${protocols:-rows}"
for p in "${plist[@]}"; do
  "${launch[@]}" evaluate "${common[@]}" --set eval.protocol="$p" --checkpoint "$run/checkpoints/best.pt" \
    --split "${split:-valid}" --output "$run/report-$p" >"$run/evaluate-$p.out" 2>&1 ||
    fail "evaluate ($p)" $? "$run/evaluate-$p.out"
  if [ $first = 1 ]; then rm -rf "$run/report" && cp -r "$run/report-$p" "$run/report"; first=0; fi
done
date -u +%FT%TZ >"$run/DONE"
