#include "train/dp_sgd.h"

#include "core/check.h"

namespace recprism::train {

double ClippedBackward(model::PerSampleNorms& norms, const torch::Tensor& per_sample, double max_grad_norm,
                       FlatParameters& flat) {
  const double c = max_grad_norm;
  auto norm = norms.Compute(per_sample.sum());
  const double clipped = (norm > c).sum().item<double>();
  auto scale = (c / (norm + 1e-6)).clamp_max(1.0).to(per_sample.options());
  (per_sample * scale).sum().backward();
  for (const auto& name : norms.Unrecorded()) {
    const auto* slot = flat.Find(name);
    RP_REQUIRE(slot == nullptr || flat.grads().narrow(0, slot->offset, slot->numel).abs().max().item<double>() == 0,
               StatusCode::kInternal,
               "DP-SGD: parameter {} received a gradient but no per-sample norm covers it (model/per_sample.h); "
               "its clipping would not hold", name);
  }
  return clipped;
}

void AddGaussianNoise(FlatParameters& flat, double noise_multiplier, double max_grad_norm) {
  for (const auto& slot : flat.slots()) {
    if (!slot.trainable) continue;
    auto g = flat.grads().narrow(0, slot.offset, slot.numel);
    g.add_(torch::randn({slot.numel}, g.options()) * (noise_multiplier * max_grad_norm));
  }
}

}  // namespace recprism::train
