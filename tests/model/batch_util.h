// Random batches of the loader's layout, for model and trainer tests: `groups` histories, each
// shared by 1 + negatives samples (a positive and its sampled negatives), left-padded.
#pragma once

#include <random>

#include "data/loader.h"
#include "model/model_input.h"

namespace recprism::testing {

inline model::DatasetShape SmallShape(int L = 8) {
  model::DatasetShape s;
  s.num_items = 40;
  s.num_categories = 6;
  s.max_seq_len = L;
  s.user_feature_cardinality = {3, 5};
  s.cat_feature_cardinality = {4};
  s.num_numeric_features = 2;
  return s;
}

inline data::Batch RandomBatch(const model::DatasetShape& s, int groups, int negatives, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  data::Batch b;
  const int L = s.max_seq_len;
  b.seq_len = L;
  int64_t row = 0;
  for (int g = 0; g < groups; ++g) {
    const int len = static_cast<int>(uniform(0, L));  // 0 = an empty history
    std::vector<int64_t> hi(L, 0), hc(L, 0), gap(L, 0), hr(L, -1);
    std::vector<uint8_t> he(L, 0);
    for (int j = L - len; j < L; ++j) {
      hi[j] = uniform(1, s.num_items);
      hc[j] = uniform(1, s.num_categories - 1);
      he[j] = static_cast<uint8_t>(uniform(1, 4));
      gap[j] = uniform(0, 100000);
      hr[j] = row++;
    }
    const int64_t user = g;
    std::vector<int64_t> uf;
    for (auto c : s.user_feature_cardinality) uf.push_back(uniform(0, c - 1));
    for (int k = 0; k <= negatives; ++k) {
      ++b.size;
      b.row.push_back(row++);
      b.user.push_back(user);
      b.target_item.push_back(uniform(1, s.num_items));
      b.target_category.push_back(uniform(0, s.num_categories - 1));
      b.hist_item.insert(b.hist_item.end(), hi.begin(), hi.end());
      b.hist_category.insert(b.hist_category.end(), hc.begin(), hc.end());
      b.hist_event.insert(b.hist_event.end(), he.begin(), he.end());
      b.hist_gap.insert(b.hist_gap.end(), gap.begin(), gap.end());
      b.hist_row.insert(b.hist_row.end(), hr.begin(), hr.end());
      b.hist_len.push_back(len);
      b.user_features.insert(b.user_features.end(), uf.begin(), uf.end());
      for (auto c : s.cat_feature_cardinality) b.cat_features.push_back(uniform(0, c - 1));
      for (int f = 0; f < s.num_numeric_features; ++f) b.num_features.push_back(static_cast<float>(uniform(0, 100)) / 50.f);
      const bool click = k == 0 ? uniform(0, 3) > 0 : false;
      b.click.push_back(click);
      b.conversion.push_back(click && uniform(0, 1));
      b.value.push_back(1.0f);
    }
  }
  return b;
}

// Rows [begin, end) of a batch, as a batch (what one rank of a split global batch sees).
inline data::Batch SliceBatch(const data::Batch& b, int64_t begin, int64_t end) { return b.Slice(begin, end); }

}  // namespace recprism::testing
