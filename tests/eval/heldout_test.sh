#!/usr/bin/env bash
# Held-out ranking (eval.protocol full and sampled) and the next-item objective, as a user runs
# them on the mirror's MovieLens-100K (leave-one-out): a short causal next-item training with
# held-out validation; full ranking at 1, 2 and 3 MPI ranks giving the same report; the popularity
# and random rankers recomputed in Python from their definitions; sampled negatives that are
# distinct and never touched, written and read back as a candidates file with the same report; the
# prepared file's own test negatives as a candidates file agreeing with the row evaluator; `compare`
# pairing two protocol reports; bad candidates files and misuse refused by name.
# Args: <recprism> <source dir> <mpiexec>.
source "$2/tests/support/script_test.sh" "$@"
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
cfg=(--set data.dataset=ml-100k --set data.data_dir="$data" --set data.download=false
     --set data.prepared="$work/ml.h5" --set data.negatives_per_positive=0 --set data.eval_negatives_per_positive=99
     --set data.negative_pool=catalogue --set run.output_dir="$work/runs" --set run.name=ni --set run.seed=7
     --set model.d_model=32 --set model.num_layers=1 --set model.causal=true --set eval.top_k=[10,5]
     --set eval.bootstrap_replicates=50 --set runtime.threads_per_rank=1)
"$bin" prepare "${cfg[@]}" >"$work/prep.log" 2>&1 || { cat "$work/prep.log"; exit 1; }

# next_item needs a causal model: refused by name before anything runs.
"$bin" train "${cfg[@]}" --set model.causal=false --set train.objective=next_item >"$work/bad.log" 2>&1; rc=$?
check "next_item with model.causal false: config error naming both keys" \
  '[ $rc = 3 ] && grep -q "train.objective: next_item needs model.causal: true" "$work/bad.log" || { cat "$work/bad.log"; false; }'

"$bin" train "${cfg[@]}" --set train.objective=next_item --set train.epochs=15 --set train.validate_every=30 \
  --set train.validation=heldout --set train.early_stop_metric=ctr_ndcg --set train.lr=0.003 >"$work/train.log" 2>&1; rc=$?
check "next_item training with held-out validation: exit 0" '[ $rc = 0 ] || { tail -5 "$work/train.log"; false; }'
ckpt=$work/runs/ni/checkpoints/best.pt
check "validation logs NDCG and hit rate of the 943 valid positives" \
  'grep -qE "validation at step 60: .*ndcg 0\.[0-9]+ hit rate 0\.[0-9]+.*\(943 samples\)" "$work/train.log" || { grep validation "$work/train.log"; false; }'
check "the validation lines name only the metrics a next-item run has (no NaN click AUC or logloss)" \
  '! grep "validation at step" "$work/train.log" | grep -qiE "nan|auc|logloss"'
check "the JSONL validation lines carry ctr_ndcg and ctr_hit_rate" \
  'grep "\"type\":\"valid\"" "$work/runs/ni/train_log.jsonl" | grep -q "\"ctr_hit_rate\":0\."'

# Full ranking at 1, 2 and 3 ranks: the same numbers.
"$bin" evaluate "${cfg[@]}" --checkpoint "$ckpt" --set eval.protocol=full --output "$work/f1" >"$work/f1.log" 2>&1; rc=$?
check "full ranking, 1 rank: exit 0, headline with an interval" \
  '[ $rc = 0 ] && grep -q "protocol full_ranking over 943 queries" "$work/f1.log" && grep -qE "hit_rate@10 +0\.[0-9]+ \[0\.[0-9]+, 0\.[0-9]+\]" "$work/f1.log" || { cat "$work/f1.log"; false; }'
for n in 2 3; do
  "${mpi[@]}" -n $n "$bin" evaluate "${cfg[@]}" --set comm.backend=mpi --checkpoint "$ckpt" --set eval.protocol=full \
    --output "$work/f$n" >"$work/f$n.log" 2>&1; rc=$?
  check "full ranking, $n ranks: exit 0" '[ $rc = 0 ] || { tail -5 "$work/f$n.log"; false; }'
  "$py" - "$work/f1/report.json" "$work/f$n/report.json" <<'PY' >"$work/same$n" 2>&1; rc=$?
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda m: (m["model"], m["task"], m["name"], m["protocol"])
ma, mb = ({key(m): m for m in r["metrics"] if m["dimension"] == "quality"} for r in (a, b))
assert ma.keys() == mb.keys() and len(ma) == 3 * 5, (len(ma), len(mb))
for k in ma:
    for x, y in ((ma[k]["value"], mb[k]["value"]), (ma[k]["n"], mb[k]["n"])) + tuple(zip(ma[k]["ci"], mb[k]["ci"])):
        assert abs(x - y) <= 1e-12, (k, x, y)
