// The RDP accountant against published values and closed forms.
#include <gtest/gtest.h>

#include <cmath>

#include "core/status.h"
#include "train/privacy.h"

using recprism::train::DpSgdEpsilon;
using recprism::train::SampledGaussianRdp;

// TensorFlow Privacy's tutorials README: compute_dp_sgd_privacy --N=60000 --batch_size=256
// --noise_multiplier=1.1 --epochs=60 --delta=1e-5 "satisfies differential privacy with eps = 3.01"
// (the MNIST DP-SGD tutorial; steps = ceil(60 x 60000 / 256) = 14063, the same RDP-to-DP conversion).
TEST(RdpAccountant, MatchesTensorFlowPrivacysPublishedMnistEpsilon) {
  const auto spent = DpSgdEpsilon(256.0 / 60000, 1.1, 14063, 1e-5);
  EXPECT_NEAR(spent.epsilon, 3.01, 0.005);
  EXPECT_EQ(spent.order, 9);
}

TEST(RdpAccountant, ClosedFormsAndMonotonicity) {
  // q = 1: the Gaussian mechanism, alpha / (2 sigma^2); the binomial sum must agree at q -> 1.
  EXPECT_DOUBLE_EQ(SampledGaussianRdp(1.0, 2.0, 8), 8 / 8.0);
  EXPECT_NEAR(SampledGaussianRdp(1 - 1e-12, 2.0, 8), 1.0, 1e-6);
  EXPECT_EQ(SampledGaussianRdp(0.0, 1.0, 5), 0.0);
  // alpha = 2 has the closed form log(1 + q^2 (e^{1/sigma^2} - 1)).
  const double q = 0.01, s = 0.8;
  EXPECT_NEAR(SampledGaussianRdp(q, s, 2), std::log1p(q * q * std::expm1(1 / (s * s))), 1e-15);
  // More steps or less noise never lower epsilon; subsampling lowers it.
  EXPECT_LT(DpSgdEpsilon(q, 1.0, 1000, 1e-5).epsilon, DpSgdEpsilon(q, 1.0, 2000, 1e-5).epsilon);
  EXPECT_LT(DpSgdEpsilon(q, 2.0, 1000, 1e-5).epsilon, DpSgdEpsilon(q, 1.0, 1000, 1e-5).epsilon);
  EXPECT_LT(DpSgdEpsilon(q, 1.0, 1000, 1e-5).epsilon, DpSgdEpsilon(2 * q, 1.0, 1000, 1e-5).epsilon);
  EXPECT_THROW(DpSgdEpsilon(q, 0.0, 10, 1e-5), recprism::Error);
}
