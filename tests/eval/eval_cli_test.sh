#!/usr/bin/env bash
# `recprism evaluate` and `recprism compare` as a user runs them, on a predictions file built from
# the mirror's MovieLens-100K: agreement with scikit-learn at 1, 2 and 3 MPI ranks, the same report
# at every world size and for CSV, gzip and HDF5 input, bad input named by file:line and column
# with nothing written, one rank's failure ending the job. Args: <recprism> <source dir> <mpiexec>.
source "$2/tests/support/script_test.sh" "$@"
common=(--set run.output_dir="$work/runs" --set eval.slices=[gender,age_group,daypart] --set eval.bootstrap_replicates=40)

"$py" "$src/tools/make_demo_predictions.py" "$data" "$work/pred.csv" || exit 1
"$bin" evaluate --predictions "$work/pred.csv" --output "$work/r1" "${common[@]}" >"$work/o1" 2>&1; rc=$?
check "1 rank: exit 0 and the headline names the HTML report" '[ $rc = 0 ] && grep -q "report: $work/r1/report.html" "$work/o1" && grep -qE "ctr +auc +0\.[0-9]+ \[" "$work/o1"'
check "1 rank: report.json, report.md, report.html" '[ -s "$work/r1/report.json" ] && [ -s "$work/r1/report.md" ] && [ -s "$work/r1/report.html" ]'
"$py" "$src/tests/eval/sklearn_check.py" "$work/pred.csv" "$work/r1" >"$work/s1" 2>&1; rc=$?
cat "$work/s1"
check "1 rank: every metric agrees with scikit-learn and the published definitions (1e-9)" '[ $rc = 0 ]'
for n in 2 3 5; do
  "${mpi[@]}" -n $n "$bin" evaluate --predictions "$work/pred.csv" --output "$work/r$n" "${common[@]}" \
    --set comm.backend=mpi >"$work/o$n" 2>&1; rc=$?
  check "$n ranks: exit 0" '[ $rc = 0 ]'
  "$py" "$src/tests/eval/sklearn_check.py" "$work/pred.csv" "$work/r$n" >"$work/s$n" 2>&1; rc=$?
  check "$n ranks: agrees with scikit-learn (1e-9)" '[ $rc = 0 ] || { cat "$work/s$n"; false; }'
done