assert a["provenance"]["users_fingerprint"] == b["provenance"]["users_fingerprint"]
print("identical:", len(ma), "metrics")
PY
  check "full ranking, $n ranks: the same values, intervals and users as 1 rank" '[ $rc = 0 ] || { cat "$work/same$n"; false; }'
done
"$py" - "$work/f1/report.json" "$work/f2/report.json" <<'PY' >"$work/eff" 2>&1; rc=$?
import json, sys
for path, world in ((sys.argv[1], 1), (sys.argv[2], 2)):
    e = {(m["task"], m["name"]): m["value"] for m in json.load(open(path))["metrics"] if m["dimension"] == "efficiency"}
    assert e[("train", "samples_per_s")] > 0 and e[("train", "world_size")] == 1, e
    assert 0 <= e[("train", "communication_share")] < 1 and e[("train", "step_ms")] > 0, e
    assert e[("evaluate", "units_per_s")] > 0 and e[("evaluate", "world_size")] == world, e
print("efficiency:", {k[1]: round(v, 4) for k, v in e.items() if k[0] == "train"})
PY
check "the report's efficiency section: training throughput, communication share, world sizes" '[ $rc = 0 ] && cat "$work/eff" || { cat "$work/eff"; false; }'
"$py" "$src/tests/eval/heldout_check.py" baselines "$work/ml.h5" test "$work/f1/report.json" 7 >"$work/base_full" 2>&1; rc=$?
cat "$work/base_full"
check "full ranking: popularity and random rankers equal their definitions recomputed in Python (1e-12)" '[ $rc = 0 ]'
check "full ranking: the model beats random (hit_rate@10 above 10 / 1682 by far)" \
  '"$py" -c "import json,sys; m={(x[\"model\"],x[\"name\"]):x[\"value\"] for x in json.load(open(sys.argv[1]))[\"metrics\"]}; sys.exit(0 if m[(\"model\",\"hit_rate@10\")] > 0.02 and m[(\"random\",\"hit_rate@10\")] < 0.02 else 1)" "$work/f1/report.json"'

# heldout_queries user: one list per user with all of the user's held-out positives relevant.
# Leave-one-out (one relevant item per user): the model's numbers are the per-item protocol's.
"$bin" evaluate "${cfg[@]}" --checkpoint "$ckpt" --set eval.protocol=full --set eval.heldout_queries=user \
  --output "$work/fu" >"$work/fu.log" 2>&1; rc=$?
"$py" - "$work/f1/report.json" "$work/fu/report.json" <<'PY' >"$work/same_u" 2>&1; rc2=$?
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ma, mb = ({m["name"]: m["value"] for m in r["metrics"] if m["model"] == "model" and m["task"] == "heldout" and m["dimension"] == "quality"} for r in (a, b))
for k in ("hit_rate@10", "ndcg@10", "hit_rate@5", "ndcg@5", "mrr"):
    assert abs(ma[k] - mb[k]) <= 1e-12, (k, ma[k], mb[k])
for k in (10, 5):
    assert abs(mb[f"recall@{k}"] - mb[f"hit_rate@{k}"]) <= 1e-12 and abs(mb[f"precision@{k}"] - mb[f"hit_rate@{k}"] / k) <= 1e-12
assert b["provenance"]["protocol"] == "full_ranking_per_user" and b["provenance"]["protocol_mean_relevant"] == "1.000"
print("per-user = per-item with one relevant item:", {k: round(mb[k], 4) for k in ("hit_rate@10", "recall@10")})
PY
check "per-user full ranking, one relevant item per user: the model's hit rate, NDCG and MRR are the per-item protocol's" \
  '[ $rc = 0 ] && [ $rc2 = 0 ] && grep -q "protocol full_ranking_per_user over 943 queries" "$work/fu.log" || { cat "$work/same_u" "$work/fu.log"; false; }'
# A temporal split (users with many test positives): the baselines from their definitions, 1 and 2 ranks alike.
tcfg=("${cfg[@]}" --set data.split=temporal --set data.prepared="$work/mlt.h5" --set eval.protocol=full
      --set eval.heldout_queries=user)
"$bin" prepare "${tcfg[@]}" >"$work/prept.log" 2>&1 || { cat "$work/prept.log"; exit 1; }
"$bin" evaluate "${tcfg[@]}" --checkpoint "$ckpt" --output "$work/fut" >"$work/fut.log" 2>&1 &&
"${mpi[@]}" -n 2 "$bin" evaluate "${tcfg[@]}" --set comm.backend=mpi --checkpoint "$ckpt" --output "$work/fut2" \
  >"$work/fut2.log" 2>&1; rc=$?
