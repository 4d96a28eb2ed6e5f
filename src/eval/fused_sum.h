// The evaluator's merge path: many fixed-size double buffers (metric states' flat buffers, counts)
// summed across ranks in as few SUM all-reduces as possible. Every rank must add the same buffers
// in the same order (STYLE.md §2), then Flush.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "comm/communicator.h"

namespace recprism::eval {

class FusedSum {
 public:
  // Buffers are packed into one of at most max_fused doubles; a buffer at least that large is
  // all-reduced alone, in place, so the packed copy never doubles a large state's memory.
  explicit FusedSum(Communicator& comm, size_t max_fused = size_t{1} << 22) : comm_(comm), max_(max_fused) {}
  // Sums p[0..n) across ranks (in place, by Flush at the latest). p must stay valid until then.
  void Add(double* p, size_t n);
  // All-reduces what is pending and writes the sums back. Collective.
  void Flush();

 private:
  Communicator& comm_;
  size_t max_;
  std::vector<double> buf_;
  std::vector<std::pair<double*, size_t>> pending_;
};

}  // namespace recprism::eval
