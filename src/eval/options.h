// Evaluation options (config section `eval`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/enum_names.h"

namespace recprism {

enum class Protocol { kRows, kFull, kSampled };
template <>
struct EnumNames<Protocol> {
  static constexpr std::pair<Protocol, const char*> kTable[] = {
      {Protocol::kRows, "rows"}, {Protocol::kFull, "full"}, {Protocol::kSampled, "sampled"}};
};

enum class HeldOutQueries { kItem, kUser };
template <>
struct EnumNames<HeldOutQueries> {
  static constexpr std::pair<HeldOutQueries, const char*> kTable[] = {{HeldOutQueries::kItem, "item"},
                                                                      {HeldOutQueries::kUser, "user"}};
};

enum class RankBy { kCtr, kCtcvr };
template <>
struct EnumNames<RankBy> {
  static constexpr std::pair<RankBy, const char*> kTable[] = {{RankBy::kCtr, "ctr"}, {RankBy::kCtcvr, "ctcvr"}};
};

enum class ExcludeSeen { kAll, kTrain, kTrainConversions, kNone };
template <>
struct EnumNames<ExcludeSeen> {
  static constexpr std::pair<ExcludeSeen, const char*> kTable[] = {{ExcludeSeen::kAll, "all"},
                                                                   {ExcludeSeen::kTrain, "train"},
                                                                   {ExcludeSeen::kTrainConversions, "train_conversions"},
                                                                   {ExcludeSeen::kNone, "none"}};
};

// Column names of a predictions file (eval.columns.*).
struct EvalColumns {
  std::string user = "user";              // user id
  std::string item = "item";              // item id
  std::string click = "click";            // 0/1 click label
  std::string conversion = "conversion";  // 0/1 conversion label (optional column)
  std::string p_ctr = "p_ctr";            // predicted click probability
  std::string p_cvr = "p_cvr";            // predicted conversion probability given a click
  std::string p_ctcvr = "p_ctcvr";        // predicted click-and-convert probability (default p_ctr * p_cvr)
  std::string value = "value";            // revenue of a conversion (optional column)
  std::string category = "category";      // item categories, '|'-separated (optional column)
};

struct EvalOptions {
  std::vector<int64_t> top_k = {10, 20};  // cut-offs for ranking, satisfaction and business metrics at K
  int batch_size = 1024;                  // rows per rank per evaluation step
  std::vector<std::string> slices;        // extra columns to slice every metric by (besides the built-in ones)
  int64_t min_slice_size = 100;           // slice groups with fewer rows are listed, not measured
  int bootstrap_replicates = 100;         // Poisson bootstrap replicates for intervals; 0 = no intervals
  double ci_level = 0.95;                 // confidence level of every interval
  int histogram_bins = 1024;              // score histogram of the overall curves (logit-spaced)
  int replicate_bins = 128;               // score histogram of slices and replicates (AUC error bound reported)
  int calibration_bins = 10;              // equal-width bins of the reliability diagram and ECE
  bool baselines = true;                  // score popularity and random recommenders on the same users
  int64_t max_exposure_cells = 1 << 22;   // replicate exposure arrays (items x replicates) above this: no intervals
  // evaluate --checkpoint: rows (the prepared file's rows of the split, with their sampled
  // negatives), full (each held-out positive ranked against the whole catalogue, the user's other
  // positives excluded) or sampled (against sampled_negatives items the user never interacted with,
  // drawn uniformly and seeded, or the lines of candidates_file).
  Protocol protocol = Protocol::kRows;
  int sampled_negatives = 99;
  std::string candidates_file;            // sampled: `user neg neg ...` (source ids), one line per user
  std::string write_candidates;           // sampled: also write the drawn candidates in that layout here
  // full and sampled: item (each held-out positive is a query with one relevant item, the
  // SASRec/S3-Rec protocols) or user (one query per user, all of the user's held-out positives
  // relevant at once: hit rate, recall, precision and NDCG over the set, the NGCF/LightGCN protocol)
  HeldOutQueries heldout_queries = HeldOutQueries::kItem;
  // full and sampled with a task-heads checkpoint: the probability that ranks the candidates,
  // ctr (click) or ctcvr (click and conversion: purchase top-K with ESMM-style heads)
  RankBy rank_by = RankBy::kCtr;
  // protocol full: the user's items left out of the candidates (never a relevant one): all (the
  // user's positives in every split, S3-Rec's masking), train (positives of the train split),
  // train_conversions (converted train rows: VCGAE's trn_buy on JD) or none
  ExcludeSeen exclude_seen = ExcludeSeen::kAll;
  // evaluate --checkpoint, protocol rows: permutation importance of each feature group (the
  // report's explainability dimension); one more scoring pass of the split per group
  bool feature_importance = false;
  EvalColumns columns;
};

}  // namespace recprism
