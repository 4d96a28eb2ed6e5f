#!/usr/bin/python3
"""The RecPrism sequence model written independently in PyTorch for Python (Debian's python3-torch,
the same 1.13 as our LibTorch): the peer that proves the C++ model and measures its speed.

usage:
  reference_torch.py check DUMP.h5 [--tol 1e-5]
      loads the weights and batch 0 of a `recprism_train_bench dump`, runs forward and backward
      with dropout off, and compares the loss sums, the logits and every gradient with the C++
      values. Exit 0 when all agree within tol (absolute, on the per-sample loss scale).
  reference_torch.py speed DUMP.h5 [--seconds 10] [--threads 1] [--dropout 0.1]
      trains on the dump's batches (cycled) with torch.optim.AdamW and prints samples/s.

The architecture follows docs/model.md: item + category + event + position + time-gap embeddings
(zero at padding), a pre-LayerNorm encoder with a fused QKV projection whose padding mask lets each
position see itself, encode_once (target attention with a learned null slot over each distinct
history) or bst (the target as one more token), ESMM / MMoE / shared-bottom heads, and
loss = BCE(pCTR, click) + BCE(pCTR x pCVR, conversion), both over every impression.
"""
import argparse
import math
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TARGET_EVENT = 7


class Embeddings(nn.Module):
    def __init__(self, p, d, dropout):
        super().__init__()
        self.item = nn.Embedding(*p["embed.item.weight"].shape, padding_idx=0)
        self.category = nn.Embedding(*p["embed.category.weight"].shape, padding_idx=0)
        self.event = nn.Embedding(*p["embed.event.weight"].shape)
        self.position = nn.Embedding(*p["embed.position.weight"].shape)
        self.gap = nn.Embedding(*p["embed.gap.weight"].shape)
        self.user_features = nn.Embedding(*p["embed.user_features.weight"].shape) if "embed.user_features.weight" in p else None
        self.row_features = nn.Embedding(*p["embed.row_features.weight"].shape) if "embed.row_features.weight" in p else None
        self.numeric = nn.Linear(p["embed.numeric.weight"].shape[1], d) if "embed.numeric.weight" in p else None
        self.register_buffer("user_offsets", torch.zeros(0, dtype=torch.long))
        self.register_buffer("row_offsets", torch.zeros(0, dtype=torch.long))
        self.d = d

    def history(self, b, item=None):
        L = b["hist_item"].shape[1]
        pos = torch.arange(L)
        x = (self.item(b["hist_item"] if item is None else item) + self.category(b["hist_category"]) +
             self.event(b["hist_event"]) + self.position(pos).unsqueeze(0) + self.gap(b["hist_gap_bucket"]))
        return x.masked_fill(b["hist_pad"].unsqueeze(-1), 0.0)

    def target(self, b):
        return self.item(b["target_item"]) + self.category(b["target_category"])

    def context(self, b):
        n = b["target_item"].shape[0]
        c = torch.zeros(n, self.d)
        if self.user_features is not None and b["user_features"].shape[1] > 0:
            c = c + self.user_features(b["user_features"] + self.user_offsets.unsqueeze(0)).sum(1)
        if self.row_features is not None and b["cat_features"].shape[1] > 0:
            c = c + self.row_features(b["cat_features"] + self.row_offsets.unsqueeze(0)).sum(1)
        if self.numeric is not None and b["num_features"].shape[1] > 0:
            c = c + self.numeric(b["num_features"])
        return c


def attention(q, k, v, mask, dropout, training):
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(mask, float("-inf"))
    attn = torch.softmax(scores, -1)
    if dropout > 0 and training:
        attn = F.dropout(attn, dropout, True)
    return torch.matmul(attn, v)


class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ffn, dropout):
        super().__init__()
        self.ln1, self.qkv, self.out = nn.LayerNorm(d), nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ln2, self.ff1, self.ff2 = nn.LayerNorm(d), nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.heads, self.dropout = heads, dropout

    def forward(self, x, mask):
        n, L, d = x.shape
        qkv = self.qkv(self.ln1(x)).view(n, L, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        o = attention(qkv[0], qkv[1], qkv[2], mask, self.dropout, self.training).transpose(1, 2).reshape(n, L, d)
        h = x + F.dropout(self.out(o), self.dropout, self.training)
        f = self.ff2(F.dropout(F.gelu(self.ff1(self.ln2(h))), self.dropout, self.training))
        return h + F.dropout(f, self.dropout, self.training)


class Encoder(nn.Module):
    def __init__(self, d, heads, layers, ffn, dropout, causal):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(d, heads, ffn, dropout) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.causal = causal

    def forward(self, x, pad):
        L = x.shape[1]
        eye = torch.eye(L, dtype=torch.bool)
        mask = pad[:, None, None, :] & ~eye[None, None]
        if self.causal:
            mask = mask | torch.triu(torch.ones(L, L, dtype=torch.bool), 1)[None, None]
        for layer in self.layers:
            x = layer(x, mask)
        return self.ln_f(x)


class TargetAttention(nn.Module):
    def __init__(self, d, heads, dropout):
        super().__init__()
        self.q, self.kv, self.out = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.null_kv = nn.Parameter(torch.zeros(2, d))
        self.heads, self.dropout = heads, dropout

    def forward(self, t, hist, pad, group):
        b, (g, L, d) = t.shape[0], hist.shape
        dh = d // self.heads
        kv = torch.cat([self.null_kv.view(1, 1, 2 * d).expand(g, 1, 2 * d), self.kv(hist)], 1)
        kv = kv[group].view(b, L + 1, 2, self.heads, dh).permute(2, 0, 3, 1, 4)
        q = self.q(t).view(b, self.heads, 1, dh)
        pad_s = torch.cat([torch.zeros(g, 1, dtype=torch.bool), pad], 1)[group]
        o = attention(q, kv[0], kv[1], pad_s.view(b, 1, 1, L + 1), self.dropout, self.training)
        return self.out(o.reshape(b, d))


def tower(i, h, dropout):
    return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Dropout(dropout), nn.Linear(h, 1))


