#include "model/model_input.h"

#include <cstring>
#include <unordered_map>

#include "core/hash.h"

namespace recprism::model {

int64_t GapBucket(int64_t gap, int buckets) {
  if (gap <= 0) return 0;
  // floor(log2(1 + gap)) = index of the highest set bit of (1 + gap).
  const uint64_t x = static_cast<uint64_t>(gap) + 1;
  const int64_t b = 63 - __builtin_clzll(x);
  return b < buckets - 1 ? b : buckets - 1;
}

ModelInput ModelInput::To(const torch::Device& device) const {
  ModelInput m = *this;
  for (auto* t : {&m.group, &m.hist_item, &m.hist_category, &m.hist_event, &m.hist_gap_bucket, &m.hist_pad,
                  &m.target_item, &m.target_category, &m.user_features, &m.cat_features, &m.num_features,
                  &m.click, &m.conversion}) {
    *t = t->to(device, /*non_blocking=*/true);
  }
  return m;
}

namespace {
torch::Tensor FromVector(const std::vector<int64_t>& v, int64_t rows, int64_t cols) {
  auto t = torch::empty({rows, cols}, torch::kLong);
  if (!v.empty()) std::memcpy(t.data_ptr<int64_t>(), v.data(), sizeof(int64_t) * rows * cols);
  return t;
}
}  // namespace

ModelInput MakeModelInput(const data::Batch& b, int time_gap_buckets, bool dedupe_histories) {
  ModelInput m;
  const int64_t n = b.size, L = b.seq_len;
  m.size = n;
  // Distinct histories, in order of first appearance.
  std::vector<int64_t> group(n), first;
  std::unordered_multimap<uint64_t, int64_t> seen;
  auto same = [&](int64_t a, int64_t c) {
    return std::memcmp(&b.hist_row[a * L], &b.hist_row[c * L], sizeof(int64_t) * L) == 0 &&
           std::memcmp(&b.hist_gap[a * L], &b.hist_gap[c * L], sizeof(int64_t) * L) == 0;
  };
  for (int64_t i = 0; i < n; ++i) {
    int64_t g = -1;
    uint64_t h = 0;
    if (dedupe_histories) {
      h = Fnv1a64(std::string_view(reinterpret_cast<const char*>(&b.hist_row[i * L]), sizeof(int64_t) * L));
      h = Mix64(h ^ Fnv1a64(std::string_view(reinterpret_cast<const char*>(&b.hist_gap[i * L]), sizeof(int64_t) * L)));
      auto range = seen.equal_range(h);
      for (auto it = range.first; it != range.second && g < 0; ++it) {
        if (same(first[it->second], i)) g = it->second;
      }
    }
    if (g < 0) {
      g = static_cast<int64_t>(first.size());
      first.push_back(i);
      if (dedupe_histories) seen.emplace(h, g);
    }
    group[i] = g;
  }
  const int64_t G = static_cast<int64_t>(first.size());
  m.histories = G;
  m.group = torch::from_blob(group.data(), {n}, torch::kLong).clone();
  m.hist_item = torch::empty({G, L}, torch::kLong);
  m.hist_category = torch::empty({G, L}, torch::kLong);
  m.hist_event = torch::empty({G, L}, torch::kLong);
  m.hist_gap_bucket = torch::empty({G, L}, torch::kLong);
  m.hist_pad = torch::empty({G, L}, torch::kBool);
  auto* hi = m.hist_item.data_ptr<int64_t>();
  auto* hc = m.hist_category.data_ptr<int64_t>();
  auto* he = m.hist_event.data_ptr<int64_t>();
  auto* hg = m.hist_gap_bucket.data_ptr<int64_t>();
  auto* hp = m.hist_pad.data_ptr<bool>();
  for (int64_t g = 0; g < G; ++g) {
    const int64_t s = first[g];
    for (int64_t j = 0; j < L; ++j) {
      const int64_t src = s * L + j, dst = g * L + j;
      hi[dst] = b.hist_item[src];
      hc[dst] = b.hist_category[src];
      he[dst] = b.hist_event[src];
      hg[dst] = GapBucket(b.hist_gap[src], time_gap_buckets);
      hp[dst] = b.hist_item[src] == 0;
    }
  }
  m.target_item = FromVector(b.target_item, n, 1).view({n});
  m.target_category = FromVector(b.target_category, n, 1).view({n});
  const int64_t U = n ? static_cast<int64_t>(b.user_features.size()) / n : 0;
  const int64_t C = n ? static_cast<int64_t>(b.cat_features.size()) / n : 0;
  const int64_t N = n ? static_cast<int64_t>(b.num_features.size()) / n : 0;
  m.user_features = FromVector(b.user_features, n, U);
  m.cat_features = FromVector(b.cat_features, n, C);
  m.num_features = torch::empty({n, N}, torch::kFloat);
  if (n > 0 && N > 0) std::memcpy(m.num_features.data_ptr<float>(), b.num_features.data(), sizeof(float) * n * N);
  m.click = torch::empty({n}, torch::kFloat);
  m.conversion = torch::empty({n}, torch::kFloat);
  for (int64_t i = 0; i < n; ++i) {
    m.click.data_ptr<float>()[i] = b.click[i];
    m.conversion.data_ptr<float>()[i] = b.conversion[i];
  }
  return m;
}

}  // namespace recprism::model

#include "data/prepared_file.h"

namespace recprism::model {
DatasetShape ShapeOf(const data::PreparedReader& reader, int max_seq_len) {
  DatasetShape s;
  s.num_items = reader.items().num_items;
  s.num_categories = reader.items().num_categories;
  s.max_seq_len = max_seq_len;
  s.user_feature_cardinality = reader.users().feature_cardinality;
  s.cat_feature_cardinality = reader.metadata().cat_feature_cardinality;
  s.num_numeric_features = static_cast<int>(reader.metadata().num_feature_names.size());
  return s;
}
}  // namespace recprism::model
