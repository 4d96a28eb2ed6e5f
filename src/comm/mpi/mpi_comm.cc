#include "comm/mpi/mpi_comm.h"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/check.h"
#include "core/log.h"

#define RP_MPI_CALL(expr)                                                                       \
  do {                                                                                          \
    int rp_mpi_rc_ = (expr);                                                                    \
    if (rp_mpi_rc_ != MPI_SUCCESS) {                                                            \
      char rp_mpi_msg_[MPI_MAX_ERROR_STRING];                                                   \
      int rp_mpi_len_ = 0;                                                                      \
      MPI_Error_string(rp_mpi_rc_, rp_mpi_msg_, &rp_mpi_len_);                                  \
      RP_THROW(::recprism::StatusCode::kCommError, "{} failed: {}", #expr,                      \
               std::string(rp_mpi_msg_, rp_mpi_len_));                                          \
    }                                                                                           \
  } while (0)

namespace recprism {
namespace {

MPI_Datatype ToMpi(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return MPI_FLOAT;
    case DType::kFloat64: return MPI_DOUBLE;
    case DType::kInt32: return MPI_INT32_T;
    case DType::kInt64: return MPI_INT64_T;
    case DType::kUInt8: return MPI_UINT8_T;
  }
  return MPI_BYTE;
}

MPI_Op ToMpi(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return MPI_SUM;
    case ReduceOp::kMin: return MPI_MIN;
    case ReduceOp::kMax: return MPI_MAX;
  }
  return MPI_SUM;
}

// Largest element count passed to one MPI call (MPI counts are int): 2^30, or less when the
// environment sets RECPRISM_MPI_MAX_COUNT (the tests use it to reach the split paths with small
// buffers).
size_t MaxChunk() {
  static const size_t kMaxChunk = [] {
    const char* env = std::getenv("RECPRISM_MPI_MAX_COUNT");
    const long long v = env != nullptr ? std::atoll(env) : 0;
    return v > 0 && v < (1LL << 30) ? static_cast<size_t>(v) : size_t{1} << 30;
  }();
  return kMaxChunk;
}

// Calls issue(offset, n) over [0, count) in pieces of at most MaxChunk() elements; once with
// n = 0 when count is 0, so every rank still issues the collective.
template <typename F>
void ForEachChunk(size_t count, F&& issue) {
  size_t off = 0;
  do {
    const size_t n = std::min(MaxChunk(), count - off);
    issue(off, n);
    off += n;
  } while (off < count);
}

int ToInt(size_t v, const char* what) {
  RP_REQUIRE(v <= static_cast<size_t>(INT_MAX), StatusCode::kInvalidArgument,
             "{} = {} exceeds MPI's int limit", what, v);
  return static_cast<int>(v);
}

// Bounds blocking collectives without polling them: the caller publishes the collective in flight
// (Arm/Disarm: a few atomic stores, no system call), and a background thread that wakes every
// `period` checks its age. A collective older than the timeout runs `expire` on the watchdog
// thread, which logs what was stuck and aborts the whole job (MPI_Abort): the blocked caller can
// neither return nor throw.
class Watchdog {
 public:
  using Expire = std::function<void(const char* op, uint64_t seq, size_t bytes)>;
  Watchdog(double timeout_s, Expire expire)
      : timeout_ns_(static_cast<int64_t>(timeout_s * 1e9)), expire_(std::move(expire)) {
    const double period_s = std::clamp(timeout_s / 20, 0.001, 0.2);
    period_ = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(period_s));
    thread_ = std::thread([this] { Loop(); });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void Arm(const char* op, uint64_t seq, size_t bytes) {
    op_.store(op, std::memory_order_relaxed);
    bytes_.store(bytes, std::memory_order_relaxed);
    start_ns_.store(NowNs(), std::memory_order_relaxed);
    seq_.store(seq, std::memory_order_release);
  }
  void Disarm() { seq_.store(0, std::memory_order_release); }

 private:
  static int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, period_, [this] { return stop_; })) {
      const uint64_t seq = seq_.load(std::memory_order_acquire);
      if (seq == 0) continue;
      const char* op = op_.load(std::memory_order_relaxed);
      const size_t bytes = bytes_.load(std::memory_order_relaxed);
      const int64_t age = NowNs() - start_ns_.load(std::memory_order_relaxed);
      // Still the same collective (not finished and replaced while we read)?
      if (age > timeout_ns_ && seq_.load(std::memory_order_acquire) == seq) expire_(op, seq, bytes);
    }
  }

  const int64_t timeout_ns_;
  Expire expire_;
  std::chrono::nanoseconds period_{};
  std::atomic<uint64_t> seq_{0};
  std::atomic<const char*> op_{""};
  std::atomic<size_t> bytes_{0};
  std::atomic<int64_t> start_ns_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Publishes one collective to the watchdog for its duration.
class Watched {
 public:
  Watched(Watchdog& w, const char* op, uint64_t seq, size_t bytes) : w_(w) { w_.Arm(op, seq, bytes); }
  ~Watched() { w_.Disarm(); }
  Watched(const Watched&) = delete;
  Watched& operator=(const Watched&) = delete;

