// The int8 pieces of our own kernels: conversions between element types,
// data_bn to s8, and the head over quantised activations.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backends/cpu/kernels.h"

namespace stgcn::cpu::kernels {
namespace {

using ir::DType;

TEST(Int8Kernels, QuantiseRoundsSaturatesAndDequantises) {
  const std::vector<float> x = {0.f, 0.26f, -0.26f, 0.24f, 12.6f, -12.8f, 100.f, -100.f, NAN};
  const float step = 0.1f;
  std::vector<int8_t> q(x.size());
  convert(x.data(), DType::kF32, 0.f, q.data(), DType::kS8, step, static_cast<int64_t>(x.size()));
  EXPECT_EQ(q, (std::vector<int8_t>{0, 3, -3, 2, 126, -127, 127, -127, -127}));
  std::vector<uint8_t> u(x.size());
  convert(x.data(), DType::kF32, 0.f, u.data(), DType::kU8, step, static_cast<int64_t>(x.size()));
  EXPECT_EQ(u, (std::vector<uint8_t>{0, 3, 0, 2, 126, 0, 255, 0, 0}));
  std::vector<float> back(x.size());
  convert(q.data(), DType::kS8, step, back.data(), DType::kF32, 0.f, static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(back[i], x[i], step / 2 + 1e-6) << i;
  EXPECT_FLOAT_EQ(back[6], 12.7f);  // saturated
  // Requantise u8 (step 0.1) -> s8 (step 0.2).
  std::vector<int8_t> r(x.size());
  convert(u.data(), DType::kU8, step, r.data(), DType::kS8, 0.2f, static_cast<int64_t>(x.size()));
  EXPECT_EQ(r[4], 63);   // 12.6 / 0.2
  EXPECT_EQ(r[6], 127);  // 25.5 / 0.2 saturates
}

TEST(Int8Kernels, DataBnToS8MatchesTheFloatKernel) {
  const int64_t C = 3, T = 4, V = 5, M = 2;
  std::vector<float> x(C * T * V * M), scale(V * C), shift(V * C);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  for (size_t i = 0; i < scale.size(); ++i) scale[i] = 0.5f + 0.1f * i, shift[i] = 0.05f * i - 0.3f;
  std::vector<float> f(x.size());
  data_bn(x.data(), f.data(), C, T, V, M, scale.data(), shift.data());
  const float step = 0.02f;
  std::vector<int8_t> q(x.size());
  data_bn(x.data(), q.data(), C, T, V, M, scale.data(), shift.data(), step);
  for (size_t i = 0; i < f.size(); ++i) {
    const float want = std::max(-127.f, std::min(127.f, std::nearbyint(f[i] / step)));
    EXPECT_EQ(q[i], static_cast<int8_t>(want)) << i;
  }
}

TEST(Int8Kernels, HeadOverQuantisedActivationsEqualsTheFloatHead) {
  const int64_t M = 2, VT = 7, C = 4, classes = 3;
  std::vector<uint8_t> u(M * VT * C);
  std::vector<int8_t> s(M * VT * C);
  for (size_t i = 0; i < u.size(); ++i) {
    u[i] = static_cast<uint8_t>((i * 37) % 256);
    s[i] = static_cast<int8_t>(static_cast<int>((i * 53) % 255) - 127);
  }
  std::vector<float> w(classes * C), b(classes);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * static_cast<float>(i) - 0.4f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i);
  const float step = 0.05f;
  std::vector<float> fu(u.size()), fs(s.size()), scratch(C), want(classes), got(classes);
  for (size_t i = 0; i < u.size(); ++i) fu[i] = u[i] * step, fs[i] = s[i] * step;
  head(fu.data(), want.data(), M, VT, C, classes, w.data(), b.data(), scratch.data());
  head(u.data(), step, got.data(), M, VT, C, classes, w.data(), b.data(), scratch.data());
  for (int64_t k = 0; k < classes; ++k) EXPECT_NEAR(got[k], want[k], 1e-4) << k;
  head(fs.data(), want.data(), M, VT, C, classes, w.data(), b.data(), scratch.data());
  head(s.data(), step, got.data(), M, VT, C, classes, w.data(), b.data(), scratch.data());
  for (int64_t k = 0; k < classes; ++k) EXPECT_NEAR(got[k], want[k], 1e-4) << k;
}

}  // namespace
}  // namespace stgcn::cpu::kernels
