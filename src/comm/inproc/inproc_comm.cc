#include "comm/inproc/inproc_comm.h"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "comm/reduce.h"
#include "core/check.h"

namespace recprism {
namespace {

struct Slot {
  std::string op;
  DType dtype = DType::kUInt8;
  size_t count = 0;
  int root = -1;
  ReduceOp reduce = ReduceOp::kSum;
  uint64_t seq = 0;
  std::vector<uint8_t> data;
  std::vector<size_t> counts;  // alltoallv: elements for each destination, in rank order
};

class Group {
 public:
  Group(int world_size, double timeout_s) : n_(world_size), timeout_s_(timeout_s), slots_(world_size) {}

  int size() const { return n_; }

  // Blocks until all ranks arrive at this generation, the group aborts, or the deadline passes.
  void Rendezvous(int rank, const std::string& what_on_timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    ThrowIfAborted(rank);
    const uint64_t gen = generation_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(timeout_s_));
    cv_.wait_until(lock, deadline, [&] { return generation_ != gen || aborted_; });
    if (generation_ != gen) return;
    ThrowIfAborted(rank);
    std::string message = fmt::format("{} ({} of {} ranks arrived)", what_on_timeout, arrived_, n_);
    AbortLocked(rank, message);
    throw Error(StatusCode::kTimeout, message);
  }

  void Abort(int rank, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    AbortLocked(rank, reason);
  }

  Slot& slot(int rank) { return slots_[rank]; }
  const std::vector<Slot>& slots() const { return slots_; }

 private:
  void AbortLocked(int rank, const std::string& reason) {
    if (aborted_) return;
    aborted_ = true;
    abort_rank_ = rank;
    abort_reason_ = reason;
    cv_.notify_all();
  }
  void ThrowIfAborted(int rank) const {
    if (aborted_) {
      throw Error(StatusCode::kAborted, fmt::format("rank {}: the job was aborted by rank {}: {}", rank,
                                                    abort_rank_, abort_reason_));
    }
  }

  const int n_;
  const double timeout_s_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  int arrived_ = 0;
  bool aborted_ = false;
  int abort_rank_ = -1;
  std::string abort_reason_;
  std::vector<Slot> slots_;
};

class InProcCommunicator final : public Communicator {
 public:
  InProcCommunicator(std::shared_ptr<Group> group, int rank, double timeout_s)
      : Communicator(timeout_s), group_(std::move(group)), rank_(rank) {}

  int Rank() const override { return rank_; }
  int WorldSize() const override { return group_->size(); }
  int LocalRank() const override { return rank_; }
  int LocalSize() const override { return group_->size(); }
  std::string_view Backend() const override { return "inproc"; }

  void AllReduce(void* buf, size_t count, DType dtype, ReduceOp op, const BufferPlace& place) override {
    CheckHost(place);
    const size_t bytes = count * DTypeSize(dtype);
    Post("allreduce", dtype, count, -1, op, buf, bytes);
    const auto& slots = group_->slots();
    std::vector<uint8_t> acc(slots[0].data);
    for (int r = 1; r < WorldSize(); ++r) ReduceInto(acc.data(), slots[r].data.data(), count, dtype, op);
    if (bytes > 0) std::memcpy(buf, acc.data(), bytes);
    Finish("allreduce", bytes);
  }

  void Broadcast(void* buf, size_t count, DType dtype, int root, const BufferPlace& place) override {
    CheckHost(place);
    CheckRoot(root);
    const size_t bytes = count * DTypeSize(dtype);
    Post("broadcast", dtype, count, root, ReduceOp::kSum, rank_ == root ? buf : nullptr, rank_ == root ? bytes : 0);
    if (rank_ != root && bytes > 0) std::memcpy(buf, group_->slots()[root].data.data(), bytes);
    Finish("broadcast", bytes);
  }

  void AllGather(const void* send, size_t count, void* recv, DType dtype, const BufferPlace& place) override {
    CheckHost(place);
    const size_t bytes = count * DTypeSize(dtype);
    Post("allgather", dtype, count, -1, ReduceOp::kSum, send, bytes);
    auto* out = static_cast<uint8_t*>(recv);
    for (int r = 0; r < WorldSize(); ++r) {
      if (bytes > 0) std::memcpy(out + r * bytes, group_->slots()[r].data.data(), bytes);
    }
    Finish("allgather", bytes);
  }

  void AllGatherV(const void* send, size_t send_count, void* recv, const std::vector<size_t>& recv_counts,
                  DType dtype, const BufferPlace& place) override {
    CheckHost(place);
    CheckAllGatherV(send_count, recv_counts);
    const size_t esize = DTypeSize(dtype);
    Post("allgatherv", dtype, /*count=*/0, -1, ReduceOp::kSum, send, send_count * esize);
    auto* out = static_cast<uint8_t*>(recv);
    size_t offset = 0;
    for (int r = 0; r < WorldSize(); ++r) {
      const auto& data = group_->slots()[r].data;
      RP_REQUIRE(data.size() == recv_counts[r] * esize, StatusCode::kInvalidArgument,
                 "allgatherv on rank {}: recv_counts[{}] = {} but rank {} sent {} elements", rank_, r,
                 recv_counts[r], r, data.size() / esize);
      if (!data.empty()) std::memcpy(out + offset, data.data(), data.size());
      offset += data.size();
    }
    Finish("allgatherv", send_count * esize);
  }

