// Evaluation options (config section `eval`).
#pragma once

#include <cstdint>
#include <vector>

namespace recprism {

struct EvalOptions {
  std::vector<int64_t> top_k = {10, 20};  // cut-offs for ranking metrics (precision@k, recall@k, NDCG@k)
  int batch_size = 1024;                  // samples per rank per evaluation step
};

}  // namespace recprism
