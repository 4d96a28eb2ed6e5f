#!/usr/bin/python3
"""Writes a synthetic-shaped interaction log as CSV for the generic-ingest benchmark:
user, item, time, click, conversion, value; rows/50 users, rows/200 items with Zipf popularity,
users interleaved in time order as a real log is. Ids are integers, or strings with --string-ids.

usage: generic_csv.py ROWS OUT.csv [--string-ids] [--seed N]
"""
import sys

import numpy as np

rows = int(sys.argv[1])
out = sys.argv[2]
string_ids = "--string-ids" in sys.argv
seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
rng = np.random.default_rng(seed)
users, items = max(1, rows // 50), max(1000, rows // 200)
block = 1 << 21
t = 1_600_000_000
with open(out, "w") as f:
    f.write("user,item,time,click,conversion,value\n")
    for start in range(0, rows, block):
        n = min(block, rows - start)
        u = rng.integers(0, users, n) * 7919 % 1_000_000_007 + 1000
        i = np.minimum(rng.zipf(1.3, n), items) * 104729 % 10_000_019 + 10
        ts = t + np.sort(rng.integers(0, 90 * 86400, n)) + (start // block) * 90 * 86400
        c = (rng.random(n) < 0.2).astype(np.int8)
        v = c & (rng.random(n) < 0.25)
        price = np.round(rng.lognormal(3.0, 0.8, n), 2)
        if string_ids:
            us = np.char.add("user_", u.astype(str)); its = np.char.add("sku-", i.astype(str))
        else:
            us, its = u.astype(str), i.astype(str)
        lines = np.char.add(np.char.add(np.char.add(us, ","), np.char.add(its, ",")), ts.astype(str))
        tail = np.char.add(np.char.add(np.char.add(",", c.astype(str)), np.char.add(",", v.astype(str))),
                           np.char.add(",", price.astype(str)))
        f.write("\n".join(np.char.add(lines, tail).tolist()))
        f.write("\n")
