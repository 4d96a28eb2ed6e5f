#!/usr/bin/env bash
# DP-SGD (train.privacy.dp_sgd) as a user runs it, on the mirror's MovieLens-100K under real MPI:
# the noise is added once per step whatever the world size (1, 2 and 3 ranks: the gradient norm
# of a noise-dominated step is sigma C sqrt(P) / B, not sqrt(world) times it); the epsilon in
# train_log.jsonl equals an independent Python RDP computation for the run's q, sigma and steps;
# the checkpoint and the report's provenance state the guarantee; the next-item objective trains
# privately; misuse ends with exit 3 naming the keys. Args: <recprism> <source dir> <mpiexec>.
source "$2/tests/support/script_test.sh" "$@"
base=(--set data.dataset=ml-100k --set data.data_dir="$data" --set data.download=false
      --set data.prepared="$work/ml.h5" --set run.output_dir="$work/runs" --set comm.timeout_s=60
      --set data.max_seq_len=20 --set model.d_model=32 --set model.num_layers=1 --set model.tower_hidden=32
      --set train.log_every=5 --set train.grad_clip=0 --set train.validation=sums --set train.privacy.dp_sgd=true)
"$bin" prepare "${base[@]}" >"$work/prep.log" 2>&1 || { cat "$work/prep.log"; exit 1; }

# Noise once: sigma = 1000 drowns the clipped sum (at most C per sample), so each step's gradient
# norm (after the all-reduce, divided by the global batch of 96) is sigma C sqrt(P) / 96 within
# about 1 / sqrt(2P). Noise drawn on every rank would make it sqrt(world) times larger.
for n in 1 2 3; do
  "${mpi[@]}" -n $n "$bin" train "${base[@]}" --set comm.backend=mpi --set run.name=noise$n --set train.max_steps=3 \
    --set train.batch_size=$((96 / n)) --set train.privacy.noise_multiplier=1000 >"$work/noise$n.log" 2>&1; rc=$?
  check "$n ranks: 3 DP-SGD steps, exit 0" '[ $rc = 0 ] || { tail -5 "$work/noise$n.log"; false; }'
  params=$(sed -n 's/.*model: \([0-9]*\) parameters.*/\1/p' "$work/noise$n.log" | head -1)
  "$py" - "$work/runs/noise$n/train_log.jsonl" "$params" >"$work/noise$n.out" 2>&1 <<'PY'
import json, math, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"type":"step"' in l]
want = 1000 * 1.0 * math.sqrt(int(sys.argv[2])) / 96
assert len(steps) == 3 and all(s["samples"] == 96 for s in steps), [s["samples"] for s in steps]
ratios = [s["grad_norm"] / want for s in steps]
assert all(abs(r - 1) < 0.02 for r in ratios), ratios
print("gradient norm / (sigma C sqrt(P) / B):", " ".join(f"{r:.4f}" for r in ratios))
PY
  check "$n ranks: the noise of one step is added once" '[ $? = 0 ] && cat "$work/noise$n.out" || { cat "$work/noise$n.out"; false; }'
done

# epsilon: the log's against the sampled Gaussian mechanism's RDP computed here from its definition.
"${mpi[@]}" -n 2 "$bin" train "${base[@]}" --set comm.backend=mpi --set run.name=eps --set train.max_steps=40 \
  --set train.batch_size=64 --set train.privacy.noise_multiplier=0.8 --set train.privacy.delta=1e-6 \
  --set train.checkpoint_every=20 >"$work/eps.log" 2>&1; rc=$?
check "2 ranks, sigma 0.8: 40 steps, exit 0" '[ $rc = 0 ] || { tail -5 "$work/eps.log"; false; }'
check "the log states q, sigma, C and delta" 'grep -q "DP-SGD: noise multiplier 0.8, max grad norm 1, sample rate .* (64 x 2 of [0-9]* samples), delta 1e-06" "$work/eps.log"'
samples=$(sed -n 's/.*(64 x 2 of \([0-9]*\) samples).*/\1/p' "$work/eps.log" | head -1)
"$py" - "$work/runs/eps/train_log.jsonl" "$samples" >"$work/eps.out" 2>&1 <<'PY'
import json, math, sys
def rdp(q, sigma, a):  # log A_a / (a - 1), A_a = sum_i C(a,i) (1-q)^(a-i) q^i exp((i^2 - i) / (2 sigma^2))
    t = [math.lgamma(a + 1) - math.lgamma(i + 1) - math.lgamma(a - i + 1) + (a - i) * math.log1p(-q) + i * math.log(q)
         + (i * i - i) / (2 * sigma * sigma) for i in range(a + 1)]
    m = max(t)
    return (m + math.log(sum(math.exp(x - m) for x in t))) / (a - 1)
