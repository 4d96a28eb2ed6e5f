#!/usr/bin/env python3
"""A demo predictions file from a real dataset of the mirror, for the quickstart and the evaluator tests.

MovieLens-100K (u.data, u.item, u.user): every rating is an impression; click = rating >= 4,
conversion = rating == 5 (a subset of clicks, as ESMM requires). The scores are a demo scorer, not
a trained model: logistic functions of the item's and user's mean rating (computed on all the
ratings, so they leak the labels) plus seeded noise, rounded to `--digits` decimals so that ties
occur (the tie rules are part of what the tests check).
Columns: user,item,click,conversion,p_ctr,p_cvr,value,category,gender,age_group,daypart.

Usage: make_demo_predictions.py DATA_DIR OUT.csv[.gz] [--digits 3] [--seed 7] [--rows N]
  --rows N: repeat the ratings with fresh users until N rows (synthetic-shaped, for benchmarks).
"""
import argparse
import gzip
import os

import numpy as np


def open_text(path, encoding="utf-8"):
    if os.path.exists(path):
        return open(path, encoding=encoding)
    return gzip.open(path + ".gz", "rt", encoding=encoding)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("out")
    ap.add_argument("--digits", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rows", type=int, default=0)
    a = ap.parse_args()
    d = os.path.join(a.data_dir, "ml-100k")
    with open_text(os.path.join(d, "u.data")) as f:
        raw = np.loadtxt(f, dtype=np.int64)
    user, item, rating, ts = raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3]
    genres = {}
    with open_text(os.path.join(d, "u.item"), encoding="latin-1") as f:
        for line in f:
            p = line.rstrip("\n").split("|")
            flags = p[5:24]
            genres[int(p[0])] = "|".join(str(g) for g, v in enumerate(flags) if v == "1") or "none"
    demo = {}
    with open_text(os.path.join(d, "u.user")) as f:
        for line in f:
            p = line.rstrip("\n").split("|")
            age = int(p[1])
            demo[int(p[0])] = (p[2], "<25" if age < 25 else "25-44" if age < 45 else "45+")
    rng = np.random.default_rng(a.seed)
    item_mean = np.zeros(item.max() + 1)
    np.add.at(item_mean, item, rating)
    item_mean /= np.maximum(np.bincount(item, minlength=item.max() + 1), 1)
    user_mean = np.zeros(user.max() + 1)
    np.add.at(user_mean, user, rating)
    user_mean /= np.maximum(np.bincount(user, minlength=user.max() + 1), 1)
    n = len(user)
    reps = max(1, -(-a.rows // n)) if a.rows else 1
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))
    opener = gzip.open if a.out.endswith(".gz") else open
    with opener(a.out, "wt") as out:
        out.write("user,item,click,conversion,p_ctr,p_cvr,value,category,gender,age_group,daypart\n")
        written = 0
        for r in range(reps):
            m = n if not a.rows else min(n, a.rows - written)
            z = 1.6 * (item_mean[item[:m]] - 3.5) + 1.2 * (user_mean[user[:m]] - 3.5) + rng.normal(0, 1.0, m)
            p_ctr = np.round(sig(z), a.digits)
            p_cvr = np.round(sig(1.3 * (item_mean[item[:m]] - 4.0) + rng.normal(0, 0.8, m) - 0.3), a.digits)
            click = (rating[:m] >= 4).astype(int)
            conv = (rating[:m] == 5).astype(int)
            value = (item[:m] % 50) + 0.99
            hours = (ts[:m] // 3600) % 24
            lines = []
            for i in range(m):
                u = int(user[i])
                g, age = demo[u]
                h = int(hours[i])
                part = "night" if h < 6 else "morning" if h < 12 else "afternoon" if h < 18 else "evening"
                uid = u if r == 0 else u + 100000 * r
                lines.append(f"{uid},{int(item[i])},{click[i]},{conv[i]},{p_ctr[i]:.{a.digits}f},{p_cvr[i]:.{a.digits}f},"
                             f"{value[i]:.2f},{genres[int(item[i])]},{g},{age},{part}\n")
            out.write("".join(lines))
            written += m


if __name__ == "__main__":
    main()
