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

// All-to-all-v with uneven counts, empty sends and empty receives: rank s sends to rank d
// CountOf(s, d) elements valued 1e6 s + 1e3 d + k. Rank 0 sends nothing; the last rank receives
// nothing; the rest vary with (s, d) and the trial. Checked through the typed helper (counts agreed
// inside) and the raw call (counts given), for several dtypes.
inline size_t AllToAllCount(int trial, int src, int dst, int world) {
  if (src == 0 || dst == world - 1) return 0;
  return static_cast<size_t>((src * 7 + dst * 3 + trial * 5) % 11) * (trial == 2 ? 1000 : 1);
}

template <typename T>
void CheckAllToAllVCase(Communicator& comm, int trial) {
  const int world = comm.WorldSize(), me = comm.Rank();
  auto value = [](int s, int d, size_t k) { return static_cast<T>((s * 31 + d * 7 + static_cast<int>(k)) % 97); };
  std::vector<size_t> send_counts(world);
  std::vector<T> send;
  for (int d = 0; d < world; ++d) {
    send_counts[d] = AllToAllCount(trial, me, d, world);
    for (size_t k = 0; k < send_counts[d]; ++k) send.push_back(value(me, d, k));
  }
  std::vector<T> expect;
  std::vector<size_t> expect_counts(world);
  for (int s = 0; s < world; ++s) {
    expect_counts[s] = AllToAllCount(trial, s, me, world);
    for (size_t k = 0; k < expect_counts[s]; ++k) expect.push_back(value(s, me, k));
  }
  std::vector<size_t> counts;
  std::vector<T> got = AllToAllV(comm, send, send_counts, &counts);
  EXPECT_EQ(counts, expect_counts) << "rank " << me << " trial " << trial << " " << DTypeName(DTypeOf<T>());
  EXPECT_EQ(got, expect) << "rank " << me << " trial " << trial << " " << DTypeName(DTypeOf<T>());
  // The raw call with the counts known beforehand.
  std::vector<T> raw(expect.size());
  comm.AllToAllV(send.data(), send_counts, raw.data(), expect_counts, DTypeOf<T>());
  EXPECT_EQ(raw, expect) << "rank " << me << " trial " << trial;
}

inline void CheckAllToAllVWithUnevenAndEmptyCounts(Communicator& comm) {
  for (int trial = 0; trial < 3; ++trial) {
    CheckAllToAllVCase<double>(comm, trial);
    CheckAllToAllVCase<int64_t>(comm, trial);
    CheckAllToAllVCase<uint8_t>(comm, trial);
    CheckAllToAllVCase<float>(comm, trial);
  }
  // Nobody sends anything.
  std::vector<int32_t> none;
  EXPECT_TRUE(AllToAllV(comm, none, std::vector<size_t>(comm.WorldSize(), 0)).empty());
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
  std::vector<double> one(1);
  EXPECT_THROW(AllToAllV(comm, one, std::vector<size_t>(comm.WorldSize() + 1, 0)), Error);  // counts per rank
  EXPECT_THROW(AllToAllV(comm, one, std::vector<size_t>(comm.WorldSize(), 0)), Error);      // counts != size
  BufferPlace gpu;
  gpu.type = DeviceType::kCUDA;
  EXPECT_THROW(comm.AllReduce(&x, 1, DType::kInt32, ReduceOp::kSum, gpu), Error);
}

}  // namespace recprism::testing
