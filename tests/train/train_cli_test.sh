#!/usr/bin/env bash
# `recprism pretrain` / `train` / `evaluate --checkpoint` as a user runs them, on the mirror's
# MovieLens-100K under real MPI: replicas identical at 2 and 3 ranks; exact resume after a kill -9;
# the scaling probe changes no weight; a kill -9 in the middle of a checkpoint write leaves the previous one loadable; a NaN loss stops
# the run naming the step and the last good checkpoint; a mismatched --init-from names the tensor;
# pretrain -> fine-tune; TensorBoard files read by an independent decoder; a short run beats the
# popularity baseline on CTR AUC of the valid split. Args: <recprism> <source dir> <mpiexec>.
source "$2/tests/support/script_test.sh" "$@"
base=(--set data.dataset=ml-100k --set data.data_dir="$data" --set data.download=false
      --set data.prepared="$work/ml.h5" --set run.output_dir="$work/runs" --set comm.timeout_s=60
      --set data.max_seq_len=20 --set model.d_model=32 --set model.num_layers=1 --set model.tower_hidden=32
      --set train.batch_size=128 --set train.lr=0.003 --set train.log_every=5)
"$bin" prepare "${base[@]}" >"$work/prep.log" 2>&1 || { cat "$work/prep.log"; exit 1; }

# A prepared file made with other data options is refused by name, before any step.
"$bin" train "${base[@]}" --set run.name=mismatch --set data.negatives_per_positive=7 >"$work/mismatch.log" 2>&1; rc=$?
check "train on a file prepared with other negatives: exit 4 naming the key and both values" \
  '[ $rc = 4 ] && grep -q "was prepared with other data options than this config; negatives_per_positive: the file has [0-9]*, this config 7" "$work/mismatch.log" || { tail -3 "$work/mismatch.log"; false; }'

# Replicas stay identical under real MPI at 2 and 3 ranks (a checksum all-reduce every step aborts on divergence).
for n in 2 3; do
  "${mpi[@]}" -n $n "$bin" train "${base[@]}" --set comm.backend=mpi --set run.name=rep$n --set train.max_steps=6 \
    --set train.check_replicas_every=1 >"$work/rep$n.log" 2>&1; rc=$?
  check "$n ranks: 6 steps with a replica checksum every step, exit 0" '[ $rc = 0 ] || { tail -5 "$work/rep$n.log"; false; }'
done
check "2 ranks: checkpoint, weights, JSONL and TensorBoard written" \
  '[ -s "$work/runs/rep2/checkpoints/step-00000006.pt" ] && [ -s "$work/runs/rep2/weights.h5" ] && [ $(grep -c "\"type\":\"step\"" "$work/runs/rep2/train_log.jsonl") = 6 ] && ls "$work/runs/rep2/tensorboard/train/"events.out.tfevents.* >/dev/null'

# Exact resume: 20 steps uninterrupted against 10 steps, kill -9, resume to 20 (dropout on).
run=("${mpi[@]}" -n 2 "$bin" train "${base[@]}" --set comm.backend=mpi --set train.max_steps=20
     --set train.checkpoint_every=10 --set train.validate_every=10 --set model.dropout=0.1)
"${run[@]}" --set run.name=full >"$work/full.log" 2>&1; rc=$?
check "uninterrupted 20-step run: exit 0" '[ $rc = 0 ] || { tail -5 "$work/full.log"; false; }'
RECPRISM_FAULT_KILL_AFTER_STEP=10 "${run[@]}" --set run.name=cut >"$work/cut.log" 2>&1; rc=$?
check "the run killed by SIGKILL after step 10 exits non-zero with step-10 on disk" \
  '[ $rc != 0 ] && [ -s "$work/runs/cut/checkpoints/step-00000010.pt" ] && [ ! -e "$work/runs/cut/weights.h5" ]'
