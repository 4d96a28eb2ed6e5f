#include "eval/heldout_ranking.h"
#include "eval/evaluator.h"
#include "eval/fused_sum.h"
#include "eval/intervals.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <unordered_map>

#include "comm/collectives.h"
#include "core/check.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/log.h"
#include "data/loader.h"
#include "data/predictions.h"
#include "data/prepared_file.h"
#include "data/text_input.h"
#include "eval/model_scoring.h"
#include "metrics/bootstrap.h"
#include "metrics/ranking.h"
#include "metrics/satisfaction.h"
#include "model/checkpoint.h"
#include "model/recommender.h"

namespace recprism::eval {

namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double Unit(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

// Each owned user's positive items (click = 1, not a sampled negative; every split), sorted.
struct UserPositives {
  int64_t first = 0;
  std::vector<int64_t> offsets{0};
  std::vector<int64_t> items;
  std::pair<const int64_t*, const int64_t*> Of(int64_t u) const {
    const auto i = static_cast<size_t>(u - first);
    return {items.data() + offsets[i], items.data() + offsets[i + 1]};
  }
  bool Has(int64_t u, int64_t item) const {
    auto [b, e] = Of(u);
    return std::binary_search(b, e, item);
  }
};

// split < 0: every split; else only that split's positives (the held-out sets of heldout_queries
// user, the train items of exclude_seen train); conversions_only: rows with conversion = 1.
UserPositives ReadPositives(const data::PreparedReader& reader, const data::ShardPlan& plan, int rank, int split = -1,
                            bool conversions_only = false) {
  const auto& users = reader.users();
  int64_t first = 0, last = users.num_users;
  if (plan.method == "contiguous") {
    first = plan.user_begin[rank];
    last = plan.user_begin[rank + 1];
  }
  UserPositives p;
  p.first = first;
  constexpr int64_t kBlockRows = int64_t{1} << 20;
  int64_t b = first;
  while (b < last) {
    int64_t e = b + 1;
    while (e < last && users.offsets[e + 1] - users.offsets[b] <= kBlockRows) ++e;
    const int64_t row0 = users.offsets[b];
    const data::Rows rows = reader.ReadRows(row0, users.offsets[e]);
    for (int64_t u = b; u < e; ++u) {
      const size_t start = p.items.size();
      if (plan.RankOf(u) == rank) {
        for (int64_t r = users.offsets[u] - row0; r < users.offsets[u + 1] - row0; ++r) {
          if (rows.click[r] && rows.event[r] != static_cast<uint8_t>(data::Event::kSampledNegative) &&
              (split < 0 || rows.split[r] == split) && (!conversions_only || rows.conversion[r] != 0)) {
            p.items.push_back(rows.item[r]);
          }
        }
        std::sort(p.items.begin() + static_cast<std::ptrdiff_t>(start), p.items.end());
        p.items.erase(std::unique(p.items.begin() + static_cast<std::ptrdiff_t>(start), p.items.end()), p.items.end());
      }
      p.offsets.push_back(static_cast<int64_t>(p.items.size()));
    }
    b = e;
  }
  return p;
}

// eval.candidates_file: dense user -> dense negatives, for the users this rank owns.
std::unordered_map<int64_t, std::vector<int64_t>> ReadCandidates(const std::string& path,
                                                                 const data::PreparedReader& names,
                                                                 const data::ShardPlan& plan, int rank,
                                                                 int64_t* foreign_lines) {
  std::unordered_map<std::string_view, int64_t> user_of, item_of;
  const auto& users = names.users();
  const auto& items = names.items();
  for (int64_t u = 0; u < users.num_users; ++u) user_of.emplace(users.raw_id[u], u);
  for (int64_t i = 1; i <= items.num_items; ++i) item_of.emplace(items.raw_id[i], i);
  std::unordered_map<int64_t, std::vector<int64_t>> out;
  std::unordered_map<int64_t, int64_t> line_of;
  data::LineReader in(path);
  std::string line;
  std::vector<std::string_view> f;
  *foreign_lines = 0;
  while (in.Next(&line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::vector<std::string_view> fields;
    data::SplitFields(line, line.find('\t') != std::string::npos ? '\t' : ' ', &f);
    for (auto v : f) {
      if (!v.empty()) fields.push_back(v);
    }
    RP_REQUIRE(fields.size() >= 2, StatusCode::kDataError,
               "{}:{}: expected `user neg neg ...` (a user id and at least one item id), found {} field{}", path,
               in.line_number(), fields.size(), fields.size() == 1 ? "" : "s");
    auto u = user_of.find(fields[0]);
    RP_REQUIRE(u != user_of.end(), StatusCode::kDataError,
               "{}:{}: user '{}' is not a user of the prepared file {} (ids are the source's)", path, in.line_number(),
               data::Excerpt(fields[0]), names.path());
    if (plan.RankOf(u->second) != rank) {
      ++*foreign_lines;
      continue;
    }
    auto [it, fresh] = line_of.emplace(u->second, in.line_number());
    RP_REQUIRE(fresh, StatusCode::kDataError, "{}:{}: user '{}' already has a line ({}); one line per user", path,
               in.line_number(), data::Excerpt(fields[0]), it->second);
    auto& negs = out[u->second];
    for (size_t k = 1; k < fields.size(); ++k) {
      auto i = item_of.find(fields[k]);
      RP_REQUIRE(i != item_of.end(), StatusCode::kDataError,
                 "{}:{}: item '{}' (field {}) is not an item of the prepared file {}", path, in.line_number(),
                 data::Excerpt(fields[k]), k + 1, names.path());
      negs.push_back(i->second);
    }
  }
  return out;
}

// One ranker (the model, popularity or random) and, per query in query order, the positions of the
// query's relevant items under it (sorted; one per query with heldout_queries item).
struct Ranker {
  std::string name;
  std::vector<int64_t> positions;
  std::vector<int64_t> offsets{0};
};

// Exposure counts of full-catalogue top-K lists, per ranker and K: what the satisfaction metrics
// (coverage, diversity, novelty, personalization) are finalized from. Size: rankers x K's x catalogue
// doubles, all-reduced once; it grows with the catalogue, not with the users.
class TopKExposure {
 public:
  TopKExposure(size_t rankers, const std::vector<int64_t>& ks, int64_t items)
      : ks_(ks), items_(items), counts_(rankers * ks.size() * static_cast<size_t>(items), 0.0), skip_(items, 0) {
    for (int64_t k : ks) k_max_ = std::max(k_max_, k);
  }
  // Adds one list: the top K of `scores` (one per item 0..items-1) without the `excluded` items,
  // ties broken by `tie_key(item)` (a seeded key, so a tied ranker's list is not biased to low ids).
  template <typename TieKey>
  void Add(size_t ranker, const double* scores, const std::vector<int64_t>& excluded, TieKey&& tie_key) {
    for (int64_t x : excluded) skip_[x] = 1;
    order_.clear();
    for (int64_t i = 0; i < items_; ++i) {
      if (!skip_[i]) order_.push_back(i);
    }
    for (int64_t x : excluded) skip_[x] = 0;
    const size_t top = std::min(order_.size(), static_cast<size_t>(k_max_));
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(top), order_.end(),
                      [&](int64_t a, int64_t b) { return scores[a] != scores[b] ? scores[a] > scores[b] : tie_key(a) < tie_key(b); });
    for (size_t ki = 0; ki < ks_.size(); ++ki) {
      double* c = Counts(ranker, ki);
      for (size_t q = 0; q < std::min(top, static_cast<size_t>(ks_[ki])); ++q) c[order_[q]] += 1;
    }
  }
  void AllReduceCounts(Communicator& comm) { AllReduce(comm, counts_, ReduceOp::kSum); }
  std::vector<double> Of(size_t ranker, size_t ki) const {
    const double* c = counts_.data() + (ranker * ks_.size() + ki) * static_cast<size_t>(items_);
    return {c, c + items_};
  }

 private:
  double* Counts(size_t ranker, size_t ki) { return counts_.data() + (ranker * ks_.size() + ki) * static_cast<size_t>(items_); }
  std::vector<int64_t> ks_;
  int64_t items_, k_max_ = 0;
  std::vector<double> counts_;
  std::vector<uint8_t> skip_;
  std::vector<int64_t> order_;
};

// The model's scores [Q, K] of the queries `qidx` of `in` against their candidates: `candidates`
// [Q, K] item ids, or with `full` the catalogue [K] (ids 1..K) for every query. A next-item model
// scores with the user vector's dot products; task heads run one forward per (history,
// candidate), in chunks of at most 65536 samples, and rank by pCTR or pCTCVR.
torch::Tensor ScoreCandidates(model::RecommenderImpl& net, Scoring scoring, RankBy rank_by, const model::ModelInput& in,
                              const torch::Tensor& qidx, const torch::Tensor& candidates, bool full,
                              const torch::Tensor& first_category) {
  const int64_t Q = qidx.size(0);
  const int64_t K = full ? candidates.size(0) : candidates.size(1);
  if (scoring == Scoring::kNextItem) {
    auto h = net.UserVectors(in).index_select(0, qidx);  // [Q, D]
    return full ? net.ScoreItems(h) : net.ScoreItems(h, candidates);
  }
  const int64_t chunk = std::max<int64_t>(1, 65536 / Q);
  std::vector<torch::Tensor> parts;
  for (int64_t k0 = 0; k0 < K; k0 += chunk) {
    const int64_t kn = std::min(chunk, K - k0);
    auto c = full ? candidates.narrow(0, k0, kn).unsqueeze(0).expand({Q, kn}) : candidates.narrow(1, k0, kn);
    model::ModelInput x;
    x.size = Q * kn;
    x.histories = Q;
    x.hist_item = in.hist_item.index_select(0, qidx);
    x.hist_category = in.hist_category.index_select(0, qidx);
    x.hist_event = in.hist_event.index_select(0, qidx);
    x.hist_gap_bucket = in.hist_gap_bucket.index_select(0, qidx);
    x.hist_pad = in.hist_pad.index_select(0, qidx);
    x.group = torch::arange(Q, qidx.options()).repeat_interleave(kn);
    x.target_item = c.reshape({-1});
    x.target_category = first_category.index_select(0, x.target_item);
    x.user_features = in.user_features.index_select(0, qidx).repeat_interleave(kn, 0);
    x.cat_features = in.cat_features.index_select(0, qidx).repeat_interleave(kn, 0);
    x.num_features = in.num_features.index_select(0, qidx).repeat_interleave(kn, 0);
    x.click = torch::zeros({x.size}, in.click.options());
    x.conversion = torch::zeros({x.size}, in.conversion.options());
    auto probs = model::Probabilities(net.forward(x));
    parts.push_back((rank_by == RankBy::kCtcvr ? probs.ctcvr : probs.ctr).view({Q, kn}));
  }
  return torch::cat(parts, 1);
}

// eval.write_candidates: each rank's lines, in rank order, into one file (written under a
// temporary name, then renamed). Collective.
void WriteCandidatesFile(Communicator& comm, const std::string& path, const std::string& written) {
  const std::string part = fmt::format("{}.part{}", path, comm.Rank());
  WriteFileAtomic(part, written);
  comm.Barrier();
  if (comm.Rank() == 0) {
    std::string all;
    for (int r = 0; r < comm.WorldSize(); ++r) {
      const std::string p = fmt::format("{}.part{}", path, r);
      std::ifstream f(p, std::ios::binary);
      all.append(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
      fs::remove(p);
    }
    WriteFileAtomic(path, all);
  }
  comm.Barrier();
}

// Full ranking's satisfaction metrics of each ranker's top-K lists (no intervals: exposure
// replicates would cost replicates x catalogue doubles); popularity is the items' train clicks
// (index 0: padding). Collective (the exposure counts are summed).
void AddHeldOutSatisfaction(Report* rep, Communicator& comm, TopKExposure& exposure,
                            const std::vector<std::string>& ranker_names, const std::vector<double>& popularity,
                            const std::vector<int64_t>& ks, double queries, double users, const std::string& protocol) {
  exposure.AllReduceCounts(comm);
  const std::vector<double> item_pop(popularity.begin() + 1, popularity.end());
  const auto head = metrics::HeadMask(item_pop);
  const std::vector<std::string> sat_names = {"coverage", "gini", "entropy", "novelty", "mean_popularity",
                                              "long_tail_share", "personalization"};
  for (size_t m = 0; m < ranker_names.size(); ++m) {
    for (size_t ki = 0; ki < ks.size(); ++ki) {
      const auto r = metrics::FinalizeSatisfaction(exposure.Of(m, ki), item_pop, head, queries, users, ks[ki]);
      const double values[] = {r.coverage, r.gini, r.entropy, r.novelty, r.mean_popularity, r.long_tail_share,
                               r.personalization};
      for (size_t v = 0; v < sat_names.size(); ++v) {
        rep->metrics.push_back(MakeMetric(
            "satisfaction", "heldout", fmt::format("{}@{}", sat_names[v], ks[ki]), protocol, values[v], queries,
            "exact, top-K lists over the catalogue less the user's excluded items; popularity = train clicks",
            ranker_names[m]));
      }
    }
  }
}

}  // namespace



Report RankHeldOut(Communicator& comm, const std::string& prepared_path, const std::string& checkpoint,
                   const DataOptions& data_options, const ModelOptions& fallback, const EvalOptions& eo,
                   const std::string& split, uint64_t seed, HeldOutStats* stats) {
  auto ckpt = model::LoadCheckpoint(checkpoint);
  RP_REQUIRE(ckpt.strings["kind"] == "train", StatusCode::kInvalidArgument,
             "{} is a {} checkpoint; evaluate needs one written by recprism train", checkpoint, ckpt.strings["kind"]);
  const auto options = model::ModelOptionsFrom(ckpt, fallback);
  DataOptions d = data_options;
  if (auto it = ckpt.numbers.find("data.max_seq_len"); it != ckpt.numbers.end()) d.max_seq_len = static_cast<int>(it->second);
  data::PreparedReader shape_reader(prepared_path, /*load_raw_ids=*/false);
  model::Recommender net(options, model::ShapeOf(shape_reader, d.max_seq_len));
  model::LoadModelState(*net, ckpt, checkpoint, /*strict=*/true);
  return RankHeldOut(comm, *net, ScoringOf(ckpt.strings["objective"]), prepared_path, d, eo, split, seed, stats);
}

Report RankHeldOut(Communicator& comm, model::RecommenderImpl& net, Scoring scoring, const std::string& prepared_path,
                   const DataOptions& d, const EvalOptions& eo, const std::string& split, uint64_t seed,
                   HeldOutStats* stats) {
  const auto t0 = std::chrono::steady_clock::now();
  RP_REQUIRE(eo.protocol == Protocol::kFull || eo.protocol == Protocol::kSampled, StatusCode::kInvalidConfig,
             "eval.protocol: held-out ranking takes full or sampled, found '{}'", NameOf(eo.protocol));
  const ModelOptions& options = net.options();
  auto loader_options = data::MakeLoaderOptions(d, data::ParseSplit(split), eo.batch_size, seed, false);
  loader_options.positives_only = true;  // the queries; a split's sampled negatives are not used here
  data::ShardLoader loader(prepared_path, comm, loader_options);
  data::PreparedReader names(prepared_path, /*load_raw_ids=*/true);
  const auto& items = names.items();
  const int64_t N = items.num_items;
  const bool was_training = net.is_training();
  net.eval();
  torch::NoGradGuard no_grad;
  const auto device = net.parameters().front().device();
  const int rank = comm.Rank();

  // Before the loader's prefetch thread starts: this thread's reads of the file come first.
  const UserPositives positives = ReadPositives(names, loader.plan(), rank);
  // heldout_queries user: one query per user (its first positive row of the split gives the
  // history), with all of the user's positives of the split relevant.
  const bool per_user = eo.heldout_queries == HeldOutQueries::kUser;
  UserPositives held;
  if (per_user) held = ReadPositives(names, loader.plan(), rank, static_cast<int>(data::ParseSplit(split)));
  std::vector<uint8_t> queried(per_user ? static_cast<size_t>(names.users().num_users) : 0, 0);
  // protocol full: the items left out of a user's candidates (eval.exclude_seen).
  UserPositives seen_storage;
  if (eo.exclude_seen == ExcludeSeen::kTrain || eo.exclude_seen == ExcludeSeen::kTrainConversions) {
    seen_storage = ReadPositives(names, loader.plan(), rank, static_cast<int>(data::Split::kTrain),
                                 eo.exclude_seen == ExcludeSeen::kTrainConversions);
  } else if (eo.exclude_seen == ExcludeSeen::kNone) {
    seen_storage.first = positives.first;
    seen_storage.offsets.assign(positives.offsets.size(), 0);
  }
  const UserPositives& seen = eo.exclude_seen == ExcludeSeen::kAll ? positives : seen_storage;
  const bool full = eo.protocol == Protocol::kFull;
  const bool from_file = !full && !eo.candidates_file.empty();
  int64_t foreign_lines = 0;
  std::unordered_map<int64_t, std::vector<int64_t>> file_negatives;
  if (from_file) file_negatives = ReadCandidates(eo.candidates_file, names, loader.plan(), rank, &foreign_lines);
  std::vector<uint64_t> user_key(names.users().num_users);
  for (size_t u = 0; u < user_key.size(); ++u) user_key[u] = data::IdKey(names.users().raw_id[u]);

  const std::vector<std::string> model_names =
      eo.baselines ? std::vector<std::string>{"model", "popularity", "random"} : std::vector<std::string>{"model"};
  std::vector<Ranker> rankers;
  for (const auto& m : model_names) rankers.push_back({m, {}});
  std::vector<int64_t> query_user;
  std::vector<double> popularity(static_cast<size_t>(N) + 1, 0);
  for (int64_t i = 1; i <= N; ++i) popularity[i] = static_cast<double>(items.popularity[i]);
  auto first_category = torch::zeros({N + 1}, torch::kLong);
  for (int64_t i = 1; i <= N; ++i) first_category[i] = items.FirstCategory(i);
  first_category = first_category.to(device);
  auto all_items = torch::arange(1, N + 1, torch::TensorOptions().dtype(torch::kLong).device(device));
  int64_t shortfall_queries = 0, candidates_total = 0, relevant_total = 0;
  // Full ranking: each query's top-K lists over the catalogue, for the satisfaction metrics.
  TopKExposure exposure(full ? rankers.size() : 0, eo.top_k, full ? N : 0);
  std::string written;  // eval.write_candidates lines of this rank
  std::vector<std::string> missing_users;

  loader.StartEpoch(0);
  data::Batch b;
  while (loader.Next(&b)) {
    if (b.size == 0) continue;
    std::vector<int64_t> q;
    for (int64_t i = 0; i < b.size; ++i) {
      if (!b.click[i]) continue;
      if (per_user) {
        if (queried[static_cast<size_t>(b.user[i])] != 0) continue;
        queried[static_cast<size_t>(b.user[i])] = 1;
      }
      q.push_back(i);
    }
    if (q.empty()) continue;
    auto in = model::MakeModelInput(b, options.time_gap_buckets, /*dedupe_histories=*/false).To(device);
    auto qidx = torch::tensor(q, torch::kLong).to(device);
    const int64_t Q = static_cast<int64_t>(q.size());
    // Candidates [Q, K]: the query's relevant items first (its item, or with heldout_queries user
    // the user's held-out positives), then the negatives. full: the catalogue in id order instead.
    int64_t K = N;
    std::vector<int64_t> cand;
    std::vector<size_t> relevant_count(q.size(), 1);
    if (!full) {
      K = 0;
      std::vector<std::vector<int64_t>> per(q.size());
      for (size_t j = 0; j < q.size(); ++j) {
        const int64_t i = q[j], u = b.user[i], target = b.target_item[i];
        auto& c = per[j];
        if (per_user) {
          const auto [hb, he] = held.Of(u);
          c.assign(hb, he);
        } else {
          c.push_back(target);
        }
        relevant_count[j] = c.size();
        const auto is_relevant = [&](int64_t x) {
          return std::find(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(relevant_count[j]), x) !=
                 c.begin() + static_cast<std::ptrdiff_t>(relevant_count[j]);
        };
        if (from_file) {
          auto it = file_negatives.find(u);
          if (it == file_negatives.end()) {
            if (missing_users.size() < 5) missing_users.push_back(names.users().raw_id[u]);
            continue;
          }
          c.insert(c.end(), it->second.begin(), it->second.end());
        } else {
          const auto [pb, pe] = positives.Of(u);
          int64_t pool = N - static_cast<int64_t>(pe - pb);
          for (size_t r = 0; r < relevant_count[j]; ++r) pool -= std::binary_search(pb, pe, c[r]) ? 0 : 1;
          const int64_t want = std::min<int64_t>(eo.sampled_negatives, std::max<int64_t>(pool, 0));
          if (want < eo.sampled_negatives) ++shortfall_queries;
          // Seeded by the user and the query's item (item mode) or the user alone (user mode).
          const uint64_t query_key = per_user ? 0 : static_cast<uint64_t>(target);
          std::mt19937_64 rng(Mix64(seed ^ Mix64(user_key[u] ^ Mix64(query_key))));
          std::uniform_int_distribution<int64_t> pick(1, N);
          std::vector<int64_t> drawn;
          while (static_cast<int64_t>(drawn.size()) < want) {
            const int64_t x = pick(rng);
            if (is_relevant(x) || std::binary_search(pb, pe, x) || std::find(drawn.begin(), drawn.end(), x) != drawn.end()) {
              continue;
            }
            drawn.push_back(x);
          }
          c.insert(c.end(), drawn.begin(), drawn.end());
        }
        if (!eo.write_candidates.empty()) {
          written += names.users().raw_id[u];
          for (size_t k = relevant_count[j]; k < c.size(); ++k) written += " " + items.raw_id[c[k]];
          written += "\n";
        }
        K = std::max<int64_t>(K, static_cast<int64_t>(c.size()));
      }
      RP_REQUIRE(missing_users.empty(), StatusCode::kDataError,
                 "{}: no line for user{} {} of the {} split (the candidates file must cover every evaluated user)",
                 eo.candidates_file, missing_users.size() == 1 ? "" : "s", fmt::join(missing_users, ", "), split);
      // Ragged lists (a shortfall) are padded with -1: scored as item 1, then excluded from the rank.
      cand.assign(static_cast<size_t>(Q * K), 0);
      for (size_t j = 0; j < q.size(); ++j) {
        for (int64_t k = 0; k < K; ++k) {
          cand[j * K + k] = k < static_cast<int64_t>(per[j].size()) ? per[j][k] : -1;
        }
      }
    }
    // Model scores [Q, K] in double on the CPU.
    torch::Tensor cand_t;
    if (!full) cand_t = torch::tensor(cand, torch::kLong).view({Q, K}).to(device).clamp_min(1);
    torch::Tensor scores = ScoreCandidates(net, scoring, eo.rank_by, in, qidx, full ? all_items : cand_t, full,
                                           first_category);
    scores = scores.to(torch::kCPU, torch::kDouble).contiguous();
    const double* sp = scores.data_ptr<double>();
    std::vector<double> row(static_cast<size_t>(K)), tie_keys(per_user ? static_cast<size_t>(K) : 0);
    std::vector<int64_t> excluded, relevant;
    for (size_t j = 0; j < q.size(); ++j) {
      const int64_t i = q[j], u = b.user[i], target = b.target_item[i];
      const uint64_t uk = user_key[u];
      excluded.clear();
      relevant.clear();
      if (full) {
        // Relevant: the query's item, or the user's held-out positives; excluded: the user's seen items.
        if (per_user) {
          const auto [hb, he] = held.Of(u);
          for (const int64_t* p = hb; p != he; ++p) relevant.push_back(*p - 1);
        } else {
          relevant.push_back(target - 1);
        }
        const auto [pb, pe] = seen.Of(u);
        for (const int64_t* p = pb; p != pe; ++p) {
          if (std::find(relevant.begin(), relevant.end(), *p - 1) == relevant.end()) excluded.push_back(*p - 1);
        }
        candidates_total += N - static_cast<int64_t>(excluded.size());
      } else {
        for (size_t r = 0; r < relevant_count[j]; ++r) relevant.push_back(static_cast<int64_t>(r));
        for (int64_t k = 0; k < K; ++k) {
          if (cand[j * K + k] < 0) excluded.push_back(k);
        }
        candidates_total += K - static_cast<int64_t>(excluded.size());
      }
      relevant_total += static_cast<int64_t>(relevant.size());
      auto item_at = [&](int64_t k) { return full ? k + 1 : cand[j * K + k]; };
      for (size_t m = 0; m < rankers.size(); ++m) {
        const double* s = sp + j * K;
        if (rankers[m].name == "popularity") {
          for (int64_t k = 0; k < K; ++k) row[k] = popularity[static_cast<size_t>(std::max<int64_t>(item_at(k), 0))];
          s = row.data();
        } else if (rankers[m].name == "random") {
          for (int64_t k = 0; k < K; ++k) row[k] = Unit(Mix64(seed ^ Mix64(uk ^ Mix64(static_cast<uint64_t>(item_at(k)) + 0x9e37))));
          s = row.data();
        }
        auto& ranker = rankers[m];
        if (full) {
          exposure.Add(m, s, excluded, [&](int64_t k) {
            return Mix64(seed * 31 + m) ^ Mix64(uk + static_cast<uint64_t>(k + 1) * 0x100000001b3ULL);
          });
        }
        if (per_user) {
          // Ties broken by a seeded key per (user, item): the same order for every relevant item.
          for (int64_t k = 0; k < K; ++k) {
            tie_keys[k] = Unit(Mix64(seed * 31 + m) ^ Mix64(uk + static_cast<uint64_t>(item_at(k)) * 0x100000001b3ULL));
          }
          const auto p = metrics::PositionsWithTies(s, tie_keys.data(), K, relevant, excluded);
          ranker.positions.insert(ranker.positions.end(), p.begin(), p.end());
        } else {
          const double tie = Unit(Mix64(seed * 31 + m) ^ Mix64(uk + static_cast<uint64_t>(target) * 0x100000001b3ULL));
          ranker.positions.push_back(metrics::RankWithTies(s, K, relevant[0], excluded, tie));
        }
        ranker.offsets.push_back(static_cast<int64_t>(ranker.positions.size()));
      }
      query_user.push_back(u);
    }
  }
  // Metrics: per ranker, the position metrics of metrics/ranking.h (PositionRankingState): at each
  // K hit_rate and ndcg (and with heldout_queries user recall and precision), then mrr.
  const std::vector<int64_t>& ks = eo.top_k;
  const int R = eo.bootstrap_replicates;
  // One state per (replicate, ranker); replicate 0 is the point.
  std::vector<metrics::PositionRankingState> states(static_cast<size_t>(R + 1) * rankers.size(),
                                                    metrics::PositionRankingState(ks, per_user));
  std::vector<double> contrib(states[0].FlatSize());
  for (size_t qi = 0; qi < query_user.size(); ++qi) {
    const uint64_t uk = user_key[query_user[qi]];
    for (size_t m = 0; m < rankers.size(); ++m) {
      const int64_t* p = rankers[m].positions.data() + rankers[m].offsets[qi];
      const int64_t n_rel = rankers[m].offsets[qi + 1] - rankers[m].offsets[qi];
      states[m].QueryContribution(p, n_rel, contrib.data());
      for (int rep = 0; rep <= R; ++rep) {
        const double w = rep == 0 ? 1.0 : metrics::PoissonWeight(uk, rep - 1, seed);
        if (w == 0) continue;
        states[static_cast<size_t>(rep) * rankers.size() + m].AddContribution(contrib.data(), w);
      }
    }
  }
  // The users' fingerprint, as the row evaluator computes it (compare pairs only equal sets).
  std::vector<int64_t> distinct = query_user;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::vector<uint64_t> distinct_keys;
  for (int64_t u : distinct) distinct_keys.push_back(user_key[u]);
  const std::string fingerprint = UsersFingerprint(comm, distinct_keys);
  std::vector<double> counts = {static_cast<double>(query_user.size()), static_cast<double>(distinct.size()),
                                static_cast<double>(shortfall_queries), static_cast<double>(candidates_total),
                                static_cast<double>(foreign_lines), static_cast<double>(relevant_total)};
  AllReduce(comm, counts, ReduceOp::kSum);
  FusedSum sum(comm);
  for (auto& st : states) sum.Add(st.flat(), st.FlatSize());
  sum.Flush();

  Report rep;
  rep.top_k = ks;
  rep.replicates = R;
  rep.ci_level = eo.ci_level;
  const std::string protocol =
      (full ? "full_ranking" : (from_file ? "candidates_file" : fmt::format("sampled_{}", eo.sampled_negatives))) +
      std::string(per_user ? "_per_user" : "");
  const std::vector<std::string> metric_names = states[0].Names();
  for (size_t m = 0; m < rankers.size(); ++m) {
    for (size_t c = 0; c < metric_names.size(); ++c) {
      auto value_of = [&](int rep_i) { return states[static_cast<size_t>(rep_i) * rankers.size() + m].Value(c); };
      MetricValue mv = MakeMetric("quality", "heldout", metric_names[c], protocol, value_of(0), counts[0], "exact",
                                  rankers[m].name);
      std::vector<double> reps;
      for (int r = 1; r <= R; ++r) reps.push_back(value_of(r));
      SetInterval(&mv, mv.value, reps, eo.ci_level);
      rep.metrics.push_back(std::move(mv));
    }
  }
  if (full) {
    std::vector<std::string> ranker_names;
    for (const auto& r : rankers) ranker_names.push_back(r.name);
    AddHeldOutSatisfaction(&rep, comm, exposure, ranker_names, popularity, ks, counts[0], counts[1], protocol);
  }
  rep.provenance["protocol"] = protocol;
  rep.provenance["protocol_queries"] = fmt::format("{:.0f}", counts[0]);
  rep.provenance["protocol_mean_candidates"] = counts[0] > 0 ? fmt::format("{:.1f}", counts[3] / counts[0]) : "0";
  rep.provenance["protocol_mean_relevant"] = counts[0] > 0 ? fmt::format("{:.3f}", counts[5] / counts[0]) : "0";
  rep.provenance["users_fingerprint"] = fingerprint;
  rep.provenance["seed"] = std::to_string(seed);
  rep.provenance["scoring"] = scoring == Scoring::kNextItem ? "next_item (user vector . item embedding)"
                              : eo.rank_by == RankBy::kCtcvr   ? "task heads (pCTCVR = pCTR x pCVR)"
                                                              : "task heads (pCTR)";
  rep.provenance["scored_split"] = split;
  if (full) rep.provenance["protocol_excluded"] = NameOf(eo.exclude_seen);
  if (counts[0] == 0) rep.warnings.push_back(fmt::format("the {} split has no positive rows to rank", split));
  if (counts[2] > 0) {
    rep.warnings.push_back(fmt::format("{:.0f} queries had fewer than {} items the user never interacted with; they "
                                       "were ranked among all of them", counts[2], eo.sampled_negatives));
  }
  if (from_file && counts[4] > 0 && rank == 0) {
    RP_LOG_INFO("{}: {:.0f} line(s) name users of other ranks or not in the {} split", eo.candidates_file, counts[4], split);
  }
  if (!eo.write_candidates.empty()) WriteCandidatesFile(comm, eo.write_candidates, written);
  if (was_training) net.train();
  if (stats != nullptr) {
    stats->queries = static_cast<int64_t>(query_user.size());
    stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats->model = DescribeModel(options, scoring);
  }
  return rep;
}

}  // namespace recprism::eval
