// Options owned by core: logging and per-rank runtime resources. Plain structs; the config
// module maps YAML onto them (src/config/schema.cc is the one table of keys and docs).
#pragma once

#include <string>

namespace recprism {

struct LogOptions {
  std::string level = "info";  // trace, debug, info, warn, error or off
  bool all_ranks = false;      // print INFO and below from every rank, not rank 0 alone
  bool rank_files = true;      // write logs/rank-<r>.log in the run directory, every level
};

struct RuntimeOptions {
  int threads_per_rank = 0;  // intra-op and BLAS threads per rank; 0 = cores per node / ranks per node
};

}  // namespace recprism
