#!/usr/bin/env bash
# The launchers on a real Slurm (Debian's slurm-wlm and munge) started here on localhost:
#   - launchers/slurm/recprism.sbatch runs a 2-rank job (srun --mpi=pmix); both ranks' logs exist;
#   - `recprism sweep --slurm` sends 3 runs out as one job array; the leaderboard ranks them;
#   - a running training job is requeued (scontrol requeue) and resumes from its checkpoint;
#   - a job whose rank fails ends with that rank's exit code (4) in Slurm's job record.
# Args: <recprism> <source dir> <mpiexec>. The daemons are stopped by their pids on every exit.
set -u
bin=$1; src=$2
work=$(mktemp -d /tmp/recprism_slurm.XXXXXX)
source "$src/tests/launchers/slurm_cluster.sh"
trap 'slurm_stop; rm -rf "$work"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
for tool in slurmctld slurmd munged sbatch; do
  command -v $tool >/dev/null || { echo "FAIL: $tool missing (tools/setup.sh --test installs slurm-wlm and munge)"; exit 1; }
done
data=${RECPRISM_DATA_DIR:-$src/../shared/data}
slurm_start "$work/slurm" || { echo "FAIL: could not start Slurm"; exit 1; }
echo "slurm: $(sinfo -h -o '%P %D %c %t') (SLURM_CONF=$SLURM_CONF)"
export RECPRISM_BIN=$bin OMPI_MCA_btl_vader_single_copy_mechanism=none
export RECPRISM_OUTPUT_DIR=$work/runs
sb=(sbatch --parsable --chdir="$work" --output="$work/slurm-%j.out")

