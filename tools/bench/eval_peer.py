#!/usr/bin/env python3
"""Peers of the evaluator benchmarks (docs/benchmarks.md), timed in the same run as RecPrism.

  eval_peer.py auc-data N PREFIX      writes N rows (PREFIX.f64 scores as float32-rounded model
                                      outputs, PREFIX.u8 labels), then times
                                      sklearn.metrics.roc_auc_score on them
  eval_peer.py e2e PREDICTIONS.csv    pandas + scikit-learn computing the core metrics that
                                      `recprism evaluate` reports: per task (ctr, cvr on clicks,
                                      ctcvr) AUC, logloss, average precision, Brier, calibration;
                                      GAUC (impression-weighted) per task, vectorised with grouped
                                      ranks; NDCG@10 (sklearn, one call over all users)
  eval_peer.py auc PREFIX             times roc_auc_score again on PREFIX.f64/.u8
  eval_peer.py make-csv N OUT.csv     a synthetic predictions file of N rows (20 rows per user,
                                      one slice column: region)
"""
import sys
import time

import numpy as np


def auc_data(n, prefix):
    rng = np.random.default_rng(3)
    z = rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(z - 1.5)))).astype(np.uint8)
    p = (1 / (1 + np.exp(-(0.8 * z - 1.5 + rng.normal(0, 0.7, n))))).astype(np.float32).astype(np.float64)
    p.tofile(prefix + ".f64")
    y.tofile(prefix + ".u8")
    auc_time(prefix)


def auc_time(prefix):
    p = np.fromfile(prefix + ".f64", dtype=np.float64)
    y = np.fromfile(prefix + ".u8", dtype=np.uint8)
    n = len(p)
    from sklearn.metrics import roc_auc_score
    t = time.perf_counter()
    auc = roc_auc_score(y, p)
    print(f"sklearn roc_auc_score: {n} rows, {time.perf_counter() - t:.3f} s, auc {auc:.12f}")


def make_csv(n, out):
    rng = np.random.default_rng(5)
    users = np.arange(n) // 20
    items = rng.zipf(1.3, n) % 200000
    z = rng.normal(0, 1, n)
    click = (rng.random(n) < 1 / (1 + np.exp(-(z - 1.0)))).astype(int)
    conv = click * (rng.random(n) < 0.25).astype(int)
    p_ctr = np.round(1 / (1 + np.exp(-(0.8 * z - 1.0 + rng.normal(0, 0.7, n)))), 5)
    p_cvr = np.round(rng.uniform(0.1, 0.4, n), 5)
    value = np.round(rng.uniform(1, 100, n), 2)
    # One slice column: the user's region, 8 values.
    region = np.array(["north", "south", "east", "west", "centre", "coast", "alps", "islands"])[(users * 7919) % 8]
    import pandas as pd
    pd.DataFrame({"user": users, "item": items, "click": click, "conversion": conv, "p_ctr": p_ctr,
                  "p_cvr": p_cvr, "value": value, "region": region}).to_csv(out, index=False)


def e2e(path):
    import pandas as pd
    from sklearn.metrics import (average_precision_score, brier_score_loss, log_loss, ndcg_score,
                                 roc_auc_score)
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    t_read = time.perf_counter() - t0
    df["p_ctcvr"] = df.p_ctr * df.p_cvr
    out = {}
    for task, sub, y, p in (("ctr", df, "click", "p_ctr"), ("cvr", df[df.click == 1], "conversion", "p_cvr"),
                            ("ctcvr", df, "conversion", "p_ctcvr")):
        yy, pp = sub[y].to_numpy(), sub[p].to_numpy()
        out[task + " auc"] = roc_auc_score(yy, pp)
        out[task + " logloss"] = log_loss(yy, pp, labels=[0, 1])
        out[task + " ap"] = average_precision_score(yy, pp)
        out[task + " brier"] = brier_score_loss(yy, pp)
        out[task + " calibration"] = pp.mean() / yy.mean()
        # GAUC vectorised: per user, AUC = (sum of positive ranks - P(P+1)/2) / (P N), ties averaged.
        g = sub[["user", y]].copy()
        g["r"] = sub.groupby("user")[p].rank(method="average")
        g["rp"] = g.r * g[y]
        agg = g.groupby("user").agg(n=(y, "size"), pos=(y, "sum"), rp=("rp", "sum"))
        agg = agg[(agg.pos > 0) & (agg.pos < agg.n)]
        auc_u = (agg.rp - agg.pos * (agg.pos + 1) / 2) / (agg.pos * (agg.n - agg.pos))
        out[task + " gauc"] = float((auc_u * agg.n).sum() / agg.n.sum())
    # NDCG@10 per user with one call: every user has the same number of rows in make-csv files.
    sizes = df.groupby("user").size()
    assert sizes.nunique() == 1, "e2e expects a make-csv file (equal rows per user)"
    d = df.sort_values(["user"], kind="stable")
    yt = d.click.to_numpy().reshape(-1, sizes.iloc[0])
    ys = d.p_ctr.to_numpy().reshape(-1, sizes.iloc[0])
    keep = yt.sum(axis=1) > 0
    out["ctr ndcg@10"] = float(ndcg_score(yt[keep], ys[keep], k=10))
    total = time.perf_counter() - t0
    print(f"pandas+sklearn: {len(df)} rows, read {t_read:.2f} s, total {total:.2f} s; ctr auc {out['ctr auc']:.6f}, gauc {out['ctr gauc']:.6f}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "auc-data":
        auc_data(int(sys.argv[2]), sys.argv[3])
    elif cmd == "auc":
        auc_time(sys.argv[2])
    elif cmd == "make-csv":
        make_csv(int(sys.argv[2]), sys.argv[3])
    elif cmd == "e2e":
        e2e(sys.argv[2])
    else:
        sys.exit(__doc__)
