// INT8 engines end to end: every fixture case calibrated on its own inputs
// and compared with PyTorch's logits; calibration tables (write, reuse,
// byte-identical rebuild); layers kept in FP32 and the automatic fallback.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <random>
#include <set>

#include "engine/engine_file.h"
#include "fixture_cases.h"
#include "stgcn/engine.h"
#include "stgcn/npy.h"
#include "test_util.h"

namespace stgcn {
namespace {

namespace fs = std::filesystem;

struct Case {
  Model model;
  Tensor input, want;
  int T = 0, M = 0, N = 0;
};

Case load_case(const std::string& name) {
  Case out;
  const nlohmann::json* c = testing::find_case(name);
  EXPECT_NE(c, nullptr) << name;
  if (!c) return out;
  auto model = load_model(testing::fixture_path((*c)["checkpoint"]), testing::options_for(*c));
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  if (!model.is_ok()) return out;
  out.model = std::move(*model);
  auto x = read_npy(testing::fixture_path((*c)["input"]));
  auto y = read_npy(testing::fixture_path((*c)["logits64"]));
  EXPECT_TRUE(x.is_ok() && y.is_ok());
  out.input = std::move(*x);
  out.want = std::move(*y);
  out.N = static_cast<int>(out.input.shape[0]);
  out.T = static_cast<int>(out.input.shape[2]);
  out.M = static_cast<int>(out.input.shape[4]);
  return out;
}

BuildOptions int8_options(const Case& c, const Tensor* calib) {
  BuildOptions o;
  o.precision = "int8";
  o.T = c.T;
  o.M = c.M;
  o.max_batch = c.N;
  o.calib = calib;
  return o;
}

double cosine(const float* a, const float* b, int64_t n) {
  double d = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < n; ++i) d += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
  return na > 0 && nb > 0 ? d / std::sqrt(na * nb) : 1.0;
}

class Int8Case : public ::testing::TestWithParam<std::string> {};

// Calibrated on the case's own samples, every method keeps the logits'
// direction (cosine) and the clear-cut top classes of PyTorch's FP64 logits.
TEST_P(Int8Case, CloseToPyTorch) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case(GetParam());
  ASSERT_FALSE(c.input.data.empty());
  // Every case with the default method; three of them with all three.
  const std::string name = GetParam();
  std::vector<std::string> methods = {"entropy"};
  if (name == "seed_full" || name == "blazepose_distance_h2d2" || name == "mediapipe_spatial_2s_m5")
    methods = {"minmax", "entropy", "percentile"};
  for (const std::string& method : methods) {
    BuildOptions o = int8_options(c, &c.input);
    o.calib_method = method;
    auto e = Engine::build(c.model, o);
    ASSERT_TRUE(e.is_ok()) << method << ": " << e.status().message();
    EXPECT_EQ((*e)->info().precision, "int8");
    auto ctx = (*e)->create_context(2);
    ASSERT_TRUE(ctx.is_ok());
    auto got = (*ctx)->run(c.input);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    const int64_t classes = c.want.shape[1];
    double worst = 1;
    for (int64_t n = 0; n < c.N; ++n)
      worst = std::min(worst, cosine(got->data.data() + n * classes,
                                     c.want.data.data() + n * classes, classes));
    EXPECT_GE(worst, 0.99) << method;
    auto cmp = testing::compare_logits(*got, c.want, 1.0);
    for (int64_t n = 0; n < c.N; ++n) {
      const float* w = c.want.data.data() + n * classes;
      const float* g = got->data.data() + n * classes;
      const int64_t top = std::max_element(w, w + classes) - w;
      float second = -INFINITY;
      for (int64_t j = 0; j < classes; ++j)
        if (j != top) second = std::max(second, w[j]);
      if (classes > 1 && w[top] - second > 2 * cmp.max_abs_diff) {
        EXPECT_EQ(std::max_element(g, g + classes) - g, top) << method << " sample " << n;
      }
    }
    std::printf("[ int8 ] %-32s %-10s worst cosine %.5f, max |diff| %.4f\n", name.c_str(),
                method.c_str(), worst, cmp.max_abs_diff);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Int8Case, ::testing::ValuesIn(testing::manifest_names("cases")),
                         testing::param_name);

class Int8Files : public ::testing::Test {
 protected:
  void SetUp() override {
    // One directory per test: ctest runs the tests of this fixture concurrently.
    dir_ = fs::temp_directory_path() /
           (std::string("stgcn_int8_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// The table written with the data rebuilds the same engine, byte for byte, without it.
TEST_F(Int8Files, TableRoundTripRebuildsTheSameEngine) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case("seed_full");
  const std::string table = (dir_ / "calib.txt").string();
  BuildOptions o = int8_options(c, &c.input);
  o.calib_table = table;
  auto a = Engine::build(c.model, o);
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  ASSERT_TRUE(fs::exists(table));
  auto text = read_file(table);
  ASSERT_TRUE(text.is_ok());
  EXPECT_EQ(text->rfind("# stgcn-rt int8 calibration table v1\n", 0), 0u);
  EXPECT_NE(text->find("s0.b0.gcn "), std::string::npos);
  o.calib = nullptr;  // read it back
  auto b = Engine::build(c.model, o);
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  auto ba = (*a)->bytes(), bb = (*b)->bytes();
  // The metadata records where the table came from; the weights and graph are the same.
  EXPECT_EQ((*a)->graph_text(), (*b)->graph_text());
  EXPECT_EQ((*a)->info().weights_bytes, (*b)->info().weights_bytes);
  auto ca = (*a)->create_context(1), cb = (*b)->create_context(1);
  ASSERT_TRUE(ca.is_ok() && cb.is_ok());
  auto la = (*ca)->run(c.input), lb = (*cb)->run(c.input);
  ASSERT_TRUE(la.is_ok() && lb.is_ok());
  EXPECT_EQ(la->data, lb->data);
  EXPECT_GT(ba.size(), 0u);
  EXPECT_GT(bb.size(), 0u);
  // Saved and loaded: same logits; a quarter of the FP32 file.
  const std::string path = (dir_ / "m.engine").string();
  ASSERT_TRUE((*a)->save(path).is_ok());
  auto loaded = Engine::load(path);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().message();
  auto cl = (*loaded)->create_context(1);
  ASSERT_TRUE(cl.is_ok());
  auto ll = (*cl)->run(c.input);
  ASSERT_TRUE(ll.is_ok());
  EXPECT_EQ(ll->data, la->data);
  BuildOptions f;
  f.T = c.T;
  f.M = c.M;
  f.max_batch = c.N;
  auto fp32 = Engine::build(c.model, f);
  ASSERT_TRUE(fp32.is_ok());
  const double ratio =
      static_cast<double>((*a)->info().file_bytes) / (*fp32)->info().file_bytes;
  EXPECT_LE(ratio, 0.27) << ratio;
}

TEST_F(Int8Files, BadTablesAreRefusedWithTheLine) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case("openpose_spatial");
  const std::string table = (dir_ / "t.txt").string();
  BuildOptions o = int8_options(c, nullptr);
  o.calib_table = table;
  struct Bad {
    std::string text, expect;
  };
  const std::vector<Bad> bad = {
      {"", "not an stgcn-rt int8 calibration table"},
      {"s0.b0.gcn 1 0\n", "line 1: not an stgcn-rt"},
      {"# stgcn-rt int8 calibration table v1\ns0.b0.gcn one 0\n", "line 2: expected"},
      {"# stgcn-rt int8 calibration table v1\ns0.b0.gcn -1 0\n", "must be a finite number > 0"},
      {"# stgcn-rt int8 calibration table v1\ns0.b0.gcn nan 0\n", "line 2"},
      {"# stgcn-rt int8 calibration table v1\na 1 0\na 2 0\n", "appears twice"},
      {"# stgcn-rt int8 calibration table v1\nsomething.else 1 0\n", "no entry for"},
  };
  for (const Bad& b : bad) {
    ASSERT_TRUE(write_file_atomic(table, b.text).is_ok());
    auto e = Engine::build(c.model, o);
    ASSERT_FALSE(e.is_ok()) << b.text;
    EXPECT_NE(e.status().message().find(b.expect), std::string::npos) << e.status().message();
    EXPECT_EQ(e.status().message().find('\n'), std::string::npos);
  }
  o.calib_table = (dir_ / "missing.txt").string();
  auto e = Engine::build(c.model, o);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("missing.txt"), std::string::npos);
}

TEST(Int8, WrongCalibrationShapeAndBadOptionsAreErrors) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case("openpose_spatial");
  Tensor wrong({2, 3, c.T + 1, 18, c.M});
  BuildOptions o = int8_options(c, &wrong);
  auto e = Engine::build(c.model, o);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("calibration data has shape"), std::string::npos)
      << e.status().message();
  o = int8_options(c, &c.input);
  o.calib_method = "median";
  e = Engine::build(c.model, o);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("unknown calibration method"), std::string::npos);
  o = int8_options(c, &c.input);
  o.keep_fp32 = {"s0.b99.tcn"};
  e = Engine::build(c.model, o);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("s0.b99.tcn"), std::string::npos);
  o = int8_options(c, &c.input);
  o.max_drop = 0.5;  // no validation data
  e = Engine::build(c.model, o);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("--max-drop needs validation data"), std::string::npos);
  Tensor nan = c.input;
  nan.data[3] = NAN;
  o = int8_options(c, &nan);
  e = Engine::build(c.model, o);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("NaN"), std::string::npos);
  o = int8_options(c, &c.input);
  o.disabled_passes = {"lower_aggregation"};
  e = Engine::build(c.model, o);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("int8 needs the fused graph"), std::string::npos);
}