class Heads(nn.Module):
    def __init__(self, kind, i, h, experts, dropout):
        super().__init__()
        self.kind = kind
        t_in = i
        if kind == "shared_bottom":
            self.bottom = nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Dropout(dropout))
            t_in = h
        elif kind == "mmoe":
            self.experts = nn.ModuleList([nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Dropout(dropout))
                                          for _ in range(experts)])
            self.ctr_gate, self.cvr_gate = nn.Linear(i, experts), nn.Linear(i, experts)
            t_in = h
        self.ctr_tower, self.cvr_tower = tower(t_in, h, dropout), tower(t_in, h, dropout)

    def forward(self, x):
        if self.kind == "shared_bottom":
            z = self.bottom(x)
            return self.ctr_tower(z).squeeze(1), self.cvr_tower(z).squeeze(1)
        if self.kind == "mmoe":
            e = torch.stack([m(x) for m in self.experts], 1)
            mix = lambda gate: torch.bmm(torch.softmax(gate(x), -1).unsqueeze(1), e).squeeze(1)
            return self.ctr_tower(mix(self.ctr_gate)).squeeze(1), self.cvr_tower(mix(self.cvr_gate)).squeeze(1)
        return self.ctr_tower(x).squeeze(1), self.cvr_tower(x).squeeze(1)


class Recommender(nn.Module):
    def __init__(self, p, attrs, dropout, causal=False):
        super().__init__()
        d, heads = int(attrs["d_model"]), int(attrs["num_heads"])
        self.interaction = attrs["interaction"]
        self.embed = Embeddings(p, d, dropout)
        self.encoder = Encoder(d, heads, int(attrs["num_layers"]), int(attrs["ffn_multiplier"]) * d, dropout, causal)
        self.cloze_proj, self.cloze_norm = nn.Linear(d, d), nn.LayerNorm(d)
        if self.interaction == "encode_once":
            self.target = TargetAttention(d, heads, dropout)
        self.heads = Heads(attrs["heads"], 4 * d, int(attrs["tower_hidden"]), int(attrs["num_experts"]), dropout)

    def forward(self, b):
        L = b["hist_item"].shape[1]
        t = self.embed.target(b)
        if self.interaction == "encode_once":
            h = self.encoder(self.embed.history(b), b["hist_pad"])
            a = self.target(t, h, b["hist_pad"], b["group"])
            u = h[:, L - 1][b["group"]]
        else:
            n = t.shape[0]
            tokens = self.embed.history(b)[b["group"]]
            tt = (t + self.embed.event(torch.full((n,), TARGET_EVENT)) + self.embed.position(torch.full((n,), L)) +
                  self.embed.gap(torch.zeros(n, dtype=torch.long)))
            seq = torch.cat([tokens, tt.unsqueeze(1)], 1)
            pad = torch.cat([b["hist_pad"][b["group"]], torch.zeros(n, 1, dtype=torch.bool)], 1)
            h = self.encoder(seq, pad)
            a, u = h[:, L], h[:, L - 1]
        return self.heads(torch.cat([t, a, u, self.embed.context(b)], 1))


def task_loss(ctr, cvr, click, conversion):
    l_ctr = F.binary_cross_entropy_with_logits(ctr, click, reduction="sum")
    log_p = torch.clamp_max(F.logsigmoid(ctr) + F.logsigmoid(cvr), math.log1p(-1e-7))
    log_q = torch.log1p(-torch.exp(log_p))
    l_ctcvr = -(conversion * log_p + (1 - conversion) * log_q).sum()
    return l_ctr + l_ctcvr, l_ctr, l_ctcvr


def next_item_loss(m, b):
    """Causal next-item loss written from its definition, one position at a time: a real history
    position j predicts the item at j + 1; the last position predicts the sample's own item when it
    was clicked. Full softmax over items 1..N (the item table's rows between padding and [MASK])."""
    h = m.encoder(m.embed.history(b), b["hist_pad"])
    w = m.embed.item.weight[1:-1]
    total, targets = 0.0, []
    g = b["group"]
    for i in range(g.shape[0]):
        hist, pad = b["hist_item"][g[i]], b["hist_pad"][g[i]]
        L = hist.shape[0]
        for j in range(L):
            if pad[j]:
                continue
            if j + 1 < L:
                nxt = int(hist[j + 1])
            elif b["click"][i] > 0.5:
                nxt = int(b["target_item"][i])
            else:
                continue
            z = m.cloze_norm(F.gelu(m.cloze_proj(h[g[i], j]))) @ w.T
            total = total + F.cross_entropy(z.unsqueeze(0), torch.tensor([nxt - 1]), reduction="sum")
            targets.append(nxt)
    return total, np.array(targets, dtype=np.int64)


