// Scoring a split of a prepared file with a RecPrism checkpoint, for `recprism evaluate
// --checkpoint`: every rank scores its own users' samples (the loader's user sharding, no
// shuffling) and returns them as evaluator rows. User and item keys come from the source's raw
// ids, as in a predictions file, so a checkpoint's report pairs with a predictions file's.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "data/options.h"
#include "data/predictions.h"
#include "model/options.h"

namespace recprism::data {
class ShardLoader;
struct Batch;
struct ItemTable;
}  // namespace recprism::data
namespace recprism::model {
class RecommenderImpl;
}

namespace recprism::eval {

struct ScoringStats {
  int64_t samples = 0;   // scored on this rank
  double seconds = 0;
  std::string model;     // "<heads>/<interaction>, d <d>, <layers> layers"
};

// How a model scores a (history, item) sample: its task heads (pCTR, pCVR, pCTCVR), or, for a
// next-item model (train.objective: next_item), sigmoid of the user vector's dot product with the
// item's embedding, written to all three columns (a ranking score, not a calibrated probability).
enum class Scoring { kHeads, kNextItem };

// "<heads>/<interaction>, d <d>, <layers> layers", or "next_item, d <d>, <layers> layers".
std::string DescribeModel(const ModelOptions& options, Scoring scoring);

// The scoring a checkpoint was trained for (its "objective" string; older checkpoints: heads).
Scoring ScoringOf(const std::string& objective);

// The world size of the training run that wrote a checkpoint (1 when it does not say).
int CheckpointWorldSize(const std::string& checkpoint);

// The DP-SGD guarantee a checkpoint was trained under, in words ("" when it was not trained with
// train.privacy.dp_sgd), and its epsilon (NaN then).
std::string CheckpointPrivacy(const std::string& checkpoint, double* epsilon = nullptr);

// Model options come from the checkpoint (model_fallback for keys it lacks). Collective (the
// loader agrees the number of steps). Throws Error naming the checkpoint on a mismatch.
data::PredictionRows ScoreSplit(Communicator& comm, const std::string& prepared_path, const std::string& checkpoint,
                                const DataOptions& data, const ModelOptions& model_fallback, const std::string& split,
                                int batch_size, uint64_t seed, ScoringStats* stats = nullptr);

// Permutation feature importance (Breiman 2001; scikit-learn's permutation_importance): the split
// scored again once per feature group, with that group's columns taken from another sample of this
// rank's shard (the same shard read in a seeded shuffled order, batch by batch), labels and users
// untouched. Groups: history (the whole behaviour sequence), target (item and category),
// time_gaps, events, and user_features / row_features where the dataset has them. Rows come in
// the order ScoreSplit gives, so a user's bootstrap weights pair them with its report. Collective.
struct PermutedScores {
  std::string group;
  data::PredictionRows rows;
};
std::vector<PermutedScores> ScorePermutedGroups(Communicator& comm, const std::string& prepared_path,
                                                const std::string& checkpoint, const DataOptions& data,
                                                const ModelOptions& model_fallback, const std::string& split,
                                                int batch_size, uint64_t seed);

// Scores every batch `loader` yields on this rank (its epoch must be started) with `net` in eval
// mode, without gradients, on the model's device. user_keys / item_keys map dense ids to evaluator
// keys; when null, the keys are Mix64 of the dense ids. The loader's StartEpoch is the caller's.
data::PredictionRows ScoreLoader(model::RecommenderImpl& net, data::ShardLoader& loader, const data::ItemTable& items,
                                 int time_gap_buckets, const std::vector<uint64_t>* user_keys = nullptr,
                                 const std::vector<uint64_t>* item_keys = nullptr, Scoring scoring = Scoring::kHeads);
// The same over the batches `next` yields (false when done).
data::PredictionRows ScoreBatches(model::RecommenderImpl& net, const std::function<bool(data::Batch*)>& next,
                                  const data::ItemTable& items, int time_gap_buckets,
                                  const std::vector<uint64_t>* user_keys = nullptr,
                                  const std::vector<uint64_t>* item_keys = nullptr, Scoring scoring = Scoring::kHeads);

}  // namespace recprism::eval