wait_job() {  # wait_job ID SECONDS: until the job (every task of an array) is in a final state
  local i states
  for ((i = 0; i < $2; ++i)); do
    states=$(scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
    if [ -n "$states" ] && ! echo "$states" | grep -qvE '^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE)$'; then
      return 0
    fi
    sleep 1
  done
  echo "wait_job: job $1 not finished after $2 s:" $states; squeue; return 1
}
exit_code() { scontrol show job "$1" | grep -o 'ExitCode=[0-9]*:[0-9]*' | head -1 | cut -d= -f2; }

"$bin" prepare --set data.dataset=ml-100k --set data.data_dir="$data" --set data.download=false \
  --set data.prepared="$work/ml.h5" >"$work/prep.log" 2>&1 || { cat "$work/prep.log"; exit 1; }
common=(--config "$src/configs/quickstart.yaml" --set data.prepared="$work/ml.h5" --set comm.timeout_s=60)

# 1. A 2-rank job through the project's sbatch script.
job=$("${sb[@]}" -n 2 --job-name=check "$src/launchers/slurm/recprism.sbatch" comm check "${common[@]}" --size-mb 1)
wait_job "$job" 120
check "2-rank comm check job: exit 0:0" '[ "$(exit_code "$job")" = 0:0 ] || { cat "$work/slurm-$job.out"; false; }'
check "2-rank job: both ranks logged in runs/check-$job/logs" \
  '[ -s "$work/runs/check-$job/logs/rank-0.log" ] && [ -s "$work/runs/check-$job/logs/rank-1.log" ] && grep -q "comm check passed" "$work/slurm-$job.out"'

# 2. A sweep of 3 runs as one job array; the leaderboard ranks them.
cat >"$work/sweep.yaml" <<YAML
name: slurm-sweep
base: $src/configs/quickstart.yaml
output_dir: $work/sweeps
set: {data.prepared: $work/ml.h5, train.max_steps: 12, train.validate_every: 6, model.num_layers: 1,
      eval.bootstrap_replicates: 10, comm.timeout_s: 60}
grid:
  train.lr: [0.0005, 0.002, 0.008]
metric: {task: ctr, name: auc, mode: max}
YAML
"$bin" sweep "$work/sweep.yaml" --slurm --ranks 1 --max-parallel 2 --sbatch-args "--chdir=$work" >"$work/sweep.log" 2>&1; rc=$?
array=$(sed -n 's/^\([0-9][0-9]*\)$/\1/p' "$work/sweep.log" | tail -1)
check "sweep --slurm submits one job array" '[ $rc = 0 ] && [ -n "$array" ] && grep -q "job array of 3 runs submitted" "$work/sweep.log" || { cat "$work/sweep.log"; false; }'
[ -n "$array" ] && wait_job "$array" 300
"$bin" leaderboard "$work/sweeps/slurm-sweep" >"$work/lb.log" 2>&1; rc=$?
check "leaderboard ranks the 3 array runs with intervals" \
  '[ $rc = 0 ] && [ $(grep -cE "^\| [123] \| r00[0-2]-" "$work/lb.log") = 3 ] && [ -s "$work/sweeps/slurm-sweep/leaderboard.html" ] && [ $(ls "$work/sweeps/slurm-sweep/runs/"r00*/DONE | wc -l) = 3 ] || { cat "$work/lb.log"; tail -5 "$work/sweeps/slurm-sweep/runs/"*.out; false; }'
"$bin" sweep "$work/sweep.yaml" >"$work/sweep2.log" 2>&1; rc=$?
check "re-running the finished sweep skips every run" '[ $rc = 0 ] && grep -q "3 finished, 0 to run" "$work/sweep2.log"'

# 3. A running training job requeued by scontrol resumes from its checkpoint.
job=$("${sb[@]}" -n 2 --job-name=requeue "$src/launchers/slurm/recprism.sbatch" train "${common[@]}" \
  --set train.max_steps=300 --set train.checkpoint_every=20 --set train.validate_every=1000 --set model.num_layers=1)
ck=$work/runs/requeue-$job/checkpoints
for i in $(seq 1 120); do ls "$ck/"step-00000040.pt >/dev/null 2>&1 && break; sleep 1; done
scontrol requeue "$job"; rc=$?
check "scontrol requeue accepted while step-40 exists" '[ $rc = 0 ] && [ -s "$ck/step-00000040.pt" ]'
# While the first incarnation is being cancelled the job can show a final state (CANCELLED), so
# wait_job alone may return at once. Wait for the second incarnation first: the job is pending
# again (Slurm holds a requeued batch job about two minutes, Reason=BeginTime: start it now) and
# then its batch script logs the restart.
t0=$(date +%s)
for i in $(seq 1 120); do
  info=$(scontrol show job "$job" 2>/dev/null)
  if echo "$info" | grep -q "Reason=BeginTime"; then scontrol update JobId="$job" StartTime=now; fi
  grep -q "restart 1 of job $job" "$work/slurm-$job.out" 2>/dev/null && break
  sleep 1
done
wait_job "$job" 400
echo "requeued job finished $(( $(date +%s) - t0 )) s after the requeue"
check "requeued job: exit 0:0 and a restart that resumed from a checkpoint" \
  '[ "$(exit_code "$job")" = 0:0 ] && grep -q "restart 1 of job $job: resuming" "$work/slurm-$job.out" && grep -qE "resumed from .*step-000000[4-9][0-9]\.pt|resumed from .*step-00000[1-2][0-9][0-9]\.pt" "$work/slurm-$job.out" || { tail -20 "$work/slurm-$job.out"; false; }'
check "requeued job finished all 300 steps (step-300 checkpoint), each logged once" \
  '[ -s "$ck/step-00000300.pt" ] && [ "$(grep -c "\"type\":\"step\"" "$work/runs/requeue-$job/train_log.jsonl")" = 300 ]'

# 4. A failing rank's exit code reaches Slurm's job record.
job=$("${sb[@]}" -n 2 --job-name=fault "$src/launchers/slurm/recprism.sbatch" comm check "${common[@]}" --inject-fault throw:1)
wait_job "$job" 120
check "rank 1 throws a data error: the job ends with exit code 4" '[ "$(exit_code "$job")" = 4:0 ] || { exit_code "$job"; tail -5 "$work/slurm-$job.out"; false; }'
grep -q "JobId=$job .*ExitCode=4:0" "$SLURM_DIR/log/jobcomp.txt" && echo "ok: the job completion log records ExitCode=4:0" \
  || { echo "FAIL: jobcomp.txt lacks ExitCode=4:0 for $job"; grep "JobId=$job" "$SLURM_DIR/log/jobcomp.txt"; fail=1; }
exit $fail