"${run[@]}" --set run.name=cut --resume >"$work/resume.log" 2>&1; rc=$?
check "--resume: the JSONL log holds each of the 20 steps once" '[ "$(grep -c "\"type\":\"step\"" "$work/runs/cut/train_log.jsonl")" = 20 ]'
check "--resume: exit 0, resumed at step 10" '[ $rc = 0 ] && grep -q "resumed from .*step-00000010.pt: step 10" "$work/resume.log" || { tail -5 "$work/resume.log"; false; }'
"$py" - "$work/runs/full/weights.h5" "$work/runs/cut/weights.h5" >"$work/cmp.log" 2>&1 <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert sorted(a.keys()) == sorted(b.keys()) and len(a.keys()) > 10
bad = [k for k in a.keys() if not np.array_equal(a[k][...], b[k][...])]
assert not bad, f"differ: {bad[:5]}"
assert a.attrs["recprism.step"] == b"20" or a.attrs["recprism.step"] == "20", a.attrs["recprism.step"]
print(f"{len(a.keys())} tensors bit-identical at step 20")
PY
check "resumed run's weights at step 20 equal the uninterrupted run's bit for bit" '[ $? = 0 ] && cat "$work/cmp.log" || { cat "$work/cmp.log"; false; }'

# The scaling probe (train.scaling_probe_steps) trains each rank alone first, then undoes it: the
# weights equal the unprobed run's bit for bit, and the report's efficiency section gets the
# one-rank throughput, the speedup and the scaling efficiency.
"${run[@]}" --set run.name=probed --set train.scaling_probe_steps=5 >"$work/probed.log" 2>&1; rc=$?
check "probed 20-step run: exit 0, the probe logged" \
  '[ $rc = 0 ] && grep -q "scaling probe: 5 steps on each rank alone" "$work/probed.log" && grep -q "\"type\":\"probe\"" "$work/runs/probed/train_log.jsonl" || { tail -5 "$work/probed.log"; false; }'
"$py" - "$work/runs/full/weights.h5" "$work/runs/probed/weights.h5" >"$work/cmp2.log" 2>&1 <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
bad = [k for k in a.keys() if not np.array_equal(a[k][...], b[k][...])]
assert not bad and len(a.keys()) > 10, f"differ: {bad[:5]}"
print(f"{len(a.keys())} tensors bit-identical with and without the probe")
PY
check "the probe leaves training untouched (weights bit-identical)" '[ $? = 0 ] && cat "$work/cmp2.log" || { cat "$work/cmp2.log"; false; }'
"${mpi[@]}" -n 2 "$bin" evaluate "${base[@]}" --set comm.backend=mpi --checkpoint "$work/runs/probed/checkpoints/best.pt" \
  --split valid --set eval.bootstrap_replicates=0 --output "$work/probed_report" >"$work/probed_eval.log" 2>&1
"$py" - "$work/probed_report/report.json" "$work/runs/probed/train_log.jsonl" >"$work/scal.log" 2>&1 <<'PY'
import json, sys
e = {m["name"]: m["value"] for m in json.load(open(sys.argv[1]))["metrics"] if m["dimension"] == "efficiency" and m["task"] == "train"}
lines = [json.loads(l) for l in open(sys.argv[2])]
probe = [l for l in lines if l["type"] == "probe"]
assert len(probe) == 1 and probe[0]["world_size"] == 2, probe
single = probe[0]["single_rank_samples_per_s"]
assert abs(e["single_rank_samples_per_s"] - single) < 1e-6 * single, (e, single)
# Speedup: the run's first probe-length steps after the probe, against it (not the whole run).
after = lines.index(probe[0])
window = [l for l in lines[after:] if l["type"] == "step" and l["kind"] == "train"][: probe[0]["steps"]]
assert len(window) == 5 and window[0]["step"] == 1, window
rate = sum(l["samples"] for l in window) / sum(l["step_s"] for l in window)
whole = [l for l in lines if l["type"] == "step" and l["kind"] == "train"]
assert len(whole) == 20 and abs(rate - e["samples_per_s"]) > 1e-9 * rate, (rate, e)  # the window is not the run
assert abs(e["speedup"] - rate / single) < 1e-9 * e["speedup"], (e, rate)
assert abs(e["scaling_efficiency"] - rate / (2 * single)) < 1e-9, e
assert 0 < e["scaling_efficiency"] < 2, e
print({k: round(v, 3) for k, v in e.items()})
PY
check "the report's efficiency: one-rank samples/s from the probe, speedup and scaling efficiency at 2 ranks" \
  '[ $? = 0 ] && cat "$work/scal.log" || { cat "$work/scal.log"; tail -3 "$work/probed_eval.log"; false; }'

