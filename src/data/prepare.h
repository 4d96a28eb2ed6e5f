// `recprism prepare`: a source log (a preset, the user's generic log or the synthetic generator)
// becomes one prepared HDF5 file: dense ids, rows sorted by (user, time), splits assigned without
// leakage, negatives sampled for implicit feedback, item and user tables, metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/options.h"

namespace recprism::data {

struct PrepareReport {
  std::string output;
  int64_t rows = 0, users = 0, items = 0;
  int64_t positives = 0, sampled_negatives = 0, skipped_rows = 0, dropped_users = 0;
  int64_t split_rows[3] = {0, 0, 0};
  int64_t split_clicks[3] = {0, 0, 0};  // rows with click = 1, per split
  std::vector<std::string> warnings;    // what a user must see: a split whose click rate is 0 or 1
  std::string split_protocol;
  double seconds = 0;
};

// The prepared file path in effect: data.prepared, or <cache_dir>/prepared/<dataset>.h5.
std::string PreparedPath(const DataOptions& options);

// Throws Error(kDataError) naming the file and every differing key when the prepared file at `path`
// was prepared with other preparation options than `options` (dataset, split ratios, negatives,
// negative sampler and pool, user filter, synthetic shape; the seed and the split's name are not
// compared). Two configs that share the default path would otherwise train on each other's data.
// A missing file is left to the caller, whose own open reports it.
void CheckPreparedMatches(const DataOptions& options, const std::string& path);

// Prepares options.dataset into `output` (atomically: temporary name, then rename).
// seed drives negative sampling, random splits and synthetic generation.
PrepareReport Prepare(const DataOptions& options, const std::string& output, uint64_t seed);

}  // namespace recprism::data
