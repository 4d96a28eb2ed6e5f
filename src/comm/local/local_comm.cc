#include "comm/local/local_comm.h"

#include <cstdlib>
#include <cstring>

#include "core/check.h"
#include "core/log.h"

namespace recprism {
namespace {

class LocalCommunicator final : public Communicator {
 public:
  explicit LocalCommunicator(const CommOptions& options) : Communicator(options.timeout_s) {}
  int Rank() const override { return 0; }
  int WorldSize() const override { return 1; }
  int LocalRank() const override { return 0; }
  int LocalSize() const override { return 1; }
  std::string_view Backend() const override { return "local"; }

  void AllReduce(void*, size_t, DType, ReduceOp, const BufferPlace& place) override { CheckHost(place); }
  void Broadcast(void*, size_t, DType, int root, const BufferPlace& place) override {
    CheckRoot(root);
    CheckHost(place);
  }
  void AllGather(const void* send, size_t count, void* recv, DType dtype, const BufferPlace& place) override {
    CheckHost(place);
    if (count > 0 && send != recv) std::memmove(recv, send, count * DTypeSize(dtype));
  }
  void AllGatherV(const void* send, size_t send_count, void* recv, const std::vector<size_t>& recv_counts,
                  DType dtype, const BufferPlace& place) override {
    CheckHost(place);
    CheckAllGatherV(send_count, recv_counts);
    if (send_count > 0 && send != recv) std::memmove(recv, send, send_count * DTypeSize(dtype));
  }
  void AllToAllV(const void* send, const std::vector<size_t>& send_counts, void* recv,
                 const std::vector<size_t>& recv_counts, DType dtype, const BufferPlace& place) override {
    CheckHost(place);
    CheckAllToAllV(send_counts, recv_counts);
    RP_REQUIRE(send_counts[0] == recv_counts[0], StatusCode::kInvalidArgument,
               "alltoallv: rank 0 sends {} elements to itself but expects to receive {}", send_counts[0], recv_counts[0]);
    if (send_counts[0] > 0 && send != recv) std::memmove(recv, send, send_counts[0] * DTypeSize(dtype));
  }
  void Barrier() override {}
  [[noreturn]] void Abort(int exit_code, std::string_view reason) override {
    RP_LOG_ERROR("aborting (exit code {}): {}", exit_code, reason);
    log::Flush();
    std::_Exit(exit_code);
  }

 private:
  static void CheckHost(const BufferPlace& place) {
    RP_REQUIRE(place.type == DeviceType::kCPU, StatusCode::kInvalidArgument,
               "comm.backend 'local' takes host buffers; got a CUDA buffer");
  }
};

}  // namespace

std::unique_ptr<Communicator> CreateLocalCommunicator(const CommOptions& options) {
  return std::make_unique<LocalCommunicator>(options);
}

}  // namespace recprism
