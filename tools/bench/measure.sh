# Shared by the benchmark scripts (sourced): measure LABEL CMD... runs CMD 3 times after a sync,
# prints the median wall seconds and peak RSS (MiB), and sets <label>_s to the median seconds.
# Needs $work (a scratch directory).
measure() {
  local label=$1; shift
  local times=() rss=()
  for k in 1 2 3; do
    sync  # no writeback of the previous run's output during this one
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>&1 || { cat "$work/out"; return 1; }
    read -r t m <"$work/time"; times+=("$t"); rss+=("$m")
  done
  local t=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
  local m=$(printf '%s\n' "${rss[@]}" | sort -n | sed -n 2p)
  echo "$label: ${t} s, peak RSS $((m / 1024)) MiB"
  eval "${label//[^a-zA-Z0-9]/_}_s=$t"
}
