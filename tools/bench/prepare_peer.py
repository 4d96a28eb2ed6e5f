#!/usr/bin/python3
"""Peer for the prepare benchmark: the same preparation of ML-1M in plain Python + NumPy, as a
typical research preprocessing script does it (parse, sort by user and order, leave-one-out,
4 uniform negatives per positive never among the user's items, save). Not RecPrism code.

usage: prepare_peer.py ratings_no_timestamp.csv.gz OUT.npz
"""
import gzip
import sys

import numpy as np

rng = np.random.default_rng(42)
users, items, ratings = [], [], []
with gzip.open(sys.argv[1], "rt") as f:
    next(f)
    for line in f:
        u, i, r = line.rstrip("\n").split(",")
        users.append(int(u)); items.append(int(i)); ratings.append(int(r))
u = np.array(users); i = np.array(items); r = np.array(ratings)
order = np.lexsort((np.arange(len(u)), u))
u, i, r = u[order], i[order], r[order]
num_items = i.max()
bounds = np.flatnonzero(np.diff(u)) + 1
starts = np.concatenate([[0], bounds]); ends = np.concatenate([bounds, [len(u)]])
split = np.zeros(len(u), dtype=np.uint8)
split[ends - 1] = 2
split[ends - 2] = 1
out_u, out_i, out_c, out_s = [], [], [], []
for s, e in zip(starts, ends):
    seen = set(i[s:e].tolist())
    for k in range(s, e):
        out_u.append(u[k]); out_i.append(i[k]); out_c.append(1); out_s.append(split[k])
        got = 0
        while got < 4:
            c = int(rng.integers(1, num_items + 1))
            if c in seen:
                continue
            out_u.append(u[k]); out_i.append(c); out_c.append(0); out_s.append(split[k]); got += 1
np.savez_compressed(sys.argv[2], user=np.array(out_u), item=np.array(out_i), click=np.array(out_c, dtype=np.uint8),
                    split=np.array(out_s, dtype=np.uint8))
print(f"peer rows {len(out_u)}")
