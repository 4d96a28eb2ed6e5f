// DP-SGD's two gradient operations (Abadi et al. 2016), on the flat gradient buffer; the privacy
// accountant is train/privacy.h.
#pragma once

#include <torch/torch.h>

#include "model/per_sample.h"
#include "train/optimizer.h"

namespace recprism::train {

// The sum of the clipped per-sample gradients into flat's gradients: each sample's gradient norm
// from one batched pass (model/per_sample.h), then the backward of sum_i min(1, C / ||g_i||)
// loss_i. Returns how many samples were clipped. Throws Error(kInternal) when a parameter received
// a gradient that no per-sample norm covered (its clipping would not hold).
double ClippedBackward(model::PerSampleNorms& norms, const torch::Tensor& per_sample, double max_grad_norm,
                       FlatParameters& flat);

// The noise of one whole step, N(0, (noise_multiplier x max_grad_norm)^2) on every trainable
// coordinate of flat's gradients. Added once (one rank) before the sum over ranks, so the
// guarantee holds at any world size.
void AddGaussianNoise(FlatParameters& flat, double noise_multiplier, double max_grad_norm);

}  // namespace recprism::train
