#!/usr/bin/env python3
"""Checks a RecPrism report.json against scikit-learn and independent NumPy implementations of the
published definitions, on the same predictions file. Exit 1 (listing every mismatch) on any
difference above the tolerance.

Usage: sklearn_check.py PREDICTIONS.csv REPORT_DIR [--tol 1e-9]

scikit-learn: roc_auc_score, average_precision_score, log_loss, brier_score_loss,
precision_recall_fscore_support, accuracy_score, precision_recall_curve (best F1), ndcg_score.
Independent: GAUC, hit rate, recall, precision, MRR and MAP at K (each user's candidates ordered by
score, ties by the item id's FNV-1a 64 hash, as the report states), ECE, calibration, exposure
metrics (coverage, Gini, personalization from the all-pairs overlap matrix, novelty).
"""
import argparse
import csv
import json
import math
import sys
from collections import defaultdict

import numpy as np
from sklearn.metrics import (accuracy_score, average_precision_score, brier_score_loss, log_loss,
                             ndcg_score, precision_recall_curve, precision_recall_fscore_support,
                             roc_auc_score)


def fnv1a64(s):
    h = 0xcbf29ce484222325
    for c in s.encode():
        h ^= c
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("predictions")
    ap.add_argument("report_dir")
    ap.add_argument("--tol", type=float, default=1e-9)
    a = ap.parse_args()
    rep = json.load(open(a.report_dir + "/report.json"))
    ks = rep["top_k"]
    with open(a.predictions) as f:
        rows = list(csv.DictReader(f))
    users = np.array([r["user"] for r in rows])
    items = np.array([r["item"] for r in rows])
    click = np.array([int(r["click"]) for r in rows])
    conv = np.array([int(r["conversion"]) for r in rows])
    p_ctr = np.array([float(r["p_ctr"]) for r in rows])
    p_cvr = np.array([float(r["p_cvr"]) for r in rows])
    p_ctcvr = p_ctr * p_cvr
    value = np.array([float(r["value"]) for r in rows])

    failures, checked = [], [0]

    def get(name, task, model="model", slice_="all", group="all"):
        for m in rep["metrics"]:
            if m["name"] == name and m["task"] == task and m["model"] == model and m["slice"] == slice_ and m["group"] == group:
                return m["value"]
        raise KeyError(f"{model}/{task}/{name} not in the report")

    def check(name, task, expected, **kw):
        got = get(name, task, **kw)
        checked[0] += 1
        if got is None or expected is None or not math.isfinite(expected):
            if not (got is None and (expected is None or not math.isfinite(expected))):
                failures.append(f"{task} {name}: report {got}, reference {expected}")
            return
        if abs(got - expected) > a.tol * max(1.0, abs(expected)):
            failures.append(f"{task} {name}: report {got!r}, reference {expected!r} (diff {got - expected:.3g})")

    spaces = {
        "ctr": (np.ones(len(rows), bool), click, p_ctr),
        "cvr": (click == 1, conv, p_cvr),
        "ctcvr": (np.ones(len(rows), bool), conv, p_ctcvr),
    }
    for task, (mask, y_all, p_all) in spaces.items():
        y, p = y_all[mask], p_all[mask]
        check("auc", task, roc_auc_score(y, p))
        check("pr_auc", task, average_precision_score(y, p))
        check("logloss", task, log_loss(y, p, labels=[0, 1]))
        check("brier", task, brier_score_loss(y, p))
        pred = (p >= 0.5).astype(int)
        prec, rec, f1, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
        check("precision@0.5", task, prec)
        check("recall@0.5", task, rec)
        check("f1@0.5", task, f1)
        check("accuracy@0.5", task, accuracy_score(y, pred))
        pc, rc, th = precision_recall_curve(y, p)
        f1s = np.where(pc[:-1] + rc[:-1] > 0, 2 * pc[:-1] * rc[:-1] / np.maximum(pc[:-1] + rc[:-1], 1e-300), 0)
        best = int(np.argmax(f1s[::-1]))  # ties: the largest threshold
        best = len(f1s) - 1 - best
        check("best_f1", task, f1s[best])
        check("best_f1_threshold", task, th[best])
        check("calibration", task, p.mean() / y.mean())
        check(f"observed_{task}", task, y.mean())
        check(f"predicted_{task}", task, p.mean())
        bins = np.minimum((p * 10).astype(int), 9)
        ece = sum(abs(p[bins == b].mean() - y[bins == b].mean()) * (bins == b).sum() / len(p) for b in range(10) if (bins == b).any())
        check("ece", task, ece)
        # GAUC: per-user AUC over the user's rows of this sample space; single-class users skipped.
        by_user = defaultdict(list)
        for i in np.nonzero(mask)[0]:
            by_user[users[i]].append(i)
        wsum = wauc = usum = cnt = 0
        for u, idx in by_user.items():
            yy = y_all[idx]
            if yy.min() == yy.max():
                continue
            auc = roc_auc_score(yy, p_all[idx])
            wauc += len(idx) * auc
            wsum += len(idx)
            usum += auc
            cnt += 1
        check("gauc", task, wauc / wsum)
        check("gauc_unweighted", task, usum / cnt)

    # Ranking at K over each user's candidates.
    order_users = defaultdict(list)
    for i in range(len(rows)):
        order_users[users[i]].append(i)
    tieb = np.array([fnv1a64(s) for s in items], dtype=np.uint64)
    for task, rel_all, score_all in (("ctr", click, p_ctr), ("ctcvr", conv, p_ctcvr)):
        for k in ks:
            acc = defaultdict(float)
            n = 0
            for u, idx in order_users.items():
                idx = np.array(idx)
                rel, sc = rel_all[idx], score_all[idx]
                if rel.sum() == 0:
                    continue
                n += 1
                order = sorted(range(len(idx)), key=lambda j: (-sc[j], int(tieb[idx[j]])))
                top = [rel[j] for j in order[:k]]
                hits = sum(top)
                acc["hit_rate"] += hits > 0
                acc["recall"] += hits / rel.sum()
                acc["precision"] += hits / k
                first = next((r for r, v in enumerate(top, 1) if v), None)
                acc["mrr"] += 1 / first if first else 0
                h, apk = 0, 0.0
                for r, v in enumerate(top, 1):
                    if v:
                        h += 1
                        apk += h / r
                acc["map"] += apk / min(k, rel.sum())
                acc["ndcg"] += ndcg_score([rel], [sc], k=k)
            for name, s in acc.items():
                check(f"{name}@{k}", task, s / n)

    # Exposure metrics of the model's top-K lists (by p_ctr, ties by item hash).
    item_ids = sorted(set(items))
    item_index = {it: j for j, it in enumerate(item_ids)}
    pop = np.zeros(len(item_ids))
    for u, idx in order_users.items():
        for it in set(items[i] for i in idx if click[i]):
            pop[item_index[it]] += 1
    n_users = len(order_users)
    for k in ks:
        M = np.zeros((n_users, len(item_ids)))
        ild, ild_n, clicks_top, slots, rev = 0.0, 0, 0, 0, 0.0
        for ui, (u, idx) in enumerate(order_users.items()):
            order = sorted(idx, key=lambda i: (-p_ctr[i], int(tieb[i])))[:k]
            for i in order:
                M[ui, item_index[items[i]]] += 1
                clicks_top += click[i]
                rev += value[i] * conv[i]
            slots += len(order)
        e = M.sum(axis=0)
        check(f"coverage@{k}", "", (e > 0).mean())
        es = np.sort(e)
        nI = len(es)
        check(f"gini@{k}", "", ((2 * np.arange(1, nI + 1) - nI - 1) * es).sum() / (nI * es.sum()))
        overlap = M @ M.T
        iu = np.triu_indices(n_users, 1)
        check(f"personalization@{k}", "", 1 - overlap[iu].mean() / k)
        rec = e > 0
        check(f"novelty@{k}", "", (e[rec] * -np.log2((pop[rec] + 1) / (n_users + 1))).sum() / e.sum())
        check(f"clicks_per_1000@{k}", "ctr", 1000 * clicks_top / slots)
        check(f"revenue_per_1000@{k}", "ctcvr", 1000 * rev / slots)
    check("active_user_share", "", np.mean([click[idx].max() for idx in order_users.values()]))

    print(f"sklearn_check: {checked[0]} metrics checked at tolerance {a.tol}, {len(failures)} mismatches")
    for f in failures:
        print("  MISMATCH", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
