// Flat parameter and gradient buffers, the optimizer step over them, and the learning-rate schedule.
//
// Every trainable parameter of the model becomes a view into one contiguous float32 buffer, and
// its .grad() a view into a second one (what PyTorch DDP calls gradient_as_bucket_view). Autograd
// accumulates into the views in place, so the gradient all-reduce runs on the flat buffer without
// a gather or a scatter, and Adam is a handful of vector operations over the whole model.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>
#include <vector>

#include "train/options.h"

namespace recprism::train {

struct ParameterSlot {
  std::string name;
  int64_t offset = 0;  // in elements
  int64_t numel = 0;
  std::vector<int64_t> shape;
  bool trainable = true;
};

class FlatParameters {
 public:
  // Rebinds every parameter of model (frozen ones included, so replicas check alike) into the
  // flat buffers. lr_scale(name) and decays(name) fill the per-element masks.
  FlatParameters(torch::nn::Module& model, const std::function<double(const std::string&)>& lr_scale,
                 const std::function<bool(const std::string&)>& decays);

  torch::Tensor& params() { return params_; }    // [P] float32
  torch::Tensor& grads() { return grads_; }      // [P] float32
  const torch::Tensor& lr_scale() const { return lr_scale_; }  // [P]
  const torch::Tensor& decay_mask() const { return decay_; }   // [P] 1 where weight decay applies
  const std::vector<ParameterSlot>& slots() const { return slots_; }
  const ParameterSlot* Find(const std::string& name) const;
  int64_t size() const { return params_.numel(); }
  void ZeroGrad() { grads_.zero_(); }

 private:
  torch::Tensor params_, grads_, lr_scale_, decay_;
  std::vector<ParameterSlot> slots_;
};

// Adam / AdamW over the flat buffers (PyTorch's update rule, bias-corrected).
class FlatAdam {
 public:
  FlatAdam(FlatParameters& flat, const TrainOptions& o);
  // One step with learning rate lr on the (already synchronised and clipped) gradients.
  void Step(double lr);
  torch::Tensor& exp_avg() { return m_; }
  torch::Tensor& exp_avg_sq() { return v_; }
  int64_t steps() const { return t_; }
  void set_steps(int64_t t) { t_ = t; }

 private:
  FlatParameters& flat_;
  TrainOptions o_;
  torch::Tensor m_, v_;
  int64_t t_ = 0;
};

// Learning rate at step (0-based) of total_steps: linear warm-up to peak, then cosine, linear or
// constant decay towards min_lr_ratio x peak.
double ScheduledLr(const TrainOptions& o, double peak, int64_t step, int64_t total_steps);

// Global gradient norm clipping over the flat gradient; returns the norm before clipping.
double ClipGradNorm(torch::Tensor& grads, double max_norm);

}  // namespace recprism::train
