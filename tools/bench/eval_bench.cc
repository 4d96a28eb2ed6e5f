// Evaluator micro-benchmarks (docs/benchmarks.md). Not a test: timings on a shared machine.
//
//   recprism_eval_bench update [--rows N]          point-wise metric updates (BinaryState), rows/s on
//                                                  the calling thread, for 1 and 3 tasks
//   recprism_eval_bench auc SCORES.f64 LABELS.u8   exact AUC of the rows (written by eval_peer.py),
//                                                  on one process, or under mpiexec with
//                                                  comm.backend mpi: rows split round-robin, the
//                                                  distributed scan (eval/exact_scan.h)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "comm/collectives.h"
#include "comm/factory.h"
#include "comm/mpi/mpi_comm.h"
#include "core/runtime_info.h"
#include "eval/exact_scan.h"
#include "metrics/binary.h"
#include "metrics/exact_rank.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

template <typename T>
std::vector<T> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(2);
  }
  const auto bytes = static_cast<size_t>(in.tellg());
  std::vector<T> v(bytes / sizeof(T));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  return v;
}

int Update(size_t rows) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> p(rows);
  std::vector<uint8_t> y(rows);
  for (size_t i = 0; i < rows; ++i) p[i] = u(rng), y[i] = u(rng) < p[i];
  double best1 = 1e30, best3 = 1e30;
  double sink = 0;
  for (int rep = 0; rep < 3; ++rep) {
    recprism::metrics::BinaryState s(1024, 10);
    auto t = Clock::now();
    for (size_t i = 0; i < rows; ++i) s.Update(p[i], y[i]);
    best1 = std::min(best1, Since(t));
    sink += s.Finalize().logloss;
    std::vector<recprism::metrics::BinaryState> three(3, recprism::metrics::BinaryState(1024, 10));
    t = Clock::now();
    for (size_t i = 0; i < rows; ++i) {
      three[0].Update(p[i], y[i]);
      if (y[i]) three[1].Update(p[i], y[i]);
      three[2].Update(p[i] * 0.5, y[i]);
    }
    best3 = std::min(best3, Since(t));
    sink += three[2].Finalize().logloss;
  }
  std::printf("update: %zu rows, 1 task %.1f M rows/s, 3 tasks (ctr, cvr on clicks, ctcvr) %.1f M rows/s (checksum %.6f)\n",
              rows, rows / best1 / 1e6, rows / best3 / 1e6, sink);
  return 0;
}

int Auc(int argc, char** argv) {
  const std::string scores = argv[2], labels = argv[3];
  recprism::CommOptions o;
  o.backend = "local";
  const bool under_mpi = recprism::LauncherWorldSize() > 1;
  std::unique_ptr<recprism::MpiSession> mpi;
  if (under_mpi) {
    o.backend = "mpi";
    mpi = std::make_unique<recprism::MpiSession>(&argc, &argv);
  }
  auto comm = recprism::CreateCommunicator(o);
  const auto p = ReadAll<double>(scores);
  const auto y = ReadAll<uint8_t>(labels);
  const int rank = comm->Rank(), world = comm->WorldSize();
  std::vector<recprism::metrics::ScoreRun> runs;
  runs.reserve(p.size() / static_cast<size_t>(world) + 1);
  for (size_t i = static_cast<size_t>(rank); i < p.size(); i += static_cast<size_t>(world)) {
    runs.push_back({p[i], static_cast<double>(y[i]), static_cast<double>(1 - y[i])});
  }
  comm->Barrier();
  const auto t = Clock::now();
  recprism::eval::ExactScanStats stats;
  const auto r = recprism::eval::DistributedExactRank(*comm, std::move(runs), &stats);
  const double s = Since(t);
  if (rank == 0) std::printf("exact auc: %zu rows, %d rank(s), %.3f s, auc %.12f, ap %.12f\n", p.size(), world, s, r.auc, r.average_precision);
  if (world > 1) {
    // A rank's fair share of the traffic: the bytes of the runs other ranks hold, over the world.
    const auto held = recprism::AllReduceScalar<int64_t>(*comm, stats.runs_held, recprism::ReduceOp::kSum);
    const double share = 24.0 * static_cast<double>(held) / world * (world - 1) / world;
    for (int q = 0; q < world; ++q) {
      if (q == rank) {
        std::printf("  rank %d: received %.1f MB from other ranks, sent %.1f MB; its share %.1f MB (received / share %.3f); "
                    "seconds: sort %.3f, splitters %.3f, all-to-all %.3f, merging scan %.3f\n",
                    rank, stats.bytes_received / 1e6, stats.bytes_sent / 1e6, share / 1e6, stats.bytes_received / share,
                    stats.sort_s, stats.split_s, stats.exchange_s, stats.scan_s);
        std::fflush(stdout);
      }
      comm->Barrier();
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  recprism::KeepLargeBuffersInHeap();  // as the recprism binary does
  if (argc >= 2 && std::strcmp(argv[1], "update") == 0) {
    size_t rows = 10000000;
    if (argc >= 4 && std::strcmp(argv[2], "--rows") == 0) rows = std::stoull(argv[3]);
    return Update(rows);
  }
  if (argc >= 4 && std::strcmp(argv[1], "auc") == 0) return Auc(argc, argv);
  std::fprintf(stderr, "usage: recprism_eval_bench update [--rows N] | auc SCORES.f64 LABELS.u8\n");
  return 2;
}
