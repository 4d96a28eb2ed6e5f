// Typed helpers above the untyped Communicator boundary. Header-only templates.
#pragma once

#include <cstdint>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "comm/communicator.h"
#include "core/check.h"

namespace recprism {

template <typename T>
constexpr DType DTypeOf() {
  if constexpr (std::is_same_v<T, float>) return DType::kFloat32;
  else if constexpr (std::is_same_v<T, double>) return DType::kFloat64;
  else if constexpr (std::is_same_v<T, int32_t>) return DType::kInt32;
  else if constexpr (std::is_same_v<T, int64_t>) return DType::kInt64;
  else if constexpr (std::is_same_v<T, uint8_t>) return DType::kUInt8;
  else static_assert(sizeof(T) == 0, "no DType for this element type");
}

template <typename T>
void AllReduce(Communicator& comm, std::vector<T>& values, ReduceOp op) {
  comm.AllReduce(values.data(), values.size(), DTypeOf<T>(), op);
}

template <typename T>
T AllReduceScalar(Communicator& comm, T value, ReduceOp op) {
  comm.AllReduce(&value, 1, DTypeOf<T>(), op);
  return value;
}

// Root's vector (size included) replaces every rank's.
template <typename T>
void Broadcast(Communicator& comm, std::vector<T>& values, int root) {
  int64_t n = static_cast<int64_t>(values.size());
  comm.Broadcast(&n, 1, DType::kInt64, root);
  values.resize(static_cast<size_t>(n));
  comm.Broadcast(values.data(), values.size(), DTypeOf<T>(), root);
}

inline std::string BroadcastString(Communicator& comm, std::string value, int root) {
  std::vector<uint8_t> bytes(value.begin(), value.end());
  Broadcast(comm, bytes, root);
  return std::string(bytes.begin(), bytes.end());
}

// Gathers unequal contributions: first all-gathers the counts, then the data, so callers
// need not agree sizes beforehand. `counts_out`, when given, receives each rank's count.
template <typename T>
std::vector<T> AllGatherV(Communicator& comm, const std::vector<T>& mine,
                          std::vector<size_t>* counts_out = nullptr) {
  const int world = comm.WorldSize();
  int64_t my_count = static_cast<int64_t>(mine.size());
  std::vector<int64_t> counts64(static_cast<size_t>(world));
  comm.AllGather(&my_count, 1, counts64.data(), DType::kInt64);
  std::vector<size_t> counts(counts64.begin(), counts64.end());
  std::vector<T> all(std::accumulate(counts.begin(), counts.end(), size_t{0}));
  comm.AllGatherV(mine.data(), mine.size(), all.data(), counts, DTypeOf<T>());
  if (counts_out != nullptr) *counts_out = std::move(counts);
  return all;
}

// The receive counts of an all-to-all-v: what every rank will send to this one, given what this
// rank sends to each (one all-to-all of one count per pair).
inline std::vector<size_t> AllToAllCounts(Communicator& comm, const std::vector<size_t>& send_counts) {
  const size_t world = static_cast<size_t>(comm.WorldSize());
  RP_REQUIRE(send_counts.size() == world, StatusCode::kInvalidArgument,
             "alltoallv on rank {}: send_counts has {} entries, expected one per rank ({})", comm.Rank(),
             send_counts.size(), world);
  std::vector<int64_t> out_counts(send_counts.begin(), send_counts.end());
  std::vector<int64_t> in_counts(world, 0);
  const std::vector<size_t> ones(world, 1);
  comm.AllToAllV(out_counts.data(), ones, in_counts.data(), ones, DType::kInt64);
  return std::vector<size_t>(in_counts.begin(), in_counts.end());
}

// Personalised exchange with counts agreed inside: `send` holds the elements for rank 0, then
// rank 1, ... (send_counts[d] each). Returns what every rank sent to this one, in rank order;
// `recv_counts_out`, when given, receives how many came from each rank.
template <typename T>
std::vector<T> AllToAllV(Communicator& comm, const std::vector<T>& send, const std::vector<size_t>& send_counts,
                         std::vector<size_t>* recv_counts_out = nullptr) {
  RP_REQUIRE(std::accumulate(send_counts.begin(), send_counts.end(), size_t{0}) == send.size(),
             StatusCode::kInvalidArgument, "alltoallv on rank {}: send_counts add up to {} but {} elements were given",
             comm.Rank(), std::accumulate(send_counts.begin(), send_counts.end(), size_t{0}), send.size());
  std::vector<size_t> recv_counts = AllToAllCounts(comm, send_counts);
  std::vector<T> recv(std::accumulate(recv_counts.begin(), recv_counts.end(), size_t{0}));
  comm.AllToAllV(send.data(), send_counts, recv.data(), recv_counts, DTypeOf<T>());
  if (recv_counts_out != nullptr) *recv_counts_out = std::move(recv_counts);
  return recv;
}

}  // namespace recprism
