// ONNX export of mmaction2 / pyskl ST-GCN and ST-GCN++ models: every mm fixture case, in the
// model's own (N, M, T, V, C) input layout, at opsets 11..18, MatMul and Einsum aggregation,
// BatchNorms folded or kept, run by ONNX Runtime and compared with PyTorch's logits.
#include <gtest/gtest.h>

#include "export_test_util.h"
#include "stgcn/model.h"
#include "stgcn/npy.h"
#include "stgcn/onnx.h"
#include "test_util.h"

namespace stgcn {
namespace {

using nlohmann::json;
using testing::OrtJob;
using testing::TempDir;

LoadOptions mm_options(const json& c) {
  LoadOptions o;
  o.strides = c["strides"].get<std::vector<int>>();
  if (c["temporal_padding"] == "causal") o.temporal_padding = TemporalPadding::kCausal;
  return o;
}

TEST(OnnxExportMm, EveryCaseMatchesPyTorchInOnnxRuntime) {
  STGCN_REQUIRE_FIXTURES();
  const json& m = testing::manifest();
  ASSERT_TRUE(m.contains("mm") && m["mm"].contains("cases")) << "no mm fixtures";
  TempDir dir("mm_export");
  struct Variant {
    int opset;
    GraphConvForm form;
    bool fold;
  };
  const Variant variants[] = {{11, GraphConvForm::kMatMul, true},
                              {12, GraphConvForm::kEinsum, false},
                              {17, GraphConvForm::kEinsum, true},
                              {18, GraphConvForm::kMatMul, false}};
  std::vector<OrtJob> jobs;
  std::vector<std::pair<std::string, std::string>> expected;  // (output, logits64)
  int i = 0;
  for (const auto& c : m["mm"]["cases"]) {
    auto model = load_model(testing::fixture_path(c["checkpoint"]), mm_options(c));
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    const Variant& v = variants[i % 4];
    OnnxExportOptions o;
    o.opset = v.opset;
    o.graph_conv = v.form;
    o.fold_bn = v.fold;
    o.T = c["T"].get<int>();
    o.M = c["M"].get<int>();
    o.dynamic_batch = true;
    const std::string base = dir / (c["name"].get<std::string>());
    Status st = export_onnx(*model, o, base + ".onnx");
    ASSERT_TRUE(st.is_ok()) << c["name"] << ": " << st.message();
    jobs.push_back({base + ".onnx", testing::fixture_path(c["input"]), base + "_y.npy"});
    expected.emplace_back(base + "_y.npy", testing::fixture_path(c["logits64"]));
    ++i;
  }
  ASSERT_EQ(testing::run_ort(jobs, dir), "");
  for (size_t k = 0; k < expected.size(); ++k) {
    auto y = read_npy(expected[k].first);
    auto want = read_npy(expected[k].second);
    ASSERT_TRUE(y.is_ok() && want.is_ok());
    ASSERT_EQ(y->shape, want->shape) << expected[k].first;
    double d = 0, mx = 1;
    for (size_t j = 0; j < y->data.size(); ++j) {
      d = std::max(d, std::fabs(static_cast<double>(y->data[j]) - want->data[j]));
      mx = std::max(mx, std::fabs(static_cast<double>(want->data[j])));
    }
    EXPECT_LE(d, 1e-4 * mx) << expected[k].first;
  }
}

TEST(OnnxExportMm, AnMvcModelRefusesAnotherPersonCount) {
  STGCN_REQUIRE_FIXTURES();
  const json& m = testing::manifest();
  ASSERT_TRUE(m.contains("mm"));
  for (const auto& c : m["mm"]["cases"]) {
    if (c["data_bn_type"] != "MVC") continue;
    auto model = load_model(testing::fixture_path(c["checkpoint"]), mm_options(c));
    ASSERT_TRUE(model.is_ok());
    OnnxExportOptions o;
    o.T = c["T"].get<int>();
    o.M = c["M"].get<int>() + 1;
    auto bytes = export_onnx_bytes(*model, o);
    ASSERT_FALSE(bytes.is_ok());
    EXPECT_NE(bytes.status().message().find("MVC"), std::string::npos) << bytes.status().message();
    return;
  }
  FAIL() << "no MVC case";
}

}  // namespace
}  // namespace stgcn
