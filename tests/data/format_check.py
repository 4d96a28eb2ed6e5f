#!/usr/bin/python3
"""Independent check of prepared files with h5py and numpy (not RecPrism's reader).

usage: format_check.py FILE.h5 [--raw-ml100k DIR]
Verifies the on-disk contract of docs/data-format.md: format attributes, consistent lengths,
rows sorted by (user, time), offsets, per-user split counts, popularity, categories, label
implications, sampled negatives never among the user's items, leave-one-out when declared;
with --raw-ml100k, that every (user, item, rating) of u.data is present exactly once.
"""
import gzip
import sys

import h5py
import numpy as np


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def main():
    path = sys.argv[1]
    f = h5py.File(path, "r")
    if f.attrs["format"] != b"recprism.interactions" and f.attrs["format"] != "recprism.interactions":
        fail(f"format attribute is {f.attrs['format']!r}")
    if int(f.attrs["format_version"]) != 1:
        fail("format_version != 1")
    g = f["interactions"]
    cols = {k: g[k][...] for k in ["user", "item", "time", "event", "click", "conversion", "value", "split"]}
    n = len(cols["user"])
    for k, v in cols.items():
        if len(v) != n:
            fail(f"/interactions/{k} has {len(v)} rows, expected {n}")
    if int(f.attrs["num_rows"]) != n:
        fail("num_rows attribute")
    off = f["users/offsets"][...]
    nu = len(off) - 1
    if off[0] != 0 or off[-1] != n or np.any(np.diff(off) < 0):
        fail("users/offsets not a monotone 0..n index")
    user_of_row = np.repeat(np.arange(nu), np.diff(off))
    if not np.array_equal(user_of_row, cols["user"]):
        fail("user column disagrees with users/offsets")
    # Sorted by time within each user.
    same_user = cols["user"][1:] == cols["user"][:-1]
    if np.any(same_user & (cols["time"][1:] < cols["time"][:-1])):
        fail("rows not sorted by time within a user")
    # Per-user split counts.
    split_rows = f["users/split_rows"][...]
    for s in range(3):
        counts = np.bincount(cols["user"][cols["split"] == s], minlength=nu)
        if not np.array_equal(counts, split_rows[:, s]):
            fail(f"users/split_rows[:, {s}] disagrees with the split column")
    ni = int(f.attrs["num_items"])
    if cols["item"].min() < 1 or cols["item"].max() > ni:
        fail("item ids outside 1..num_items")
    pop = f["items/popularity"][...]
    mask = (cols["split"] == 0) & (cols["click"] == 1)
    if not np.array_equal(np.bincount(cols["item"][mask], minlength=ni + 1), pop):
        fail("items/popularity is not the count of positive train rows")
    coff = f["items/category_offsets"][...]
    if len(coff) != ni + 2 or coff[0] != 0 or np.any(np.diff(coff) < 0):
        fail("items/category_offsets inconsistent")
    if np.any(cols["conversion"] > cols["click"]):
        fail("a conversion without a click")
    # Sampled negatives: click 0, never an item the user has a positive row for.
    neg = cols["event"] == 5
    if np.any(cols["click"][neg] != 0):
        fail("sampled negative with click = 1")
    pos_pairs = set(zip(cols["user"][cols["click"] == 1].tolist(), cols["item"][cols["click"] == 1].tolist()))
    bad = sum((u, i) in pos_pairs for u, i in zip(cols["user"][neg].tolist(), cols["item"][neg].tolist()))
    if bad:
        fail(f"{bad} sampled negatives are items the user interacted with")
    params = f.attrs["params"]
    params = params.decode() if isinstance(params, bytes) else params
    if "split=leave_one_out" in params:
        for u in range(nu):
            rows = np.arange(off[u], off[u + 1])
            pos = rows[cols["click"][rows] == 1]
            if len(pos) >= 2 and cols["split"][pos[-1]] != 2:
                fail(f"user {u}: last positive is not in test")
            if len(pos) >= 3 and cols["split"][pos[-2]] != 1:
                fail(f"user {u}: second-to-last positive is not in valid")
            if len(pos) >= 3 and np.any(cols["split"][pos[:-2]] != 0):
                fail(f"user {u}: earlier positives not in train")
    if len(sys.argv) > 3 and sys.argv[2] == "--raw-ml100k":
        raw = np.loadtxt(gzip.open(sys.argv[3] + "/ml-100k/u.data.gz"), dtype=np.int64)
        uchars, uoff = f["users/raw_id_chars"][...], f["users/raw_id_offsets"][...]
        ichars, ioff = f["items/raw_id_chars"][...], f["items/raw_id_offsets"][...]
        uraw = np.array([int(bytes(uchars[uoff[k]:uoff[k + 1]])) for k in range(nu)])
        iraw = np.array([int(bytes(ichars[ioff[k]:ioff[k + 1]]) or b"0") for k in range(ni + 1)])
        p = cols["click"] == 1
        got = sorted(zip(uraw[cols["user"][p]].tolist(), iraw[cols["item"][p]].tolist(),
                         cols["value"][p].astype(int).tolist(), cols["time"][p].tolist()))
        want = sorted(map(tuple, raw.tolist()))
        if got != want:
            fail("positives differ from u.data")
        if int((raw[:, 2] >= 4).sum()) != int(cols["conversion"].sum()):
            fail("conversions != ratings >= 4")
    print(f"ok: {path}: {n} rows, {nu} users, {ni} items")


main()
