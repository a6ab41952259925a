// Calibration: threshold rules on known histograms, the text table, and
// padding that must not reach the statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "fixture_cases.h"
#include "ir/from_model.h"
#include "passes/passes.h"
#include "quant/calibrate.h"
#include "stgcn/npy.h"
#include "test_util.h"

namespace stgcn {
namespace {

using quant::CalibTable;

std::vector<double> gaussian_hist(int bins, float amax, double sigma, int64_t n, uint32_t seed) {
  std::vector<double> h(bins, 0.0);
  std::mt19937 rng(seed);
  std::normal_distribution<double> d(0.0, sigma);
  for (int64_t i = 0; i < n; ++i) {
    const double v = std::fabs(d(rng));
    h[std::min(bins - 1, static_cast<int>(v / amax * bins))] += 1;
  }
  return h;
}

TEST(Calibrate, PercentileOfAUniformHistogramIsLinear) {
  std::vector<double> h(1000, 1.0);
  EXPECT_NEAR(quant::percentile_threshold(h, 10.f, 50.0), 5.f, 1e-3);
  EXPECT_NEAR(quant::percentile_threshold(h, 10.f, 99.0), 9.9f, 1e-3);
  EXPECT_NEAR(quant::percentile_threshold(h, 10.f, 100.0), 10.f, 1e-3);
  EXPECT_FLOAT_EQ(quant::percentile_threshold(std::vector<double>(10, 0.0), 3.f, 99.0), 3.f);
}

// A Gaussian with one far outlier: entropy clips the outlier (threshold well
// below the max), but keeps the bulk (threshold beyond 3 sigma).
TEST(Calibrate, EntropyClipsARareOutlierButNotTheBulk) {
  const float amax = 20.f;  // the outlier
  auto h = gaussian_hist(2048, amax, 1.0, 200000, 3);
  h.back() += 1;
  for (int levels : {128, 256}) {
    const float t = quant::entropy_threshold(h, amax, levels);
    EXPECT_LT(t, 10.f) << levels;
    EXPECT_GT(t, 3.f) << levels;
  }
  // A uniform distribution over the whole range: nothing to clip.
  std::vector<double> u(2048, 100.0);
  EXPECT_GT(quant::entropy_threshold(u, 1.f, 128), 0.95f);
}

TEST(Calibrate, TableTextRoundTrips) {
  CalibTable t;
  t.method = "percentile";
  t.percentile = 99.9;
  t.samples = 12;
  t.T = 150;
  t.M = 2;
  t.ranges["s0.b0.gcn"] = {1.25f, -0.5f};
  t.ranges["s1.b9.tcn"] = {3.0e-3f, 0.f};
  const std::string text = quant::table_text(t);
  auto back = quant::parse_table(text, "t.txt");
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->method, "percentile");
  EXPECT_DOUBLE_EQ(back->percentile, 99.9);
  EXPECT_EQ(back->samples, 12);
  EXPECT_EQ(back->T, 150);
  EXPECT_EQ(back->M, 2);
  ASSERT_EQ(back->ranges.size(), 2u);
  EXPECT_EQ(back->ranges["s0.b0.gcn"].amax, 1.25f);
  EXPECT_EQ(back->ranges["s0.b0.gcn"].min, -0.5f);
  EXPECT_EQ(back->ranges["s1.b9.tcn"].amax, 3.0e-3f);
  auto bad = quant::parse_table("# stgcn-rt int8 calibration table v1\nx 1 0 extra\n", "t.txt");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("'t.txt' line 2"), std::string::npos);
}

// Zero frames after a sample's end (and an absent person) are padding: the
// data_bn range is the one of the real frames only, though data_bn maps a
// zero frame to its shift.
TEST(Calibrate, PaddingFramesAndAbsentPersonsAreLeftOut) {
  STGCN_REQUIRE_FIXTURES();
  const nlohmann::json* c = testing::find_case("coco_spatial_m2");
  ASSERT_NE(c, nullptr);
  auto model = load_model(testing::fixture_path((*c)["checkpoint"]), testing::options_for(*c));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  const int T = 40, M = 2;
  auto g = ir::graph_from_model(*model, T, M);
  ASSERT_TRUE(g.is_ok());
  ASSERT_TRUE(passes::run_pipeline(*g, {}).is_ok());
  const ir::Value& in = g->values[g->input];  // C T V M
  const int64_t C = in.shape[0], V = in.shape[2];
  // One sample: person 0 real for frames [0, 25), person 1 absent.
  Tensor x({1, C, T, V, M});
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(1.f, 2.f);
  const int L = 25;
  for (int64_t ch = 0; ch < C; ++ch)
    for (int t = 0; t < L; ++t)
      for (int64_t v = 0; v < V; ++v) x.data[((ch * T + t) * V + v) * M + 0] = u(rng);
  const ir::Node* bn = nullptr;
  for (const ir::Node& n : g->nodes)
    if (n.op == ir::Op::kDataBn && n.branch == 0) bn = &n;
  ASSERT_NE(bn, nullptr);
  // data_bn as y = x + 1: real values are in [2, 3], a padded element would be 1.
  const auto& a = bn->as<ir::DataBnAttrs>();
  std::fill(g->constants[a.scale].data.begin(), g->constants[a.scale].data.end(), 1.f);
  std::fill(g->constants[a.shift].data.begin(), g->constants[a.shift].data.end(), 1.f);
  const auto& scale = g->constants[a.scale].data;
  const auto& shift = g->constants[a.shift].data;
  float amax = 0, mn = INFINITY;
  for (int64_t ch = 0; ch < C; ++ch)
    for (int64_t v = 0; v < V; ++v) {
      for (int t = 0; t < L; ++t) {
        const float y = x.data[((ch * T + t) * V + v) * M] * scale[v * C + ch] + shift[v * C + ch];
        amax = std::max(amax, std::fabs(y));
        mn = std::min(mn, y);
      }
    }
  quant::CalibOptions o;
  o.method = quant::CalibMethod::kMinMax;
  o.threads = 1;
  auto table = quant::calibrate(*g, x, o);
  ASSERT_TRUE(table.is_ok()) << table.status().message();
  const auto& r = table->ranges.at(g->values[bn->output].name);
  EXPECT_FLOAT_EQ(r.amax, amax);
  EXPECT_FLOAT_EQ(r.min, mn);
  EXPECT_EQ(table->samples, 1);
  EXPECT_GE(r.min, 2.f);  // no padded element (1) was seen
  // An all-zero sample is skipped entirely; only zeros is an error.
  Tensor zeros({1, C, T, V, M});
  auto none = quant::calibrate(*g, zeros, o);
  ASSERT_FALSE(none.is_ok());
  EXPECT_NE(none.status().message().find("only all-zero samples"), std::string::npos);
}

}  // namespace
}  // namespace stgcn
