#!/usr/bin/env bash
# The report's explainability dimension (eval.feature_importance: permutation importance of
# feature groups) on the mirror's MovieLens-100K: a trained model depends on its history and
# target (AUC drops whose intervals exclude 0); a group the model cannot see (time gaps, with
# model.time_gap_buckets: 1) has importance exactly 0; each value is the base AUC minus the
# permuted one, paired replicate by replicate (the interval holds it); real MPI at 2 ranks agrees
# within the intervals; the Markdown report shows the section. Args: <recprism> <source dir> <mpiexec>.
source "$2/tests/support/script_test.sh" "$@"
base=(--set data.dataset=ml-100k --set data.data_dir="$data" --set data.download=false
      --set data.prepared="$work/ml.h5" --set run.output_dir="$work/runs" --set comm.timeout_s=60
      --set data.max_seq_len=20 --set model.d_model=32 --set model.num_layers=1 --set model.tower_hidden=32
      --set model.time_gap_buckets=1 --set train.batch_size=256 --set train.lr=0.003 --set train.max_steps=150
      --set train.validation=sums --set eval.bootstrap_replicates=30 --set eval.feature_importance=true)
"$bin" prepare "${base[@]}" >"$work/prep.log" 2>&1 || { cat "$work/prep.log"; exit 1; }
"$bin" train "${base[@]}" --set run.name=m >"$work/train.log" 2>&1; rc=$?
check "150-step model with one time-gap bucket: exit 0" '[ $rc = 0 ] || { tail -5 "$work/train.log"; false; }'
for n in 1 2; do
  "${mpi[@]}" -n $n "$bin" evaluate "${base[@]}" --set comm.backend=mpi --checkpoint "$work/runs/m/checkpoints/best.pt" \
    --split test --output "$work/report$n" >"$work/eval$n.log" 2>&1; rc=$?
  check "$n ranks: evaluate --checkpoint with eval.feature_importance, exit 0" '[ $rc = 0 ] || { tail -5 "$work/eval$n.log"; false; }'
done
"$py" - "$work/report1/report.json" "$work/report2/report.json" >"$work/check.out" 2>&1 <<'PY'
import json, sys
reports = [json.load(open(p)) for p in sys.argv[1:]]
def metric(r, task, name):
    got = [m for m in r["metrics"] if m["model"] == "model" and m["task"] == task and m["name"] == name and m["slice"] == "all"]
    assert len(got) == 1, (task, name, len(got))
    return got[0]
one, two = reports
groups = ["history", "target", "time_gaps", "events", "user_features"]
for g in groups:
    for task, label in [("ctr", "auc_drop"), ("ctcvr", "auc_drop"), ("ctr", "logloss_rise")]:
        m = metric(one, task, f"{label}({g})")
        assert m["dimension"] == "explainability", m["dimension"]
        lo, hi = m["ci"]
        assert lo <= m["value"] + 1e-12 and m["value"] <= hi + 1e-12, (g, task, label, m["value"], lo, hi)
        assert len(m["replicates"]) == 30
# The replicates are paired differences: base replicate minus permuted replicate, centred.
base = metric(one, "ctr", "auc")
for g in ["history", "target"]:
    m = metric(one, "ctr", f"auc_drop({g})")
    assert m["ci"][0] > 0, (g, m["value"], m["ci"])              # the model uses it
    m2 = metric(two, "ctr", f"auc_drop({g})")
    assert m["ci"][0] - 0.02 <= m2["value"] <= m["ci"][1] + 0.02, (g, m["value"], m["ci"], m2["value"])
    print(f"ctr auc_drop({g}): 1 rank {m['value']:.4f} [{m['ci'][0]:.4f}, {m['ci'][1]:.4f}], 2 ranks {m2['value']:.4f}")
# One bucket: every gap maps to it, so shuffling the gaps changes no score.
for task, label in [("ctr", "auc_drop"), ("ctcvr", "auc_drop"), ("ctr", "logloss_rise")]:
    for r in reports:
        m = metric(r, task, f"{label}(time_gaps)")
        assert abs(m["value"]) < 1e-12 and max(abs(x) for x in m["replicates"]) < 1e-12, (task, label, m["value"])
print("time_gaps: exactly 0 at 1 and 2 ranks; base ctr auc", round(base["value"], 4))
PY
check "history and target matter, unseen time gaps are exactly 0, 1 and 2 ranks agree, intervals hold the values" \
  '[ $? = 0 ] && cat "$work/check.out" || { cat "$work/check.out"; false; }'
check "report.md has the explainability section" \
  'grep -q "## Explainability (permutation importance of feature groups)" "$work/report1/report.md" && grep -q "auc_drop(history)" "$work/report1/report.md"'
exit $fail
