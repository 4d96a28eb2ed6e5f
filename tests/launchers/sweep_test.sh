#!/usr/bin/env bash
# `recprism sweep` and `recprism leaderboard` run locally: stable run ids, a sweep with one invalid
# key stops before any run (naming the run and the key), failed runs are listed with their error,
# re-running skips finished runs, and the HTML leaderboard renders in headless Chromium.
# Args: <recprism> <source dir> <mpiexec>.
set -u
bin=$1; src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
data=${RECPRISM_DATA_DIR:-$src/../shared/data}
"$bin" prepare --set data.dataset=ml-100k --set data.data_dir="$data" --set data.download=false \
  --set data.prepared="$work/ml.h5" >"$work/prep.log" 2>&1 || { cat "$work/prep.log"; exit 1; }
export RECPRISM_BIN=$bin
cat >"$work/sweep.yaml" <<YAML
name: local
base: $src/configs/quickstart.yaml
output_dir: $work/sweeps
set: {train.max_steps: 12, train.validate_every: 6, model.num_layers: 1, eval.bootstrap_replicates: 10,
      comm.backend: local}
grid:
  data.prepared: [$work/ml.h5, $work/missing.h5]
random:
  samples: 2
  seed: 11
  axes:
    train.lr: {log_uniform: [1.0e-4, 1.0e-2]}
metric: {task: ctr, name: auc, mode: max}
YAML
"$bin" sweep "$work/sweep.yaml" --dry-run >"$work/d1" 2>&1; rc1=$?
"$bin" sweep "$work/sweep.yaml" --dry-run >"$work/d2" 2>&1; rc2=$?
check "dry run: 4 runs (2 grid x 2 random draws), the same ids twice" \
  '[ $rc1 = 0 ] && [ $rc2 = 0 ] && [ $(grep -cE "^  r00[0-3]-[0-9a-f]{8} pending" "$work/d1") = 4 ] && diff -q "$work/d1" "$work/d2" >/dev/null || { cat "$work/d1"; false; }'

sed 's/^grid:/grid:\n  train.lrr: [0.1]/' "$work/sweep.yaml" >"$work/bad.yaml"
sed -i 's/^name: local/name: bad/' "$work/bad.yaml"
"$bin" sweep "$work/bad.yaml" >"$work/bad.log" 2>&1; rc=$?
check "an invalid key stops the sweep before any run: exit 3 naming the run and the key" \
  '[ $rc = 3 ] && grep -qE "run r000-[0-9a-f]{8} \(0\):" "$work/bad.log" && grep -q "train.lrr" "$work/bad.log" && [ ! -e "$work/sweeps/bad/runs/r000"* ] || { cat "$work/bad.log"; false; }'

"$bin" sweep "$work/sweep.yaml" >"$work/run.log" 2>&1; rc=$?
check "local sweep: the 2 runs without data fail, exit 4" '[ $rc = 4 ] && grep -q "2 runs finished, 2 failed" "$work/run.log" || { tail -5 "$work/run.log"; false; }'
"$bin" leaderboard "$work/sweeps/local" >"$work/lb.log" 2>&1; rc=$?
check "leaderboard: 2 ranked runs with intervals, 2 failed runs with their error" \
  '[ $rc = 0 ] && [ $(grep -cE "^\| [12] \| r00" "$work/lb.log") = 2 ] && [ $(grep -c "failed: train exited with 4: .*missing.h5" "$work/lb.log") = 2 ] || { cat "$work/lb.log"; false; }'
check "leaderboard.csv has a header and 4 runs" '[ $(wc -l <"$work/sweeps/local/leaderboard.csv") = 5 ]'
"$bin" sweep "$work/sweep.yaml" --dry-run >"$work/d3" 2>&1
check "re-running: the 2 finished runs are skipped, the 2 failed ones rerun" 'grep -q "(2 finished, 2 to run)" "$work/d3"'
"$bin" sweep "$work/sweep.yaml" --only "data.prepared=$work/missing.h5" --dry-run >"$work/d4" 2>&1; rc=$?
check "--only KEY=VALUE: the 2 runs without data are the ones to run, the others are skipped" \
  '[ $rc = 0 ] && grep -q "(2 finished, 2 to run)" "$work/d4" && [ $(grep -c "missing.h5" "$work/d4") = 2 ] && ! grep -q "pending.*ml.h5" "$work/d4" || { cat "$work/d4"; false; }'
"$bin" sweep "$work/sweep.yaml" --only model.dropout=0.1 --dry-run >"$work/d5" 2>&1; rc=$?
check "--only with a key the sweep does not vary: exit 2 naming it and the swept keys" \
  '[ $rc = 2 ] && grep -q "model.dropout is not swept by .*(swept: data.prepared, train.lr)" "$work/d5" || { cat "$work/d5"; false; }'
# A pipeline: pretrain first, train from its encoder, evaluate the test split under two protocols.
cat >"$work/pipe.yaml" <<YAML
name: pipe
base: $src/configs/quickstart.yaml
output_dir: $work/sweeps
set: {pretrain.max_steps: 4, train.max_steps: 6, train.validate_every: 3, model.num_layers: 1, model.d_model: 16,
      eval.bootstrap_replicates: 10, comm.backend: local, data.prepared: $work/ml.h5}
seeds: [5]
metric: {task: heldout, name: ndcg@10, mode: max}
pipeline: {pretrain: true, split: test, protocols: [sampled, rows]}
YAML
"$bin" sweep "$work/pipe.yaml" >"$work/pipe.log" 2>&1; rc=$?
pr=$(ls -d "$work"/sweeps/pipe/runs/r000-* 2>/dev/null | head -1)
check "pipeline sweep: pretrain, train --init-from, test reports per protocol (report/ is the first)" \
  '[ $rc = 0 ] && [ -s "$pr/pretrain/encoder.pt" ] && grep -q "initialised .* from .*pretrain/encoder.pt" "$pr/train.out" &&
   grep -q "\"scored_split\": \"test\"" "$pr/report-sampled/report.json" && [ -s "$pr/report-rows/report.json" ] &&
   cmp -s "$pr/report/report.json" "$pr/report-sampled/report.json" || { tail -5 "$work/pipe.log"; ls "$pr"; false; }'
