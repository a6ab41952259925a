// The TensorRT-ready exports (docs/tensorrt.md): FP16-typed graphs and explicitly quantised INT8
// (Q/DQ) graphs from our calibration. Fixture models of both families (original ST-GCN single-
// and two-stream, mmaction2 ST-GCN / ST-GCN++), run by ONNX Runtime; the graphs checked by
// python/check_qdq.py (onnx.checker, shape inference, TensorRT's placement rules).
#include <gtest/gtest.h>

#include <cmath>

#include "export_test_util.h"
#include "stgcn/engine.h"
#include "stgcn/model.h"
#include "stgcn/npy.h"
#include "stgcn/onnx.h"
#include "test_util.h"

namespace stgcn {
namespace {

using nlohmann::json;
using testing::OrtJob;
using testing::TempDir;

struct Case {
  std::string name;
  Model model;
  Tensor input;      // (N, ...) in the model's own layout
  Tensor nctvm;      // the same, (N, C, T, V, M) as the C++ API takes it
  Tensor reference;  // float64 PyTorch logits
  int T = 0, M = 0;
};

LoadOptions mm_load_options(const json& c) {
  LoadOptions o;
  o.strides = c["strides"].get<std::vector<int>>();
  if (c["temporal_padding"] == "causal") o.temporal_padding = TemporalPadding::kCausal;
  return o;
}

Case load_case(const json& c, bool mm) {
  Case k;
  k.name = c["name"].get<std::string>();
  auto m = load_model(testing::fixture_path(c["checkpoint"]),
                      mm ? mm_load_options(c) : testing::case_load_options(c));
  EXPECT_TRUE(m.is_ok()) << k.name << ": " << m.status().message();
  if (m.is_ok()) k.model = std::move(*m);
  auto x = read_npy(testing::fixture_path(c["input"]));
  auto y = read_npy(testing::fixture_path(c["logits64"]));
  EXPECT_TRUE(x.is_ok() && y.is_ok()) << k.name;
  if (x.is_ok()) {
    k.input = std::move(*x);
    auto n = convert_input_layout(k.input, k.model.spec.input_layout(), InputLayout::kNCTVM);
    EXPECT_TRUE(n.is_ok()) << k.name;
    if (n.is_ok()) k.nctvm = std::move(*n);
  }
  if (y.is_ok()) k.reference = std::move(*y);
  k.T = c["T"].get<int>();
  k.M = c["M"].get<int>();
  return k;
}

// Original-dialect cases (single / two-stream, several layouts) and every mm case whose name
// says ST-GCN++ or carries a gcn residual (the fixture set covers both families).
std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* n : {"openpose_spatial", "ntu_spatial_2s_central", "coco_spatial_m2"})
    if (const json* c = testing::find_case(n)) out.push_back(load_case(*c, false));
  const json& m = testing::manifest();
  if (m.contains("mm"))
    for (const auto& c : m["mm"]["cases"]) {
      out.push_back(load_case(c, true));
      if (out.size() >= 9) break;
    }
  return out;
}

struct Check {
  int rc = -1;
  std::vector<json> summaries;
  std::string text;
};

// python/check_qdq.py over the files: exit status and one JSON summary per file.
Check check_qdq(const std::vector<std::string>& files, const TempDir& dir) {
  std::string cmd = std::string("'") + STGCN_PYTHON + "' '" + STGCN_SOURCE_DIR +
                    "/python/check_qdq.py'";
  for (const auto& f : files) cmd += " '" + f + "'";
  const std::string out = dir / "check_qdq.txt";
  cmd += " >'" + out + "' 2>&1";
  Check c;
  const int rc = std::system(cmd.c_str());
  c.rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  c.text = testing::slurp(out);
  std::istringstream lines(c.text);
  for (std::string l; std::getline(lines, l);)
    if (!l.empty() && l[0] == '{') c.summaries.push_back(json::parse(l));
  return c;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.data) m = std::max(m, std::fabs(static_cast<double>(v)));
  return m;
}

double max_diff(const Tensor& a, const Tensor& b) {
  double d = 0;
  for (size_t i = 0; i < a.data.size(); ++i)
    d = std::max(d, std::fabs(static_cast<double>(a.data[i]) - b.data[i]));
  return d;
}

