// The one place where a data::Batch becomes tensors (STYLE.md §1, model/).
//
// Histories are deduplicated: samples whose history is identical (same behaviour rows and time
// gaps; a positive and its sampled negatives always are) share one row of the hist_* tensors, and
// `group` maps each sample to it. encode_once encodes each distinct history once.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "data/loader.h"

namespace recprism::model {

// Shape facts of the dataset a model is built for (from the prepared file's side tables).
struct DatasetShape {
  int64_t num_items = 0;       // item ids 1..num_items; 0 is padding
  int64_t num_categories = 1;  // category vocabulary including 0
  int max_seq_len = 50;        // L
  std::vector<int64_t> user_feature_cardinality;  // per user feature
  std::vector<int64_t> cat_feature_cardinality;   // per row categorical feature
  int num_numeric_features = 0;
};

struct ModelInput {
  int64_t size = 0;       // samples B
  int64_t histories = 0;  // distinct histories G (<= B)
  torch::Tensor group;            // [B] int64: row of the hist_* tensors of each sample
  torch::Tensor hist_item;        // [G, L] int64, 0 = padding (left)
  torch::Tensor hist_category;    // [G, L] int64
  torch::Tensor hist_event;       // [G, L] int64
  torch::Tensor hist_gap_bucket;  // [G, L] int64: min(buckets - 1, floor(log2(1 + gap)))
  torch::Tensor hist_pad;         // [G, L] bool, true at padding
  torch::Tensor target_item;      // [B] int64
  torch::Tensor target_category;  // [B] int64
  torch::Tensor user_features;    // [B, U] int64 (U may be 0)
  torch::Tensor cat_features;     // [B, C] int64
  torch::Tensor num_features;     // [B, N] float
  torch::Tensor click;            // [B] float 0/1
  torch::Tensor conversion;       // [B] float 0/1

  ModelInput To(const torch::Device& device) const;
};

// Bucket of a time gap in seconds (or positions when the dataset has no timestamps).
int64_t GapBucket(int64_t gap, int buckets);

// Builds the tensors of a batch on the CPU; an empty batch gives size 0 tensors of the right width.
ModelInput MakeModelInput(const data::Batch& batch, int time_gap_buckets, bool dedupe_histories = true);

}  // namespace recprism::model

namespace recprism::data {
class PreparedReader;
}
namespace recprism::model {
// The shape of a prepared file's dataset with histories of max_seq_len.
DatasetShape ShapeOf(const data::PreparedReader& reader, int max_seq_len);
}  // namespace recprism::model
