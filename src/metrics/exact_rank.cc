#include "metrics/exact_rank.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <limits>

namespace recprism::metrics {

namespace {

// Maps a double to a uint64 with the same order (negative numbers included). -0 and +0 are equal
// scores (a tie), so both map to +0's key.
inline uint64_t OrderKey(double x) {
  if (x == 0) x = 0.0;
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return (b & 0x8000000000000000ULL) ? ~b : (b | 0x8000000000000000ULL);
}

inline double FromOrderKey(uint64_t k) {
  const uint64_t b = (k & 0x8000000000000000ULL) ? (k & ~0x8000000000000000ULL) : ~k;
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// LSD radix sort of (key, payload) pairs, kDigitBits a pass (2,048 buckets keep the scatter's
// write streams in cache). Every digit histogram comes from one read of the keys, and a pass whose
// digit is the same for every key is skipped (scores rounded from float32 leave the low digits
// constant). Stable.
constexpr int kDigitBits = 11;
constexpr int kDigits = (64 + kDigitBits - 1) / kDigitBits;
constexpr size_t kBuckets = size_t{1} << kDigitBits;

template <typename T>
void RadixSort(std::vector<T>* items) {
  auto& v = *items;
  const size_t n = v.size();
  if (n == 0) return;
  std::vector<size_t> count(kDigits * kBuckets, 0);
  for (const T& x : v) {
    for (int d = 0; d < kDigits; ++d) ++count[d * kBuckets + ((x.key >> (kDigitBits * d)) & (kBuckets - 1))];
  }
  std::unique_ptr<T[]> scratch(new T[n]);  // uninitialised: every slot is written before it is read
  T* src = v.data();
  T* dst = scratch.get();
  int moved = 0;
  for (int d = 0; d < kDigits; ++d) {
    size_t* c = count.data() + d * kBuckets;
    const int shift = kDigitBits * d;
    if (c[(src[0].key >> shift) & (kBuckets - 1)] == n) continue;  // one digit value: nothing to reorder
    size_t sum = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      const size_t here = c[i];
      c[i] = sum;
      sum += here;
    }
    for (size_t i = 0; i < n; ++i) dst[c[(src[i].key >> shift) & (kBuckets - 1)]++] = src[i];
    std::swap(src, dst);
    ++moved;
  }
  if (moved % 2 == 1) std::copy(src, src + n, v.data());
}

struct KeyedRun {
  uint64_t key;
  ScoreRun run;
};
struct KeyedLabel {  // one row: pos = label, neg = 1 - label
  uint64_t key;
  uint64_t label;
};

void Compress(std::vector<ScoreRun>* runs) {
  auto& v = *runs;
  size_t out = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (out > 0 && v[out - 1].score == v[i].score) {
      v[out - 1].pos += v[i].pos;
      v[out - 1].neg += v[i].neg;
    } else {
      v[out++] = v[i];
    }
  }
  v.resize(out);
}

}  // namespace

void SortAndCompress(std::vector<ScoreRun>* runs) {
  auto& v = *runs;
  if (v.size() < 4096) {
    std::stable_sort(v.begin(), v.end(), [](const ScoreRun& a, const ScoreRun& b) { return a.score < b.score; });
    Compress(runs);
    return;
  }
  // Single rows (the common case): sort 16-byte (key, label) pairs, then compress while decoding.
  std::vector<KeyedLabel> k(v.size());
  bool rows = true;
  for (size_t i = 0; i < v.size() && rows; ++i) {
    const ScoreRun& r = v[i];
    rows = (r.pos == 1 && r.neg == 0) || (r.pos == 0 && r.neg == 1);
    k[i] = {OrderKey(r.score), r.pos == 1 ? 1u : 0u};
  }
  if (rows) {
    v = {};
    RadixSort(&k);
    size_t distinct = 0;
    for (size_t i = 0; i < k.size(); ++i) distinct += i == 0 || k[i].key != k[i - 1].key;
    v.reserve(distinct);
    for (size_t i = 0; i < k.size();) {
      size_t j = i;
      double pos = 0;
      while (j < k.size() && k[j].key == k[i].key) pos += static_cast<double>(k[j++].label);
      v.push_back({FromOrderKey(k[i].key), pos, static_cast<double>(j - i) - pos});
      i = j;
    }
    return;
  }
  k = {};
  std::vector<KeyedRun> kr(v.size());
  for (size_t i = 0; i < v.size(); ++i) kr[i] = {OrderKey(v[i].score), v[i]};
  RadixSort(&kr);
  for (size_t i = 0; i < v.size(); ++i) v[i] = kr[i].run;
  Compress(runs);
}

void MergeSortedRuns(std::vector<ScoreRun>* runs, const std::vector<size_t>& bounds) {
  auto& v = *runs;
  auto less = [](const ScoreRun& a, const ScoreRun& b) { return a.score < b.score; };
  // Pairwise merges of neighbouring sorted ranges until one remains.
  std::vector<size_t> b = bounds;
  while (b.size() > 2) {
    std::vector<size_t> next = {b[0]};
    for (size_t i = 0; i + 2 < b.size(); i += 2) {
      std::inplace_merge(v.begin() + static_cast<long>(b[i]), v.begin() + static_cast<long>(b[i + 1]),
                         v.begin() + static_cast<long>(b[i + 2]), less);
      next.push_back(b[i + 2]);
    }
    if (b.size() % 2 == 0) next.push_back(b.back());
    b = std::move(next);
  }
  Compress(runs);
}

PartitionScan ScanPartition(const std::vector<ScoreRun>& runs, double neg_below, double pos_above, double neg_above,
                            double total_pos) {
  PartitionScan s;
  double negs = neg_below;
  for (const ScoreRun& r : runs) {
    s.auc_pairs += r.pos * (negs + 0.5 * r.neg);
    negs += r.neg;
  }
  double tp = pos_above, fp = neg_above;
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    tp += it->pos;
    fp += it->neg;
    if (tp + fp <= 0) continue;
    if (it->pos > 0) s.ap_sum += it->pos * (tp / (tp + fp));
    const double f1 = total_pos > 0 ? 2 * tp / (tp + fp + total_pos) : 0.0;
    if (f1 > s.best_f1) {
      s.best_f1 = f1;
      s.best_threshold = it->score;
      s.tp_at_best = tp;
      s.fp_at_best = fp;
    }
  }
  return s;
}

ExactRankResult FinalizeExact(const PartitionScan& t, double pos, double neg) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ExactRankResult r;
  r.auc = pos > 0 && neg > 0 ? t.auc_pairs / (pos * neg) : nan;
  r.average_precision = pos > 0 ? t.ap_sum / pos : nan;
  r.best_f1 = t.best_f1;
  r.best_threshold = t.best_threshold;
  r.precision_at_best = t.tp_at_best + t.fp_at_best > 0 ? t.tp_at_best / (t.tp_at_best + t.fp_at_best) : 0.0;
  r.recall_at_best = pos > 0 ? t.tp_at_best / pos : 0.0;
  r.accuracy_at_best = pos + neg > 0 ? (t.tp_at_best + (neg - t.fp_at_best)) / (pos + neg) : 0.0;
  return r;
}

ExactRankResult ExactRank(std::vector<ScoreRun> runs) {
  SortAndCompress(&runs);
  double pos = 0, neg = 0;
  for (const auto& r : runs) {
    pos += r.pos;
    neg += r.neg;
  }
  return FinalizeExact(ScanPartition(runs, 0, 0, 0, pos), pos, neg);
}

}  // namespace recprism::metrics