 private:
  Watchdog& w_;
};

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const CommOptions& options) : Communicator(options.timeout_s) {
    RP_REQUIRE(MpiIsInitialized(), StatusCode::kInternal, "MPI communicator created before MPI_Init");
    RP_MPI_CALL(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
    RP_MPI_CALL(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    RP_MPI_CALL(MPI_Comm_rank(comm_, &rank_));
    RP_MPI_CALL(MPI_Comm_size(comm_, &size_));
    MPI_Comm node;
    RP_MPI_CALL(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
    RP_MPI_CALL(MPI_Comm_rank(node, &local_rank_));
    RP_MPI_CALL(MPI_Comm_size(node, &local_size_));
    MPI_Comm_free(&node);
    watchdog_ = std::make_unique<Watchdog>(options.timeout_s, [this](const char* op, uint64_t seq, size_t bytes) {
      const std::string msg = TimeoutMessage(op, seq, bytes);
      RP_LOG_ERROR("{}: {}", StatusCodeName(StatusCode::kTimeout), msg);
      Abort(ExitCodeFor(StatusCode::kTimeout), msg);
    });
  }
  ~MpiCommunicator() override {
    watchdog_.reset();
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }

  int Rank() const override { return rank_; }
  int WorldSize() const override { return size_; }
  int LocalRank() const override { return local_rank_; }
  int LocalSize() const override { return local_size_; }
  std::string_view Backend() const override { return "mpi"; }

  void AllReduce(void* buf, size_t count, DType dtype, ReduceOp op, const BufferPlace& place) override {
    CheckHost(place);
    const size_t esize = DTypeSize(dtype);
    ++seq_;
    Watched w(*watchdog_, "allreduce", seq_, count * esize);
    ForEachChunk(count, [&](size_t off, size_t n) {
      RP_MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, static_cast<uint8_t*>(buf) + off * esize, static_cast<int>(n),
                                ToMpi(dtype), ToMpi(op), comm_));
    });
  }

  void Broadcast(void* buf, size_t count, DType dtype, int root, const BufferPlace& place) override {
    CheckHost(place);
    CheckRoot(root);
    const size_t esize = DTypeSize(dtype);
    ++seq_;
    Watched w(*watchdog_, "broadcast", seq_, count * esize);
    ForEachChunk(count, [&](size_t off, size_t n) {
      RP_MPI_CALL(MPI_Bcast(static_cast<uint8_t*>(buf) + off * esize, static_cast<int>(n), ToMpi(dtype), root, comm_));
    });
  }

  void AllGather(const void* send, size_t count, void* recv, DType dtype, const BufferPlace& place) override {
    CheckHost(place);
    ++seq_;
    int n = ToInt(count, "allgather count");
    Watched w(*watchdog_, "allgather", seq_, count * DTypeSize(dtype));
    RP_MPI_CALL(MPI_Allgather(send, n, ToMpi(dtype), recv, n, ToMpi(dtype), comm_));
  }

  void AllGatherV(const void* send, size_t send_count, void* recv, const std::vector<size_t>& recv_counts,
                  DType dtype, const BufferPlace& place) override {
    CheckHost(place);
    CheckAllGatherV(send_count, recv_counts);
    ++seq_;
    std::vector<int> counts(size_), displs(size_);
    size_t offset = 0;
    for (int r = 0; r < size_; ++r) {
      counts[r] = ToInt(recv_counts[r], "allgatherv count");
      displs[r] = ToInt(offset, "allgatherv displacement");
      offset += recv_counts[r];
    }
    Watched w(*watchdog_, "allgatherv", seq_, send_count * DTypeSize(dtype));
    RP_MPI_CALL(MPI_Allgatherv(send, counts[rank_], ToMpi(dtype), recv, counts.data(), displs.data(), ToMpi(dtype),
                               comm_));
  }

  // MPI_Alltoallv when every count and displacement fits its int arguments (and MaxChunk);
  // otherwise point-to-point messages of at most MaxChunk() elements each, which MPI keeps in
  // order between a pair of ranks, so counts and offsets may be 64-bit.
  void AllToAllV(const void* send, const std::vector<size_t>& send_counts, void* recv,
                 const std::vector<size_t>& recv_counts, DType dtype, const BufferPlace& place) override {
    CheckHost(place);
    CheckAllToAllV(send_counts, recv_counts);
    RP_REQUIRE(send_counts[rank_] == recv_counts[rank_], StatusCode::kInvalidArgument,
               "alltoallv on rank {}: sends {} elements to itself but expects to receive {}", rank_,
               send_counts[rank_], recv_counts[rank_]);
    ++seq_;
    const size_t esize = DTypeSize(dtype);
    std::vector<size_t> sdispl(size_ + 1, 0), rdispl(size_ + 1, 0);
    for (int r = 0; r < size_; ++r) {
      sdispl[r + 1] = sdispl[r] + send_counts[r];
      rdispl[r + 1] = rdispl[r] + recv_counts[r];
    }
    Watched w(*watchdog_, "alltoallv", seq_, sdispl[size_] * esize);
    // Every rank takes the same path: agree on it (a large receive on one rank means a large send
    // on another).
    int fits = sdispl[size_] <= MaxChunk() && rdispl[size_] <= MaxChunk() ? 1 : 0;
    RP_MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, &fits, 1, MPI_INT, MPI_MIN, comm_));
    if (fits) {
      std::vector<int> sc(size_), sd(size_), rc(size_), rd(size_);
      for (int r = 0; r < size_; ++r) {
        sc[r] = static_cast<int>(send_counts[r]);
        sd[r] = static_cast<int>(sdispl[r]);
        rc[r] = static_cast<int>(recv_counts[r]);
        rd[r] = static_cast<int>(rdispl[r]);
      }
      RP_MPI_CALL(MPI_Alltoallv(send, sc.data(), sd.data(), ToMpi(dtype), recv, rc.data(), rd.data(), ToMpi(dtype),
                                comm_));
      return;
    }
    const int tag = static_cast<int>(seq_ % 32767);
    std::vector<MPI_Request> requests;
    auto* out = static_cast<uint8_t*>(recv);
    const auto* in = static_cast<const uint8_t*>(send);
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      for (size_t off = 0; off < recv_counts[r]; off += MaxChunk()) {
        const int n = static_cast<int>(std::min(MaxChunk(), recv_counts[r] - off));
        requests.emplace_back();
        RP_MPI_CALL(MPI_Irecv(out + (rdispl[r] + off) * esize, n, ToMpi(dtype), r, tag, comm_, &requests.back()));
      }
    }
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      for (size_t off = 0; off < send_counts[r]; off += MaxChunk()) {
        const int n = static_cast<int>(std::min(MaxChunk(), send_counts[r] - off));
        requests.emplace_back();
        RP_MPI_CALL(MPI_Isend(in + (sdispl[r] + off) * esize, n, ToMpi(dtype), r, tag, comm_, &requests.back()));
      }
    }
    if (send_counts[rank_] > 0) {
      std::memcpy(out + rdispl[rank_] * esize, in + sdispl[rank_] * esize, send_counts[rank_] * esize);
    }
    RP_MPI_CALL(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
  }

  void Barrier() override {
    ++seq_;
    Watched w(*watchdog_, "barrier", seq_, 0);
    RP_MPI_CALL(MPI_Barrier(comm_));
  }

  [[noreturn]] void Abort(int exit_code, std::string_view reason) override {
    RP_LOG_ERROR("aborting the job (exit code {}): {}", exit_code, reason);
    log::Flush();
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);  // MPI_Abort does not return; this keeps [[noreturn]] honest
  }

 private:
  static void CheckHost(const BufferPlace& place) {
    RP_REQUIRE(place.type == DeviceType::kCPU, StatusCode::kInvalidArgument,
               "comm.backend 'mpi' takes host buffers; use comm.backend: nccl for CUDA buffers");
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  uint64_t seq_ = 0;
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace

bool MpiIsInitialized() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

MpiSession::MpiSession(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) {
    MPI_Query_thread(&provided_);
    return;
  }
  // SERIALIZED suffices: one thread issues collectives at a time; prefetch threads never call MPI.
  int rc = MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided_);
  RP_REQUIRE(rc == MPI_SUCCESS, StatusCode::kCommError, "MPI_Init_thread failed (code {})", rc);
  owns_ = true;
}

