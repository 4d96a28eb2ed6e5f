// The Renyi-DP accountant of DP-SGD (Abadi et al. 2016; Mironov 2017; Mironov, Talwar and Zhang
// 2019, "Renyi Differential Privacy of the Sampled Gaussian Mechanism"). Plain math, no LibTorch.
//
// One DP-SGD step is the sampled Gaussian mechanism: each example enters the batch with
// probability q, per-example gradients are clipped to norm C, and N(0, (sigma C)^2) noise is added
// to their sum. At an integer order alpha >= 2 its RDP is log(A_alpha) / (alpha - 1) with
//   A_alpha = sum_{i=0..alpha} C(alpha, i) (1 - q)^(alpha - i) q^i exp((i^2 - i) / (2 sigma^2)),
// steps compose additively, and (epsilon, delta)-DP follows from the best order:
//   epsilon = min_alpha  steps x RDP(alpha) + log(1 / delta) / (alpha - 1)   (Mironov 2017, Prop. 3).
#pragma once

#include <cstdint>
#include <vector>

namespace recprism::train {

// RDP of one step at integer order alpha >= 2 (q in [0, 1], sigma > 0). q = 1 gives the Gaussian
// mechanism's alpha / (2 sigma^2); q = 0 gives 0.
double SampledGaussianRdp(double q, double sigma, int alpha);

// The orders searched: 2..64, then 80, 96, 128, 256, 512 (integers: the closed form above is exact).
std::vector<int> DefaultRdpOrders();

struct PrivacySpent {
  double epsilon = 0;
  int order = 0;  // the order attaining it
};

// epsilon at delta after `steps` steps of the sampled Gaussian mechanism.
PrivacySpent DpSgdEpsilon(double q, double sigma, int64_t steps, double delta,
                          const std::vector<int>& orders = DefaultRdpOrders());

}  // namespace recprism::train
