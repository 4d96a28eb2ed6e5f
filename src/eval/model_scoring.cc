#include "eval/model_scoring.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>

#include "core/check.h"
#include "core/hash.h"
#include "data/loader.h"
#include "data/prepared_file.h"
#include "model/checkpoint.h"
#include "model/recommender.h"

namespace recprism::eval {

namespace {
// A checkpoint made ready to score a split: the network, its options, the split's loader and the
// evaluator keys of users and items.
struct Scorer {
  ModelOptions options;
  Scoring scoring = Scoring::kHeads;
  std::unique_ptr<data::PreparedReader> names;
  model::Recommender net{nullptr};
  std::vector<uint64_t> user_key, item_key;
};

// The checkpoint's history length (the config's when it does not record one).
int SeqLenOf(model::Checkpoint& ckpt, const DataOptions& d) {
  auto it = ckpt.numbers.find("data.max_seq_len");
  return it != ckpt.numbers.end() ? static_cast<int>(it->second) : d.max_seq_len;
}

Scorer LoadScorer(model::Checkpoint& ckpt, const std::string& checkpoint, const std::string& prepared_path,
                  const ModelOptions& fallback, const data::PreparedReader& shape_of, int max_seq_len) {
  Scorer s;
  RP_REQUIRE(ckpt.strings["kind"] == "train", StatusCode::kInvalidArgument,
             "{} is a {} checkpoint; evaluate needs one written by recprism train (with task heads)", checkpoint,
             ckpt.strings["kind"]);
  s.options = model::ModelOptionsFrom(ckpt, fallback);
  s.names = std::make_unique<data::PreparedReader>(prepared_path, /*load_raw_ids=*/true);
  const auto& items = s.names->items();
  s.net = model::Recommender(s.options, model::ShapeOf(shape_of, max_seq_len));
  model::LoadModelState(*s.net, ckpt, checkpoint, /*strict=*/true);
  s.user_key.resize(s.names->users().num_users);
  s.item_key.resize(items.num_items + 1);
  for (size_t u = 0; u < s.user_key.size(); ++u) s.user_key[u] = data::IdKey(s.names->users().raw_id[u]);
  for (size_t i = 1; i < s.item_key.size(); ++i) s.item_key[i] = data::IdKey(items.raw_id[i]);
  s.scoring = ScoringOf(ckpt.strings["objective"]);
  return s;
}

// Row j of donor's `group` columns into row i of b: a feature group of permutation importance
// (the history, the target, time gaps, events, user or row features).
void CopyGroup(data::Batch* b, int64_t i, const data::Batch& d, int64_t j, const std::string& group) {
  using G = data::Batch::Group;
  auto block = [&](auto& to, const auto& from) {
    const int64_t w = b->size > 0 ? static_cast<int64_t>(to.size()) / b->size : 0;
    std::copy(from.begin() + j * w, from.begin() + (j + 1) * w, to.begin() + i * w);
  };
  if (group == "time_gaps") return block(b->hist_gap, d.hist_gap);
  if (group == "events") return block(b->hist_event, d.hist_event);
  const G wanted = group == "history" ? G::kHistory : group == "target" ? G::kTarget
                 : group == "user_features" ? G::kUserFeatures : group == "row_features" ? G::kRowFeatures : G::kIndex;
  if (wanted == G::kIndex) return;
  b->ForEachColumnWith(d, [&](auto& column, const auto& donor, size_t, G g) {
    if (g == wanted) block(column, donor);
  });
}
}  // namespace

data::PredictionRows ScoreSplit(Communicator& comm, const std::string& prepared_path, const std::string& checkpoint,
                                const DataOptions& data_options, const ModelOptions& fallback, const std::string& split,
                                int batch_size, uint64_t seed, ScoringStats* stats) {
  const auto t0 = std::chrono::steady_clock::now();
  auto ckpt = model::LoadCheckpoint(checkpoint);
  DataOptions d = data_options;
  d.max_seq_len = SeqLenOf(ckpt, data_options);
  data::ShardLoader loader(prepared_path, comm, data::MakeLoaderOptions(d, data::ParseSplit(split), batch_size, seed, false));
  Scorer s = LoadScorer(ckpt, checkpoint, prepared_path, fallback, loader.reader(), d.max_seq_len);
  loader.StartEpoch(0);
  data::PredictionRows rows = ScoreLoader(*s.net, loader, s.names->items(), s.options.time_gap_buckets, &s.user_key,
                                          &s.item_key, s.scoring);
  rows.file_rows = static_cast<int64_t>(rows.size());
  if (stats != nullptr) {
    stats->samples = static_cast<int64_t>(rows.size());
    stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats->model = DescribeModel(s.options, s.scoring);
  }
  return rows;
}

std::vector<PermutedScores> ScorePermutedGroups(Communicator& comm, const std::string& prepared_path,
                                                const std::string& checkpoint, const DataOptions& data_options,
                                                const ModelOptions& fallback, const std::string& split, int batch_size,
                                                uint64_t seed) {
  auto ckpt = model::LoadCheckpoint(checkpoint);
  DataOptions d = data_options;
  d.max_seq_len = SeqLenOf(ckpt, data_options);
  const auto split_id = data::ParseSplit(split);
  data::ShardLoader shape_loader(prepared_path, comm, data::MakeLoaderOptions(d, split_id, batch_size, seed, false));
  Scorer s = LoadScorer(ckpt, checkpoint, prepared_path, fallback, shape_loader.reader(), d.max_seq_len);
  const auto shape = model::ShapeOf(shape_loader.reader(), d.max_seq_len);
  std::vector<std::string> groups = {"history", "target", "time_gaps", "events"};
  if (!shape.user_feature_cardinality.empty()) groups.push_back("user_features");
  if (!shape.cat_feature_cardinality.empty() || shape.num_numeric_features > 0) groups.push_back("row_features");
  std::vector<PermutedScores> out;
  for (size_t g = 0; g < groups.size(); ++g) {
    data::ShardLoader base(prepared_path, comm, data::MakeLoaderOptions(d, split_id, batch_size, seed, false));
    data::ShardLoader donor(prepared_path, comm,
                            data::MakeLoaderOptions(d, split_id, batch_size, Mix64(seed ^ (0x5eed + g)), true));
    base.StartEpoch(0);
    donor.StartEpoch(0);
    data::Batch from;
    auto next = [&](data::Batch* b) {
      if (!base.Next(b)) return false;
      // The donor walks the same shard in a shuffled order; its batch k has batch k's size
      // except, possibly, the last ones (then its rows are reused cyclically).
      if (!donor.Next(&from)) from.size = 0;
      if (from.size > 0) {
        for (int64_t i = 0; i < b->size; ++i) CopyGroup(b, i, from, i % from.size, groups[g]);
      }
      return true;
    };
    auto rows = ScoreBatches(*s.net, next, s.names->items(), s.options.time_gap_buckets, &s.user_key, &s.item_key,
                             s.scoring);
    rows.file_rows = static_cast<int64_t>(rows.size());
    out.push_back({groups[g], std::move(rows)});
  }
  return out;
}

int CheckpointWorldSize(const std::string& checkpoint) {
  auto c = model::LoadCheckpoint(checkpoint);
  auto it = c.numbers.find("world_size");
  return it == c.numbers.end() ? 1 : static_cast<int>(it->second);
}

std::string CheckpointPrivacy(const std::string& checkpoint, double* epsilon) {
  auto c = model::LoadCheckpoint(checkpoint);
  if (epsilon != nullptr) *epsilon = std::nan("");
  if (!c.numbers.count("dp.epsilon")) return "";
  if (epsilon != nullptr) *epsilon = c.numbers["dp.epsilon"];
  return fmt::format("DP-SGD: epsilon {:.4g} at delta {:g} (noise multiplier {:g}, max grad norm {:g}, sample rate {:.4g}, "
                     "{:.0f} steps; Renyi-DP accountant, sampling assumed Poisson)",
                     c.numbers["dp.epsilon"], c.numbers["dp.delta"], c.numbers["dp.noise_multiplier"],
                     c.numbers["dp.max_grad_norm"], c.numbers["dp.sample_rate"], c.numbers["dp.steps"]);
}

std::string DescribeModel(const ModelOptions& o, Scoring scoring) {
  return scoring == Scoring::kNextItem ? fmt::format("next_item, d {}, {} layers", o.d_model, o.num_layers)
                                       : fmt::format("{}/{}, d {}, {} layers", NameOf(o.heads), NameOf(o.interaction), o.d_model,
                                                     o.num_layers);
}

Scoring ScoringOf(const std::string& objective) {
  return objective == "next_item" ? Scoring::kNextItem : Scoring::kHeads;
}

data::PredictionRows ScoreLoader(model::RecommenderImpl& net, data::ShardLoader& loader, const data::ItemTable& items,
                                 int time_gap_buckets, const std::vector<uint64_t>* user_keys,
                                 const std::vector<uint64_t>* item_keys, Scoring scoring) {
  return ScoreBatches(net, [&](data::Batch* b) { return loader.Next(b); }, items, time_gap_buckets, user_keys, item_keys,
                      scoring);
}

data::PredictionRows ScoreBatches(model::RecommenderImpl& net, const std::function<bool(data::Batch*)>& next,
                                  const data::ItemTable& items, int time_gap_buckets,
                                  const std::vector<uint64_t>* user_keys, const std::vector<uint64_t>* item_keys,
                                  Scoring scoring) {
  const bool was_training = net.is_training();
  net.eval();
  torch::NoGradGuard no_grad;
  const auto device = net.parameters().front().device();
  data::PredictionRows rows;
  rows.has_conversion = true;
  rows.has_value = true;
  rows.has_category = items.num_categories > 1;
  data::Batch b;
  while (next(&b)) {
    if (b.size == 0) continue;
    auto in = model::MakeModelInput(b, time_gap_buckets).To(device);
    model::TaskProbabilities p;
    if (scoring == Scoring::kNextItem) {
      auto u = net.UserVectors(in).index_select(0, in.group);
      auto score = torch::sigmoid((u * net.embed->item(in.target_item)).sum(1)).to(torch::kCPU, torch::kDouble).contiguous();
      p = {score, score, score};
    } else {
      p = model::Probabilities(net.forward(in));
    }
    const double* pc = p.ctr.data_ptr<double>();
    const double* pv = p.cvr.data_ptr<double>();
    const double* pcc = p.ctcvr.data_ptr<double>();
    for (int64_t i = 0; i < b.size; ++i) {
      const int64_t item = b.target_item[i];
      rows.user.push_back(user_keys ? (*user_keys)[b.user[i]] : Mix64(static_cast<uint64_t>(b.user[i])));
      rows.item.push_back(item_keys ? (*item_keys)[item] : Mix64(static_cast<uint64_t>(item)));
      rows.click.push_back(b.click[i]);
      rows.conversion.push_back(b.conversion[i]);
      rows.p_ctr.push_back(pc[i]);
      rows.p_cvr.push_back(pv[i]);
      rows.p_ctcvr.push_back(pcc[i]);
      rows.value.push_back(b.value[i]);
      const size_t first = rows.categories.size();
      for (int64_t k = items.category_offsets[item]; k < items.category_offsets[item + 1]; ++k) {
        rows.categories.push_back(static_cast<uint64_t>(items.category_values[k]));
      }
      std::sort(rows.categories.begin() + first, rows.categories.end());
      rows.categories.erase(std::unique(rows.categories.begin() + first, rows.categories.end()), rows.categories.end());
      rows.category_offsets.push_back(static_cast<uint32_t>(rows.categories.size()));
    }
  }
  if (was_training) net.train();
  return rows;
}

}  // namespace recprism::eval
