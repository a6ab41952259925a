// Causal temporal padding (kt - 1 zero frames before each temporal conv, none
// after): the checkpoint loader, the reference executor, the engine and its
// file, ONNX export and import, each against PyTorch's causal model (the
// fixture "tiny_2s_causal_op13", exported by torch with a Pad node before
// each temporal conv).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "onnx/export_test_util.h"
#include "passes/passes.h"
#include "stgcn/engine.h"
#include "stgcn/onnx.h"
#include "stgcn/reference.h"

namespace stgcn {
namespace {

using nlohmann::json;

const json* causal_fixture() {
  for (const auto& o : testing::manifest()["onnx"])
    if (o["name"] == "tiny_2s_causal_op13") return &o;
  return nullptr;
}

LoadOptions checkpoint_options(const json& o, TemporalPadding padding) {
  LoadOptions opt;
  opt.motion = *parse_motion_mode(o["motion"].get<std::string>());
  opt.strides = o["strides"].get<std::vector<int>>();
  opt.temporal_padding = padding;
  return opt;
}

struct Fixture {
  Model model;
  Tensor x, want;
};

Fixture load_fixture(const json& o) {
  Fixture f;
  auto m = load_model(testing::fixture_path(o["checkpoint"]),
                      checkpoint_options(o, TemporalPadding::kCausal));
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  if (m.is_ok()) f.model = std::move(*m);
  auto x = read_npy(testing::fixture_path(o["input"]));
  auto y = read_npy(testing::fixture_path(o["logits64"]));
  EXPECT_TRUE(x.is_ok() && y.is_ok());
  if (x.is_ok()) f.x = std::move(*x);
  if (y.is_ok()) f.want = std::move(*y);
  return f;
}

Result<std::shared_ptr<const Engine>> build(const Model& model, const Tensor& x,
                                            std::vector<std::string> disabled = {}) {
  BuildOptions bo;
  bo.T = static_cast<int>(x.shape[2]);
  bo.M = static_cast<int>(x.shape[4]);
  bo.max_batch = static_cast<int>(x.shape[0]);
  bo.disabled_passes = std::move(disabled);
  return Engine::build(model, bo);
}

TEST(CausalPadding, ParsesAndNames) {
  EXPECT_EQ(*parse_temporal_padding("causal"), TemporalPadding::kCausal);
  EXPECT_EQ(*parse_temporal_padding("centre"), TemporalPadding::kCentre);
  EXPECT_EQ(*parse_temporal_padding("center"), TemporalPadding::kCentre);
  auto bad = parse_temporal_padding("left");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("centre or causal"), std::string::npos);
  StreamSpec s;
  s.temporal_kernel = 9;
  EXPECT_EQ(s.pad_left(), 4);
  EXPECT_EQ(s.pad_right(), 4);
  s.temporal_padding = TemporalPadding::kCausal;
  EXPECT_EQ(s.pad_left(), 8);
  EXPECT_EQ(s.pad_right(), 0);
}

TEST(CausalPadding, ReferenceAndEngineMatchPyTorch) {
  STGCN_REQUIRE_FIXTURES();
  const json* o = causal_fixture();
  ASSERT_NE(o, nullptr);
  Fixture f = load_fixture(*o);
  ASSERT_FALSE(f.model.streams.empty());
  for (const auto& s : f.model.spec.streams) EXPECT_EQ(s.temporal_padding, TemporalPadding::kCausal);

  auto ref = run_reference(f.model, f.x);
  ASSERT_TRUE(ref.is_ok()) << ref.status().message();
  const auto cr = testing::compare_logits(*ref, f.want);
  EXPECT_TRUE(cr.ok()) << "reference: max |C++ - PyTorch| = " << cr.max_abs_diff;

  // Every pass on, and every pass off (the unfused graph).
  for (bool unfused : {false, true}) {
    std::vector<std::string> off;
    if (unfused)
      for (const auto& p : passes::pipeline()) off.push_back(p.name);
    auto engine = build(f.model, f.x, off);
    ASSERT_TRUE(engine.is_ok()) << engine.status().message();
    for (int threads : {1, 2}) {
      auto ctx = (*engine)->create_context(threads);
      ASSERT_TRUE(ctx.is_ok());
      auto got = (*ctx)->run(f.x);
      ASSERT_TRUE(got.is_ok()) << got.status().message();
      const auto c = testing::compare_logits(*got, f.want);
      EXPECT_TRUE(c.ok()) << "engine (unfused " << unfused << ", " << threads
                          << " threads): max |engine - PyTorch| = " << c.max_abs_diff;
    }
  }

  // The option matters: read as centre-padded, the same weights give other logits.
  auto centre = load_model(testing::fixture_path((*o)["checkpoint"]),
                           checkpoint_options(*o, TemporalPadding::kCentre));
  ASSERT_TRUE(centre.is_ok());
  auto wrong = run_reference(*centre, f.x);
  ASSERT_TRUE(wrong.is_ok());
  EXPECT_FALSE(testing::compare_logits(*wrong, f.want).ok());
}

TEST(CausalPadding, EngineFileKeepsIt) {
  STGCN_REQUIRE_FIXTURES();
  const json* o = causal_fixture();
  ASSERT_NE(o, nullptr);
  Fixture f = load_fixture(*o);
  auto engine = build(f.model, f.x);
  ASSERT_TRUE(engine.is_ok()) << engine.status().message();
  testing::TempDir dir("causal");
  const std::string path = dir / "causal.engine";
  ASSERT_TRUE((*engine)->save(path).is_ok());
  auto back = Engine::load(path);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  for (const auto& s : (*back)->info().spec.streams)
    EXPECT_EQ(s.temporal_padding, TemporalPadding::kCausal);
  EXPECT_NE((*back)->graph_text().find("pad=8"), std::string::npos);
  auto a = (*(*engine)->create_context(1))->run(f.x);
  auto b = (*(*back)->create_context(1))->run(f.x);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(a->data, b->data);
}

TEST(CausalPadding, OnnxExportRoundTripsAndRunsInOnnxRuntime) {
  STGCN_REQUIRE_FIXTURES();
  const json* o = causal_fixture();
  ASSERT_NE(o, nullptr);
  Fixture f = load_fixture(*o);
  testing::TempDir dir("causal_onnx");
  const std::string input = dir / "x.npy";
  ASSERT_TRUE(write_npy(input, f.x).is_ok());
  std::vector<testing::OrtJob> jobs;
  std::vector<std::string> files;
  for (auto [opset, form] : {std::pair{11, GraphConvForm::kMatMul},
                             std::pair{17, GraphConvForm::kEinsum}}) {
    OnnxExportOptions eo;
    eo.opset = opset;
    eo.graph_conv = form;
    eo.T = static_cast<int>(f.x.shape[2]);
    eo.M = static_cast<int>(f.x.shape[4]);
    eo.batch = static_cast<int>(f.x.shape[0]);
    const std::string file = dir / ("causal_op" + std::to_string(opset) + ".onnx");
    Status st = export_onnx(f.model, eo, file);
    ASSERT_TRUE(st.is_ok()) << st.message();
    files.push_back(file);
    jobs.push_back({file, input, file + ".y.npy"});

    // Imported back: causal again, the same logits.
    auto back = load_model(file, LoadOptions{});
    ASSERT_TRUE(back.is_ok()) << back.status().message();
    for (const auto& s : back->spec.streams) EXPECT_EQ(s.temporal_padding, TemporalPadding::kCausal);
    auto y = run_reference(*back, f.x);
    ASSERT_TRUE(y.is_ok());
    EXPECT_TRUE(testing::compare_logits(*y, f.want).ok()) << file;
  }
  const std::string err = testing::run_ort(jobs, dir);
  ASSERT_EQ(err, "");
  for (const auto& j : jobs) {
    auto y = read_npy(j.output);
    ASSERT_TRUE(y.is_ok()) << j.output;
    const auto c = testing::compare_logits(*y, f.want);
    EXPECT_TRUE(c.ok()) << j.model << ": max |ORT - PyTorch| = " << c.max_abs_diff;
  }
}

}  // namespace
}  // namespace stgcn
