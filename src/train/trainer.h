// The data-parallel trainer: `recprism train` (multi-task fine-tuning or training from scratch)
// and `recprism pretrain` (masked-item modelling over the train histories).
//
// Every rank builds the same model from the same seed, then rank 0's parameters are broadcast.
// A step: forward and backward on this rank's batch (possibly empty), one small all-reduce of the
// step's sample count and loss sums, the gradient sync (grad_sync.h), clipping, AdamW. Dropout is
// seeded per (seed, step, rank), so a resumed run repeats an uninterrupted one bit for bit.
//
// Outputs under the run directory (rank 0, each written atomically):
//   checkpoints/step-<N>.pt   the last train.keep_checkpoints; best.pt for the best validation
//   train_log.jsonl           one JSON object per step and per validation
//   weights.h5                final weights, tensor name -> array (h5py-readable)
//   pretrain/encoder.pt       pretraining's encoder checkpoint (pretrain only)
#pragma once

#include <cmath>
#include <memory>
#include <string>

#include "comm/communicator.h"
#include "data/loader.h"
#include "data/options.h"
#include "eval/options.h"
#include "model/options.h"
#include "train/options.h"

namespace recprism::model {
class RecommenderImpl;
}

namespace recprism::train {

struct TrainJob {
  std::string prepared_path;  // the prepared HDF5 file
  std::string run_dir;
  std::string config_hash;
  std::string init_from;      // checkpoint to initialise from (fine-tuning); empty = from scratch
  std::string resume;         // "", "latest" (the run directory's newest checkpoint) or a path
  uint64_t seed = 42;
  DataOptions data;
  ModelOptions model;
  TrainOptions train;
  PretrainOptions pretrain;
  EvalOptions eval;
};

struct StepResult {
  int64_t step = 0;            // global step number after this step (1-based)
  double global_samples = 0;   // samples (or masked positions in pretraining) over all ranks
  double loss = 0;             // weighted task loss per sample (global)
  double ctr_loss = 0, ctcvr_loss = 0;
  double grad_norm = 0, lr = 0;
  bool sparse = false;         // item-table rows exchanged instead of all-reduced
  double comm_bytes = 0;       // payload bytes this rank put into collectives
  double comm_seconds = 0, step_seconds = 0;
  double dp_epsilon = std::nan("");  // DP-SGD: epsilon at train.privacy.delta after this step
  double dp_clipped = std::nan("");  // DP-SGD: share of the step's samples whose gradient was clipped
};

struct Validation {
  double samples = 0;
  double ctr_auc = 0, ctr_logloss = 0, ctcvr_auc = 0, ctcvr_logloss = 0, cvr_auc = 0, loss = 0;
  double ctr_gauc = std::nan(""), ctr_ndcg = std::nan(""), ctr_hit_rate = std::nan("");  // evaluator mode only
  double auc_error_bound = 0;  // 0 in evaluator mode (exact); the histogram AUC's bound in sums mode
  double Metric(const std::string& name) const;  // by train.early_stop_metric name
};

struct TrainSummary {
  int64_t steps = 0;
  double seconds = 0, samples = 0;
  bool early_stopped = false;
  double best_metric = 0;
  int64_t best_step = 0;
  std::string last_checkpoint, best_checkpoint, weights;
  Validation last_validation;
};

class Trainer {
 public:
  Trainer(Communicator& comm, const TrainJob& job, bool pretraining = false);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Runs training (or pretraining) to the end: epochs, max_steps or early stopping. Collective.
  TrainSummary Run();
  // One data-parallel step on this rank's batch (may be empty). Collective.
  StepResult Step(const data::Batch& batch);
  // Validation over the valid split: AUC and logloss per task from merged sums. Collective.
  Validation Validate();
  // Writes a checkpoint of the current state (rank 0 writes; collective only through nothing).
  std::string SaveCheckpoint(const std::string& name);
  // Exports the weights to an HDF5 file (rank 0).
  void ExportWeights(const std::string& path);

  model::RecommenderImpl& model();
  // The flat parameter vector (a copy on the CPU): what replica checks and tests compare.
  std::vector<float> Parameters() const;
  // train.scaling_probe_steps steps on every rank alone (its own batches, no collective in the
  // step), then the state is restored: what one rank trains per second without the others, the
  // reference of the report's scaling efficiency. Collective around the probe. Run calls it.
  void ScalingProbe();
  // DP-SGD's epsilon at train.privacy.delta after the steps taken so far (NaN without DP-SGD).
  double PrivacyEpsilon() const;
  // Sets the total step count the schedule decays over (Run sets it from the loader).
  void set_total_steps(int64_t steps);

 private:
  struct State;
  struct StepSums;
  // This rank's forward and backward of a non-empty batch; the touched item rows go to the state.
  StepSums LocalBackward(const data::Batch& batch);
  // Parts of the constructor.
  void SetUpDpSgd(int64_t num_items);
  void Resume(const std::string& resume);
  // Validate's three modes (train.validation: heldout, evaluator, sums).
  Validation ValidateHeldOut();
  Validation ValidateWithEvaluator(data::ShardLoader& valid);
  Validation ValidateWithSums(data::ShardLoader& valid);
  std::unique_ptr<State> s_;
};
}  // namespace recprism::train
