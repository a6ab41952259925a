// ONNX import of mmaction2 / pyskl ST-GCN and ST-GCN++ graphs: what torch.onnx.export writes
// from these models the way mmaction2's deployment script calls it (the manifest's mm.onnx list:
// opset 12 / 17, dynamic batch / persons / frames, the head pooled by mean, one with a Softmax)
// and the project's own export of mm models -> import_onnx -> the reference executor and an
// FP32 engine, against the exports' own logits; refused graphs name the node.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include "export_test_util.h"
#include "stgcn/engine.h"
#include "stgcn/model.h"
#include "stgcn/npy.h"
#include "stgcn/onnx.h"
#include "stgcn/reference.h"
#include "test_util.h"

namespace stgcn {
namespace {

using nlohmann::json;

const json& mm() {
  static const json empty = json::object();
  const json& m = testing::manifest();
  return m.is_object() && m.contains("mm") ? m["mm"] : empty;
}

const json* mm_entry(const char* list, const std::string& name) {
  if (!mm().contains(list)) return nullptr;
  for (const auto& e : mm()[list])
    if (e["name"] == name) return &e;
  return nullptr;
}

std::vector<std::string> mm_onnx_names() {
  std::vector<std::string> names;
  if (mm().contains("onnx"))
    for (const auto& e : mm()["onnx"]) names.push_back(e["name"].get<std::string>());
  if (names.empty()) names.push_back("fixtures_missing");
  return names;
}

// A case's checkpoint as a user loads it: its strides and padding (not in a state dict).
LoadOptions checkpoint_options(const json& c) {
  LoadOptions o;
  o.strides = c["strides"].get<std::vector<int>>();
  if (c["temporal_padding"] == "causal") o.temporal_padding = TemporalPadding::kCausal;
  return o;
}

// An (N, M, T, V, C) sample file as the executors take it, (N, C, T, V, M).
Tensor nctvm_input(const std::string& rel) {
  auto x = read_npy(testing::fixture_path(rel));
  EXPECT_TRUE(x.is_ok()) << rel << ": " << x.status().message();
  if (!x.is_ok()) return Tensor();
  auto y = convert_input_layout(*x, InputLayout::kNMTVC, InputLayout::kNCTVM);
  EXPECT_TRUE(y.is_ok()) << y.status().message();
  return y.is_ok() ? *y : Tensor();
}

const char* residual_name(ResidualKind r) { return residual_kind_name(r); }

// The imported architecture is the case's: family, widths, strides, residuals, units, padding.
void expect_architecture(const ModelSpec& spec, const json& c) {
  EXPECT_EQ(spec.dialect, Dialect::kMmaction2);
  EXPECT_EQ(spec.input_layout(), InputLayout::kNMTVC);
  EXPECT_EQ(spec.family, c["family"] == "stgcn++" ? "ST-GCN++" : "ST-GCN");
  ASSERT_EQ(spec.streams.size(), 1u);
  const StreamSpec& s = spec.streams.front();
  EXPECT_EQ(s.C, c["C"].get<int>());
  EXPECT_EQ(s.V, c["V"].get<int>());
  EXPECT_EQ(s.K, c["K"].get<int>());
  EXPECT_EQ(s.num_class, c["num_classes"].get<int>());
  EXPECT_STREQ(temporal_padding_name(s.temporal_padding),
               c["temporal_padding"].get<std::string>().c_str());
  EXPECT_EQ(spec.fixed_persons(), c["data_bn_type"] == "MVC" ? c["M"].get<int>() : 0);
  const auto widths = c["widths"].get<std::vector<int>>();
  const auto strides = c["strides"].get<std::vector<int>>();
  const auto residual = c["residual"].get<std::vector<std::string>>();
  const auto down = c["gcn_down"].get<std::vector<std::string>>();
  ASSERT_EQ(s.blocks.size(), widths.size());
  for (size_t i = 0; i < widths.size(); ++i) {
    SCOPED_TRACE("block " + std::to_string(i));
    const BlockSpec& b = s.blocks[i];
    EXPECT_EQ(b.out_channels, widths[i]);
    EXPECT_EQ(b.stride, strides[i]);
    EXPECT_EQ(residual_name(b.residual), residual[i]);
    EXPECT_EQ(residual_name(b.gcn_residual), down[i]);
    EXPECT_EQ(b.temporal == TemporalUnit::kMultiScale, c["tcn_type"] == "mstcn");
  }
}

double tolerance(const Tensor& want) {
  double m = 0;
  for (float v : want.data) m = std::max(m, std::fabs(static_cast<double>(v)));
  return 1e-4 * std::max(1.0, m);
}

// Largest |a - b| (infinite when the shapes differ).
double max_diff(const Tensor& a, const Tensor& b) {
  return testing::compare_logits(a, b).max_abs_diff;
}

TEST(OnnxImportMm, FixturesCoverTheDeploymentExports) {
  STGCN_REQUIRE_FIXTURES();
  ASSERT_TRUE(mm().contains("onnx")) << "the fixtures have no mm.onnx list";
  std::set<int> opsets;
  std::set<std::string> families;
  bool softmax = false;
  for (const auto& o : mm()["onnx"]) {
    opsets.insert(o["opset"].get<int>());
    softmax |= o["softmax"].get<bool>();
    const json* c = mm_entry("cases", o["case"]);
    ASSERT_NE(c, nullptr) << o["case"];
    families.insert((*c)["family"].get<std::string>());
    const auto& axes = o["dynamic_axes"][o["input_names"][0].get<std::string>()];
    EXPECT_EQ(axes.size(), 3u) << "batch, persons and frames dynamic";
    EXPECT_FALSE(o["extra"].empty());
  }
  EXPECT_TRUE(opsets.count(12));
  EXPECT_EQ(families, (std::set<std::string>{"stgcn", "stgcn++"}));
  EXPECT_TRUE(softmax);
}

class OnnxImportMmCase : public ::testing::TestWithParam<std::string> {};

// The import runs the export's own inputs (and its extra ones: other N, M, T) to the export's
// logits in the reference executor and in FP32 engines built for each T and M.
TEST_P(OnnxImportMmCase, ReferenceAndEngineMatchTheExport) {
  STGCN_REQUIRE_FIXTURES();
  const json* o = mm_entry("onnx", GetParam());
  ASSERT_NE(o, nullptr) << "no mm.onnx fixture '" << GetParam() << "'";
  const json* c = mm_entry("cases", (*o)["case"]);
  ASSERT_NE(c, nullptr) << (*o)["case"];
  std::vector<std::string> warnings;
  LoadOptions opt;
  opt.warn = [&](const std::string& w) { warnings.push_back(w); };
  auto model = load_model(testing::fixture_path((*o)["file"]), opt);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  expect_architecture(model->spec, *c);
  EXPECT_EQ(model->spec.a_source.rfind("ONNX", 0), 0u) << model->spec.a_source;
  bool softmax_warned = false;
  for (const auto& w : warnings) softmax_warned |= w.find("Softmax") != std::string::npos;
  EXPECT_EQ(softmax_warned, (*o)["softmax"].get<bool>());

  std::vector<std::pair<std::string, std::string>> samples = {{(*o)["input"], (*o)["logits"]}};
  for (const auto& e : (*o)["extra"]) samples.emplace_back(e["input"], e["logits"]);
  for (const auto& [in, out] : samples) {
    SCOPED_TRACE(in);
    const Tensor x = nctvm_input(in);
    auto want = read_npy(testing::fixture_path(out));
    ASSERT_TRUE(want.is_ok()) << want.status().message();
    auto as_output = [&](const Tensor& logits) {
      return (*o)["softmax"].get<bool>() ? testing::softmax_rows(logits) : logits;
    };
    const double tol = tolerance(*want);
    auto ref = run_reference(*model, x);
    ASSERT_TRUE(ref.is_ok()) << ref.status().message();
    EXPECT_LE(max_diff(as_output(*ref), *want), tol) << "reference executor";

    BuildOptions b;  // T and M are build options: one engine per sample shape
    b.T = static_cast<int>(x.shape[2]);
    b.M = static_cast<int>(x.shape[4]);
    b.max_batch = static_cast<int>(x.shape[0]);
    auto engine = Engine::build(*model, b);
    ASSERT_TRUE(engine.is_ok()) << engine.status().message();
    auto ctx = (*engine)->create_context(1);
    ASSERT_TRUE(ctx.is_ok()) << ctx.status().message();
    auto y = (*ctx)->run(x);
    ASSERT_TRUE(y.is_ok()) << y.status().message();
    EXPECT_LE(max_diff(as_output(*y), *want), tol) << "FP32 engine";
  }

  // The same network as the checkpoint it was exported from.
  auto ckpt = load_model(testing::fixture_path((*c)["checkpoint"]), checkpoint_options(*c));
  ASSERT_TRUE(ckpt.is_ok()) << ckpt.status().message();
  const Tensor x = nctvm_input((*c)["input"]);
  auto a = run_reference(*model, x);
  auto want = run_reference(*ckpt, x);
  ASSERT_TRUE(a.is_ok() && want.is_ok());
  EXPECT_LE(max_diff(*a, *want), tolerance(*want)) << "against the checkpoint model";
  auto want64 = read_npy(testing::fixture_path((*c)["logits64"]));
  ASSERT_TRUE(want64.is_ok());
  EXPECT_LE(max_diff(*a, *want64), tolerance(*want64)) << "against PyTorch's float64 logits";
}

INSTANTIATE_TEST_SUITE_P(OnnxImportMm, OnnxImportMmCase, ::testing::ValuesIn(mm_onnx_names()),
                         testing::param_name);

// `stgcn export` of mm models (default options: opset 17, MatMul; and the Einsum form) imports
// back to the same architecture and logits: ST-GCN, ST-GCN++, 'MVC' data_bn, causal padding,
// a dropped block 0 (identity residual first), strides the residual rule does not give.
TEST(OnnxImportMm, RoundTripsTheProjectsExport) {
  STGCN_REQUIRE_FIXTURES();
  testing::TempDir dir("mm_import");
  int tested = 0;
  for (const char* name :
       {"stgcn_coco2d_mmengine", "stgcnpp_coco2d_mmengine", "stgcnpp_ntu3d_mvc_pyskl",
        "causal_stgcnpp_coco2d_mmengine", "stgcn_in_eq_base_coco_bare",
        "stgcnpp_inflate_ne_down_coco2d_noscore_mmengine"}) {
    const json* c = mm_entry("cases", name);
    ASSERT_NE(c, nullptr) << name;
    auto model = load_model(testing::fixture_path((*c)["checkpoint"]), checkpoint_options(*c));
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    const Tensor x = nctvm_input((*c)["input"]);
    auto want = run_reference(*model, x);
    ASSERT_TRUE(want.is_ok());
    struct Form {
      int opset;
      GraphConvForm form;
    };
    for (const Form f : {Form{11, GraphConvForm::kMatMul}, Form{17, GraphConvForm::kMatMul},
                         Form{17, GraphConvForm::kEinsum}}) {
      SCOPED_TRACE(std::string(name) + " opset " + std::to_string(f.opset) +
                   (f.form == GraphConvForm::kMatMul ? " matmul" : " einsum"));
      OnnxExportOptions eo;
      eo.opset = f.opset;
      eo.graph_conv = f.form;
      if (model->spec.fixed_persons() > 0) eo.M = model->spec.fixed_persons();
      const std::string path = dir / (std::string(name) + "_" + std::to_string(f.opset) +
                                      (f.form == GraphConvForm::kMatMul ? "m" : "e") + ".onnx");
      Status st = export_onnx(*model, eo, path);
      ASSERT_TRUE(st.is_ok()) << st.message();
      auto back = load_model(path, LoadOptions{});
      ASSERT_TRUE(back.is_ok()) << back.status().message();
      expect_architecture(back->spec, *c);
      auto got = run_reference(*back, x);
      ASSERT_TRUE(got.is_ok()) << got.status().message();
      EXPECT_LE(max_diff(*got, *want), tolerance(*want));
      ++tested;
    }
  }
  EXPECT_EQ(tested, 18);
}

// A graph that breaks the mmaction2 form fails with the one-line "not understood" message
// naming the node: here the mstcn branches concatenated in another order (the transform's
// channels would no longer be mmaction2's).
TEST(OnnxImportMm, ABranchOrderOtherThanMmaction2sNamesTheConcat) {
  STGCN_REQUIRE_FIXTURES();
  const json* o = mm_entry("onnx", "stgcnpp_coco2d_op12");
  ASSERT_NE(o, nullptr);
  testing::TempDir dir("mm_import_bad");
  const std::string out = dir / "swapped.onnx", script = dir / "swap.py";
  std::ofstream(script) << "import sys, onnx\n"
                           "m = onnx.load(sys.argv[1])\n"
                           "for n in m.graph.node:\n"
                           "    if n.op_type == 'Concat' and n.name.endswith('gcn.0/tcn/Concat'):\n"
                           "        a, b = n.input[0], n.input[1]\n"
                           "        n.input[0], n.input[1] = b, a\n"
                           "onnx.save(m, sys.argv[2])\n";
  const std::string cmd = std::string("'") + STGCN_PYTHON + "' '" + script + "' '" +
                          testing::fixture_path((*o)["file"]) + "' '" + out + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto model = load_model(out, LoadOptions{});
  ASSERT_FALSE(model.is_ok());
  const std::string msg = model.status().message();
  EXPECT_EQ(model.status().code(), ErrorCode::kUnsupported) << msg;
  EXPECT_EQ(msg.rfind("cannot load '" + out + "': ", 0), 0u) << msg;
  EXPECT_NE(msg.find("gcn.0/tcn/Concat' (Concat) is not part of an ST-GCN graph we understand"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("mmaction2's order"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

}  // namespace
}  // namespace stgcn