  // Every rank posts its whole send buffer and counts; each reads its part of every sender's.
  void AllToAllV(const void* send, const std::vector<size_t>& send_counts, void* recv,
                 const std::vector<size_t>& recv_counts, DType dtype, const BufferPlace& place) override {
    CheckHost(place);
    CheckAllToAllV(send_counts, recv_counts);
    const size_t esize = DTypeSize(dtype);
    size_t send_total = 0;
    for (size_t c : send_counts) send_total += c;
    group_->slot(rank_).counts = send_counts;
    Post("alltoallv", dtype, /*count=*/0, -1, ReduceOp::kSum, send, send_total * esize);
    auto* out = static_cast<uint8_t*>(recv);
    size_t offset = 0;
    for (int r = 0; r < WorldSize(); ++r) {
      const Slot& s = group_->slots()[r];
      size_t from = 0;
      for (int d = 0; d < rank_; ++d) from += s.counts[d];
      const size_t n = s.counts[rank_];
      if (n != recv_counts[r]) {
        std::string message = fmt::format(
            "alltoallv #{} on rank {}: recv_counts[{}] = {} but rank {} sends {} elements to rank {}", seq_, rank_, r,
            recv_counts[r], r, n, rank_);
        group_->Abort(rank_, message);
        throw Error(StatusCode::kInvalidArgument, message);
      }
      if (n > 0) std::memcpy(out + offset * esize, s.data.data() + from * esize, n * esize);
      offset += n;
    }
    Finish("alltoallv", send_total * esize);
  }

  void Barrier() override {
    Post("barrier", DType::kUInt8, 0, -1, ReduceOp::kSum, nullptr, 0);
    Finish("barrier", 0);
  }

  [[noreturn]] void Abort(int exit_code, std::string_view reason) override {
    std::string why = fmt::format("exit code {}: {}", exit_code, reason);
    group_->Abort(rank_, why);
    throw Error(StatusCode::kAborted, fmt::format("rank {} aborted the job ({})", rank_, why));
  }

 private:
  static void CheckHost(const BufferPlace& place) {
    RP_REQUIRE(place.type == DeviceType::kCPU, StatusCode::kInvalidArgument,
               "comm backend 'inproc' takes host buffers; got a CUDA buffer");
  }

  // Phase 1: publish this rank's contribution and wait for all ranks; then verify that they
  // all issued the same collective.
  void Post(const char* op, DType dtype, size_t count, int root, ReduceOp reduce, const void* data, size_t bytes) {
    ++seq_;
    Slot& mine = group_->slot(rank_);
    mine.op = op;
    mine.dtype = dtype;
    mine.count = count;
    mine.root = root;
    mine.reduce = reduce;
    mine.seq = seq_;
    const auto* p = static_cast<const uint8_t*>(data);
    mine.data.assign(p, p + (data != nullptr ? bytes : 0));
    group_->Rendezvous(rank_, TimeoutMessage(op, seq_, bytes));
    for (int r = 0; r < WorldSize(); ++r) {
      const Slot& s = group_->slots()[r];
      if (s.op != mine.op || s.dtype != mine.dtype || s.count != mine.count || s.root != mine.root ||
          s.reduce != mine.reduce || s.seq != mine.seq) {
        std::string message = fmt::format(
            "collective mismatch: rank {} issued {} #{} ({} x {}, root {}, op {}) while rank {} issued {} #{} "
            "({} x {}, root {}, op {})",
            rank_, mine.op, mine.seq, mine.count, DTypeName(mine.dtype), mine.root, ReduceOpName(mine.reduce),
            r, s.op, s.seq, s.count, DTypeName(s.dtype), s.root, ReduceOpName(s.reduce));
        group_->Abort(rank_, message);
        throw Error(StatusCode::kInternal, message);
      }
    }
  }
  // Phase 2: nobody reuses the slots until every rank has read them.
  void Finish(const char* op, size_t bytes) { group_->Rendezvous(rank_, TimeoutMessage(op, seq_, bytes, "completion")); }

  std::shared_ptr<Group> group_;
  int rank_;
  uint64_t seq_ = 0;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> CreateInProcGroup(int world_size, const CommOptions& options) {
  RP_REQUIRE(world_size >= 1, StatusCode::kInvalidArgument, "inproc world size must be >= 1, got {}", world_size);
  RP_REQUIRE(options.timeout_s > 0, StatusCode::kInvalidArgument, "comm.timeout_s must be > 0, got {}",
             options.timeout_s);
  auto group = std::make_shared<Group>(world_size, options.timeout_s);
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < world_size; ++r) {
    comms.push_back(std::make_unique<InProcCommunicator>(group, r, options.timeout_s));
  }
  return comms;
}

void RunInProc(int world_size, const CommOptions& options, const std::function<void(Communicator&)>& fn) {
  auto comms = CreateInProcGroup(world_size, options);
  std::mutex mu;
  std::exception_ptr root_cause;
  std::exception_ptr first_error;
  std::vector<std::thread> threads;
  threads.reserve(world_size);
  for (int r = 0; r < world_size; ++r) {
    threads.emplace_back([&, r] {
      try {
        fn(*comms[r]);
      } catch (const Error& e) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = std::current_exception();
        if (!root_cause && e.code() != StatusCode::kAborted) root_cause = std::current_exception();
        if (e.code() != StatusCode::kAborted) {
          try {
            comms[r]->Abort(ExitCodeFor(e.code()), e.what());
          } catch (const Error&) {
          }
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = std::current_exception();
        if (!root_cause) root_cause = std::current_exception();
        try {
          comms[r]->Abort(1, e.what());
        } catch (const Error&) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (root_cause) std::rethrow_exception(root_cause);
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace recprism
