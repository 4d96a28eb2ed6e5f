// `recprism comm check`: proves the collectives of this launch are correct and measures them.
#include <chrono>
#include <cmath>
#include <iostream>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"
#include "comm/mpi/mpi_comm.h"
#include "comm/collectives.h"
#include "core/check.h"
#include "core/file_util.h"
#include "core/log.h"

namespace recprism::cli {
namespace {

constexpr const char* kCommHelp = R"(usage: recprism comm check [--config FILE] [--set key=value]... [options]

Runs on every rank of the launch (mpirun -n N recprism comm check --set comm.backend=mpi):
checks all-reduce (sum, min, max; float32, float64, int32, int64, uint8) against the serial
result, all-gather-v with unequal and empty contributions and broadcast from every root, then
times an all-reduce. Writes <run dir>/comm_check.json. Exit 0 when every check passes.

options:
  --config FILE        run config (comm.*, log.*, runtime.*, run.* are used)
  --set key=value      override a config key (repeatable)
  --size-mb N          all-reduce size for the timing, MiB of float32 (default 16)
  --iters N            timed all-reduce iterations (default 10)
  --inject-fault KIND:RANK
                       make RANK stall (stall) or throw (throw) before its collectives, to verify
                       that the whole job ends promptly with a non-zero exit on this cluster
)";

// Values each rank contributes: small integers, so every reduction is exact in every dtype.
template <typename T>
T Contribution(int rank, size_t i) {
  return static_cast<T>((rank * 7 + static_cast<int>(i % 13)) % 11);
}

template <typename T>
int64_t CheckAllReduce(Communicator& comm, ReduceOp op, size_t n) {
  std::vector<T> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = Contribution<T>(comm.Rank(), i);
  AllReduce(comm, buf, op);
  int64_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    T expect = Contribution<T>(0, i);
    for (int r = 1; r < comm.WorldSize(); ++r) {
      T v = Contribution<T>(r, i);
      expect = op == ReduceOp::kSum ? static_cast<T>(expect + v) : op == ReduceOp::kMin ? std::min(expect, v)
                                                                                          : std::max(expect, v);
    }
    if (buf[i] != expect) ++bad;
  }
  if (bad > 0) {
    RP_LOG_ERROR("allreduce {} {} x {}: {} wrong elements", ReduceOpName(op), DTypeName(DTypeOf<T>()), n, bad);
  }
  return bad;
}

template <typename T>
int64_t CheckAllReduceOps(Communicator& comm, size_t n, int* cases) {
  int64_t bad = 0;
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax}) {
    bad += CheckAllReduce<T>(comm, op, n);
    ++*cases;
  }
  return bad;
}

