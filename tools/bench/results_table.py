"""Markdown tables for docs/results.md from finished sweep runs.

usage: results_table.py SWEEP_DIR [SWEEP_DIR ...] [--report report-full]
                        [--metrics heldout/hit_rate@10,heldout/ndcg@10] [--by KEY] [--privacy] [--compact]

One row per sweep (per value of the swept KEY with --by, read from runs.tsv): each metric's mean
over the finished runs (seeds), the per-seed values with the evaluator's 95% interval (--compact: the
mean ± the seeds' standard deviation, and in brackets the widest per-seed interval's half-width). --privacy
adds the DP-SGD epsilon of each row's runs (report provenance dp_epsilon; "none" without DP-SGD);
--delta D also gives epsilon at delta D, recomputed from the provenance's sample rate, sigma and
steps with the same RDP accountant.
Reads only <run>/<report>/report.json and the run directories; runs without DONE are counted as
missing.
"""
import argparse
import json
import math
import os
import re
import statistics


def sgm_epsilon(q, sigma, steps, delta):
    """epsilon of `steps` sampled Gaussian mechanism steps at delta, from its RDP at integer orders
    (Mironov, Talwar and Zhang 2019), minimised over the orders src/train/privacy.h searches."""
    best = math.inf
    for a in list(range(2, 65)) + [80, 96, 128, 256, 512]:
        t = [math.lgamma(a + 1) - math.lgamma(i + 1) - math.lgamma(a - i + 1) + (a - i) * math.log1p(-q) +
             i * math.log(q) + (i * i - i) / (2 * sigma * sigma) for i in range(a + 1)]
        m = max(t)
        rdp = (m + math.log(sum(math.exp(x - m) for x in t))) / (a - 1)
        best = min(best, steps * rdp + math.log(1 / delta) / (a - 1))
    return best


def runs_of(sweep):
    """[(run dir, {key: value})] from runs.tsv (index, id, key=value...)."""
    out = []
    tsv = os.path.join(sweep, "runs.tsv")
    for line in open(tsv):
        cols = line.rstrip("\n").split("\t")
        if len(cols) < 2:
            continue
        values = dict(c.split("=", 1) for c in cols[2:] if "=" in c)
        out.append((os.path.join(sweep, "runs", cols[1]), values))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sweeps", nargs="+")
    ap.add_argument("--report", default="report")
    ap.add_argument("--metrics", default="heldout/hit_rate@10,heldout/ndcg@10")
    ap.add_argument("--model", default="model")
    ap.add_argument("--by", default="")
    ap.add_argument("--privacy", action="store_true")
    ap.add_argument("--compact", action="store_true",
                    help="each cell: mean over seeds ± their standard deviation, and the widest evaluator interval's "
                         "half-width, instead of every seed's value and interval")
    ap.add_argument("--digits", type=int, default=4)
    ap.add_argument("--delta", type=float, default=0,
                    help="with --privacy: also epsilon at this delta, from each run's sample rate, sigma and steps")
    a = ap.parse_args()
    # task/name; a metric without a task (personalization@10, coverage@10) is given by its name alone.
    metrics = [m.split("/", 1) if "/" in m else ["", m] for m in a.metrics.split(",")]
    head = "| sweep | runs | " + ("epsilon (mean) | " if a.privacy else "") + (f"epsilon at delta {a.delta:g} | " if a.delta else "")
    label = "mean ± sd over seeds (95% CI ±)" if a.compact else "mean (per seed [95% CI])"
    print(head + " | ".join(f"{t + '/' if t else ''}{n} {label}" for t, n in metrics) + " | protocol |")
    print("|---|---|" + ("---|" if a.privacy else "") + ("---|" if a.delta else "") + "---|" * len(metrics) + "---|")
    for sweep in a.sweeps:
        rows = {}
        for run, values in runs_of(sweep):
            rows.setdefault(values.get(a.by, "") if a.by else "", []).append(run)
        for key, runs in rows.items():
            done = [r for r in runs if os.path.exists(os.path.join(r, "DONE")) and
                    os.path.exists(os.path.join(r, a.report, "report.json"))]
            reports = [json.load(open(os.path.join(r, a.report, "report.json"))) for r in done]
            cells, protocol = [], ""
            if a.privacy:
                eps = [float(rep["provenance"]["dp_epsilon"]) for rep in reports if "dp_epsilon" in rep["provenance"]]
                cells.append(f"{statistics.mean(eps):.2f}" if eps else ("none" if reports else "—"))
            if a.delta:
                at = []
                for rep in reports:
                    text = rep["provenance"].get("privacy", "")
                    m = re.search(r"noise multiplier ([0-9.e+-]+), .*sample rate ([0-9.e+-]+), ([0-9]+) steps", text)
                    if m:
                        at.append(sgm_epsilon(float(m.group(2)), float(m.group(1)), int(m.group(3)), a.delta))
                cells.append(f"{statistics.mean(at):.2f}" if at else ("none" if reports else "—"))
            for t, n in metrics:
                vals = []
                for rep in reports:
                    for m in rep["metrics"]:
                        if m["model"] == a.model and m["task"] == t and m["name"] == n and m["slice"] == "all":
                            vals.append((m["value"], m["ci"]))
                            protocol = m["protocol"]
                if not vals:
                    cells.append("—")
                    continue
                mean = statistics.mean(v for v, _ in vals)
                d = a.digits
                if a.compact:
                    sd = f" ± {statistics.stdev(v for v, _ in vals):.{d}f}" if len(vals) > 1 else ""
                    half = max(((ci[1] - ci[0]) / 2 for _, ci in vals if ci[0] is not None), default=None)
                    cells.append(f"**{mean:.{d}f}**{sd}" + (f" ({half:.{d}f})" if half is not None else ""))
                else:
                    per = ", ".join(f"{v:.{d}f} [{ci[0]:.{d}f}, {ci[1]:.{d}f}]" if ci[0] is not None else f"{v:.{d}f}"
                                    for v, ci in vals)
                    cells.append(f"**{mean:.{d}f}** ({per})")
            name = os.path.basename(sweep.rstrip("/")) + (f" {a.by}={key}" if a.by and key else "")
            print(f"| {name} | {len(done)} of {len(runs)} | " + " | ".join(cells) + f" | {protocol} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
