#!/usr/bin/env bash
# Exactly the README's main command (tools/quickstart.sh, through launchers/local.sh on 2 ranks),
# shortened by --set: prepare -> comm check -> pretrain -> train -> evaluate; checks the report.
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
  'grep -q "quickstart: report $work/quickstart/report/report.html" "$work/out.log" && grep -qE "ctr +auc +0\.[0-9]+ \[0\.[0-9]+, 0\.[0-9]+\]" "$work/out.log"'
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
exit $fail