"$bin" leaderboard "$work/sweeps/pipe" >"$work/lbp.log" 2>&1 &&
"$bin" leaderboard "$work/sweeps/pipe" --report report-rows --metric ctr/auc --output "$work/lbr" >"$work/lbr.log" 2>&1; rc=$?
check "leaderboard ranks by the held-out metric, and by another report with --report" \
  '[ $rc = 0 ] && grep -qE "^\| 1 \| r000-[0-9a-f]{8} \| 0\.[0-9]+" "$work/lbp.log" && grep -qE "^\| 1 \| r000-[0-9a-f]{8} \| 0\.[0-9]+" "$work/lbr.log" || { cat "$work/lbp.log" "$work/lbr.log"; false; }'
# Seeds: each grid point averaged over its seeds (mean, sd, t interval), recomputed from the reports.
cat >"$work/seeds.yaml" <<YAML
name: seeds
base: $src/configs/quickstart.yaml
output_dir: $work/sweeps
set: {train.max_steps: 6, train.validate_every: 3, model.num_layers: 1, model.d_model: 16,
      eval.bootstrap_replicates: 10, comm.backend: local, data.prepared: $work/ml.h5}
grid:
  model.heads: [esmm, shared_bottom]
seeds: [1, 2]
metric: {task: ctr, name: auc, mode: max}
YAML
"$bin" sweep "$work/seeds.yaml" >"$work/seeds.log" 2>&1 && "$bin" leaderboard "$work/sweeps/seeds" >"$work/lbs.log" 2>&1; rc=$?
check "leaderboard of a sweep with seeds: each head averaged over its 2 seeds, as the reports give" \
  '[ $rc = 0 ] && [ $(grep -cE "^\| [12] \| (esmm|shared_bottom) \| 2 of 2 \|" "$work/lbs.log") = 2 ] &&
   python3 - "$work/sweeps/seeds" <<PY || { cat "$work/seeds.log" "$work/lbs.log"; false; }
import csv, json, math, statistics, sys
d = sys.argv[1]
runs = [l.rstrip("\n").split("\t") for l in open(d + "/runs.tsv")]
by = {}
for r in runs:
    rep = json.load(open(f"{d}/runs/{r[1]}/report/report.json"))
    v = [m["value"] for m in rep["metrics"] if m["model"] == "model" and m["task"] == "ctr" and m["name"] == "auc" and m["slice"] == "all"][0]
    by.setdefault(dict(x.split("=", 1) for x in r[2:])["model.heads"], []).append(v)
rows = list(csv.DictReader(open(d + "/leaderboard-seeds.csv")))
assert len(rows) == 2, rows
for row in rows:
    v = by[row["model.heads"]]
    mean, sd = statistics.mean(v), statistics.stdev(v)
    half = 12.706204736 * sd / math.sqrt(2)
    for key, want in (("mean", mean), ("sd", sd), ("lo", mean - half), ("hi", mean + half), ("min", min(v)), ("max", max(v))):
        assert abs(float(row[key]) - want) < 6e-5, (row, key, want)
assert float(rows[0]["mean"]) >= float(rows[1]["mean"]), rows
PY'
printf 'name: x\nbase: %s\npipeline: {protocols: [fulll]}\n' "$src/configs/quickstart.yaml" >"$work/badpipe.yaml"
"$bin" sweep "$work/badpipe.yaml" --dry-run >"$work/badpipe.log" 2>&1; rc=$?
check "an unknown pipeline protocol: exit 3 naming it" '[ $rc = 3 ] && grep -q "fulll" "$work/badpipe.log" || { cat "$work/badpipe.log"; false; }'

# Every shipped config and sweep validates (the benchmark study's included).
bad=0
for f in "$src"/configs/*.yaml "$src"/configs/benchmarks/*.yaml; do
  case $f in *.sweep.yaml) continue ;; esac
  "$bin" config check "$f" >"$work/cc.log" 2>&1 || { echo "invalid: $f"; cat "$work/cc.log"; bad=1; }
done
for f in "$src"/configs/sweeps/*.yaml "$src"/configs/benchmarks/*.sweep.yaml; do
  (cd "$work" && "$bin" sweep "$f" --dry-run) >"$work/cs.log" 2>&1 || { echo "invalid sweep: $f"; cat "$work/cs.log"; bad=1; }
done
check "every config under configs/ and every sweep file validates" '[ $bad = 0 ]'
if command -v chromium >/dev/null; then
  timeout 60 chromium --headless --no-sandbox --disable-gpu --dump-dom "file://$work/sweeps/local/leaderboard.html" \
    >"$work/dom.html" 2>/dev/null
  check "leaderboard.html renders in headless Chromium with 4 rows" '[ $(grep -o "<tr class=" "$work/dom.html" | wc -l) = 4 ]'
  timeout 60 chromium --headless --no-sandbox --disable-gpu --dump-dom "file://$work/sweeps/seeds/leaderboard.html" \
    >"$work/doms.html" 2>/dev/null
  check "the seeds leaderboard.html renders its across-seeds table (2 heads, 2 of 2 seeds)" \
    'grep -q "<table id=\"seeds\">" "$work/doms.html" && [ $(grep -o "<td>2 of 2</td>" "$work/doms.html" | wc -l) = 2 ]'
fi
exit $fail