// Layers kept in FP32 are FP32 in the engine (convert nodes at the borders)
// and the logits move towards FP32's.
TEST(Int8, KeptLayersAreFp32AndRecorded) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case("seed_full");
  BuildOptions o = int8_options(c, &c.input);
  auto all = Engine::build(c.model, o);
  ASSERT_TRUE(all.is_ok()) << all.status().message();
  o.keep_fp32 = {"s0.b0.gcn", "s0.b0.agg", "s0.b0.tcn", "s1.b9.tcn"};
  auto mixed = Engine::build(c.model, o);
  ASSERT_TRUE(mixed.is_ok()) << mixed.status().message();
  int fp32 = 0, int8 = 0;
  for (const auto& [layer, p] : (*mixed)->info().layer_precisions) {
    const bool kept = std::find(o.keep_fp32.begin(), o.keep_fp32.end(), layer) != o.keep_fp32.end();
    EXPECT_EQ(p, kept ? "fp32" : "int8") << layer;
    (kept ? fp32 : int8)++;
  }
  EXPECT_EQ(fp32, 4);
  EXPECT_GT(int8, 40);
  for (const auto& lp : (*all)->info().layer_precisions) EXPECT_EQ(lp.second, "int8") << lp.first;
  EXPECT_NE((*mixed)->graph_text().find("= convert("), std::string::npos);
  EXPECT_NE((*mixed)->info().quantization_json.find("s1.b9.tcn"), std::string::npos);
}

