#!/usr/bin/python3
"""Peer for the generic-ingest benchmark (not RecPrism code): pandas reads the CSV, sorts it by
(user, time) with a stable sort, and h5py writes the sorted columns with the same chunking and
filters as RecPrism's prepared files (64 Ki rows, byte shuffle, gzip level 4).

usage: prepare_generic_peer.py IN.csv OUT.h5 [--string-ids]
"""
import sys

import h5py
import numpy as np
import pandas as pd

string_ids = "--string-ids" in sys.argv
dtype = {"time": np.int64, "click": np.uint8, "conversion": np.uint8, "value": np.float32}
if not string_ids:
    dtype.update(user=np.int64, item=np.int64)
df = pd.read_csv(sys.argv[1], dtype=dtype, engine="c")
if string_ids:  # dense integer codes, as any HDF5 column needs
    df["user"] = pd.factorize(df["user"])[0]
    df["item"] = pd.factorize(df["item"])[0]
df = df.sort_values(["user", "time"], kind="stable")
with h5py.File(sys.argv[2], "w") as f:
    g = f.create_group("interactions")
    for col in ["user", "item", "time", "click", "conversion", "value"]:
        a = df[col].to_numpy()
        g.create_dataset(col, data=a, chunks=(min(len(a), 1 << 16),), shuffle=True, compression="gzip",
                         compression_opts=4)
print(f"peer rows {len(df)}")