check "per-user full ranking of a temporal split at 1 and 2 ranks: exit 0" '[ $rc = 0 ] || { tail -5 "$work/fut.log" "$work/fut2.log"; false; }'
"$py" "$src/tests/eval/heldout_check.py" baselines "$work/mlt.h5" test "$work/fut/report.json" 7 --per-user >"$work/base_u" 2>&1; rc=$?
cat "$work/base_u"
check "per-user: popularity and random rankers' hit rate, recall, precision, NDCG and MRR equal their definitions in Python (1e-12)" \
  '[ $rc = 0 ] && grep -qE "[0-9]+ users, [0-9]+ relevant items" "$work/base_u"'
for ex in train train_conversions none; do
  "$bin" evaluate "${tcfg[@]}" --set eval.exclude_seen=$ex --checkpoint "$ckpt" --output "$work/fx_$ex" >"$work/fx_$ex.log" 2>&1 &&
  "$py" "$src/tests/eval/heldout_check.py" baselines "$work/mlt.h5" test "$work/fx_$ex/report.json" 7 --per-user \
    --exclude-seen=$ex >"$work/base_x_$ex" 2>&1; rc=$?
  cat "$work/base_x_$ex"
  check "per-user full ranking with eval.exclude_seen $ex: the baselines from their definitions (1e-12)" \
    '[ $rc = 0 ] && grep -q "\"protocol_excluded\": \"$ex\"" "$work/fx_$ex/report.json" || { tail -3 "$work/fx_$ex.log"; false; }'
done
"$py" - "$work/fut/report.json" "$work/fut2/report.json" <<'PY' >"$work/same_u2" 2>&1; rc=$?
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda m: (m["model"], m["name"])
ma, mb = ({key(m): m["value"] for m in r["metrics"] if m["task"] == "heldout" and m["dimension"] == "quality"} for r in (a, b))
assert ma.keys() == mb.keys() and len(ma) == 3 * 9, len(ma)
for k in ma:
    assert abs(ma[k] - mb[k]) <= 1e-12, (k, ma[k], mb[k])
assert float(a["provenance"]["protocol_mean_relevant"]) > 2, a["provenance"]["protocol_mean_relevant"]
m = {k[1]: v for k, v in ma.items() if k[0] == "model"}
assert m["recall@10"] <= m["hit_rate@10"] and m["recall@5"] <= m["recall@10"], m
print("2 ranks = 1 rank;", a["provenance"]["protocol_mean_relevant"], "relevant items per user")
PY
check "per-user, 2 ranks: the same numbers; several relevant items per user" '[ $rc = 0 ] && cat "$work/same_u2" || { cat "$work/same_u2"; false; }'
"$bin" evaluate "${tcfg[@]}" --set eval.protocol=sampled --set eval.write_candidates="$work/drawnu.txt" \
  --checkpoint "$ckpt" --output "$work/su" >"$work/su.log" 2>&1 &&
"$py" "$src/tests/eval/heldout_check.py" verify "$work/mlt.h5" test "$work/drawnu.txt" 99 >"$work/verify_u" 2>&1 &&
"$bin" evaluate "${tcfg[@]}" --set eval.protocol=sampled --set eval.candidates_file="$work/drawnu.txt" \
  --checkpoint "$ckpt" --output "$work/su2" >"$work/su2.log" 2>&1 &&
"$py" "$src/tests/eval/heldout_check.py" baselines "$work/mlt.h5" test "$work/su2/report.json" 7 "$work/drawnu.txt" \
  --per-user >"$work/base_su" 2>&1; rc=$?
cat "$work/verify_u" "$work/base_su"
check "per-user sampled: 99 negatives per user, none touched; its baselines from their definitions (1e-12)" \
  '[ $rc = 0 ] && grep -q "protocol sampled_99_per_user" "$work/su.log" && grep -q "protocol candidates_file_per_user" "$work/su2.log" || { tail -3 "$work/su.log" "$work/su2.log"; false; }'
# A task-heads (ESMM) checkpoint ranks by pCTR, or by pCTCVR with eval.rank_by ctcvr (purchase top-K).
"$bin" train "${tcfg[@]}" --set run.name=heads --set model.heads=esmm --set model.causal=false --set train.max_steps=40 --set train.validation=sums \
  --set train.epochs=1 >"$work/heads.log" 2>&1 &&
