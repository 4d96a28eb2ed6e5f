#include "eval/exact_scan.h"

#include <algorithm>
#include <chrono>

#include "comm/collectives.h"

namespace recprism::eval {
namespace {

constexpr size_t kSamplesPerRank = 1024;

// Adds the seconds since *t to *into (when counting) and restarts *t.
void Lap(std::chrono::steady_clock::time_point* t, double* into) {
  const auto now = std::chrono::steady_clock::now();
  if (into != nullptr) *into += std::chrono::duration<double>(now - *t).count();
  *t = now;
}

}  // namespace

metrics::ExactRankResult DistributedExactRank(Communicator& comm, std::vector<metrics::ScoreRun> runs,
                                              ExactScanStats* stats) {
  ExactScanStats ignored;
  ExactScanStats& st = stats != nullptr ? *stats : ignored;
  auto t = std::chrono::steady_clock::now();
  metrics::SortAndCompress(&runs);
  st.runs_held = static_cast<int64_t>(runs.size());
  Lap(&t, &st.sort_s);
  const int world = comm.WorldSize();
  double local_pos = 0, local_neg = 0;
  for (const auto& r : runs) {
    local_pos += r.pos;
    local_neg += r.neg;
  }
  std::vector<double> totals = {local_pos, local_neg};
  AllReduce(comm, totals, ReduceOp::kSum);
  const double pos = totals[0], neg = totals[1];
  if (world == 1) return metrics::FinalizeExact(metrics::ScanPartition(runs, 0, 0, 0, pos), pos, neg);

  // 2. Splitters from weighted samples of the distinct scores.
  std::vector<double> samples;
  if (!runs.empty()) {
    const size_t s = std::min(kSamplesPerRank, runs.size());
    for (size_t j = 0; j < s; ++j) {
      const size_t at = (2 * j + 1) * runs.size() / (2 * s);
      samples.push_back(runs[at].score);
      samples.push_back(static_cast<double>(runs.size()) / static_cast<double>(s));
    }
  }
  // Bounded: 2 x kSamplesPerRank values per rank, whatever the rows.
  std::vector<double> all = AllGatherV(comm, samples);
  std::vector<std::pair<double, double>> pts;
  for (size_t i = 0; i + 1 < all.size(); i += 2) pts.emplace_back(all[i], all[i + 1]);
  std::sort(pts.begin(), pts.end());
  double wsum = 0;
  for (const auto& p : pts) wsum += p.second;
  std::vector<double> splitters;
  double acc = 0;
  size_t next = 1;
  for (const auto& p : pts) {
    acc += p.second;
    while (next < static_cast<size_t>(world) && acc >= wsum * static_cast<double>(next) / world) {
      splitters.push_back(p.first);
      ++next;
    }
  }
  while (splitters.size() < static_cast<size_t>(world - 1)) {
    splitters.push_back(splitters.empty() ? 0.0 : splitters.back());
  }

  // 3. Partition bounds in the local runs: partition p holds scores in (splitter[p-1], splitter[p]].
  std::vector<size_t> bound(static_cast<size_t>(world) + 1, runs.size());
  bound[0] = 0;
  for (int p = 0; p + 1 < world; ++p) {
    bound[p + 1] = static_cast<size_t>(std::upper_bound(runs.begin(), runs.end(), splitters[p],
                                                        [](double v, const metrics::ScoreRun& r) { return v < r.score; }) -
                                       runs.begin());
  }
  std::vector<double> counts(2 * static_cast<size_t>(world), 0.0);
  for (int p = 0; p < world; ++p) {
    for (size_t i = bound[p]; i < bound[p + 1]; ++i) {
      counts[2 * p] += runs[i].pos;
      counts[2 * p + 1] += runs[i].neg;
    }
  }
  AllReduce(comm, counts, ReduceOp::kSum);

  // 4. One all-to-all sends each rank's runs of partition p to rank p: every run crosses the
  // network once. The runs are sorted, so the partitions are contiguous in them.
  std::vector<size_t> send_counts(static_cast<size_t>(world));
  for (int p = 0; p < world; ++p) send_counts[p] = 3 * (bound[p + 1] - bound[p]);
  // ScoreRun is three doubles: the runs travel as they lie, without a copy either side.
  static_assert(sizeof(metrics::ScoreRun) == 3 * sizeof(double), "ScoreRun must be three packed doubles");
  Lap(&t, &st.split_s);
  const std::vector<size_t> sizes = AllToAllCounts(comm, send_counts);
  size_t received = 0;
  for (size_t c : sizes) received += c;
  std::vector<metrics::ScoreRun> part(received / 3);
  comm.AllToAllV(runs.data(), send_counts, part.data(), sizes, DType::kFloat64);
  runs = {};
  Lap(&t, &st.exchange_s);
  for (int q = 0; q < world; ++q) {
    if (q == comm.Rank()) continue;
    st.bytes_sent += static_cast<int64_t>(send_counts[q] * sizeof(double));
    st.bytes_received += static_cast<int64_t>(sizes[q] * sizeof(double));
    st.runs_received += static_cast<int64_t>(sizes[q] / 3);
  }
  // Each rank's contribution arrives sorted, in rank order: the scan merges them as it goes.
  std::vector<metrics::RunSpan> spans;
  size_t begin = 0;
  for (size_t c : sizes) {
    spans.push_back({part.data() + begin, c / 3});
    begin += c / 3;
  }
  const int p = comm.Rank();
  double neg_below = 0, pos_above = 0, neg_above = 0;
  for (int q = 0; q < world; ++q) {
    if (q < p) neg_below += counts[2 * q + 1];
    if (q > p) {
      pos_above += counts[2 * q];
      neg_above += counts[2 * q + 1];
    }
  }
  const metrics::PartitionScan mine = metrics::ScanMergedPartition(spans, neg_below, pos_above, neg_above, pos);

  // 5. Sums, and the best F1 over every partition (ties: the larger threshold).
  std::vector<double> sums = {mine.auc_pairs, mine.ap_sum};
  AllReduce(comm, sums, ReduceOp::kSum);
  std::vector<double> best = {mine.best_f1, mine.best_threshold, mine.tp_at_best, mine.fp_at_best};
  std::vector<double> bests = AllGatherV(comm, best);  // 4 values per rank
  metrics::PartitionScan total;
  total.auc_pairs = sums[0];
  total.ap_sum = sums[1];
  for (size_t i = 0; i + 3 < bests.size(); i += 4) {
    if (bests[i] > total.best_f1 || (bests[i] == total.best_f1 && bests[i] > 0 && bests[i + 1] > total.best_threshold)) {
      total.best_f1 = bests[i];
      total.best_threshold = bests[i + 1];
      total.tp_at_best = bests[i + 2];
      total.fp_at_best = bests[i + 3];
    }
  }
  Lap(&t, &st.scan_s);
  return metrics::FinalizeExact(total, pos, neg);
}

}  // namespace recprism::eval
