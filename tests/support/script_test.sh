# The preamble of the script tests, sourced with their arguments <recprism> <source dir> <mpiexec>:
# sets bin, src, mpiexec; py (Debian's Python, which has sklearn, torch and h5py); work (a temporary
# directory removed on exit); data (the dataset mirror: ends the test when ml-100k is missing);
# mpi (mpiexec with the flags every test uses); fail and check "<what>" '<shell condition>'.
set -u
bin=$1; src=$2; mpiexec=$3
py=/usr/bin/python3
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
data=${RECPRISM_DATA_DIR:-$src/../shared/data}
[ -d "$data/ml-100k" ] || { echo "FAIL: the dataset mirror is missing ($data/ml-100k); set RECPRISM_DATA_DIR"; exit 1; }
mpi=("$mpiexec" --oversubscribe --bind-to none)