for by in ctr ctcvr; do
  "$bin" evaluate "${tcfg[@]}" --set eval.rank_by=$by --checkpoint "$work/runs/heads/checkpoints/best.pt" \
    --output "$work/h_$by" >"$work/h_$by.log" 2>&1 || break
done; rc=$?
"$py" - "$work/h_ctr/report.json" "$work/h_ctcvr/report.json" <<'PY' >"$work/rank_by" 2>&1; rc2=$?
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["provenance"]["scoring"] == "task heads (pCTR)", a["provenance"]["scoring"]
assert b["provenance"]["scoring"] == "task heads (pCTCVR = pCTR x pCVR)", b["provenance"]["scoring"]
ma, mb = ({(m["model"], m["name"]): m["value"] for m in r["metrics"] if m["task"] == "heldout" and m["dimension"] == "quality"} for r in (a, b))
assert all(abs(ma[k] - mb[k]) <= 1e-12 for k in ma if k[0] != "model"), "the baselines do not depend on rank_by"
assert any(abs(ma[k] - mb[k]) > 1e-9 for k in ma if k[0] == "model"), "pCTR and pCTCVR rank alike"
print("rank_by: recall@10 by pCTR", round(ma[("model", "recall@10")], 4), "by pCTCVR", round(mb[("model", "recall@10")], 4))
PY
check "a task-heads checkpoint ranks by pCTR or, with eval.rank_by ctcvr, by pCTCVR (provenance says which)" \
  '[ $rc = 0 ] && [ $rc2 = 0 ] && cat "$work/rank_by" || { cat "$work/rank_by"; tail -3 "$work/heads.log" "$work/h_ctcvr.log"; false; }'

# Sampled: 99 drawn negatives, written, verified, read back.
"$bin" evaluate "${cfg[@]}" --checkpoint "$ckpt" --set eval.protocol=sampled --set eval.write_candidates="$work/drawn.txt" \
  --output "$work/s1" >"$work/s1.log" 2>&1; rc=$?
check "sampled, 1 rank: exit 0, 943 queries" '[ $rc = 0 ] && grep -q "protocol sampled_99 over 943 queries" "$work/s1.log" || { cat "$work/s1.log"; false; }'
"$py" "$src/tests/eval/heldout_check.py" verify "$work/ml.h5" test "$work/drawn.txt" 99 >"$work/verify" 2>&1; rc=$?
cat "$work/verify"
check "drawn candidates: one line per test user, 99 distinct negatives none of which the user touched" '[ $rc = 0 ]'
"${mpi[@]}" -n 2 "$bin" evaluate "${cfg[@]}" --set comm.backend=mpi --checkpoint "$ckpt" --set eval.protocol=sampled \
  --set eval.write_candidates="$work/drawn2.txt" --output "$work/s2" >"$work/s2.log" 2>&1; rc=$?
check "sampled, 2 ranks: the same candidates file as 1 rank (draws keyed by user, not rank)" \
  '[ $rc = 0 ] && cmp -s <(sort "$work/drawn.txt") <(sort "$work/drawn2.txt") || { tail -3 "$work/s2.log"; false; }'
"$bin" evaluate "${cfg[@]}" --checkpoint "$ckpt" --set eval.protocol=sampled --set eval.candidates_file="$work/drawn.txt" \
  --output "$work/s3" >"$work/s3.log" 2>&1; rc=$?
check "sampled from the written candidates file: exit 0, protocol candidates_file" \
  '[ $rc = 0 ] && grep -q "protocol candidates_file" "$work/s3.log" || { cat "$work/s3.log"; false; }'
"$py" - "$work/s1/report.json" "$work/s3/report.json" <<'PY' >"$work/same_s" 2>&1; rc=$?
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ma = {(m["model"], m["name"]): m["value"] for m in a["metrics"] if m["dimension"] == "quality"}
mb = {(m["model"], m["name"]): m["value"] for m in b["metrics"] if m["dimension"] == "quality"}
assert ma.keys() == mb.keys()
for k in ma:
    assert abs(ma[k] - mb[k]) <= 1e-12, (k, ma[k], mb[k])
print("identical:", len(ma))
PY
check "the candidates file read back gives the drawn protocol's numbers" '[ $rc = 0 ] || { cat "$work/same_s"; false; }'
"$py" "$src/tests/eval/heldout_check.py" baselines "$work/ml.h5" test "$work/s3/report.json" 7 "$work/drawn.txt" >"$work/base_s" 2>&1; rc=$?
cat "$work/base_s"
check "sampled: popularity and random rankers equal their definitions recomputed in Python (1e-12)" '[ $rc = 0 ]'

