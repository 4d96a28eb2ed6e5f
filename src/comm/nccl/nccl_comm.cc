#include "comm/nccl/nccl_comm.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "comm/mpi/mpi_comm.h"
#include "core/check.h"
#include "core/log.h"

#define RP_CUDA_CALL(expr)                                                                          \
  do {                                                                                              \
    cudaError_t rp_cuda_rc_ = (expr);                                                               \
    if (rp_cuda_rc_ != cudaSuccess) {                                                               \
      RP_THROW(::recprism::StatusCode::kCommError, "{} failed: {}", #expr, cudaGetErrorString(rp_cuda_rc_)); \
    }                                                                                               \
  } while (0)

#define RP_NCCL_CALL(expr)                                                                          \
  do {                                                                                              \
    ncclResult_t rp_nccl_rc_ = (expr);                                                              \
    if (rp_nccl_rc_ != ncclSuccess && rp_nccl_rc_ != ncclInProgress) {                              \
      RP_THROW(::recprism::StatusCode::kCommError, "{} failed: {}", #expr, ncclGetErrorString(rp_nccl_rc_)); \
    }                                                                                               \
  } while (0)

namespace recprism {
namespace {

ncclDataType_t ToNccl(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return ncclFloat32;
    case DType::kFloat64: return ncclFloat64;
    case DType::kInt32: return ncclInt32;
    case DType::kInt64: return ncclInt64;
    case DType::kUInt8: return ncclUint8;
  }
  return ncclUint8;
}

ncclRedOp_t ToNccl(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kMin: return ncclMin;
    case ReduceOp::kMax: return ncclMax;
  }
  return ncclSum;
}

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(const CommOptions& options)
      : Communicator(options.timeout_s), mpi_(CreateMpiCommunicator(options)) {
    int devices = 0;
    cudaError_t rc = cudaGetDeviceCount(&devices);
    if (rc != cudaSuccess || devices == 0) {
      RP_THROW(StatusCode::kUnavailable,
               "comm.backend is 'nccl' but rank {} sees no CUDA device ({}). NCCL needs one GPU per rank; "
               "set comm.backend: mpi to run the collectives on the CPU over MPI",
               mpi_->Rank(), rc != cudaSuccess ? cudaGetErrorString(rc) : "cudaGetDeviceCount returned 0");
    }
    device_ = mpi_->LocalRank() % devices;
    if (mpi_->LocalSize() > devices) {
      RP_LOG_WARN("{} ranks on this node share {} CUDA devices", mpi_->LocalSize(), devices);
    }
    RP_CUDA_CALL(cudaSetDevice(device_));
    RP_CUDA_CALL(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    ncclUniqueId id;
    if (mpi_->Rank() == 0) RP_NCCL_CALL(ncclGetUniqueId(&id));
    mpi_->Broadcast(&id, sizeof(id), DType::kUInt8, 0);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    RP_NCCL_CALL(ncclCommInitRankConfig(&comm_, mpi_->WorldSize(), id, mpi_->Rank(), &config));
    WaitComm("init");
  }

  ~NcclCommunicator() override {
    if (comm_ != nullptr) {
      if (aborted_) ncclCommAbort(comm_);
      else ncclCommDestroy(comm_);
    }
    if (scratch_ != nullptr) cudaFree(scratch_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  int Rank() const override { return mpi_->Rank(); }
  int WorldSize() const override { return mpi_->WorldSize(); }
  int LocalRank() const override { return mpi_->LocalRank(); }
  int LocalSize() const override { return mpi_->LocalSize(); }
  std::string_view Backend() const override { return "nccl"; }

  void AllReduce(void* buf, size_t count, DType dtype, ReduceOp op, const BufferPlace& place) override {
    const size_t bytes = count * DTypeSize(dtype);
    ++seq_;
    void* dev = Stage(buf, bytes, place, /*copy_in=*/true);
    RP_NCCL_CALL(ncclAllReduce(dev, dev, count, ToNccl(dtype), ToNccl(op), comm_, stream_));
    Complete("allreduce", bytes, buf, dev, bytes, place);
  }

  void Broadcast(void* buf, size_t count, DType dtype, int root, const BufferPlace& place) override {
    CheckRoot(root);
    const size_t bytes = count * DTypeSize(dtype);
    ++seq_;
    void* dev = Stage(buf, bytes, place, /*copy_in=*/Rank() == root);
    RP_NCCL_CALL(ncclBroadcast(dev, dev, count, ToNccl(dtype), root, comm_, stream_));
    Complete("broadcast", bytes, buf, dev, bytes, place);
  }

  void AllGather(const void* send, size_t count, void* recv, DType dtype, const BufferPlace& place) override {
    const size_t bytes = count * DTypeSize(dtype);
    const size_t total = bytes * WorldSize();
    ++seq_;
    uint8_t* dev_recv = static_cast<uint8_t*>(Stage(recv, total, place, false));
    const void* dev_send = SendBuffer(send, bytes, dev_recv + Rank() * bytes, place);
    RP_NCCL_CALL(ncclAllGather(dev_send, dev_recv, count, ToNccl(dtype), comm_, stream_));
    Complete("allgather", bytes, recv, dev_recv, total, place);
  }

  // NCCL has no all-gather-v: one grouped broadcast per rank into its slice of recv.
  void AllGatherV(const void* send, size_t send_count, void* recv, const std::vector<size_t>& recv_counts,
                  DType dtype, const BufferPlace& place) override {
    CheckAllGatherV(send_count, recv_counts);
    const size_t esize = DTypeSize(dtype);
    size_t total = 0;
    for (size_t c : recv_counts) total += c * esize;
    ++seq_;
    uint8_t* dev_recv = static_cast<uint8_t*>(Stage(recv, total, place, false));
    size_t offset = 0;
    for (int r = 0; r < Rank(); ++r) offset += recv_counts[r] * esize;
    // The root of each broadcast reads its own slice, so this rank's data goes there first.
    if (send_count > 0) {
      RP_CUDA_CALL(cudaMemcpyAsync(dev_recv + offset, send, send_count * esize, cudaMemcpyDefault, stream_));
    }
    RP_NCCL_CALL(ncclGroupStart());
    offset = 0;
    for (int r = 0; r < WorldSize(); ++r) {
      if (recv_counts[r] > 0) {
        RP_NCCL_CALL(ncclBroadcast(dev_recv + offset, dev_recv + offset, recv_counts[r], ToNccl(dtype), r, comm_,
                                   stream_));
      }
      offset += recv_counts[r] * esize;
    }
    RP_NCCL_CALL(ncclGroupEnd());
    Complete("allgatherv", send_count * esize, recv, dev_recv, total, place);
  }

  // Grouped ncclSend/ncclRecv, one pair per peer (NCCL counts are size_t). Host buffers are staged
  // in one device allocation: the receive part first, the send part after it.
  void AllToAllV(const void* send, const std::vector<size_t>& send_counts, void* recv,
                 const std::vector<size_t>& recv_counts, DType dtype, const BufferPlace& place) override {
    CheckAllToAllV(send_counts, recv_counts);
    const size_t esize = DTypeSize(dtype);
    size_t send_total = 0, recv_total = 0;
    for (int r = 0; r < WorldSize(); ++r) {
      send_total += send_counts[r];
      recv_total += recv_counts[r];
    }
    ++seq_;
    uint8_t* dev_recv = nullptr;
    const uint8_t* dev_send = nullptr;
    if (place.type == DeviceType::kCUDA) {
      dev_recv = static_cast<uint8_t*>(Stage(recv, 0, place, false));
      dev_send = static_cast<const uint8_t*>(send);
    } else {
      auto* staged = static_cast<uint8_t*>(Stage(recv, (recv_total + send_total) * esize, place, false));
      dev_recv = staged;
      if (send_total > 0) {
        RP_CUDA_CALL(cudaMemcpyAsync(staged + recv_total * esize, send, send_total * esize, cudaMemcpyHostToDevice,
                                     stream_));
      }
      dev_send = staged + recv_total * esize;
    }
    RP_NCCL_CALL(ncclGroupStart());
    size_t soff = 0, roff = 0;
    for (int r = 0; r < WorldSize(); ++r) {
      if (send_counts[r] > 0) {
        RP_NCCL_CALL(ncclSend(dev_send + soff * esize, send_counts[r], ToNccl(dtype), r, comm_, stream_));
      }
      if (recv_counts[r] > 0) {
        RP_NCCL_CALL(ncclRecv(dev_recv + roff * esize, recv_counts[r], ToNccl(dtype), r, comm_, stream_));
      }
      soff += send_counts[r];
      roff += recv_counts[r];
    }
    RP_NCCL_CALL(ncclGroupEnd());
    Complete("alltoallv", send_total * esize, recv, dev_recv, recv_total * esize, place);
  }

  void Barrier() override { mpi_->Barrier(); }

  [[noreturn]] void Abort(int exit_code, std::string_view reason) override {
    if (comm_ != nullptr && !aborted_) {
      aborted_ = true;
      ncclCommAbort(comm_);
      comm_ = nullptr;
    }
    mpi_->Abort(exit_code, reason);
    std::_Exit(exit_code);  // not reached: the MPI abort ends the process
  }

 private:
  // Device pointer for a buffer: the buffer itself when it is on the GPU, else scratch memory
  // (host data copied in when copy_in).
  void* Stage(void* buf, size_t bytes, const BufferPlace& place, bool copy_in) {
    if (place.type == DeviceType::kCUDA) {
      if (place.stream != nullptr) {
        cudaEvent_t ready;
        RP_CUDA_CALL(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
        RP_CUDA_CALL(cudaEventRecord(ready, static_cast<cudaStream_t>(place.stream)));
        RP_CUDA_CALL(cudaStreamWaitEvent(stream_, ready, 0));
        cudaEventDestroy(ready);
      }
      return buf;
    }
    if (bytes > scratch_bytes_) {
      if (scratch_ != nullptr) RP_CUDA_CALL(cudaFree(scratch_));
      scratch_ = nullptr;
      RP_CUDA_CALL(cudaMalloc(&scratch_, bytes));
      scratch_bytes_ = bytes;
    }
    if (copy_in && bytes > 0) RP_CUDA_CALL(cudaMemcpyAsync(scratch_, buf, bytes, cudaMemcpyHostToDevice, stream_));
    return scratch_;
  }

  // Device pointer for an all-gather's send buffer. Host data is copied straight into its slot
  // of the staged receive buffer (NCCL allows the in-place form).
  const void* SendBuffer(const void* send, size_t bytes, void* slot, const BufferPlace& place) {
    if (place.type == DeviceType::kCUDA) return send;
    if (bytes > 0) RP_CUDA_CALL(cudaMemcpyAsync(slot, send, bytes, cudaMemcpyHostToDevice, stream_));
    return slot;
  }

  // With a non-blocking communicator an enqueue may still be in progress (ncclInProgress):
  // wait for it before reading back, else the stream could look idle before the kernel is on it.
  void Complete(const char* op, size_t bytes, void* host, void* dev, size_t dev_bytes, const BufferPlace& place) {
    WaitComm(op, bytes);
    if (place.type == DeviceType::kCPU && dev_bytes > 0) {
      RP_CUDA_CALL(cudaMemcpyAsync(host, dev, dev_bytes, cudaMemcpyDeviceToHost, stream_));
    }
    WaitStream(op, bytes);
  }

  void WaitComm(const char* op, size_t bytes = 0) {
    const auto deadline = Deadline();
    for (;;) {
      ncclResult_t state = ncclSuccess;
      RP_NCCL_CALL(ncclCommGetAsyncError(comm_, &state));
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) {
        RP_THROW(StatusCode::kCommError, "NCCL {} on rank {} failed: {}", op, Rank(), ncclGetErrorString(state));
      }
      if (std::chrono::steady_clock::now() > deadline) TimeoutAbort(op, bytes);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  void WaitStream(const char* op, size_t bytes) {
    const auto deadline = Deadline();
    for (uint64_t polls = 0;; ++polls) {
      cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) RP_CUDA_CALL(q);
      ncclResult_t state = ncclSuccess;
      RP_NCCL_CALL(ncclCommGetAsyncError(comm_, &state));
      if (state != ncclSuccess && state != ncclInProgress) {
        RP_THROW(StatusCode::kCommError, "NCCL {} #{} on rank {} failed: {}", op, seq_, Rank(),
                 ncclGetErrorString(state));
      }
      if (polls > 1000 && std::chrono::steady_clock::now() > deadline) TimeoutAbort(op, bytes);
      if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  [[noreturn]] void TimeoutAbort(const char* op, size_t bytes) {
    aborted_ = true;
    ncclCommAbort(comm_);
    comm_ = nullptr;
    throw Error(StatusCode::kTimeout, TimeoutMessage(op, seq_, bytes));
  }

  std::chrono::steady_clock::time_point Deadline() const {
    return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                  std::chrono::duration<double>(TimeoutSeconds()));
  }

  std::unique_ptr<Communicator> mpi_;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  bool aborted_ = false;
  uint64_t seq_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> CreateNcclCommunicator(const CommOptions& options) {
  return std::make_unique<NcclCommunicator>(options);
}

}  // namespace recprism
