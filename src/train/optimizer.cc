#include "train/optimizer.h"

#include <torch/torch.h>

#include <cmath>

#include "core/check.h"

namespace recprism::train {

FlatParameters::FlatParameters(torch::nn::Module& model, const std::function<double(const std::string&)>& lr_scale,
                               const std::function<bool(const std::string&)>& decays) {
  int64_t total = 0;
  auto named = model.named_parameters();
  for (const auto& p : named) {
    RP_CHECK(p.value().scalar_type() == torch::kFloat, "parameter {} is not float32", p.key());
    ParameterSlot s;
    s.name = p.key();
    s.offset = total;
    s.numel = p.value().numel();
    s.shape = p.value().sizes().vec();
    s.trainable = p.value().requires_grad();
    total += s.numel;
    slots_.push_back(s);
  }
  const auto device = named.size() ? named[0].value().device() : torch::Device(torch::kCPU);
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device);
  params_ = torch::empty({total}, opts);
  grads_ = torch::zeros({total}, opts);
  lr_scale_ = torch::empty({total}, opts);
  decay_ = torch::empty({total}, opts);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const auto& s = slots_[i];
    auto& p = named[i].value();
    auto view = params_.narrow(0, s.offset, s.numel).view(s.shape);
    view.copy_(p.detach());
    p.set_data(view);
    if (s.trainable) p.mutable_grad() = grads_.narrow(0, s.offset, s.numel).view(s.shape);
    lr_scale_.narrow(0, s.offset, s.numel).fill_(s.trainable ? lr_scale(s.name) : 0.0);
    decay_.narrow(0, s.offset, s.numel).fill_(decays(s.name) ? 1.0 : 0.0);
  }
}

const ParameterSlot* FlatParameters::Find(const std::string& name) const {
  for (const auto& s : slots_) if (s.name == name) return &s;
  return nullptr;
}

FlatAdam::FlatAdam(FlatParameters& flat, const TrainOptions& o) : flat_(flat), o_(o) {
  RP_REQUIRE(o.optimizer == "adamw" || o.optimizer == "adam", StatusCode::kInvalidConfig,
             "train.optimizer: expected adamw or adam, found '{}'", o.optimizer);
  m_ = torch::zeros_like(flat.params());
  v_ = torch::zeros_like(flat.params());
}

void FlatAdam::Step(double lr) {
  torch::NoGradGuard no_grad;
  ++t_;
  auto& p = flat_.params();
  auto g = flat_.grads();
  const double wd = o_.weight_decay;
  if (wd > 0 && o_.optimizer == "adam") g = g + wd * flat_.decay_mask() * p;  // L2 through the gradient
  m_.mul_(o_.beta1).add_(g, 1 - o_.beta1);
  v_.mul_(o_.beta2).addcmul_(g, g, 1 - o_.beta2);
  const double bc1 = 1 - std::pow(o_.beta1, static_cast<double>(t_));
  const double bc2 = 1 - std::pow(o_.beta2, static_cast<double>(t_));
  const auto step_lr = flat_.lr_scale() * lr;
  if (wd > 0 && o_.optimizer == "adamw") p.sub_(step_lr * wd * flat_.decay_mask() * p);  // decoupled decay
  auto denom = (v_ / bc2).sqrt_().add_(o_.eps);
  p.sub_(step_lr * (m_ / bc1) / denom);
}

double ScheduledLr(const TrainOptions& o, double peak, int64_t step, int64_t total) {
  if (o.warmup_steps > 0 && step < o.warmup_steps) return peak * static_cast<double>(step + 1) / o.warmup_steps;
  if (o.schedule == "constant" || total <= o.warmup_steps) return peak;
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / (total - o.warmup_steps));
  const double floor = o.min_lr_ratio * peak;
  if (o.schedule == "linear") return floor + (peak - floor) * (1 - progress);
  return floor + (peak - floor) * 0.5 * (1 + std::cos(M_PI * progress));
}

double ClipGradNorm(torch::Tensor& grads, double max_norm) {
  const double norm = grads.norm().item<double>();
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) grads.mul_(max_norm / (norm + 1e-6));
  return norm;
}

}  // namespace recprism::train
