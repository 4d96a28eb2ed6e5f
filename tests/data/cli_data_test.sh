#!/usr/bin/env bash
# prepare and data inspect as a user runs them. Args: <recprism binary> <source dir> <mpiexec>.
set -u
bin=$1; src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
common=(--set run.output_dir="$work/runs" --set data.cache_dir="$work/cache")

printf 'uid,iid,ts\n1,10,100\n1,11,101\n2,10\n2,12,103\n' >"$work/bad.csv"
gen=(--dataset generic --set data.generic.path="$work/bad.csv" --set data.generic.user=uid --set data.generic.item=iid --set data.generic.time=ts)
"$bin" prepare "${gen[@]}" "${common[@]}" --output "$work/g.h5" >"$work/o" 2>&1; rc=$?
check "malformed row: exit 4" '[ $rc = 4 ]'
check "malformed row: names file:line, what and an excerpt" 'grep -q "$work/bad.csv:4: expected 3 fields, found 2; the line reads .2,10." "$work/o"'
check "malformed row: nothing written" '[ ! -e "$work/g.h5" ] && ! ls "$work" | grep -q "tmp"'
"$bin" prepare "${gen[@]}" "${common[@]}" --output "$work/g.h5" --on-bad-row skip >"$work/o" 2>&1; rc=$?
check "--on-bad-row skip: exit 0 and the count is reported" '[ $rc = 0 ] && grep -q "skipped bad rows 1" "$work/o"'
"$bin" prepare --dataset movielens "${common[@]}" >"$work/o" 2>&1; rc=$?
check "unknown preset: exit 3 naming the choices" '[ $rc = 3 ] && grep -q "data.dataset: .movielens. is not one of: ml-100k" "$work/o"'
"$bin" prepare --dataset generic "${common[@]}" >"$work/o" 2>&1; rc=$?
check "generic without a path: exit 3" '[ $rc = 3 ] && grep -q "data.generic.path is empty" "$work/o"'

if [ -n "${RECPRISM_DATA_DIR:-}" ] && [ -d "$RECPRISM_DATA_DIR/ml-100k" ]; then
  "$bin" prepare --dataset ml-100k "${common[@]}" --output "$work/ml.h5" >"$work/o" 2>&1; rc=$?
  check "prepare ml-100k from the mirror" '[ $rc = 0 ] && grep -q "rows 500000 (positives 100000, sampled negatives 400000), users 943, items 1682" "$work/o"'
  "$bin" data inspect "$work/ml.h5" --world-size 3 >"$work/i" 2>&1; rc=$?
  check "inspect: schema, counts, splits, shards" '[ $rc = 0 ] && grep -q "/interactions/click  uint8 \[500000\] chunk" "$work/i" && grep -q "counts: 500000 rows, 943 users, 1682 items" "$work/i" && grep -qE "^  test  rows +4715 " "$work/i" && grep -q "shards (3 ranks, contiguous" "$work/i"'
  check "inspect: source checksums recorded" 'grep -q "u.data.gz (md5 6e47046882bad158b0efbb84cd5cb987" "$work/i"'
  for split in train valid test; do
    imb=$(sed -n "s/^  $split *samples per rank:.*imbalance (max\/mean - 1) \([0-9.]*\)%.*/\1/p" "$work/i")
    check "inspect: 3-rank $split imbalance under 5% (got $imb%)" '[ -n "$imb" ] && [ "$(echo "$imb" | cut -d. -f1)" -lt 5 ]'
  done
  # A file of another format version is refused with the reason.
  cp "$work/ml.h5" "$work/v99.h5"
  /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'a'); f.attrs['format_version']=99" "$work/v99.h5"
  "$bin" data inspect "$work/v99.h5" >"$work/o" 2>&1; rc=$?
  check "other format version: exit 4 with both versions" '[ $rc = 4 ] && grep -q "has format version 99, but this build of RecPrism reads version 1" "$work/o"'
  cp "$work/ml.h5" "$work/nocol.h5"
  /usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'a'); del f['interactions/conversion']" "$work/nocol.h5"
  "$bin" data inspect "$work/nocol.h5" >"$work/o" 2>&1; rc=$?
  check "missing dataset: exit 4 naming it" '[ $rc = 4 ] && grep -q "is missing dataset ./interactions/conversion. required by format version 1" "$work/o"'
  # Missing source: every place tried is named; no download when disabled.
  "$bin" prepare --dataset ml-100k --set data.data_dir="$work/empty" --set data.download=false "${common[@]}" >"$work/o" 2>&1; rc=$?
  check "missing source: exit 4 naming mirror and cache" '[ $rc = 4 ] && grep -q "ml-100k/u.genre not found: looked in the mirror .$work/empty/ml-100k." "$work/o"'
else
  mirror_missing=1
fi
"$bin" data inspect "$work/bad.csv" >"$work/o" 2>&1; rc=$?
check "inspect a non-HDF5 file: exit 4" '[ $rc = 4 ] && grep -q "is not an HDF5 file" "$work/o"'
if [ $fail = 0 ] && [ -n "${mirror_missing:-}" ]; then
  echo "SKIP: RECPRISM_DATA_DIR is not the dataset mirror: the preset checks did not run"
  exit 77
fi
[ $fail = 0 ] && echo "data cli tests: all passed"
exit $fail
