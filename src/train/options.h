// Training and pretraining options (config sections `train` and `pretrain`). Plain structs.
#pragma once

#include <cstdint>
#include <string>

#include "core/enum_names.h"

namespace recprism {

enum class ValidationMode { kEvaluator, kSums, kHeldOut };
template <>
struct EnumNames<ValidationMode> {
  static constexpr std::pair<ValidationMode, const char*> kTable[] = {
      {ValidationMode::kEvaluator, "evaluator"}, {ValidationMode::kSums, "sums"}, {ValidationMode::kHeldOut, "heldout"}};
};

enum class Objective { kMultitask, kNextItem };
template <>
struct EnumNames<Objective> {
  static constexpr std::pair<Objective, const char*> kTable[] = {{Objective::kMultitask, "multitask"},
                                                                 {Objective::kNextItem, "next_item"}};
};

// DP-SGD (Abadi et al. 2016): each sample's gradient is clipped to max_grad_norm, Gaussian noise of
// standard deviation noise_multiplier x max_grad_norm is added once to the step's sum over all
// ranks, and the Renyi-DP accountant (train/privacy.h) reports epsilon at delta.
struct PrivacyOptions {
  bool dp_sgd = false;
  double noise_multiplier = 1.0;  // sigma
  double max_grad_norm = 1.0;     // C, the per-sample clipping norm
  double delta = 1e-5;
};

struct TrainOptions {
  std::string device = "auto";    // auto (cuda when present), cpu or cuda
  bool bf16 = false;              // bf16 autocast of the forward pass (cuda only)
  std::string optimizer = "adamw";  // adamw (decoupled decay) or adam (L2 added to the gradient)
  double lr = 1e-3;               // peak learning rate
  double encoder_lr_scale = 1.0;  // encoder and embedding lr = lr x this (fine-tuning); 0 = frozen
  double weight_decay = 0.0;      // not applied to embeddings, norms and biases
  double beta1 = 0.9;             // Adam first-moment decay
  double beta2 = 0.999;           // Adam second-moment decay
  double eps = 1e-8;              // Adam epsilon
  int64_t warmup_steps = 0;       // linear warm-up from 0 to lr
  std::string schedule = "cosine";  // after warm-up: cosine, linear (both to min_lr_ratio x lr) or constant
  double min_lr_ratio = 0.0;      // final lr / peak lr
  double grad_clip = 1.0;         // global gradient-norm clip; 0 = off
  int batch_size = 256;           // samples per rank per step
  int epochs = 1;                 // passes over the training split
  int64_t max_steps = 0;          // stop after this many steps in total; 0 = epochs decide
  int64_t log_every = 10;         // steps between log lines (JSONL gets every step)
  int64_t validate_every = 0;     // steps between validations; 0 = once per epoch
  // evaluator: the sharded evaluator on the valid split (exact AUC, GAUC, NDCG; no intervals);
  // sums: per-task histogram AUC and logloss from merged sums (cheaper on very large valid splits)
  // heldout: hit rate and NDCG of the valid positives ranked under eval.protocol (full when rows)
  ValidationMode validation = ValidationMode::kEvaluator;
  std::string early_stop_metric = "ctr_auc";  // ctr_auc, ctr_gauc, ctcvr_auc (higher is better) or ctr_logloss, loss
  int patience = 0;               // validations without improvement before stopping; 0 = never stop early
  int64_t checkpoint_every = 0;   // steps between checkpoints; 0 = at each epoch end only
  int keep_checkpoints = 3;       // most recent checkpoints kept (best.pt is kept apart)
  int64_t check_replicas_every = 0;  // debug: all-reduce a parameter checksum every N steps, abort on divergence
  int64_t bucket_mb = 25;         // gradient all-reduce bucket size (MiB)
  std::string sparse_embeddings = "auto";  // item-table gradient exchange: auto (fewer bytes wins), dense, sparse
  // multitask: the CTR/CVR heads on every row of the train split; next_item: SASRec-style causal
  // next-item prediction over each user's train sequence (the last train positive's history and
  // the item itself: every position predicts the item after it), no heads involved.
  Objective objective = Objective::kMultitask;
  int64_t full_softmax_max_items = 50000;  // next_item: catalogues up to this size use the full softmax
  int num_sampled = 1024;         // next_item, larger catalogues: popularity-sampled negatives per step, log-Q corrected
  // Steps each rank first trains alone, timed and then undone, for the report's scaling
  // efficiency (samples/s of the run / (world size x one rank's samples/s)); 0 = no probe
  int64_t scaling_probe_steps = 0;
  PrivacyOptions privacy;
};

struct PretrainOptions {
  int epochs = 1;                 // passes over the train histories
  int64_t max_steps = 0;          // 0 = epochs decide
  double lr = 1e-3;               // peak learning rate (warm-up, schedule and clip from train.*)
  double mask_prob = 0.2;         // share of history items replaced by [MASK] (at least one per history)
  int64_t full_softmax_max_items = 50000;  // catalogues up to this size use the full softmax
  int num_sampled = 1024;         // sampled softmax: negatives per step, drawn by popularity, log-Q corrected
  // every_row: the history of every train row (a user's prefixes, each once per row); last_per_user:
  // the history of each user's last train positive only (each sequence once per epoch, as BERT4Rec)
  std::string histories = "every_row";
  // model: the attention of model.causal; bidirectional: every position sees the whole history
  // while pretraining, whatever model.causal says (fine-tuning then uses model.causal)
  std::string attention = "model";
};

}  // namespace recprism
