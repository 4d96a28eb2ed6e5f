#include "metrics/exact_rank.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <limits>

namespace recprism::metrics {

namespace {

// Maps a double to a uint64 with the same order (negative numbers included). -0 and +0 are equal
// scores (a tie), so both map to +0's key. A positive x keeps its bits (sign bit set); a negative
// one maps to 2^63 - |x|'s bits, so low bits that are zero in every score (float32 origin) stay
// zero for both signs.
constexpr uint64_t kSign = 0x8000000000000000ULL;

inline uint64_t OrderKey(double x) {
  if (x == 0) x = 0.0;
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return (b & kSign) ? kSign - (b & ~kSign) : (b | kSign);
}

inline double FromOrderKey(uint64_t k) {
  const uint64_t b = (k & kSign) ? (k & ~kSign) : ((kSign - k) | kSign);
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
struct PackedLabel {  // one row: the order key shifted past its constant low zero bits, then the label
  uint64_t key;
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
  // Single rows (the common case). When every key ends in the same bits (scores that came from
  // float32, or were rounded), those bits are dropped and the label takes their place: 8-byte
  // keys, half the memory traffic of the sort. Otherwise 16-byte (key, label) pairs. Then
  // compress while decoding.
  bool rows = true;
  uint64_t any_bits = 0, all_bits = ~uint64_t{0};
  for (size_t i = 0; i < v.size() && rows; ++i) {
    const ScoreRun& r = v[i];
    rows = (r.pos == 1 && r.neg == 0) || (r.pos == 0 && r.neg == 1);
    const uint64_t key = OrderKey(r.score);
    any_bits |= key;
    all_bits &= key;
  }
  const uint64_t varying = any_bits ^ all_bits;  // bits that differ between some keys
  if (rows && (varying & 1) == 0) {
    const int tz = varying == 0 ? 63 : __builtin_ctzll(varying);
    const uint64_t low = all_bits & ((uint64_t{1} << tz) - 1);  // the bits every key shares
    std::vector<PackedLabel> k(v.size());
    for (size_t i = 0; i < v.size(); ++i) k[i] = {((OrderKey(v[i].score) >> tz) << 1) | (v[i].pos == 1 ? 1u : 0u)};
    v = {};
    RadixSort(&k);
    size_t distinct = 0;
    for (size_t i = 0; i < k.size(); ++i) distinct += i == 0 || (k[i].key >> 1) != (k[i - 1].key >> 1);
    v.reserve(distinct);
    for (size_t i = 0; i < k.size();) {
      size_t j = i;
      double pos = 0;
      while (j < k.size() && (k[j].key >> 1) == (k[i].key >> 1)) pos += static_cast<double>(k[j++].key & 1);
      v.push_back({FromOrderKey(((k[i].key >> 1) << tz) | low), pos, static_cast<double>(j - i) - pos});
      i = j;
    }
    return;
  }
  std::vector<KeyedLabel> k;
  if (rows) {
    k.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) k[i] = {OrderKey(v[i].score), v[i].pos == 1 ? 1u : 0u};
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

namespace {

// Calls f(run) for the runs of the merge of `parts` (each sorted ascending with unique scores),
// ascending or descending; a score found in several parts becomes one run whose counts are added
// in part order, as a stable merge followed by Compress would add them.
template <typename F>
void ForEachMerged(const std::vector<RunSpan>& parts, bool ascending, F&& f) {
  const size_t k = parts.size();
  std::vector<size_t> left(k);  // runs not yet visited in each part
  for (size_t q = 0; q < k; ++q) left[q] = parts[q].size;
  auto head = [&](size_t q) -> const ScoreRun& {
    return ascending ? parts[q].data[parts[q].size - left[q]] : parts[q].data[left[q] - 1];
  };
  if (k == 1) {
    for (; left[0] > 0; --left[0]) f(head(0));
    return;
  }
  for (;;) {
    bool any = false;
    double best = 0;
    for (size_t q = 0; q < k; ++q) {
      if (left[q] == 0) continue;
      const double s = head(q).score;
      if (!any || (ascending ? s < best : s > best)) best = s;
      any = true;
    }
    if (!any) return;
    ScoreRun r{best, 0, 0};
    bool first = true;
    for (size_t q = 0; q < k; ++q) {
      if (left[q] == 0 || head(q).score != best) continue;
      if (first) {
        r = head(q);
        first = false;
      } else {
        r.pos += head(q).pos;
        r.neg += head(q).neg;
      }
      --left[q];
    }
    f(r);
  }
}

}  // namespace

PartitionScan ScanMergedPartition(const std::vector<RunSpan>& parts, double neg_below, double pos_above,
                                  double neg_above, double total_pos) {
  PartitionScan s;
  double negs = neg_below;
  ForEachMerged(parts, /*ascending=*/true, [&](const ScoreRun& r) {
    s.auc_pairs += r.pos * (negs + 0.5 * r.neg);
    negs += r.neg;
  });
  double tp = pos_above, fp = neg_above;
  ForEachMerged(parts, /*ascending=*/false, [&](const ScoreRun& r) {
    tp += r.pos;
    fp += r.neg;
    if (tp + fp <= 0) return;
    if (r.pos > 0) s.ap_sum += r.pos * (tp / (tp + fp));
    const double f1 = total_pos > 0 ? 2 * tp / (tp + fp + total_pos) : 0.0;
    if (f1 > s.best_f1) {
      s.best_f1 = f1;
      s.best_threshold = r.score;
      s.tp_at_best = tp;
      s.fp_at_best = fp;
    }
  });
  return s;
}

PartitionScan ScanPartition(const std::vector<ScoreRun>& runs, double neg_below, double pos_above, double neg_above,
                            double total_pos) {
  return ScanMergedPartition({RunSpan{runs.data(), runs.size()}}, neg_below, pos_above, neg_above, total_pos);
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
