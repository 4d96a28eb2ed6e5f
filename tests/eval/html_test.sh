#!/usr/bin/env bash
# The HTML report in a real browser (Debian's chromium, headless): it loads offline with no console
# error, every chart is drawn, strings from the data are shown as text (never markup), and a
# screenshot is not blank. Args: <recprism> <source dir> <mpiexec>.
set -u
bin=$1; src=$2
py=/usr/bin/python3
work=${RECPRISM_TEST_WORK:-$(mktemp -d)}; [ -n "${RECPRISM_TEST_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
browser=$(command -v chromium || command -v chromium-browser) || { echo "FAIL: chromium is not installed (tools/setup.sh --test installs it)"; exit 1; }
data=${RECPRISM_DATA_DIR:-$src/../shared/data}
[ -d "$data/ml-100k" ] || { echo "FAIL: the dataset mirror is missing ($data/ml-100k)"; exit 1; }

"$py" "$src/tools/make_demo_predictions.py" "$data" "$work/pred.csv" || exit 1
# A hostile slice value: it must render as text.
"$py" - "$work/pred.csv" <<'PY'
import sys
p = sys.argv[1]; lines = open(p).read().splitlines()
out = [lines[0]] + [l.replace(",M,", ",<img src=x onerror=\"document.title='pwned'\">,", 1) if i % 3 == 0 else l for i, l in enumerate(lines[1:])]
open(p, "w").write("\n".join(out) + "\n")
PY
"$bin" evaluate --predictions "$work/pred.csv" --output "$work/r" --set run.output_dir="$work/runs" \
  --set eval.slices=[gender,age_group] --set eval.bootstrap_replicates=30 >/dev/null 2>&1 || { echo "FAIL: evaluate"; exit 1; }
flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-extensions --disable-background-networking
       --user-data-dir="$work/profile" --enable-logging=stderr --v=0)
timeout 120 "$browser" "${flags[@]}" --virtual-time-budget=5000 --dump-dom "file://$work/r/report.html" >"$work/dom.html" 2>"$work/console.log"
check "the page loads and its script completes" 'grep -q "data-rendered=\"ok\"" "$work/dom.html"'
charts=$(sed -n 's/.*data-charts="\([0-9]*\)".*/\1/p' "$work/dom.html" | head -1)
check "charts are drawn ($charts: ROC, PR and reliability per task, metric at K, slices)" '[ "${charts:-0}" -ge 12 ] && [ "$(grep -o "<path d=\"M" "$work/dom.html" | wc -l)" -ge 12 ]'
check "no script error" '! grep -q "<body[^>]*data-errors=" "$work/dom.html" && ! grep -qE "Uncaught|CONSOLE" "$work/console.log"'
check "a hostile string from the data is text, not markup" '! grep -q "<img" "$work/dom.html" && grep -q "&lt;img src=x" "$work/dom.html" && ! grep -q "<title>pwned" "$work/dom.html"'
check "the page explains the protocol its numbers at K rank" 'grep -q "Protocols: what each number ranks" "$work/dom.html" && grep -q "candidates: each user" "$work/dom.html"'
check "the page fetches nothing from the network" '! grep -qE "(src|href)=\"https?://" "$work/r/report.html"'
timeout 120 "$browser" "${flags[@]}" --virtual-time-budget=5000 --window-size=1280,2400 --hide-scrollbars \
  --screenshot="$work/shot.png" "file://$work/r/report.html" >/dev/null 2>&1
check "a screenshot is not blank" '"$py" - "$work/shot.png" <<'"'"'PY'"'"'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w, h = 8, b"", 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
    if kind == b"IHDR": w, h = struct.unpack(">II", body[:8])
    if kind == b"IDAT": idat += body
raw = zlib.decompress(idat)
distinct = len(set(raw[i:i + 3] for i in range(0, len(raw), 997)))
print(f"screenshot {w}x{h}, {distinct} distinct sampled colours")
sys.exit(0 if w >= 1000 and distinct >= 20 else 1)
PY'
[ -n "${RECPRISM_KEEP_SCREENSHOT:-}" ] && cp "$work/shot.png" "$RECPRISM_KEEP_SCREENSHOT"
exit $fail