MpiSession::~MpiSession() {
  if (owns_ && MpiIsInitialized()) MPI_Finalize();
}

std::unique_ptr<Communicator> CreateMpiCommunicator(const CommOptions& options) {
  return std::make_unique<MpiCommunicator>(options);
}

double RawMpiAllReduceSeconds(float* buf, size_t count, int iters) {
  const int n = ToInt(count, "raw allreduce count");
  RP_MPI_CALL(MPI_Barrier(MPI_COMM_WORLD));
  const double t0 = MPI_Wtime();
  for (int i = 0; i < iters; ++i) RP_MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
  double s = (MPI_Wtime() - t0) / std::max(1, iters);
  RP_MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  return s;
}

double RawMpiAllToAllSeconds(const float* send, float* recv, size_t count, int iters) {
  int world = 1;
  RP_MPI_CALL(MPI_Comm_size(MPI_COMM_WORLD, &world));
  const int n = ToInt(count, "raw alltoallv count");
  std::vector<int> counts(world, n), displs(world);
  for (int r = 0; r < world; ++r) displs[r] = ToInt(static_cast<size_t>(r) * count, "raw alltoallv displacement");
  RP_MPI_CALL(MPI_Barrier(MPI_COMM_WORLD));
  const double t0 = MPI_Wtime();
  for (int i = 0; i < iters; ++i) {
    RP_MPI_CALL(MPI_Alltoallv(send, counts.data(), displs.data(), MPI_FLOAT, recv, counts.data(), displs.data(),
                              MPI_FLOAT, MPI_COMM_WORLD));
  }
  double s = (MPI_Wtime() - t0) / std::max(1, iters);
  RP_MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  return s;
}

}  // namespace recprism
