// The Communicator: collectives over a fixed group of ranks (STYLE.md §1-2).
//
// Contract for every backend:
// - Every rank issues the same collectives, with matching counts/dtypes/roots, in the same
//   order. Backends number them (sequence numbers) and name the op in every error.
// - Buffers are untyped (pointer, element count, dtype, place). Counts are elements, not bytes.
//   Typed helpers live in comm/collectives.h.
// - Every blocking call is bounded by CommOptions::timeout_s. On expiry it throws
//   Error(kTimeout) naming the operation, its sequence number, bytes and rank; the CLI's
//   top-level handler then calls Abort, which ends every rank of the job.
// - Abort ends the whole job (all ranks) with the exit code and does not return. In the
//   in-process backend it marks the group aborted and throws Error(kAborted) in the caller.
// - A Communicator is used by one thread at a time. It is not copyable.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "comm/types.h"
#include "core/status.h"

namespace recprism {

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int Rank() const = 0;
  virtual int WorldSize() const = 0;
  // Rank among the ranks of this node, and how many ranks this node runs (GPU binding, threads).
  virtual int LocalRank() const = 0;
  virtual int LocalSize() const = 0;
  virtual std::string_view Backend() const = 0;

  // In place: buf[i] = op over ranks of buf[i], for i < count.
  virtual void AllReduce(void* buf, size_t count, DType dtype, ReduceOp op,
                         const BufferPlace& place = {}) = 0;
  // buf on every rank becomes root's buf (count elements).
  virtual void Broadcast(void* buf, size_t count, DType dtype, int root,
                         const BufferPlace& place = {}) = 0;
  // recv (WorldSize() * count elements) receives every rank's send, in rank order.
  virtual void AllGather(const void* send, size_t count, void* recv, DType dtype,
                         const BufferPlace& place = {}) = 0;
  // Unequal contributions: rank r sends recv_counts[r] elements (send_count must equal
  // recv_counts[Rank()]; zero is allowed); recv holds sum(recv_counts) elements in rank order.
  // recv_counts must be identical on every rank (collectives.h's AllGatherV agrees them first).
  virtual void AllGatherV(const void* send, size_t send_count, void* recv,
                          const std::vector<size_t>& recv_counts, DType dtype,
                          const BufferPlace& place = {}) = 0;
  // Personalised exchange: this rank sends send_counts[d] elements to rank d (taken from send in
  // rank order) and receives recv_counts[s] elements from rank s (stored in recv in rank order).
  // recv_counts[s] must equal rank s's send_counts[Rank()]; zeros are allowed in both. Counts are
  // 64-bit: backends with narrower limits split the exchange. collectives.h's AllToAllV agrees the
  // receive counts first with an all-to-all of the counts.
  virtual void AllToAllV(const void* send, const std::vector<size_t>& send_counts, void* recv,
                         const std::vector<size_t>& recv_counts, DType dtype, const BufferPlace& place = {}) = 0;
  virtual void Barrier() = 0;
  [[noreturn]] virtual void Abort(int exit_code, std::string_view reason) = 0;

  double TimeoutSeconds() const { return timeout_s_; }

 protected:
  explicit Communicator(double timeout_s) : timeout_s_(timeout_s) {}
  // Validates arguments shared by all backends; throws Error(kInvalidArgument).
  void CheckAllGatherV(size_t send_count, const std::vector<size_t>& recv_counts) const;
  void CheckRoot(int root) const;
  void CheckAllToAllV(const std::vector<size_t>& send_counts, const std::vector<size_t>& recv_counts) const;
  // The message of a collective that did not complete in time (op, sequence number, bytes, rank).
  std::string TimeoutMessage(std::string_view op, uint64_t seq, size_t bytes,
                             std::string_view detail = {}) const;

 private:
  double timeout_s_;
};

}  // namespace recprism
