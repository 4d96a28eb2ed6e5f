#include "eval/model_scoring.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/check.h"
#include "core/hash.h"
#include "data/loader.h"
#include "data/prepared_file.h"
#include "model/checkpoint.h"
#include "model/recommender.h"

namespace recprism::eval {

data::PredictionRows ScoreSplit(Communicator& comm, const std::string& prepared_path, const std::string& checkpoint,
                                const DataOptions& data_options, const ModelOptions& fallback, const std::string& split,
                                int batch_size, uint64_t seed, ScoringStats* stats) {
  const auto t0 = std::chrono::steady_clock::now();
  auto ckpt = model::LoadCheckpoint(checkpoint);
  RP_REQUIRE(ckpt.strings["kind"] == "train", StatusCode::kInvalidArgument,
             "{} is a {} checkpoint; evaluate needs one written by recprism train (with task heads)", checkpoint,
             ckpt.strings["kind"]);
  const auto options = model::ModelOptionsFrom(ckpt, fallback);
  DataOptions d = data_options;
  if (auto it = ckpt.numbers.find("data.max_seq_len"); it != ckpt.numbers.end()) d.max_seq_len = static_cast<int>(it->second);
  data::ShardLoader loader(prepared_path, comm, data::MakeLoaderOptions(d, data::ParseSplit(split), batch_size, seed, false));
  data::PreparedReader names(prepared_path, /*load_raw_ids=*/true);
  const auto& items = names.items();
  model::Recommender net(options, model::ShapeOf(loader.reader(), d.max_seq_len));
  model::LoadModelState(*net, ckpt, checkpoint, /*strict=*/true);
  std::vector<uint64_t> user_key(names.users().num_users), item_key(items.num_items + 1);
  for (size_t u = 0; u < user_key.size(); ++u) user_key[u] = data::IdKey(names.users().raw_id[u]);
  for (size_t i = 1; i < item_key.size(); ++i) item_key[i] = data::IdKey(items.raw_id[i]);
  loader.StartEpoch(0);
  const Scoring scoring = ScoringOf(ckpt.strings["objective"]);
  data::PredictionRows rows = ScoreLoader(*net, loader, items, options.time_gap_buckets, &user_key, &item_key, scoring);
  rows.file_rows = static_cast<int64_t>(rows.size());
  if (stats != nullptr) {
    stats->samples = static_cast<int64_t>(rows.size());
    stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats->model = DescribeModel(options, scoring);
  }
  return rows;
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
                                       : fmt::format("{}/{}, d {}, {} layers", o.heads, o.interaction, o.d_model,
                                                     o.num_layers);
}

Scoring ScoringOf(const std::string& objective) {
  return objective == "next_item" ? Scoring::kNextItem : Scoring::kHeads;
}

data::PredictionRows ScoreLoader(model::RecommenderImpl& net, data::ShardLoader& loader, const data::ItemTable& items,
                                 int time_gap_buckets, const std::vector<uint64_t>* user_keys,
                                 const std::vector<uint64_t>* item_keys, Scoring scoring) {
  const bool was_training = net.is_training();
  net.eval();
  torch::NoGradGuard no_grad;
  const auto device = net.parameters().front().device();
  data::PredictionRows rows;
  rows.has_conversion = true;
  rows.has_value = true;
  rows.has_category = items.num_categories > 1;
  data::Batch b;
  while (loader.Next(&b)) {
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