# kill -9 during the second checkpoint write (step 10): step 5 stays loadable and the run resumes.
ck=("${mpi[@]}" -n 2 "$bin" train "${base[@]}" --set comm.backend=mpi --set train.max_steps=15 --set train.checkpoint_every=5
    --set run.name=crash)
RECPRISM_FAULT_KILL_IN_CHECKPOINT=2 "${ck[@]}" >"$work/crash.log" 2>&1; rc=$?
check "killed while writing step-10: non-zero exit, a half-written temporary beside an intact step-5" \
  '[ $rc != 0 ] && [ ! -e "$work/runs/crash/checkpoints/step-00000010.pt" ] && ls "$work/runs/crash/checkpoints/"step-00000010.pt.tmp.* >/dev/null 2>&1 && [ -s "$work/runs/crash/checkpoints/step-00000005.pt" ]'
"${ck[@]}" --resume >"$work/crash2.log" 2>&1; rc=$?
check "resume after the crash loads step-5 and finishes" '[ $rc = 0 ] && grep -q "resumed from .*step-00000005.pt" "$work/crash2.log" && [ -s "$work/runs/crash/checkpoints/step-00000015.pt" ] || { tail -5 "$work/crash2.log"; false; }'

# Four bytes flipped in the newest checkpoint: evaluating it is exit 4 naming the tensor, and
# --resume skips it with a warning and resumes from the one before.
ckdir=$work/runs/crash/checkpoints
"$py" - "$ckdir/step-00000015.pt" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); at = len(b) // 2
b[at:at + 4] = bytes(x ^ 0xFF for x in b[at:at + 4]); open(p, "wb").write(b)
PY
"$bin" evaluate --checkpoint "$ckdir/step-00000015.pt" "${base[@]}" --set run.name=corrupt_eval >"$work/ce.log" 2>&1; rc=$?
check "a flipped checkpoint: evaluate exits 4 naming the file and the damaged tensor" \
  '[ $rc = 4 ] && grep -q "checkpoint .*step-00000015.pt. is corrupt: tensor .* fails its checksum" "$work/ce.log" || { tail -3 "$work/ce.log"; false; }'
"${mpi[@]}" -n 2 "$bin" train "${base[@]}" --set comm.backend=mpi --set train.max_steps=20 --set train.checkpoint_every=5 \
  --set run.name=crash --resume >"$work/crash3.log" 2>&1; rc=$?
check "--resume skips the corrupt newest checkpoint with a warning and resumes from step 10" \
  '[ $rc = 0 ] && grep -q "skipping .*step-00000015.pt.*is corrupt" "$work/crash3.log" && grep -q "resumed from .*step-00000010.pt" "$work/crash3.log" || { tail -5 "$work/crash3.log"; false; }'

# A NaN loss at step 7: exit 4, the message names the step and the last good checkpoint, nothing written after.
RECPRISM_FAULT_NAN_AT_STEP=7 "${mpi[@]}" -n 2 "$bin" train "${base[@]}" --set comm.backend=mpi --set train.max_steps=15 \
  --set train.checkpoint_every=5 --set run.name=nan >"$work/nan.log" 2>&1; rc=$?
check "NaN at step 7: exit 4 naming step 7, the batch's users and step-5" \
  '[ $rc = 4 ] && grep -q "loss is nan at step 7" "$work/nan.log" && grep -q "step-00000005.pt" "$work/nan.log" && grep -q "users of the batch" "$work/nan.log" || { tail -5 "$work/nan.log"; false; }'
check "NaN: no checkpoint after step 5 and no weights" \
  '[ ! -e "$work/runs/nan/checkpoints/step-00000010.pt" ] && [ ! -e "$work/runs/nan/weights.h5" ]'

