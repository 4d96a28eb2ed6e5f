// Data options (config section `data`).
#pragma once

#include <string>

namespace recprism {

struct DataOptions {
  std::string dataset;          // preset name (ml-100k, ml-1m, amazon-beauty, jd, ali-ccp, aliexpress, synthetic, generic)
  std::string data_dir;         // mirror of the official downloads; empty = $RECPRISM_DATA_DIR
  std::string cache_dir = "~/.cache/recprism";  // where downloads and prepared files are kept
  int max_seq_len = 50;         // behaviours kept in a sample's history (L)
};

}  // namespace recprism
