"""Independent checks of held-out ranking (eval/heldout_ranking.h) from the prepared HDF5 file.

  heldout_check.py candidates PREPARED SPLIT OUT
      writes the split's sampled negatives (the rows the prepared file holds) as a candidates file
      (`user neg neg ...`, source ids)
  heldout_check.py verify PREPARED SPLIT CANDIDATES N
      every line: a user of the split, N distinct negatives, none the user ever interacted with
  heldout_check.py baselines PREPARED SPLIT REPORT_JSON SEED [CANDIDATES] [--per-user] [--exclude-seen=MODE]
      recomputes the popularity and random rankers' hit_rate@K, ndcg@K and mrr from their
      definitions (full catalogue minus the user's other positives, or the candidates file), with
      the same seeded tie-breaking, and compares them with the report's (1e-12). --per-user: one
      query per user with all of the user's positives of the split relevant (eval.heldout_queries
      user): hit_rate, recall, precision and ndcg@K over the set, and mrr. --exclude-seen: which of
      the user's items leave full ranking's candidates (all, train, train_conversions, none)
"""
import json
import math
import sys

import h5py
import numpy as np

M64 = (1 << 64) - 1


def mix64(x):
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for c in s.encode():
        h = ((h ^ c) * 0x100000001B3) & M64
    return h