# A read error in rank 1's prefetch thread ends the whole job at once, not after comm.timeout_s.
t0=$(date +%s)
RECPRISM_FAULT_PREFETCH_ERROR_RANK=1 "${mpi[@]}" -n 2 "$bin" train "${base[@]}" --set comm.backend=mpi \
  --set comm.timeout_s=600 --set train.max_steps=200 --set run.name=prefetch >"$work/prefetch.log" 2>&1; rc=$?
elapsed=$(( $(date +%s) - t0 ))
check "a prefetch error on rank 1: exit 4 in ${elapsed} s (timeout 600 s), the error names the rank" \
  '[ $rc = 4 ] && [ $elapsed -lt 120 ] && grep -q "injected read error in rank 1" "$work/prefetch.log" || { tail -5 "$work/prefetch.log"; false; }'

# Pretrain, then fine-tune from its encoder; a mismatched model is refused naming the tensor.
"${mpi[@]}" -n 2 "$bin" pretrain "${base[@]}" --set comm.backend=mpi --set run.name=pre --set pretrain.max_steps=10 \
  >"$work/pre.log" 2>&1; rc=$?
check "pretrain: exit 0, encoder.pt written" '[ $rc = 0 ] && [ -s "$work/runs/pre/pretrain/encoder.pt" ] || { tail -5 "$work/pre.log"; false; }'
"${mpi[@]}" -n 2 "$bin" pretrain "${base[@]}" --set comm.backend=mpi --set run.name=pre_sampled --set pretrain.max_steps=5 \
  --set pretrain.full_softmax_max_items=100 --set pretrain.num_sampled=64 >"$work/pre_s.log" 2>&1; rc=$?
check "pretrain with sampled softmax (log-Q): exit 0 and a finite loss" \
  '[ $rc = 0 ] && ! grep -q "\"loss\":null" "$work/runs/pre_sampled/pretrain_log.jsonl" || { tail -5 "$work/pre_s.log"; false; }'
"$bin" train "${base[@]}" --set run.name=ft --set train.max_steps=5 --set train.encoder_lr_scale=0 \
  --set train.scaling_probe_steps=2 --init-from "$work/runs/pre/pretrain/encoder.pt" >"$work/ft.log" 2>&1; rc=$?
check "train --init-from encoder.pt with a frozen encoder: exit 0" '[ $rc = 0 ] && grep -q "initialised .* tensors from" "$work/ft.log" || { tail -5 "$work/ft.log"; false; }'
# At one rank the probe gives the one-rank throughput, but no speedup or scaling efficiency (1 by
# definition; the measured ratio would be the machine's drift).
"$bin" evaluate "${base[@]}" --checkpoint "$work/runs/ft/checkpoints/best.pt" --split valid \
  --set eval.bootstrap_replicates=0 --set eval.baselines=false --output "$work/ft_report" >"$work/ft_eval.log" 2>&1
"$py" - "$work/ft_report/report.json" >"$work/ft_scal.log" 2>&1 <<'PY'
import json, sys
e = {m["name"]: m["value"] for m in json.load(open(sys.argv[1]))["metrics"] if m["dimension"] == "efficiency" and m["task"] == "train"}
assert e["world_size"] == 1 and e["single_rank_samples_per_s"] > 0, e
assert "speedup" not in e and "scaling_efficiency" not in e, e
print(sorted(e))
PY
check "one rank: the report has the probe's samples/s, no speedup and no scaling efficiency" \
  '[ $? = 0 ] && cat "$work/ft_scal.log" || { cat "$work/ft_scal.log"; tail -3 "$work/ft_eval.log"; false; }'
