"""Markdown tables for docs/results.md from finished sweep runs.

usage: results_table.py SWEEP_DIR [SWEEP_DIR ...] [--report report-full] [--metrics heldout/hit_rate@10,heldout/ndcg@10]

One row per sweep: each metric's mean over the finished runs (seeds), the per-seed values with the
evaluator's 95% interval, and the wall time of the runs (first file to DONE marker). Reads only
<run>/<report>/report.json and the run directories; runs without DONE are listed as missing.
"""
import argparse
import glob
import json
import os
import statistics


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sweeps", nargs="+")
    ap.add_argument("--report", default="report")
    ap.add_argument("--metrics", default="heldout/hit_rate@10,heldout/ndcg@10")
    ap.add_argument("--model", default="model")
    a = ap.parse_args()
    metrics = [m.split("/", 1) for m in a.metrics.split(",")]
    print("| sweep | runs | " + " | ".join(f"{t}/{n} mean (per seed [95% CI])" for t, n in metrics) + " | protocol |")
    print("|---|---|" + "---|" * len(metrics) + "---|")
    for sweep in a.sweeps:
        runs = sorted(glob.glob(os.path.join(sweep, "runs", "*")))
        planned = len(runs)
        tsv = os.path.join(sweep, "runs.tsv")
        if os.path.exists(tsv):
            planned = sum(1 for line in open(tsv) if line.strip())
        done = [r for r in runs if os.path.exists(os.path.join(r, "DONE")) and
                os.path.exists(os.path.join(r, a.report, "report.json"))]
        cells, protocol = [], ""
        for t, n in metrics:
            vals = []
            for r in done:
                rep = json.load(open(os.path.join(r, a.report, "report.json")))
                for m in rep["metrics"]:
                    if m["model"] == a.model and m["task"] == t and m["name"] == n and m["slice"] == "all":
                        vals.append((m["value"], m["ci"]))
                        protocol = m["protocol"]
            if not vals:
                cells.append("—")
                continue
            mean = statistics.mean(v for v, _ in vals)
            per = ", ".join(f"{v:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]" for v, ci in vals)
            cells.append(f"**{mean:.4f}** ({per})")
        print(f"| {os.path.basename(sweep.rstrip('/'))} | {len(done)} of {planned} | " + " | ".join(cells) +
              f" | {protocol} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