def load(path, dropout):
    f = h5py.File(path, "r")
    attrs = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in f.attrs.items()}
    p = {k[6:]: f[k][...] for k in f.keys() if k.startswith("param.")}
    buffers = {k[7:]: f[k][...] for k in f.keys() if k.startswith("buffer.")}
    m = Recommender(p, attrs, dropout, causal=attrs.get("causal", "0") == "1")
    own = dict(m.named_parameters())
    assert set(own) == set(p), f"parameter names differ: only C++ {sorted(set(p) - set(own))}, only Python {sorted(set(own) - set(p))}"
    with torch.no_grad():
        for k, v in p.items():
            assert tuple(own[k].shape) == v.shape, (k, own[k].shape, v.shape)
            own[k].copy_(torch.from_numpy(v))
        for k, v in buffers.items():
            mod, name = k.rsplit(".", 1)
            m.get_submodule(mod).register_buffer(name, torch.from_numpy(v))
    batches = []
    for i in range(int(attrs["batches"])):
        b = {}
        for k in f.keys():
            if k.startswith(f"batch{i}."):
                v = torch.from_numpy(f[k][...])
                b[k.split(".", 1)[1]] = v
        b["hist_pad"] = b["hist_pad"].bool()
        batches.append(b)
    return f, m, batches


def check(args):
    torch.set_num_threads(1)
    f, m, batches = load(args.dump, 0.0)
    b = batches[0]
    m.train()
    next_item = f.attrs.get("objective", b"multitask") in ("next_item", b"next_item")
    if next_item:
        total, targets = next_item_loss(m, b)
        n = len(targets)
        assert np.array_equal(targets, f["out.next_item_target"][...]), "next-item targets differ from C++'s"
    else:
        ctr, cvr = m(b)
        total, l_ctr, l_ctcvr = task_loss(ctr, cvr, b["click"], b["conversion"])
        n = b["click"].shape[0]
    (total / n).backward()
    worst = 0.0
    report = []
    def cmp(name, ours, theirs, scale=1.0):
        nonlocal worst
        d = float(np.max(np.abs(ours * scale - theirs * scale))) if ours.size else 0.0
        worst = max(worst, d)
        report.append((d, name))
    cmp("loss_total/n", total.detach().numpy().reshape(1), f["out.loss_total"][...], 1.0 / n)
    if not next_item:
        cmp("loss_ctr/n", l_ctr.detach().numpy().reshape(1), f["out.loss_ctr"][...], 1.0 / n)
        cmp("loss_ctcvr/n", l_ctcvr.detach().numpy().reshape(1), f["out.loss_ctcvr"][...], 1.0 / n)
        cmp("ctr_logit", ctr.detach().numpy(), f["out.ctr_logit"][...])
        cmp("cvr_logit", cvr.detach().numpy(), f["out.cvr_logit"][...])
    grads = 0
    for name, p in m.named_parameters():
        key = "grad." + name
        if key in f:
            ours = p.grad.numpy() if p.grad is not None else np.zeros(p.shape, np.float32)  # unused here (cloze head)
            cmp("grad " + name, ours, f[key][...])
            grads += 1
        else:
            assert p.grad is None or not torch.any(p.grad != 0), f"C++ has no gradient for {name}"
    report.sort(reverse=True)
    what = "next_item" if next_item else f"{f.attrs['interaction']}, {f.attrs['heads']}"
    print(f"reference ({what}): {n} {'predictions' if next_item else 'samples'}, {grads} gradients; "
          f"largest differences: " + ", ".join(f"{name} {d:.2e}" for d, name in report[:4]))
    print(f"max_abs_diff {worst:.3e} (tolerance {args.tol})")
    return 0 if worst <= args.tol else 1


def speed(args):
    torch.set_num_threads(args.threads)
    f, m, batches = load(args.dump, args.dropout)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    m.train()
    def step(b):
        ctr, cvr = m(b)
        total, _, _ = task_loss(ctr, cvr, b["click"], b["conversion"])
        opt.zero_grad()
        (total / b["click"].shape[0]).backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    for b in batches[:2]:
        step(b)
    samples, steps, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        b = batches[steps % len(batches)]
        step(b)
        samples += b["click"].shape[0]
        steps += 1
    s = time.perf_counter() - t0
    print(f"interaction {f.attrs['interaction']}\nthreads {args.threads}\nsamples_per_s {samples / s:.1f}")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["check", "speed"])
    ap.add_argument("dump")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.1)
    args = ap.parse_args()
    sys.exit(check(args) if args.mode == "check" else speed(args))


if __name__ == "__main__":
    main()
