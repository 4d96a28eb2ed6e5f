// Collective properties every backend must satisfy. Called by every rank of a group, with the
// same seed, from the inproc tests (threads as ranks) and the MPI tests (real processes).
// Expected values are computed serially from each rank's (reproducible) contribution.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "comm/collectives.h"

namespace recprism::testing {

// Rank r's contribution at index i: a reproducible pseudo-random integer in a range where
// sums over up to 16 ranks are exact in every dtype (uint8 sums stay below 256).
template <typename T>
T ValueAt(uint64_t seed, int rank, size_t i) {
  std::mt19937_64 g(seed * 1000003ULL + static_cast<uint64_t>(rank) * 7919ULL + i);
  int64_t v = static_cast<int64_t>(g() % 15);
  if constexpr (std::is_signed_v<T> || std::is_floating_point_v<T>) v -= 7;
  return static_cast<T>(v);
}

template <typename T>
void CheckAllReduceCase(Communicator& comm, uint64_t seed, size_t n, ReduceOp op) {
  std::vector<T> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = ValueAt<T>(seed, comm.Rank(), i);
  AllReduce(comm, buf, op);
  size_t wrong = 0;
  for (size_t i = 0; i < n; ++i) {
    T expect = ValueAt<T>(seed, 0, i);
    for (int r = 1; r < comm.WorldSize(); ++r) {
      T v = ValueAt<T>(seed, r, i);
      expect = op == ReduceOp::kSum ? static_cast<T>(expect + v)
                                    : (op == ReduceOp::kMin ? std::min(expect, v) : std::max(expect, v));
    }
    wrong += buf[i] == expect ? 0 : 1;
  }
  EXPECT_EQ(wrong, 0u) << "rank " << comm.Rank() << ": allreduce " << ReduceOpName(op) << " "
                       << DTypeName(DTypeOf<T>()) << " x " << n;
}

// Random sizes (including 0 and 1), every dtype, every op; sizes agreed through the seed.
inline void CheckAllReduceMatchesSerialReduction(Communicator& comm, uint64_t seed) {
  std::mt19937_64 sizes(seed);
  for (int trial = 0; trial < 6; ++trial) {
    size_t n = trial == 0 ? 0 : trial == 1 ? 1 : static_cast<size_t>(sizes() % 5000);
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax}) {
      CheckAllReduceCase<float>(comm, seed + trial, n, op);
      CheckAllReduceCase<double>(comm, seed + trial, n, op);
      CheckAllReduceCase<int32_t>(comm, seed + trial, n, op);
      CheckAllReduceCase<int64_t>(comm, seed + trial, n, op);
      CheckAllReduceCase<uint8_t>(comm, seed + trial, n, op);
    }
  }
}

// Rank r contributes (r * 3) % 4 elements: several ranks (rank 0 always) contribute nothing.
inline void CheckAllGatherVWithEmptyContributions(Communicator& comm) {
  auto count_of = [](int r) { return static_cast<size_t>((r * 3) % 4); };
  std::vector<double> mine(count_of(comm.Rank()));
  for (size_t k = 0; k < mine.size(); ++k) mine[k] = comm.Rank() * 100.0 + k;
  std::vector<size_t> counts;
  std::vector<double> all = AllGatherV(comm, mine, &counts);
  std::vector<double> expect;
  for (int r = 0; r < comm.WorldSize(); ++r) {
    ASSERT_EQ(counts[r], count_of(r));
    for (size_t k = 0; k < count_of(r); ++k) expect.push_back(r * 100.0 + k);
  }
  EXPECT_EQ(all, expect) << "rank " << comm.Rank();

  // Every rank empty.
  std::vector<int32_t> none;
  EXPECT_TRUE(AllGatherV(comm, none).empty());
}

inline void CheckAllGatherInRankOrder(Communicator& comm) {
  int64_t pair[2] = {comm.Rank(), -comm.Rank()};
  std::vector<int64_t> out(2 * comm.WorldSize());
  comm.AllGather(pair, 2, out.data(), DType::kInt64);
  for (int r = 0; r < comm.WorldSize(); ++r) {
    EXPECT_EQ(out[2 * r], r);
    EXPECT_EQ(out[2 * r + 1], -r);
  }
}

inline void CheckBroadcastFromEveryRoot(Communicator& comm) {
  for (int root = 0; root < comm.WorldSize(); ++root) {
    std::vector<float> v(1000, comm.Rank() == root ? root + 0.25f : -1.0f);
    comm.Broadcast(v.data(), v.size(), DType::kFloat32, root);
    EXPECT_TRUE(std::all_of(v.begin(), v.end(), [&](float x) { return x == root + 0.25f; }))
        << "rank " << comm.Rank() << " root " << root;
    // Typed helper: root's size wins.
    std::vector<int64_t> w(comm.Rank() == root ? 7 : 2, comm.Rank());
    Broadcast(comm, w, root);
    EXPECT_EQ(w, std::vector<int64_t>(7, root));
    EXPECT_EQ(BroadcastString(comm, comm.Rank() == root ? "from root" : "x", root), "from root");
  }
}

inline void CheckInvalidArgumentsAreRejected(Communicator& comm) {
  int x = 0;
  EXPECT_THROW(comm.Broadcast(&x, 1, DType::kInt32, comm.WorldSize()), Error);
  EXPECT_THROW(comm.Broadcast(&x, 1, DType::kInt32, -1), Error);
  std::vector<size_t> wrong(comm.WorldSize() + 1, 0);
  EXPECT_THROW(comm.AllGatherV(nullptr, 0, nullptr, wrong, DType::kInt32), Error);
  BufferPlace gpu;
  gpu.type = DeviceType::kCUDA;
  EXPECT_THROW(comm.AllReduce(&x, 1, DType::kInt32, ReduceOp::kSum, gpu), Error);
}

}  // namespace recprism::testing
