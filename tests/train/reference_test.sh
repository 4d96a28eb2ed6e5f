#!/usr/bin/env bash
# The C++ model against tools/bench/reference_torch.py (the same architecture written in PyTorch for
# Python, loading our exported weights): on the same MovieLens-100K batch, losses, logits and every
# gradient agree within 1e-5 for each interaction and head type. Args: <recprism> <source dir> <mpiexec>.
set -u
bin=$1; src=$2
bench=$(dirname "$bin")/recprism_train_bench
py=/usr/bin/python3
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
data=${RECPRISM_DATA_DIR:-$src/../shared/data}
[ -x "$bench" ] || { echo "FAIL: $bench not built"; exit 1; }
"$bin" prepare --set data.dataset=ml-100k --set data.data_dir="$data" --set data.download=false \
  --set data.prepared="$work/ml.h5" >"$work/prep.log" 2>&1 || { cat "$work/prep.log"; exit 1; }
fail=0
for v in "encode_once esmm" "bst esmm" "encode_once mmoe" "bst shared_bottom"; do
  set -- $v
  "$bench" dump "$work/ml.h5" "$work/dump.h5" --batch 64 --L 30 --interaction $1 --heads $2 >"$work/dump.log" 2>&1 \
    || { cat "$work/dump.log"; fail=1; continue; }
  if "$py" "$src/tools/bench/reference_torch.py" check "$work/dump.h5" --tol 1e-5; then
    echo "ok: $1 + $2 agrees with PyTorch"
  else
    echo "FAIL: $1 + $2 differs from PyTorch"; fail=1
  fi
done
# The next-item objective (causal encoder, every position predicts its successor, full softmax).
if "$bench" dump "$work/ml.h5" "$work/dump.h5" --batch 64 --L 30 --objective next_item >"$work/dump.log" 2>&1 &&
   "$py" "$src/tools/bench/reference_torch.py" check "$work/dump.h5" --tol 1e-5; then
  echo "ok: next_item agrees with PyTorch"
else
  cat "$work/dump.log"; echo "FAIL: next_item differs from PyTorch"; fail=1
fi
exit $fail
