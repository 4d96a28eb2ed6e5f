#!/usr/bin/env bash
# Prepares every preset with the real binary, then checks each file with h5py (format_check.py).
# Args: <recprism binary> <this directory>.
set -u
bin=$1; here=$2
mirror=${RECPRISM_DATA_DIR:-}
if [ -z "$mirror" ] || [ ! -d "$mirror/ml-100k" ]; then echo "SKIP: RECPRISM_DATA_DIR is not the dataset mirror"; exit 77; fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
prep() { "$bin" prepare --output "$work/$1.h5" --set run.output_dir="$work/runs" "${@:2}" >"$work/$1.log" 2>&1 || { echo "FAIL: prepare $1"; cat "$work/$1.log"; fail=1; }; }
prep ml-100k --dataset ml-100k
prep ml-100k-temporal --dataset ml-100k --set data.split=temporal --set data.negative_sampler=popularity
prep ml-1m --dataset ml-1m --set data.negatives_per_positive=1
prep beauty --dataset amazon-beauty
prep jd --dataset jd
prep ali-ccp --dataset ali-ccp
prep ali-ccp-feasign --dataset ali-ccp --set data.layout=feasign
prep aliexpress --dataset aliexpress
prep synthetic --dataset synthetic --rows 100000
for f in "$work"/*.h5; do
  extra=()
  [ "$(basename "$f")" = ml-100k.h5 ] && extra=(--raw-ml100k "$mirror")
  /usr/bin/python3 "$here/format_check.py" "$f" "${extra[@]}" || fail=1
done
[ $fail = 0 ] && echo "format check: all passed"
exit $fail
