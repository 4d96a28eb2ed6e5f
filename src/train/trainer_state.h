// The trainer's state, shared by its files: trainer.cc (set-up, the step, checkpoints, the loop)
// and trainer_validation.cc (the three validation modes). Internal to the train module.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>

#include "data/loader.h"
#include "model/recommender.h"
#include "train/grad_sync.h"
#include "train/optimizer.h"
#include "train/progress.h"
#include "train/trainer.h"

namespace recprism::train {

struct Trainer::State {
  Communicator& comm;
  TrainJob job;
  bool pretraining;
  bool next_item = false;  // train.objective: next_item (not pretraining)
  bool dp = false;         // train.privacy.dp_sgd (not pretraining)
  double dp_sample_rate = 0;  // DP-SGD: global batch / global train samples
  torch::Device device{torch::kCPU};
  std::unique_ptr<data::ShardLoader> loader;
  model::Recommender model{nullptr};
  std::unique_ptr<FlatParameters> flat;
  std::unique_ptr<FlatAdam> adam;
  std::unique_ptr<GradientSync> sync;
  torch::Tensor popularity_q;  // pretraining's sampled softmax: Q(item) for items 1..N
  torch::Tensor touched;       // the current step's distinct item ids (this rank's batch)
  int64_t step = 0, total_steps = 0, batch_in_epoch = 0;
  int epoch = 0;
  double best = std::nan("");
  int64_t best_step = 0;
  int since_best = 0;
  int64_t resumed_skip = 0;
  bool probing = false;  // the scaling probe: steps on this rank's batches alone, no collective
  std::string last_checkpoint, best_checkpoint;
  std::unique_ptr<Progress> progress;

  State(Communicator& c, const TrainJob& j, bool p) : comm(c), job(j), pretraining(p) {}
  std::filesystem::path CheckpointDir() const { return std::filesystem::path(job.run_dir) / (pretraining ? "pretrain" : "checkpoints"); }
};

}  // namespace recprism::train
