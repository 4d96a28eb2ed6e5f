// Exact AUC, average precision and best-F1 threshold over the rows of every rank, without
// gathering every score on one rank.
//
// Algorithm (a one-round sample sort):
//   1. every rank sorts and compresses its (score, positives, negatives) runs;
//   2. the ranks all-gather about 1,024 weighted score samples each and agree on world - 1
//      splitters (weighted quantiles), so each of the world's partitions holds about 1/world of
//      the distinct scores; equal scores always land in the same partition;
//   3. one all-reduce gives every partition's positive and negative counts, hence the counts
//      below and above each partition;
//   4. one all-to-all-v sends every rank's runs of partition p to rank p, so each run crosses the
//      network once and a rank receives about 1/world of them; it scans the merge of what it
//      received without building it (metrics::ScanMergedPartition);
//   5. one all-reduce adds the partial sums; the best F1 is chosen from an all-gather.
// Memory per rank: its own runs (sent, then freed) plus its partition. Collective: every rank calls it, in the same
// order, with any number of runs (zero included).
#pragma once

#include <vector>

#include "comm/communicator.h"
#include "metrics/exact_rank.h"

namespace recprism::eval {

// What the scan moved, for benchmarks: runs this rank held (after compressing equal scores),
// runs it received from other ranks, and bytes sent to and received from other ranks.
struct ExactScanStats {
  int64_t runs_held = 0, runs_received = 0;
  int64_t bytes_sent = 0, bytes_received = 0;
  // Seconds in: the local sort, choosing splitters and counts, the all-to-all, the merging scan
  // and the final reductions.
  double sort_s = 0, split_s = 0, exchange_s = 0, scan_s = 0;
};

metrics::ExactRankResult DistributedExactRank(Communicator& comm, std::vector<metrics::ScoreRun> runs,
                                              ExactScanStats* stats = nullptr);

}  // namespace recprism::eval