// The fallback keeps blocks in FP32 until the drop (here: agreement with
// FP32 on perturbed copies of the inputs) is within the budget.
TEST(Int8, FallbackMeetsTheBudget) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case("ntu_spatial_2s_central");
  // Validation: 24 noisy copies of the case's samples.
  Tensor val;
  const int64_t per = c.input.numel() / c.N;
  val.shape = c.input.shape;
  val.shape[0] = 24;
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.f, 0.3f);
  for (int i = 0; i < 24; ++i)
    for (int64_t k = 0; k < per; ++k)
      val.data.push_back(c.input.data[(i % c.N) * per + k] + noise(rng));
  BuildOptions o = int8_options(c, &val);
  o.val = &val;
  o.max_drop = 0.0;  // must agree with FP32 on every validation sample
  auto e = Engine::build(c.model, o);
  ASSERT_TRUE(e.is_ok()) << e.status().message();
  auto rec = nlohmann::json::parse((*e)->info().quantization_json);
  EXPECT_EQ(rec["metric"], "agreement_with_fp32");
  EXPECT_LE(rec["final_drop"].get<double>(), 0.0);
  std::set<std::string> blocks;  // "s0.b3" of "s0.b3.tcn"
  for (const auto& lp : (*e)->info().layer_precisions)
    blocks.insert(lp.first.substr(0, lp.first.find('.', lp.first.find('.') + 1)));
  if (rec["all_int8_score"].get<double>() < 100.0) {
    EXPECT_EQ(rec["sensitivity"].size(), blocks.size());
  }
  // Measured independently: the engine's agreement with an FP32 engine on `val`.
  BuildOptions f;
  f.T = c.T;
  f.M = c.M;
  auto fp32 = Engine::build(c.model, f);
  ASSERT_TRUE(fp32.is_ok());
  auto c8 = (*e)->create_context(2);
  auto c32 = (*fp32)->create_context(2);
  ASSERT_TRUE(c8.is_ok() && c32.is_ok());
  auto l8 = (*c8)->run(val), l32 = (*c32)->run(val);
  ASSERT_TRUE(l8.is_ok() && l32.is_ok());
  const int64_t C = l8->shape[1];
  for (int64_t i = 0; i < 24; ++i) {
    const float* a = l8->data.data() + i * C;
    const float* b = l32->data.data() + i * C;
    EXPECT_EQ(std::max_element(a, a + C) - a, std::max_element(b, b + C) - b) << "sample " << i;
  }
}

