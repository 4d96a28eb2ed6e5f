#!/usr/bin/env bash
# Exactly the README's main command (tools/quickstart.sh, through launchers/local.sh on 2 ranks),
# shortened by --set: prepare -> comm check -> pretrain -> train -> evaluate (candidates, then the
# full catalogue); checks both reports.
# Args: <recprism> <source dir> <mpiexec>.
set -u
bin=$1; src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export RECPRISM_OUTPUT_DIR=$work
# The binary under test, as built: no set-up run that could rebuild it under the other tests.
export RECPRISM_SKIP_SETUP=1 RECPRISM_BUILD_DIR=$(dirname "$bin")
"$src/tools/quickstart.sh" --set pretrain.max_steps=20 --set train.max_steps=80 --set train.validate_every=40 \
  --set eval.bootstrap_replicates=20 >"$work/out.log" 2>&1; rc=$?
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
check "quickstart exits 0" '[ $rc = 0 ] || { tail -20 "$work/out.log"; false; }'
check "it prints the report path and the headline numbers with intervals" \
  'grep -q "quickstart: reports $work/quickstart/report/report.html" "$work/out.log" && grep -qE "ctr +auc +0\.[0-9]+ \[0\.[0-9]+, 0\.[0-9]+\]" "$work/out.log"'
check "the full-catalogue headline: hit rate with an interval, coverage and personalization" \
  'grep -qE "hit_rate@10 +0\.[0-9]+ \[0\.[0-9]+, 0\.[0-9]+\]" "$work/out.log" && grep -qE "coverage@10 +0\.[0-9]+" "$work/out.log" && grep -qE "personalization@10 +0\.[0-9]+" "$work/out.log"'
check "pretrain, train and evaluate outputs exist" \
  '[ -s "$work/quickstart/pretrain/encoder.pt" ] && [ -s "$work/quickstart/checkpoints/best.pt" ] && [ -s "$work/quickstart/report/report.html" ]'
/usr/bin/python3 - "$work/quickstart/report/report.json" <<'PY'; rc=$?
import json, sys
r = json.load(open(sys.argv[1]))
m = {(x["model"], x["task"], x["name"]): x for x in r["metrics"] if x["slice"] == "all"}
assert r["provenance"]["scored_split"] == "test", r["provenance"]
for task in ("ctr", "cvr", "ctcvr"):
    v = m[("model", task, "auc")]
    assert 0 < v["value"] < 1 and v["ci"][0] <= v["value"] <= v["ci"][1], v
assert ("popularity", "ctr", "auc") in m and ("random", "ctr", "auc") in m
print(f"report: test ctr auc {m[('model', 'ctr', 'auc')]['value']:.4f}, popularity {m[('popularity', 'ctr', 'auc')]['value']:.4f}")
PY
check "report.json: every task's AUC with an interval, baselines, the test split" '[ $rc = 0 ]'
/usr/bin/python3 - "$work/quickstart/report/report.json" "$work/quickstart/report-full/report.json" <<'PY'; rc=$?
import json, math, sys
rows, full = (json.load(open(p)) for p in sys.argv[1:3])
# Over each user's 5 candidates every model hits at 10; over the catalogue the metrics discriminate.
f = {(x["model"], x["name"]): x for x in full["metrics"] if x["slice"] == "all" and x["task"] == "heldout"}
assert full["provenance"]["protocol"] == "full_ranking", full["provenance"]
hr, pop = f[("model", "hit_rate@10")], f[("popularity", "hit_rate@10")]
assert 0 < hr["value"] < 0.9 and hr["ci"][0] <= hr["value"] <= hr["ci"][1], hr
assert 0 < f[("model", "coverage@10")]["value"] < 0.9, f[("model", "coverage@10")]
assert f[("popularity", "personalization@10")]["value"] < f[("random", "personalization@10")]["value"]
# Every interval of both reports lies inside its metric's range.
unit = ("auc", "pr_auc", "brier", "ece", "precision", "recall", "f1", "accuracy", "best_f1", "gauc", "gauc_unweighted",
        "hit_rate", "ndcg", "mrr", "map", "active_user_share", "user_coverage", "coverage", "gini", "long_tail_share",
        "personalization", "intra_list_diversity")
checked = 0
for x in rows["metrics"] + full["metrics"]:
    lo, hi = x["ci"]
    if lo is None:
        continue
    base = x["name"].split("@")[0]
    if base in unit or base.startswith("observed_"):
        assert 0 <= lo <= hi <= 1, x
        checked += 1
    elif base in ("logloss", "normalized_entropy", "calibration", "novelty", "entropy"):
        assert lo >= 0, x
        checked += 1
assert checked > 100, checked
print(f"full ranking: hit_rate@10 {hr['value']:.4f} (popularity {pop['value']:.4f}); {checked} intervals in range")
PY
check "report-full: hit rate, coverage and personalization discriminate; every interval in its range" '[ $rc = 0 ]'
exit $fail