void InjectFault(Communicator& comm, const std::string& spec) {
  if (spec.empty()) return;
  auto colon = spec.find(':');
  RP_REQUIRE(colon != std::string::npos, StatusCode::kInvalidArgument,
             "--inject-fault: expected KIND:RANK (stall:1, throw:0), found '{}'", spec);
  std::string kind = spec.substr(0, colon);
  int rank = std::atoi(spec.substr(colon + 1).c_str());
  RP_REQUIRE(kind == "stall" || kind == "throw", StatusCode::kInvalidArgument,
             "--inject-fault: kind must be stall or throw, found '{}'", kind);
  if (comm.Rank() != rank) return;
  if (kind == "throw") {
    RP_THROW(StatusCode::kDataError, "injected fault on rank {} (--inject-fault {})", rank, spec);
  }
  RP_LOG_WARN("injected fault: rank {} stalls (--inject-fault {})", rank, spec);
  std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace

int RunInfoCommand(JobContext& ctx, const std::vector<std::string>& args) {
  ParsedArgs a = ParseArgs(args, {"--config", "--set"}, {}, "recprism info");
  if (a.help) {
    std::cout << "usage: recprism info [--config FILE] [--set key=value]...\n"
                 "Prints the start-up banner (version, world, backend, threads, BLAS, LibTorch, config hash).\n";
    return 0;
  }
  Job job = StartJob(ctx, a.Get("--config"), a.GetAll("--set"), /*require_all_keys=*/false);
  if (job.comm->Rank() == 0) {
    for (const auto& line : BannerLines(job)) std::cout << line << "\n";
  }
  return 0;
}

int RunCommCommand(JobContext& ctx, const std::vector<std::string>& args) {
  ParsedArgs a = ParseArgs(args, {"--config", "--set", "--size-mb", "--iters", "--inject-fault"}, {},
                           "recprism comm");
  if (a.help || a.positional.empty()) {
    std::cout << kCommHelp;
    return a.help ? 0 : 2;
  }
  RP_REQUIRE(a.positional.size() == 1 && a.positional[0] == "check", StatusCode::kInvalidArgument,
             "recprism comm: unknown action '{}' (expected check)", a.positional[0]);
  const long long size_mb = a.GetInt("--size-mb", 16);
  const long long iters = a.GetInt("--iters", 10);
  RP_REQUIRE(size_mb >= 0 && size_mb <= 65536, StatusCode::kInvalidArgument, "--size-mb must be in [0, 65536]");
  RP_REQUIRE(iters >= 1, StatusCode::kInvalidArgument, "--iters must be >= 1");

  Job job = StartJob(ctx, a.Get("--config"), a.GetAll("--set"), /*require_all_keys=*/false);
  Communicator& comm = *job.comm;
  InjectFault(comm, a.Get("--inject-fault"));

  int cases = 0;
  int64_t bad = 0;
  for (size_t n : {size_t{1}, size_t{1000}, size_t{65537}}) {
    bad += CheckAllReduceOps<float>(comm, n, &cases);
    bad += CheckAllReduceOps<double>(comm, n, &cases);
    bad += CheckAllReduceOps<int32_t>(comm, n, &cases);
    bad += CheckAllReduceOps<int64_t>(comm, n, &cases);
    bad += CheckAllReduceOps<uint8_t>(comm, n, &cases);
  }
  // all-gather-v: rank r contributes r elements (rank 0 none) of value r.
  std::vector<int64_t> mine(static_cast<size_t>(comm.Rank()), comm.Rank());
  std::vector<size_t> counts;
  std::vector<int64_t> gathered = AllGatherV(comm, mine, &counts);
  size_t pos = 0;
  for (int r = 0; r < comm.WorldSize(); ++r) {
    for (int k = 0; k < r; ++k, ++pos) bad += (pos >= gathered.size() || gathered[pos] != r) ? 1 : 0;
  }
  bad += pos == gathered.size() ? 0 : 1;
  // all-to-all-v: rank r sends (r + d) % 3 elements of value 1000 r + d to rank d (some empty).
  {
    const int w = comm.WorldSize();
    std::vector<size_t> send_counts(w);
    std::vector<int64_t> send;
    for (int d = 0; d < w; ++d) {
      send_counts[d] = static_cast<size_t>((comm.Rank() + d) % 3);
      send.insert(send.end(), send_counts[d], 1000LL * comm.Rank() + d);
    }
    std::vector<size_t> got_counts;
    std::vector<int64_t> got = AllToAllV(comm, send, send_counts, &got_counts);
    size_t at = 0;
    for (int src = 0; src < w; ++src) {
      const auto expect = static_cast<size_t>((src + comm.Rank()) % 3);
      bad += got_counts[src] == expect ? 0 : 1;
      for (size_t k = 0; k < expect && at < got.size(); ++k, ++at) bad += got[at] == 1000LL * src + comm.Rank() ? 0 : 1;
    }
    bad += at == got.size() ? 0 : 1;
  }
  // broadcast from every root.
  for (int root = 0; root < comm.WorldSize(); ++root) {
    std::vector<double> v(257, comm.Rank() == root ? root + 0.5 : -1.0);
    comm.Broadcast(v.data(), v.size(), DType::kFloat64, root);
    for (double x : v) bad += x == root + 0.5 ? 0 : 1;
  }
  bad = AllReduceScalar<int64_t>(comm, bad, ReduceOp::kSum);
  RP_REQUIRE(bad == 0, StatusCode::kCommError,
             "comm check FAILED: {} wrong elements across ranks (see each rank's log for the failing case)", bad);

  // Timing: algorithm bandwidth and bus bandwidth as nccl-tests defines them.
  const size_t n = static_cast<size_t>(size_mb) * (1 << 20) / sizeof(float);
  std::vector<float> buf(n, 1.0f);
  comm.AllReduce(buf.data(), n, DType::kFloat32, ReduceOp::kSum);  // warm-up
  // Three rounds alternating the backend and its peer (plain MPI_Allreduce on the same buffer,
  // backend mpi only), the best round of each: neither profits from running second.
  const bool with_peer = comm.Backend() == "mpi" && comm.WorldSize() > 1;
  double seconds = 1e300, raw_seconds = with_peer ? 1e300 : 0.0;
  for (int round = 0; round < 3; ++round) {
    comm.Barrier();
    auto t0 = std::chrono::steady_clock::now();
    for (long long i = 0; i < iters; ++i) comm.AllReduce(buf.data(), n, DType::kFloat32, ReduceOp::kSum);
    double local_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
    seconds = std::min(seconds, AllReduceScalar<double>(comm, local_s, ReduceOp::kMax));
    if (with_peer) raw_seconds = std::min(raw_seconds, RawMpiAllReduceSeconds(buf.data(), n, static_cast<int>(iters)));
  }
  // All-to-all of the same buffer size (n / world floats to each rank), against plain MPI_Alltoallv.
  const size_t per_peer = n / static_cast<size_t>(comm.WorldSize());
  std::vector<float> a2a_send(per_peer * comm.WorldSize(), 1.0f), a2a_recv(a2a_send.size());
  const std::vector<size_t> a2a_counts(comm.WorldSize(), per_peer);
  double a2a_seconds = 1e300, a2a_raw_seconds = with_peer ? 1e300 : 0.0;
  for (int round = 0; round < 3; ++round) {
    comm.Barrier();
    auto t0 = std::chrono::steady_clock::now();
    for (long long i = 0; i < iters; ++i) {
      comm.AllToAllV(a2a_send.data(), a2a_counts, a2a_recv.data(), a2a_counts, DType::kFloat32);
    }
    double local_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
    a2a_seconds = std::min(a2a_seconds, AllReduceScalar<double>(comm, local_s, ReduceOp::kMax));
    if (with_peer) {
      a2a_raw_seconds = std::min(a2a_raw_seconds, RawMpiAllToAllSeconds(a2a_send.data(), a2a_recv.data(), per_peer,
                                                                         static_cast<int>(iters)));
    }
  }
  const double bytes = static_cast<double>(n) * sizeof(float);
  const double algbw = seconds > 0 ? bytes / seconds / 1e9 : 0.0;
  const int w = comm.WorldSize();
  const double busbw = algbw * (w > 1 ? 2.0 * (w - 1) / w : 0.0);

  RP_LOG_INFO("comm check passed: {} all-reduce cases (5 dtypes x 3 ops x 3 sizes), all-gather-v with an empty "
              "contribution, all-to-all-v with empty sends, broadcast from {} root(s)",
              cases, w);
  if (w > 1) {
    RP_LOG_INFO("all-reduce float32 {} MiB x {} (best of 3 rounds): {:.3f} ms/iter, algbw {:.3f} GB/s, busbw {:.3f} GB/s", size_mb,
                iters, seconds * 1e3, algbw, busbw);
    if (raw_seconds > 0) {
      RP_LOG_INFO("plain MPI_Allreduce on the same buffer: {:.3f} ms/iter, algbw {:.3f} GB/s; backend / raw time {:.2f}",
                  raw_seconds * 1e3, bytes / raw_seconds / 1e9, seconds / raw_seconds);
    }
    RP_LOG_INFO("all-to-all-v float32 {} MiB per rank x {} (best of 3 rounds): {:.3f} ms/iter", size_mb, iters,
                a2a_seconds * 1e3);
    if (a2a_raw_seconds > 0) {
      RP_LOG_INFO("plain MPI_Alltoallv on the same buffers: {:.3f} ms/iter; backend / raw time {:.2f}",
                  a2a_raw_seconds * 1e3, a2a_seconds / a2a_raw_seconds);
    }
  } else {
    RP_LOG_INFO("all-reduce timing skipped: a world of one moves no data (backend {})", comm.Backend());
  }
  if (comm.Rank() == 0) {
    WriteFileAtomic(job.run_dir + "/comm_check.json",
                    fmt::format("{{\"backend\": \"{}\", \"world_size\": {}, \"allreduce_cases\": {}, \"passed\": true, "
                                "\"size_bytes\": {}, \"iters\": {}, \"seconds_per_iter\": {}, \"algbw_gbps\": {}, "
                                "\"busbw_gbps\": {}, \"raw_mpi_seconds_per_iter\": {}, \"alltoallv_seconds_per_iter\": {}, "
                                "\"raw_mpi_alltoallv_seconds_per_iter\": {}}}\n",
                                comm.Backend(), w, cases, static_cast<int64_t>(bytes), iters, seconds, algbw, busbw,
                                raw_seconds, w > 1 ? a2a_seconds : 0.0, a2a_raw_seconds));
  }
  return 0;
}

}  // namespace recprism::cli