# The same report, values and intervals, at every world size and input format.
same() {
  "$py" - "$@" <<'PY'
import json, math, sys
tol = float(sys.argv[1]); ref = json.load(open(sys.argv[2] + "/report.json"))
key = lambda m: (m["model"], m["dimension"], m["task"], m["name"], m["slice"], m["group"])
A = {key(m): m for m in ref["metrics"]}
bad = 0
for path in sys.argv[3:]:
    B = {key(m): m for m in json.load(open(path + "/report.json"))["metrics"]}
    keys = set(A) & set(B) if tol < 0 else set(A) | set(B)
    for k in keys:
        if k not in A or k not in B:
            print("only in one report:", k); bad += 1; continue
        for a, b in ((A[k]["value"], B[k]["value"]), (A[k]["ci"][0], B[k]["ci"][0]), (A[k]["ci"][1], B[k]["ci"][1])):
            if (a is None) != (b is None) or (a is not None and abs(a - b) > abs(tol) * max(1, abs(a))):
                print("differs:", k, a, b); bad += 1; break
print(f"{len(keys)} metrics compared, {bad} differ"); sys.exit(1 if bad else 0)
PY
}
check "1, 2, 3 and 5 ranks give the same report (values and intervals, 1e-12)" 'same 1e-12 "$work/r1" "$work/r2" "$work/r3" "$work/r5"'
checksum() { grep -o '"input_checksum": "[0-9a-f]*"' "$1/report.json"; }
want=$("$py" -c "
import hashlib, sys; d = open(sys.argv[1], 'rb').read()
print(hashlib.md5(''.join(hashlib.md5(d[i:i + 2**24]).hexdigest() for i in range(0, len(d), 2**24)).encode()).hexdigest())" "$work/pred.csv")
check "the input checksum is the md5 of the 16 MiB blocks' md5s (Python's hashlib), at 1 and 5 ranks" \
  '[ "$(checksum "$work/r1")" = "\"input_checksum\": \"$want\"" ] && [ "$(checksum "$work/r5")" = "$(checksum "$work/r1")" ]'

gzip -c "$work/pred.csv" >"$work/pred.csv.gz"
tr ',' '\t' <"$work/pred.csv" >"$work/pred.tsv"
"$bin" evaluate --predictions "$work/pred.csv.gz" --output "$work/rgz" "${common[@]}" >/dev/null 2>&1
for n in 2 3; do
  "${mpi[@]}" -n $n "$bin" evaluate --predictions "$work/pred.csv.gz" --output "$work/rgz$n" "${common[@]}" \
    --set comm.backend=mpi >/dev/null 2>&1
  "${mpi[@]}" -n $n "$bin" evaluate --predictions "$work/pred.tsv" --output "$work/rtsv$n" "${common[@]}" \
    --set comm.backend=mpi >/dev/null 2>&1
done
check "gzip input at 1, 2 and 3 ranks: the same report and the same input checksum" 'same 1e-12 "$work/r1" "$work/rgz" "$work/rgz2" "$work/rgz3" && [ "$(checksum "$work/r1")" = "$(checksum "$work/rgz")" ] && [ "$(checksum "$work/r1")" = "$(checksum "$work/rgz3")" ]'
check "TSV input at 2 and 3 ranks: the same report" 'same 1e-12 "$work/r1" "$work/rtsv2" "$work/rtsv3"'
# A sharded input: the file cut into three parts (one gzip), as a directory and as a glob.
mkdir -p "$work/parts"
{ head -1 "$work/pred.csv"; sed -n '2,30001p' "$work/pred.csv"; } >"$work/parts/part-0.csv"
{ head -1 "$work/pred.csv"; sed -n '30002,80001p' "$work/pred.csv"; } | gzip -c >"$work/parts/part-1.csv.gz"
{ head -1 "$work/pred.csv"; sed -n '80002,$p' "$work/pred.csv"; } >"$work/parts/part-2.csv"
"$bin" evaluate --predictions "$work/parts" --output "$work/rdir1" "${common[@]}" >/dev/null 2>&1
for n in 2 3; do
  "${mpi[@]}" -n $n "$bin" evaluate --predictions "$work/parts" --output "$work/rdir$n" "${common[@]}" \
    --set comm.backend=mpi >/dev/null 2>&1
done
"${mpi[@]}" -n 2 "$bin" evaluate --predictions "$work/parts/part-*" --output "$work/rglob" "${common[@]}" \
  --set comm.backend=mpi >/dev/null 2>&1
check "a sharded directory (and a glob) at 1, 2 and 3 ranks: the same report as the single file" 'same 1e-12 "$work/r1" "$work/rdir1" "$work/rdir2" "$work/rdir3" "$work/rglob" && [ "$(checksum "$work/rdir1")" = "$(checksum "$work/rdir3")" ]'
"$py" - "$work/pred.csv" "$work/pred.h5" <<'PY'
import csv, sys, h5py, numpy as np
rows = list(csv.DictReader(open(sys.argv[1])))
with h5py.File(sys.argv[2], "w") as f:
    for c, t in (("user", np.int64), ("item", np.int64), ("click", np.int8), ("conversion", np.int8), ("p_ctr", np.float64), ("p_cvr", np.float64), ("value", np.float32)):
        f.create_dataset(c, data=np.array([r[c] for r in rows]).astype(np.float64).astype(t), chunks=True, compression="gzip")
PY
nohdf=(--set run.output_dir="$work/runs" --set eval.bootstrap_replicates=40)
"$bin" evaluate --predictions "$work/pred.csv" --output "$work/rcsv" "${nohdf[@]}" --set eval.columns.category=none >/dev/null 2>&1
"$bin" evaluate --predictions "$work/pred.h5" --output "$work/rh5" "${nohdf[@]}" >"$work/oh5" 2>&1; rc=$?
check "HDF5 input (h5py-written): the same metrics as the CSV (values within 1e-6: float32 values)" '[ $rc = 0 ] && same -1e-6 "$work/rcsv" "$work/rh5"'
for n in 2 3 5; do
  "${mpi[@]}" -n $n "$bin" evaluate --predictions "$work/pred.h5" --output "$work/rh5_$n" "${nohdf[@]}" \
    --set comm.backend=mpi >/dev/null 2>&1
done
check "HDF5 input at 2, 3 and 5 ranks (row ranges as hyperslabs): the same report as at 1 rank (1e-12)" 'same 1e-12 "$work/rh5" "$work/rh5_2" "$work/rh5_3" "$work/rh5_5"'

"$bin" compare "$work/r1" "$work/r3" --output "$work/cmp" >"$work/oc" 2>&1; rc=$?
check "compare: 1-rank vs 3-rank reports differ nowhere" '[ $rc = 0 ] && grep -q " 0 differ at Holm-adjusted p < 0.05" "$work/oc" && [ -s "$work/cmp/report.html" ]'
"$bin" evaluate --predictions "$work/pred.csv" --output "$work/rb" "${common[@]}" --set eval.columns.p_ctr=p_cvr --set eval.columns.p_cvr=p_ctr >/dev/null 2>&1
"$bin" compare "$work/r1" "$work/rb" --output "$work/cmp2" >"$work/oc" 2>&1; rc=$?
check "compare: a different scorer differs significantly on ctr auc" '[ $rc = 0 ] && "$py" -c "
import json,sys; r=json.load(open(\"$work/cmp2/report.json\"))
m=[x for x in r[\"metrics\"] if x[\"model\"]==\"model\" and x[\"task\"]==\"ctr\" and x[\"name\"]==\"auc\" and x[\"slice\"]==\"all\"][0]
sys.exit(0 if m[\"extra\"][\"p_holm\"] < 0.05 and m[\"ci\"][0] > 0 else 1)"'
printf 'user,item,click,p_ctr\n1,1,1,0.5\n2,2,0,0.4\n' >"$work/other.csv"
"$bin" evaluate --predictions "$work/other.csv" --output "$work/ro" --set run.output_dir="$work/runs" >/dev/null 2>&1
"$bin" compare "$work/r1" "$work/ro" >"$work/oc" 2>&1; rc=$?
check "compare: different users are refused with exit 4, naming the reason" '[ $rc = 4 ] && grep -q "users_fingerprint differ" "$work/oc"'

# Bad input: exit 4, file:line and column, nothing written, the previous report kept.
head -50 "$work/pred.csv" >"$work/bad.csv"
echo "196,242,0,0,1.7,0.402,42.99,5,M,45+,afternoon" >>"$work/bad.csv"
cp -r "$work/r1" "$work/keep"
"$bin" evaluate --predictions "$work/bad.csv" --output "$work/r1" "${common[@]}" >"$work/ob" 2>&1; rc=$?
check "score outside [0, 1]: exit 4 naming file:line and column" '[ $rc = 4 ] && grep -q "$work/bad.csv:51: column .p_ctr.: expected a probability in \[0, 1\], found 1.7" "$work/ob"'
# The same bad row in the last byte range at 3 ranks, and a bad row at the line that holds the
# middle byte (where 2 ranks split the file) of a larger file.
"${mpi[@]}" -n 3 "$bin" evaluate --predictions "$work/bad.csv" --output "$work/r1" "${common[@]}" --set comm.backend=mpi >"$work/ob3" 2>&1; rc=$?
check "3 ranks: the bad row in the last range is named by its line, exit 4" '[ $rc = 4 ] && grep -q "$work/bad.csv:51: column .p_ctr." "$work/ob3"'
mid_line=$("$py" -c "
import sys; d = open(sys.argv[1], 'rb').read(); h = d.index(b'\n') + 1
print(d[:h + (len(d) - h) // 2].count(b'\n') + 1)" "$work/pred.csv")
awk -F, -v OFS=, -v l="$mid_line" 'NR == l { $5 = "x" } { print }' "$work/pred.csv" >"$work/bad_mid.csv"
"${mpi[@]}" -n 2 "$bin" evaluate --predictions "$work/bad_mid.csv" --output "$work/r1" "${common[@]}" --set comm.backend=mpi >"$work/obm" 2>&1; rc=$?
check "2 ranks: a bad row on the line holding the range boundary is named by its line ($mid_line)" '[ $rc = 4 ] && grep -q "$work/bad_mid.csv:$mid_line: column .p_ctr.: expected a probability, found .x." "$work/obm"'
check "bad input: the previous report is untouched" 'cmp -s "$work/r1/report.json" "$work/keep/report.json" && ! ls "$work/r1" | grep -q tmp'
"$bin" evaluate --predictions "$work/bad.csv" --output "$work/new" "${common[@]}" >/dev/null 2>&1
check "bad input: no report directory is created" '[ ! -e "$work/new" ]'
: >"$work/empty.csv"
"$bin" evaluate --predictions "$work/empty.csv" --output "$work/new" "${common[@]}" >"$work/ob" 2>&1; rc=$?
check "empty file: exit 4" '[ $rc = 4 ] && grep -q "empty.csv: the predictions file is empty" "$work/ob"'
"$bin" evaluate --predictions "$work/missing.csv" --output "$work/new" "${common[@]}" >"$work/ob" 2>&1; rc=$?
check "missing file: exit 4 naming it" '[ $rc = 4 ] && grep -q "missing.csv" "$work/ob"'
"$bin" evaluate --checkpoint x.pt --split test >"$work/ob" 2>&1; rc=$?
check "--checkpoint of a missing file: exit 4 naming it" '[ $rc = 4 ] && grep -q "checkpoint .x.pt. does not exist" "$work/ob"'
"$bin" evaluate --predictions a.csv --checkpoint x.pt >"$work/ob" 2>&1; rc=$?
check "both --predictions and --checkpoint: usage error" '[ $rc = 2 ]'

# One rank's bad row ends the whole 2-rank job promptly (the other rank would wait in a collective).
"$py" - "$work/pred.csv" "$work/bad2.csv" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
out = lines[:2001]
out.append("99999,1,0,0,nan,0.5,1.00,5,M,45+,night")
out += lines[2001:4000]
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
start=$(date +%s)
timeout 120 "${mpi[@]}" -n 2 "$bin" evaluate --predictions "$work/bad2.csv" --output "$work/new" "${common[@]}" \
  --set comm.backend=mpi --set comm.timeout_s=300 >"$work/ob" 2>&1; rc=$?
took=$(( $(date +%s) - start ))
check "a bad row on one rank ends the 2-rank job with exit 4 in ${took}s (timeout 300 s)" '[ $rc = 4 ] && [ $took -lt 60 ] && grep -q "bad2.csv:2002: column .p_ctr." "$work/ob"'
exit $fail