orders = list(range(2, 65)) + [80, 96, 128, 256, 512]
q = 128 / int(sys.argv[2])
steps = [json.loads(l) for l in open(sys.argv[1]) if '"type":"step"' in l]
assert len(steps) == 40
for s in steps:
    want = min(s["step"] * rdp(q, 0.8, a) + math.log(1e6) / (a - 1) for a in orders)
    assert abs(s["dp_epsilon"] - want) <= 1e-6 * want, (s["step"], s["dp_epsilon"], want)
    assert 0 <= s["dp_clipped"] <= 1
eps = [s["dp_epsilon"] for s in steps]
assert all(b > a for a, b in zip(eps, eps[1:])), "epsilon must grow with every step"
print(f"q {q:.5f}: epsilon {eps[0]:.4f} after 1 step, {eps[-1]:.4f} after 40, as computed here")
PY
check "train_log.jsonl's epsilon at every step equals the RDP accountant computed in Python" \
  '[ $? = 0 ] && cat "$work/eps.out" || { cat "$work/eps.out"; false; }'

# The guarantee travels with the checkpoint into the report.
"$bin" evaluate --checkpoint "$work/runs/eps/checkpoints/step-00000020.pt" "${base[@]}" --set eval.bootstrap_replicates=10 \
  --output "$work/report" >"$work/evaluate.log" 2>&1; rc=$?
check "evaluate --checkpoint of the DP run: exit 0" '[ $rc = 0 ] || { tail -5 "$work/evaluate.log"; false; }'
"$py" - "$work/report/report.json" "$work/runs/eps/train_log.jsonl" >"$work/prov.out" 2>&1 <<'PY'
import json, sys
prov = json.load(open(sys.argv[1]))["provenance"]
last = [json.loads(l) for l in open(sys.argv[2]) if '"type":"step"' in l][-1]
assert abs(float(prov["dp_epsilon"]) - last["dp_epsilon"]) < 1e-5 * last["dp_epsilon"], (prov["dp_epsilon"], last)
assert "delta 1e-06" in prov["privacy"] and "noise multiplier 0.8" in prov["privacy"], prov["privacy"]
assert "20 steps" in prov["privacy"] and "the run took 40 steps" in prov["privacy"], prov["privacy"]
print("provenance:", prov["privacy"])
PY
check "step-20.pt's report states the whole run's epsilon (40 steps: the conservative one), delta and sigma" \
  '[ $? = 0 ] && cat "$work/prov.out" || { cat "$work/prov.out"; false; }'
check "report.md shows the privacy line" 'grep -q "DP-SGD: epsilon" "$work/report/report.md"'

# The next-item objective (full softmax; the item table clipped as input and tied output) trains privately.
"${mpi[@]}" -n 2 "$bin" train "${base[@]}" --set comm.backend=mpi --set run.name=next --set train.max_steps=5 \
  --set train.objective=next_item --set model.causal=true --set train.validation=heldout \
  --set train.early_stop_metric=ctr_ndcg --set train.batch_size=64 >"$work/next.log" 2>&1; rc=$?
check "next_item under DP-SGD at 2 ranks: exit 0, finite loss, epsilon logged" \
  '[ $rc = 0 ] && grep -q "\"dp_epsilon\"" "$work/runs/next/train_log.jsonl" && ! grep -q "\"loss\":nan" "$work/runs/next/train_log.jsonl" || { tail -5 "$work/next.log"; false; }'

# Misuse is refused by name.
"$bin" pretrain "${base[@]}" --set run.name=pre --set pretrain.max_steps=2 >"$work/pre.log" 2>&1; rc=$?
check "pretrain with train.privacy.dp_sgd: exit 3 naming the key" '[ $rc = 3 ] && grep -q "train.privacy.dp_sgd is set, but recprism pretrain" "$work/pre.log"'
"$bin" train "${base[@]}" --set run.name=sparse --set train.sparse_embeddings=sparse >"$work/sparse.log" 2>&1; rc=$?
check "dp_sgd with sparse_embeddings: sparse: exit 3" '[ $rc = 3 ] && grep -q "train.sparse_embeddings must be auto or dense" "$work/sparse.log"'
"$bin" train "${base[@]}" --set run.name=sampled --set train.objective=next_item --set model.causal=true \
  --set train.validation=heldout --set train.early_stop_metric=ctr_ndcg --set train.full_softmax_max_items=100 \
  >"$work/sampled.log" 2>&1; rc=$?
check "dp_sgd with the sampled softmax: exit 3 naming the catalogue and the key" \
  '[ $rc = 3 ] && grep -q "needs the full softmax.*above train.full_softmax_max_items (100)" "$work/sampled.log"'
"$bin" train "${base[@]}" --set run.name=zero --set train.privacy.noise_multiplier=0 >"$work/zero.log" 2>&1; rc=$?
check "noise_multiplier 0: exit 3 (no guarantee without noise)" '[ $rc = 3 ] && grep -q "train.privacy.noise_multiplier" "$work/zero.log"'

exit $fail