# The prepared file's own test negatives as a candidates file against the row evaluator.
"$py" "$src/tests/eval/heldout_check.py" candidates "$work/ml.h5" test "$work/rows.txt" >/dev/null || fail=1
"$bin" evaluate "${cfg[@]}" --checkpoint "$ckpt" --set eval.protocol=sampled --set eval.candidates_file="$work/rows.txt" \
  --output "$work/c" >"$work/c.log" 2>&1 &&
"$bin" evaluate "${cfg[@]}" --checkpoint "$ckpt" --output "$work/rows" >"$work/rows.log" 2>&1; rc=$?
"$py" - "$work/c/report.json" "$work/rows/report.json" <<'PY' >"$work/same_r" 2>&1; rc2=$?
import json, sys
c, r = (json.load(open(p)) for p in sys.argv[1:3])
mc = {m["name"]: m["value"] for m in c["metrics"] if m["model"] == "model"}
mr = {m["name"]: m["value"] for m in r["metrics"] if m["model"] == "model" and m["task"] == "ctr" and m["slice"] == "all"}
for k in ("hit_rate@10", "ndcg@10", "hit_rate@5", "ndcg@5"):
    assert abs(mc[k] - mr[k]) <= 1e-9, (k, mc[k], mr[k])
print("held-out ranking = row evaluator:", {k: round(mc[k], 4) for k in ("hit_rate@10", "ndcg@10")})
PY
check "the file's own test negatives as candidates: held-out ranking equals the row evaluator's hit rate and NDCG" \
  '[ $rc = 0 ] && [ $rc2 = 0 ] && cat "$work/same_r" || { cat "$work/same_r" "$work/c.log"; false; }'

# compare pairs two held-out reports of the same users (full: 1 rank against 3 ranks, no difference).
"$bin" compare "$work/f1" "$work/f3" --output "$work/cmp" >"$work/cmp.log" 2>&1; rc=$?
check "compare pairs two full-ranking reports: nothing differs" \
  '[ $rc = 0 ] && grep -q "0 differ" "$work/cmp.log" || { cat "$work/cmp.log"; false; }'

# Bad candidates files and misuse: named errors, no report.
printf '1 5 6\n999999 1 2\n' >"$work/bad_user.txt"
"$bin" evaluate "${cfg[@]}" --checkpoint "$ckpt" --set eval.protocol=sampled --set eval.candidates_file="$work/bad_user.txt" \
  --output "$work/bad1" >"$work/bad1.log" 2>&1; rc=$?
check "a candidates file naming an unknown user: exit 4, file:line and the id, no report" \
  '[ $rc = 4 ] && grep -q "bad_user.txt:2: user .999999. is not a user" "$work/bad1.log" && [ ! -e "$work/bad1/report.json" ] || { cat "$work/bad1.log"; false; }'
printf '1 5 x9\n' >"$work/bad_item.txt"
"$bin" evaluate "${cfg[@]}" --checkpoint "$ckpt" --set eval.protocol=sampled --set eval.candidates_file="$work/bad_item.txt" \
  --output "$work/bad2" >"$work/bad2.log" 2>&1; rc=$?
check "a candidates file naming an unknown item: exit 4, file:line, field and id" \
  '[ $rc = 4 ] && grep -q "bad_item.txt:1: item .x9. (field 3) is not an item" "$work/bad2.log" || { cat "$work/bad2.log"; false; }'
head -5 "$work/drawn.txt" >"$work/short.txt"
"$bin" evaluate "${cfg[@]}" --checkpoint "$ckpt" --set eval.protocol=sampled --set eval.candidates_file="$work/short.txt" \
  --output "$work/bad3" >"$work/bad3.log" 2>&1; rc=$?
check "a candidates file missing users: exit 4 naming users without a line" \
  '[ $rc = 4 ] && grep -q "short.txt: no line for user" "$work/bad3.log" || { cat "$work/bad3.log"; false; }'
"$bin" evaluate "${cfg[@]}" --set eval.protocol=full --predictions "$work/drawn.txt" >"$work/bad4.log" 2>&1; rc=$?
check "eval.protocol full with --predictions: refused, naming the protocol" \
  '[ $rc != 0 ] && grep -q "eval.protocol: full ranks held-out items with a model" "$work/bad4.log" || { cat "$work/bad4.log"; false; }'
"$bin" evaluate "${cfg[@]}" --checkpoint "$ckpt" --set eval.candidates_file="$work/drawn.txt" >"$work/bad5.log" 2>&1; rc=$?
check "eval.candidates_file with protocol rows: config error" \
  '[ $rc = 3 ] && grep -q "eval.candidates_file is set" "$work/bad5.log" || { cat "$work/bad5.log"; false; }'
exit $fail
