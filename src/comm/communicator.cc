#include "comm/communicator.h"

#include <numeric>

#include "core/check.h"

namespace recprism {

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kFloat64: return 8;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kUInt8: return 1;
  }
  return 0;
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
  }
  return "?";
}

std::string_view ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kMin: return "min";
    case ReduceOp::kMax: return "max";
  }
  return "?";
}

void Communicator::CheckAllGatherV(size_t send_count, const std::vector<size_t>& recv_counts) const {
  RP_REQUIRE(recv_counts.size() == static_cast<size_t>(WorldSize()), StatusCode::kInvalidArgument,
             "allgatherv: recv_counts has {} entries, expected one per rank ({})", recv_counts.size(),
             WorldSize());
  RP_REQUIRE(recv_counts[Rank()] == send_count, StatusCode::kInvalidArgument,
             "allgatherv on rank {}: send_count {} differs from recv_counts[{}] = {}", Rank(),
             send_count, Rank(), recv_counts[Rank()]);
}

void Communicator::CheckAllToAllV(const std::vector<size_t>& send_counts,
                                  const std::vector<size_t>& recv_counts) const {
  RP_REQUIRE(send_counts.size() == static_cast<size_t>(WorldSize()) &&
                 recv_counts.size() == static_cast<size_t>(WorldSize()),
             StatusCode::kInvalidArgument,
             "alltoallv on rank {}: send_counts has {} entries and recv_counts {}, expected one per rank ({})", Rank(),
             send_counts.size(), recv_counts.size(), WorldSize());
}

void Communicator::CheckRoot(int root) const {
  RP_REQUIRE(root >= 0 && root < WorldSize(), StatusCode::kInvalidArgument,
             "broadcast root {} is outside [0, {})", root, WorldSize());
}

std::string Communicator::TimeoutMessage(std::string_view op, uint64_t seq, size_t bytes,
                                         std::string_view detail) const {
  return fmt::format(
      "{} #{} ({} bytes, backend {}) on rank {} of {} did not complete within comm.timeout_s = {} s{}{}; "
      "a peer rank is stalled, crashed or issued a different collective",
      op, seq, bytes, Backend(), Rank(), WorldSize(), TimeoutSeconds(), detail.empty() ? "" : ": ", detail);
}

}  // namespace recprism
