// Model options (config section `model`). Plain struct: no LibTorch here.
#pragma once

#include <string>

#include "core/enum_names.h"

namespace recprism {

enum class Interaction { kEncodeOnce, kBst };
template <>
struct EnumNames<Interaction> {
  static constexpr std::pair<Interaction, const char*> kTable[] = {{Interaction::kEncodeOnce, "encode_once"},
                                                                   {Interaction::kBst, "bst"}};
};

enum class Heads { kEsmm, kMmoe, kSharedBottom };
template <>
struct EnumNames<Heads> {
  static constexpr std::pair<Heads, const char*> kTable[] = {
      {Heads::kEsmm, "esmm"}, {Heads::kMmoe, "mmoe"}, {Heads::kSharedBottom, "shared_bottom"}};
};

struct ModelOptions {
  int d_model = 64;           // embedding and transformer width
  int num_heads = 2;          // attention heads; must divide d_model
  int num_layers = 2;         // transformer encoder layers (pre-LayerNorm)
  int ffn_multiplier = 4;     // feed-forward width = ffn_multiplier x d_model
  double dropout = 0.1;       // dropout probability in the encoder and heads
  bool causal = false;        // history tokens attend only to earlier ones (SASRec-style)
  int time_gap_buckets = 32;  // log2 buckets of (target time - behaviour time); the last bucket is open
  // How the target meets the history: encode_once (the history is encoded once per distinct
  // history in a batch, then the target attends over it, DIN-style) or bst (the target is one more
  // token that attends with the history, as in Alibaba's BST; the encoder runs once per sample).
  Interaction interaction = Interaction::kEncodeOnce;
  // Task heads: esmm (pCTR and pCVR towers, pCTCVR = pCTR x pCVR, both losses on all impressions),
  // mmoe (num_experts experts, one softmax gate per task) or shared_bottom.
  Heads heads = Heads::kEsmm;
  int num_experts = 4;        // mmoe: experts
  int tower_hidden = 64;      // hidden width of each task tower, of the shared bottom and of each expert
  double ctr_loss_weight = 1.0;    // weight of the CTR loss (impressions)
  double ctcvr_loss_weight = 1.0;  // weight of the CTCVR loss (impressions; pCTCVR = pCTR x pCVR)
};

}  // namespace recprism
