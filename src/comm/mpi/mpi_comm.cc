#include "comm/mpi/mpi_comm.h"

#include <mpi.h>

#include <chrono>
#include <climits>
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

// Largest element count passed to one MPI call (MPI counts are int).
constexpr size_t kMaxChunk = size_t{1} << 30;

// Calls issue(offset, n) over [0, count) in pieces of at most kMaxChunk elements; once with
// n = 0 when count is 0, so every rank still issues the collective.
template <typename F>
void ForEachChunk(size_t count, F&& issue) {
  size_t off = 0;
  do {
    const size_t n = std::min(kMaxChunk, count - off);
    issue(off, n);
    off += n;
  } while (off < count);
}

int ToInt(size_t v, const char* what) {
  RP_REQUIRE(v <= static_cast<size_t>(INT_MAX), StatusCode::kInvalidArgument,
             "{} = {} exceeds MPI's int limit", what, v);
  return static_cast<int>(v);
}

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
  }
  ~MpiCommunicator() override {
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
    ForEachChunk(count, [&](size_t off, size_t n) {
      MPI_Request req;
      RP_MPI_CALL(MPI_Iallreduce(MPI_IN_PLACE, static_cast<uint8_t*>(buf) + off * esize, static_cast<int>(n),
                                 ToMpi(dtype), ToMpi(op), comm_, &req));
      Wait(&req, "allreduce", count * esize);
    });
  }

  void Broadcast(void* buf, size_t count, DType dtype, int root, const BufferPlace& place) override {
    CheckHost(place);
    CheckRoot(root);
    const size_t esize = DTypeSize(dtype);
    ++seq_;
    ForEachChunk(count, [&](size_t off, size_t n) {
      MPI_Request req;
      RP_MPI_CALL(MPI_Ibcast(static_cast<uint8_t*>(buf) + off * esize, static_cast<int>(n), ToMpi(dtype), root,
                             comm_, &req));
      Wait(&req, "broadcast", count * esize);
    });
  }

  void AllGather(const void* send, size_t count, void* recv, DType dtype, const BufferPlace& place) override {
    CheckHost(place);
    ++seq_;
    int n = ToInt(count, "allgather count");
    MPI_Request req;
    RP_MPI_CALL(MPI_Iallgather(send, n, ToMpi(dtype), recv, n, ToMpi(dtype), comm_, &req));
    Wait(&req, "allgather", count * DTypeSize(dtype));
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
    MPI_Request req;
    RP_MPI_CALL(MPI_Iallgatherv(send, counts[rank_], ToMpi(dtype), recv, counts.data(), displs.data(),
                                ToMpi(dtype), comm_, &req));
    Wait(&req, "allgatherv", send_count * DTypeSize(dtype));
  }

  void Barrier() override {
    ++seq_;
    MPI_Request req;
    RP_MPI_CALL(MPI_Ibarrier(comm_, &req));
    Wait(&req, "barrier", 0);
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

  // Polls the request until it completes or the deadline passes. Spins briefly (latency),
  // then sleeps in short steps so a waiting rank leaves the core to compute threads.
  void Wait(MPI_Request* req, const char* op, size_t bytes) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(TimeoutSeconds()));
    int done = 0;
    for (uint64_t polls = 0;; ++polls) {
      RP_MPI_CALL(MPI_Test(req, &done, MPI_STATUS_IGNORE));
      if (done) return;
      if (polls < 2000) continue;
      if (Clock::now() > deadline) throw Error(StatusCode::kTimeout, TimeoutMessage(op, seq_, bytes));
      std::this_thread::sleep_for(std::chrono::microseconds(polls < 20000 ? 5 : 200));
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  uint64_t seq_ = 0;
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

}  // namespace recprism