// An int8 engine whose metadata was edited (and re-signed): every broken
// quantisation record is refused at load with one line.
TEST(Int8, EditedQuantisationRecordsAreRefused) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case("openpose_spatial");
  auto e = Engine::build(c.model, int8_options(c, &c.input));
  ASSERT_TRUE(e.is_ok()) << e.status().message();
  auto edited = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto file = engine::MappedEngineFile::from_bytes(
        std::vector<uint8_t>((*e)->bytes().begin(), (*e)->bytes().end()));
    EXPECT_TRUE(file.is_ok());
    engine::EngineFileContents contents;
    auto meta = nlohmann::json::parse((*file)->metadata_json());
    edit(meta);
    contents.metadata_json = meta.dump();
    contents.tensors = (*file)->tensors();
    auto bytes = engine::serialize_engine_file(contents);
    EXPECT_TRUE(bytes.is_ok());
    return Engine::from_bytes(std::move(*bytes), "edited.engine");
  };
  auto value = [](nlohmann::json& m, const std::string& name) -> nlohmann::json& {
    for (auto& v : m["graph"]["values"])
      if (v["name"] == name) return v;
    return m["graph"]["values"][0];
  };
  auto node = [](nlohmann::json& m, const std::string& name) -> nlohmann::json& {
    for (auto& n : m["graph"]["nodes"])
      if (n["name"] == name) return n;
    return m["graph"]["nodes"][0];
  };
  ASSERT_TRUE(edited([](nlohmann::json&) {}).is_ok());  // the unedited round trip loads
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> edits = {
      {[&](nlohmann::json& m) { value(m, "s0.b0.tcn")["scale"] = 0.0; }, "no valid scale"},
      {[&](nlohmann::json& m) { value(m, "s0.b0.gcn")["dtype"] = "u8"; }, "u8 without a relu"},
      {[&](nlohmann::json& m) { value(m, "s0.b1.agg")["dtype"] = "f32"; }, "mixes"},
      {[&](nlohmann::json& m) { node(m, "s0.b1.tcn")["attrs"]["wscale"] = -1; },
       "without weight scales"},
      {[&](nlohmann::json& m) { value(m, "s0.b2.gcn")["dtype"] = "q4"; }, "unknown element type"},
  };
  for (const auto& [edit, expect] : edits) {
    auto r = edited(edit);
    ASSERT_FALSE(r.is_ok()) << expect;
    EXPECT_NE(r.status().message().find(expect), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("cannot load 'edited.engine'"), std::string::npos)
        << r.status().message();
  }
}

}  // namespace
}  // namespace stgcn