TEST(OnnxExportPrecision, Fp16GraphsStayWithinFp16ToleranceOfPyTorch) {
  STGCN_REQUIRE_FIXTURES();
  TempDir dir("fp16");
  std::vector<Case> all = cases();
  ASSERT_GE(all.size(), 6u);
  std::vector<OrtJob> jobs;
  std::vector<std::string> files;
  for (size_t i = 0; i < all.size(); ++i) {
    OnnxExportOptions o;
    o.precision = OnnxPrecision::kFp16;
    o.io_fp16 = i % 3 == 1;  // some with float16 input and output
    o.opset = i % 2 ? 13 : 17;
    o.T = all[i].T;
    o.M = all[i].M;
    o.dynamic_batch = true;
    const std::string f = dir / (all[i].name + ".onnx");
    Status st = export_onnx(all[i].model, o, f);
    ASSERT_TRUE(st.is_ok()) << all[i].name << ": " << st.message();
    jobs.push_back({f, dir / (all[i].name + "_x.npy"), dir / (all[i].name + "_y.npy")});
    ASSERT_TRUE(write_npy(jobs.back().input, all[i].input).is_ok());
    files.push_back(f);
  }
  Check c = check_qdq(files, dir);
  ASSERT_EQ(c.rc, 0) << c.text;
  ASSERT_EQ(c.summaries.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const json& s = c.summaries[i];
    EXPECT_EQ(s["q"], 0) << all[i].name;
    EXPECT_NE(s["initializer_types"].dump().find("FLOAT16"), std::string::npos) << all[i].name;
    EXPECT_EQ(s["input_type"], i % 3 == 1 ? "FLOAT16" : "FLOAT") << all[i].name;
  }
  ASSERT_EQ(testing::run_ort(jobs, dir), "");
  for (size_t i = 0; i < all.size(); ++i) {
    auto y = read_npy(jobs[i].output);
    ASSERT_TRUE(y.is_ok());
    ASSERT_EQ(y->shape, all[i].reference.shape) << all[i].name;
    // float16 carries 11 significant bits; through 10 blocks the logits keep ~3 digits.
    EXPECT_LE(max_diff(*y, all[i].reference), 1e-2 * std::max(1.0, max_abs(all[i].reference)))
        << all[i].name;
  }
}

// The INT8 export against our INT8 engine built from the same calibration: both quantise the
// same activations with the same thresholds (the export with s8 where the engine uses u8 after
// a ReLU, per-column adjacency scales where the engine has one), so their logits stay close and
// their error against FP32 is of the same size.
TEST(OnnxExportPrecision, Int8QdqFollowsThePlacementRulesAndTracksTheInt8Engine) {
  STGCN_REQUIRE_FIXTURES();
  TempDir dir("int8");
  std::vector<Case> all = cases();
  ASSERT_GE(all.size(), 6u);
  std::vector<OrtJob> jobs;
  std::vector<std::string> files;
  std::vector<Tensor> engine_logits;
  for (size_t i = 0; i < all.size(); ++i) {
    const Case& k = all[i];
    BuildOptions b;
    b.T = k.T;
    b.M = k.M;
    b.max_batch = static_cast<int>(k.input.shape[0]);
    b.precision = "int8";
    b.calib = &k.nctvm;
    b.calib_method = "minmax";
    auto plan = plan_int8(k.model, b);
    ASSERT_TRUE(plan.is_ok()) << k.name << ": " << plan.status().message();
    EXPECT_TRUE(plan->fp32_layers.empty());
    EXPECT_FALSE(plan->thresholds.empty());
    auto engine = Engine::build(k.model, b);
    ASSERT_TRUE(engine.is_ok()) << k.name << ": " << engine.status().message();
    auto ctx = (*engine)->create_context(1);
    ASSERT_TRUE(ctx.is_ok());
    auto y = (*ctx)->run(k.nctvm);
    ASSERT_TRUE(y.is_ok()) << y.status().message();
    engine_logits.push_back(std::move(*y));
    OnnxExportOptions o;
    o.precision = OnnxPrecision::kInt8;
    o.opset = 13 + static_cast<int>(i % 6);  // 13..18
    o.T = k.T;
    o.M = k.M;
    o.dynamic_batch = true;
    o.int8_thresholds = plan->thresholds;
    const std::string f = dir / (k.name + ".onnx");
    Status st = export_onnx(k.model, o, f);
    ASSERT_TRUE(st.is_ok()) << k.name << ": " << st.message();
    jobs.push_back({f, dir / (k.name + "_x.npy"), dir / (k.name + "_y.npy")});
    ASSERT_TRUE(write_npy(jobs.back().input, k.input).is_ok());
    files.push_back(f);
  }
  Check c = check_qdq(files, dir);
  ASSERT_EQ(c.rc, 0) << c.text;
  ASSERT_EQ(c.summaries.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const json& s = c.summaries[i];
    EXPECT_GT(s["layers"].get<int>(), 0) << all[i].name;
    EXPECT_EQ(s["quantised"], s["layers"]) << all[i].name;
    EXPECT_GT(s["q"].get<int>(), 0) << all[i].name;
  }
  ASSERT_EQ(testing::run_ort(jobs, dir), "");
  for (size_t i = 0; i < all.size(); ++i) {
    auto y = read_npy(jobs[i].output);
    ASSERT_TRUE(y.is_ok());
    const Tensor& ref = all[i].reference;
    ASSERT_EQ(y->shape, ref.shape) << all[i].name;
    const double scale = std::max(1.0, max_abs(ref));
    const double qdq_err = max_diff(*y, ref), engine_err = max_diff(engine_logits[i], ref);
    EXPECT_LE(qdq_err, 0.1 * scale) << all[i].name;
    // Random-weight fixtures calibrated on 1-2 samples: a few percent of the logit scale
    // (measured: <= 7 % for Q/DQ, <= 11 % for the engine on ST-GCN++); a wrong threshold or
    // scale saturates and lands near 100 %.
    EXPECT_LE(max_diff(*y, engine_logits[i]), 0.15 * scale) << all[i].name;
    EXPECT_LE(qdq_err, 3 * engine_err + 0.05 * scale)
        << all[i].name << ": Q/DQ error " << qdq_err << ", engine " << engine_err;
  }
}

