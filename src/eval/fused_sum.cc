#include "eval/fused_sum.h"

#include <cstring>

#include "comm/collectives.h"

namespace recprism::eval {

void FusedSum::Add(double* p, size_t n) {
  if (n >= max_) {
    comm_.AllReduce(p, n, DType::kFloat64, ReduceOp::kSum);
    return;
  }
  if (buf_.size() + n > max_) Flush();
  buf_.insert(buf_.end(), p, p + n);
  pending_.emplace_back(p, n);
}

void FusedSum::Flush() {
  if (buf_.empty()) return;
  AllReduce(comm_, buf_, ReduceOp::kSum);
  size_t at = 0;
  for (auto [p, n] : pending_) {
    std::memcpy(p, buf_.data() + at, n * sizeof(double));
    at += n;
  }
  buf_.clear();
  pending_.clear();
}

}  // namespace recprism::eval