"$py" - "$work/runs/pre/pretrain_weights.h5" "$work/runs/ft/weights.h5" >"$work/frozen.log" 2>&1 <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
enc = [k for k in a.keys() if k.startswith(("embed.", "encoder."))]
assert enc and all(np.array_equal(a[k][...], b[k][...]) for k in enc), "frozen encoder moved"
assert not np.array_equal(np.zeros(1), np.zeros(1)) or True
print(f"{len(enc)} encoder tensors unchanged by fine-tuning with encoder_lr_scale 0")
PY
check "encoder_lr_scale 0 leaves the pretrained encoder unchanged" '[ $? = 0 ] || { cat "$work/frozen.log"; false; }'
"$bin" train "${base[@]}" --set run.name=badresume --resume-from "$work/runs/pre/pretrain/encoder.pt" >"$work/br.log" 2>&1; rc=$?
check "--resume-from an encoder checkpoint: exit 2 saying to use --init-from" '[ $rc = 2 ] && grep -q "not a resumable train checkpoint.*use --init-from" "$work/br.log" || { tail -3 "$work/br.log"; false; }'
"$bin" train "${base[@]}" --set run.name=bad --set model.d_model=16 --set model.num_heads=2 \
  --init-from "$work/runs/pre/pretrain/encoder.pt" >"$work/bad.log" 2>&1; rc=$?
check "mismatched --init-from: exit 4 naming the checkpoint, a tensor and both shapes" \
  '[ $rc = 4 ] && grep -qE "encoder.pt.*tensor .* has shape \[[0-9, ]+\] in the checkpoint but \[[0-9, ]+\] in this model" "$work/bad.log" || { tail -3 "$work/bad.log"; false; }'

# TensorBoard event files read back by protoc's decoder with both CRCs checked.
if command -v protoc >/dev/null && "$py" -c "import google.protobuf" 2>/dev/null; then
  protoc --proto_path="$src/tests/train" --python_out="$work" "$src/tests/train/tensorboard_event.proto"
  "$py" "$src/tests/train/tensorboard_check.py" "$work" "$work/runs/full/tensorboard/train" "$work/runs/full/train_log.jsonl" \
    >"$work/tb.log" 2>&1; rc=$?
  check "TensorBoard events: CRCs and scalars match the JSONL log" '[ $rc = 0 ] && cat "$work/tb.log" || { cat "$work/tb.log"; false; }'
else
  echo "FAIL: protoc or python3-protobuf missing (tools/setup.sh --test installs protobuf-compiler and python3-protobuf)"; fail=1
fi

# A short real run beats the popularity baseline on CTR AUC of the valid split (evaluate --checkpoint).
"${mpi[@]}" -n 2 "$bin" train "${base[@]}" --set comm.backend=mpi --set run.name=real --set train.max_steps=150 \
  --set train.batch_size=256 --set train.validate_every=75 >"$work/real.log" 2>&1; rc=$?
check "150-step run: exit 0" '[ $rc = 0 ] || { tail -5 "$work/real.log"; false; }'
"${mpi[@]}" -n 2 "$bin" evaluate "${base[@]}" --set comm.backend=mpi --set run.name=real --checkpoint "$work/runs/real/checkpoints/best.pt" \
  --split valid --set eval.bootstrap_replicates=20 --output "$work/real_report" >"$work/eval.log" 2>&1; rc=$?
check "evaluate --checkpoint best.pt --split valid: exit 0" '[ $rc = 0 ] || { tail -5 "$work/eval.log"; false; }'
"$py" - "$work/real_report/report.json" "$work/runs/real/train_log.jsonl" <<'PY'; rc=$?
import json, sys
r = json.load(open(sys.argv[1]))
auc = {m["model"]: m["value"] for m in r["metrics"]
       if m["task"] == "ctr" and m["name"] == "auc" and m["slice"] == "all" and m["dimension"] == "quality"}
print("valid ctr auc:", auc)
val = [json.loads(l) for l in open(sys.argv[2]) if '"type":"valid"' in l]
best = max(v["ctr_auc"] for v in val)
# the trainer's histogram AUC and the evaluator's exact AUC of the same checkpoint agree
assert abs(best - auc["model"]) <= 2e-3 + max(v["auc_error_bound"] for v in val), (best, auc["model"])
assert auc["model"] > auc["popularity"], auc
PY
check "the trained model beats popularity on valid CTR AUC; the trainer's AUC matches the evaluator's" '[ $rc = 0 ]'
exit $fail