TEST(OnnxExportPrecision, KeptLayersStayFloatAndTheRestStaysQuantised) {
  STGCN_REQUIRE_FIXTURES();
  TempDir dir("int8_keep");
  const json* c = testing::find_case("ntu_spatial_2s_central");
  ASSERT_NE(c, nullptr);
  Case k = load_case(*c, false);
  BuildOptions b;
  b.T = k.T;
  b.M = k.M;
  b.precision = "int8";
  b.calib = &k.nctvm;
  b.keep_fp32 = {"s0.b0.gcn", "s1.b2.tcn", "s0.b1.agg"};
  auto plan = plan_int8(k.model, b);
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  EXPECT_EQ(plan->fp32_layers.size(), 3u);
  OnnxExportOptions o;
  o.precision = OnnxPrecision::kInt8;
  o.T = k.T;
  o.M = k.M;
  o.int8_thresholds = plan->thresholds;
  o.int8_fp32_layers = plan->fp32_layers;
  const std::string f = dir / "keep.onnx";
  ASSERT_TRUE(export_onnx(k.model, o, f).is_ok());
  Check ch = check_qdq({f}, dir);
  ASSERT_EQ(ch.rc, 0) << ch.text;
  ASSERT_EQ(ch.summaries.size(), 1u);
  EXPECT_EQ(ch.summaries[0]["fp32_layers"], 3) << ch.text;
  EXPECT_EQ(ch.summaries[0]["quantised"].get<int>() + 3, ch.summaries[0]["layers"].get<int>());

  // An unknown layer is refused as a build would refuse it.
  b.keep_fp32 = {"s0.b99.gcn"};
  auto bad = plan_int8(k.model, b);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("no quantisable layer named 's0.b99.gcn'"),
            std::string::npos)
      << bad.status().message();
}

TEST(OnnxExportPrecision, RefusesWhatTensorRtCouldNotRunAsAsked) {
  STGCN_REQUIRE_FIXTURES();
  const json* c = testing::find_case("openpose_spatial");
  ASSERT_NE(c, nullptr);
  Case k = load_case(*c, false);
  OnnxExportOptions o;
  o.T = k.T;
  o.precision = OnnxPrecision::kInt8;
  auto expect_error = [&](const OnnxExportOptions& opt, const std::string& needle) {
    auto r = export_onnx_bytes(k.model, opt);
    ASSERT_FALSE(r.is_ok()) << needle;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect_error(o, "needs calibration thresholds");
  o.int8_thresholds = {{"s0.data_bn", 3.f}};  // the blocks' activations are missing
  expect_error(o, "no threshold for activation 's0.b0.gcn'");
  o.opset = 12;
  expect_error(o, "needs opset >= 13");
  o.opset = 17;
  o.graph_conv = GraphConvForm::kEinsum;
  expect_error(o, "TensorRT runs Einsum only in FP32 / FP16");
  o.graph_conv = GraphConvForm::kMatMul;
  o.fold_bn = false;
  expect_error(o, "folds every BatchNorm");
  OnnxExportOptions f;
  f.T = k.T;
  f.io_fp16 = true;
  expect_error(f, "--io-fp16");
  f.io_fp16 = false;
  f.precision = OnnxPrecision::kFp16;
  f.int8_fp32_layers = {"s0.b0.gcn"};
  expect_error(f, "apply to an INT8 export only");
}

}  // namespace
}  // namespace stgcn