def unit(h):
    return (np.asarray(h, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def raw_ids(group):
    chars = group["raw_id_chars"][...].tobytes()
    off = group["raw_id_offsets"][...]
    return [chars[off[i]:off[i + 1]].decode() for i in range(len(off) - 1)]


class Prepared:
    def __init__(self, path):
        f = h5py.File(path, "r")
        it = f["interactions"]
        self.user, self.item = it["user"][...], it["item"][...]
        self.click, self.event, self.split = it["click"][...], it["event"][...], it["split"][...]
        self.conversion = it["conversion"][...]
        self.users = raw_ids(f["users"])
        self.items = raw_ids(f["items"])  # entry 0 is the padding item
        self.popularity = f["items"]["popularity"][...].astype(np.float64)
        self.num_items = len(self.items) - 1
        pos = (self.click == 1) & (self.event != 5)
        self.positives = {}
        for u, i in zip(self.user[pos], self.item[pos]):
            self.positives.setdefault(int(u), set()).add(int(i))
        self.pos = pos

    def seen(self, mode):
        """The items eval.exclude_seen leaves out of a user's full-ranking candidates."""
        sel = {"all": self.pos, "train": self.pos & (self.split == 0),
               "train_conversions": self.pos & (self.split == 0) & (self.conversion == 1),
               "none": np.zeros_like(self.pos)}[mode]
        out = {}
        for u, i in zip(self.user[sel], self.item[sel]):
            out.setdefault(int(u), set()).add(int(i))
        return out


def queries(p, split):
    s = {"valid": 1, "test": 2}[split]
    sel = np.nonzero(p.pos & (p.split == s))[0]
    return [(int(p.user[r]), int(p.item[r])) for r in sel]


def read_candidates(p, path):
    user_of = {u: k for k, u in enumerate(p.users)}
    item_of = {i: k for k, i in enumerate(p.items) if k > 0}
    out = {}
    for line in open(path):
        f = line.split()
        if f:
            out[user_of[f[0]]] = [item_of[x] for x in f[1:]]
    return out


def cmd_candidates(path, split, out):
    p = Prepared(path)
    s = {"valid": 1, "test": 2}[split]
    sel = (p.split == s) & (p.event == 5)
    negs = {}
    for u, i in zip(p.user[sel], p.item[sel]):
        negs.setdefault(int(u), []).append(p.items[int(i)])
    with open(out, "w") as f:
        for u in sorted(negs):
            f.write(p.users[u] + " " + " ".join(negs[u]) + "\n")
    print(f"wrote {len(negs)} users' {split} negatives to {out}")
    return 0


def cmd_verify(path, split, cand, n):
    p = Prepared(path)
    c = read_candidates(p, cand)
    want = {u for u, _ in queries(p, split)}
    bad = []
    if set(c) != want:
        bad.append(f"users differ: {len(set(c) - want)} extra, {len(want - set(c))} missing")
    for u, negs in c.items():
        if len(negs) != n or len(set(negs)) != n:
            bad.append(f"user {p.users[u]}: {len(negs)} negatives, {len(set(negs))} distinct (want {n})")
        touched = set(negs) & p.positives.get(u, set())
        if touched:
            bad.append(f"user {p.users[u]}: negatives the user interacted with: {sorted(touched)[:5]}")
    print(f"{len(c)} lines checked; {len(bad)} problems" + ("".join("\n  " + b for b in bad[:5])))
    return 1 if bad else 0


def baseline_inputs(path, report_path, seed, cand, exclude):
    """The prepared file, the items excluded per user, the report's K and held-out values, the
    candidates file (or None) and the seed, for the baselines commands."""
    p = Prepared(path)
    rep = json.load(open(report_path))
    got = {(m["model"], m["name"]): m["value"] for m in rep["metrics"] if m["task"] == "heldout"}
    c = read_candidates(p, cand) if cand else None
    return p, p.seen(exclude), rep["top_k"], got, c, np.uint64(int(seed))


def largest_difference(sums, names, got, nq):
    """The largest |python - report| over the rankers' metrics; prints each one above 1e-12."""
    worst = 0.0
    for m in sums:
        for name, v in zip(names, sums[m] / nq):
            d = abs(v - got[(m, name)])
            worst = max(worst, d)
            if d > 1e-12:
                print(f"DIFF {m} {name}: python {v:.12f} report {got[(m, name)]:.12f}")
    return worst


def cmd_baselines(path, split, report_path, seed, cand=None, exclude="all"):
    p, seen, ks, got, c, seed = baseline_inputs(path, report_path, seed, cand, exclude)
    all_items = np.arange(1, p.num_items + 1, dtype=np.int64)
    sums = {m: np.zeros(2 * len(ks) + 1) for m in ("popularity", "random")}
    nq = 0
    for u, t in queries(p, split):
        uk = np.uint64(fnv1a64(p.users[u]))
        if c is None:
            others = seen.get(u, set()) - {t}
            cands = np.array([i for i in all_items if i not in others]) if others else all_items
        else:
            cands = np.array([t] + c[u], dtype=np.int64)
        nq += 1
        for m_index, m in ((1, "popularity"), (2, "random")):
            if m == "popularity":
                s = p.popularity[cands]
                st = p.popularity[t]
            else:
                with np.errstate(over="ignore"):
                    s = unit(mix64(seed ^ mix64(uk ^ mix64(cands.astype(np.uint64) + np.uint64(0x9E37)))))
                    st = unit(mix64(seed ^ mix64(uk ^ mix64(np.uint64(t) + np.uint64(0x9E37)))))
            greater = int(np.sum(s > st))
            equal = int(np.sum(s == st)) - 1
            with np.errstate(over="ignore"):
                tie = unit(mix64(seed * np.uint64(31) + np.uint64(m_index)) ^
                           mix64(uk + np.uint64(t) * np.uint64(0x100000001B3)))
            r = greater + int(math.floor(float(tie) * (equal + 1)))
            v = []
            for k in ks:
                v += [1.0 if r < k else 0.0, 1.0 / math.log2(r + 2) if r < k else 0.0]
            v.append(1.0 / (r + 1))
            sums[m] += np.array(v)
    names = [f"{n}@{k}" for k in ks for n in ("hit_rate", "ndcg")] + ["mrr"]
    worst = largest_difference(sums, names, got, nq)
    print(f"{nq} queries; popularity hit_rate@{ks[0]} {sums['popularity'][0] / nq:.4f}, random "
          f"{sums['random'][0] / nq:.4f}; largest difference {worst:.2e}")
    return 0 if worst <= 1e-12 else 1


def cmd_baselines_per_user(path, split, report_path, seed, cand=None, exclude="all"):
    p, seen, ks, got, c, seed = baseline_inputs(path, report_path, seed, cand, exclude)
    held = {}
    for u, t in queries(p, split):
        held.setdefault(u, set()).add(t)
    names = [f"{n}@{k}" for k in ks for n in ("hit_rate", "recall", "precision", "ndcg")] + ["mrr"]
    sums = {m: np.zeros(len(names)) for m in ("popularity", "random")}
    relevant_total = 0
    for u in sorted(held):
        rel = sorted(held[u])
        relevant_total += len(rel)
        uk = np.uint64(fnv1a64(p.users[u]))
        if c is None:  # the catalogue in id order, the user's other positives left out
            others = seen.get(u, set()) - held[u]
            cands = np.array([i for i in range(1, p.num_items + 1) if i not in others], dtype=np.int64)
        else:  # the relevant items first, then the file's negatives
            cands = np.array(rel + c[u], dtype=np.int64)
        idx = np.arange(len(cands)) if c is not None else cands - 1  # the engine's candidate index
        for m_index, m in ((1, "popularity"), (2, "random")):
            with np.errstate(over="ignore"):
                if m == "popularity":
                    s = p.popularity[cands]
                else:
                    s = unit(mix64(seed ^ mix64(uk ^ mix64(cands.astype(np.uint64) + np.uint64(0x9E37)))))
                tie = unit(mix64(seed * np.uint64(31) + np.uint64(m_index)) ^
                           mix64(uk + cands.astype(np.uint64) * np.uint64(0x100000001B3)))
            pos = []
            for j in np.nonzero(np.isin(cands, rel))[0]:
                above = (s > s[j]) | ((s == s[j]) & ((tie > tie[j]) | ((tie == tie[j]) & (idx < idx[j]))))
                above[j] = False
                pos.append(int(above.sum()))
            pos.sort()
            v = []
            for k in ks:
                hits = sum(1 for x in pos if x < k)
                dcg = sum(1.0 / math.log2(x + 2) for x in pos if x < k)
                ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(pos), k)))
                v += [1.0 if hits else 0.0, hits / len(pos), hits / k, dcg / ideal]
            v.append(1.0 / (pos[0] + 1))
            sums[m] += np.array(v)
    nq = len(held)
    worst = largest_difference(sums, names, got, nq)
    print(f"{nq} users, {relevant_total} relevant items; popularity recall@{ks[0]} "
          f"{sums['popularity'][1] / nq:.4f}, random {sums['random'][1] / nq:.4f}; largest difference {worst:.2e}")
    return 0 if worst <= 1e-12 else 1


def main():
    cmd = sys.argv[1]
    if cmd == "candidates":
        return cmd_candidates(*sys.argv[2:5])
    if cmd == "verify":
        return cmd_verify(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    if cmd == "baselines":
        args = [a for a in sys.argv[2:] if not a.startswith("--")]
        exclude = ([a.split("=", 1)[1] for a in sys.argv if a.startswith("--exclude-seen=")] or ["all"])[0]
        if len(args) == 4:
            args.append(None)
        return (cmd_baselines_per_user if "--per-user" in sys.argv else cmd_baselines)(*args, exclude=exclude)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
