// ONNX import: torch.onnx.export files of the PyTorch reference model (the
// fixture manifest's "onnx" list) -> import_onnx -> reference executor,
// compared with PyTorch's float64 logits; broken / foreign files; the CLI;
// round trips through the project's own exporter.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "stgcn/model.h"
#include "stgcn/npy.h"
#include "stgcn/onnx.h"
#include "stgcn/reference.h"
#include "test_util.h"

namespace stgcn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const json* find_entry(const char* list, const std::string& name) {
  for (const auto& e : testing::manifest()[list])
    if (e["name"] == name) return &e;
  return nullptr;
}

std::vector<uint8_t> slurp_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Options a user would pass: the custom layout for custom-layout models (it
// lets the importer split A from the edge importance); warnings collected.
LoadOptions options_for(const json& onnx, std::vector<std::string>* warnings) {
  LoadOptions opt;
  if (!onnx["custom_layout"].is_null()) opt.layout = testing::fixture_path(onnx["custom_layout"]);
  if (warnings) opt.warn = [warnings](const std::string& w) { warnings->push_back(w); };
  return opt;
}

// How the checkpoint the file was exported from loads (strides and motion are
// not in a state dict).
LoadOptions checkpoint_options(const json& onnx) {
  LoadOptions opt;
  if (!onnx["motion"].is_null()) opt.motion = *parse_motion_mode(onnx["motion"].get<std::string>());
  opt.strides = onnx["strides"].get<std::vector<int>>();
  opt.temporal_padding = *parse_temporal_padding(onnx["temporal_padding"].get<std::string>());
  return opt;
}

Tensor softmax_rows(const Tensor& y) {
  Tensor p = y;
  const int64_t n = y.shape[0], k = y.shape[1];
  for (int64_t r = 0; r < n; ++r) {
    float* row = p.data.data() + r * k;
    const float mx = *std::max_element(row, row + k);
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(static_cast<double>(row[j]) - mx);
    for (int64_t j = 0; j < k; ++j)
      row[j] = static_cast<float>(std::exp(static_cast<double>(row[j]) - mx) / sum);
  }
  return p;
}

TEST(OnnxImport, FixturesCoverTheMatrix) {
  STGCN_REQUIRE_FIXTURES();
  std::set<int> opsets, ms;
  std::set<std::string> aggregations, pools, motions;
  std::set<bool> softmax, two_stream, dynamic, folded;
  std::set<std::string> paddings;
  for (const auto& o : testing::manifest()["onnx"]) {
    opsets.insert(o["opset"].get<int>());
    ms.insert(o["M"].get<int>());
    aggregations.insert(o["aggregation"].get<std::string>());
    pools.insert(o["pool"].get<std::string>());
    softmax.insert(o["softmax"].get<bool>());
    two_stream.insert(o["two_stream"].get<bool>());
    dynamic.insert(o["dynamic_batch"].get<bool>());
    folded.insert(o["folded_bn"].get<bool>());
    if (o["two_stream"].get<bool>()) motions.insert(o["motion"].get<std::string>());
    paddings.insert(o["temporal_padding"].get<std::string>());
  }
  EXPECT_EQ(paddings.size(), 2u);  // centre and causal
  for (int op : {12, 13, 17}) EXPECT_TRUE(opsets.count(op)) << "opset " << op;
  for (int m : {1, 5}) EXPECT_TRUE(ms.count(m)) << "M=" << m;
  for (const char* a : {"einsum", "matmul", "matmul_k"}) EXPECT_TRUE(aggregations.count(a)) << a;
  for (const char* p : {"mean", "avg_pool2d", "adaptive"}) EXPECT_TRUE(pools.count(p)) << p;
  EXPECT_EQ(softmax.size(), 2u);
  EXPECT_EQ(two_stream.size(), 2u);
  EXPECT_EQ(dynamic.size(), 2u);
  EXPECT_EQ(folded.size(), 2u);
  EXPECT_EQ(motions.size(), 2u);
  EXPECT_GE(testing::manifest()["bad_onnx"].size(), 5u);
}

class OnnxImportCase : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxImportCase, LogitsMatchPyTorch) {
  STGCN_REQUIRE_FIXTURES();
  const json* o = find_entry("onnx", GetParam());
  ASSERT_NE(o, nullptr) << "no ONNX fixture '" << GetParam() << "'";
  std::vector<std::string> warnings;
  auto model = load_model(testing::fixture_path((*o)["file"]), options_for(*o, &warnings));
  ASSERT_TRUE(model.is_ok()) << model.status().message();

  // The architecture of the model the file was exported from.
  const ModelSpec& spec = model->spec;
  EXPECT_EQ(spec.two_stream, (*o)["two_stream"].get<bool>());
  if (spec.two_stream) {
    EXPECT_STREQ(motion_mode_name(spec.motion), (*o)["motion"].get<std::string>().c_str());
  }
  EXPECT_EQ(spec.V(), (*o)["V"].get<int>());
  EXPECT_EQ(spec.C(), (*o)["C"].get<int>());
  EXPECT_EQ(spec.num_class(), (*o)["num_class"].get<int>());
  EXPECT_EQ(spec.streams[0].K, (*o)["K"].get<int>());
  EXPECT_EQ(spec.streams[0].edge_importance, (*o)["edge_importance"].get<bool>());
  if ((*o)["custom_layout"].is_null()) {
    EXPECT_EQ(spec.layout, (*o)["layout"].get<std::string>());
  }
  const auto widths = (*o)["widths"].get<std::vector<int>>();
  const auto strides = (*o)["strides"].get<std::vector<int>>();
  for (const auto& s : spec.streams) {
    ASSERT_EQ(s.blocks.size(), widths.size());
    for (size_t i = 0; i < widths.size(); ++i) {
      EXPECT_EQ(s.blocks[i].out_channels, widths[i]) << "block " << i;
      EXPECT_EQ(s.blocks[i].stride, strides[i]) << "block " << i;
    }
  }
  EXPECT_EQ(spec.a_source.rfind("ONNX", 0), 0u) << spec.a_source;
  // Centre or causal, read from the convs' pads (or a Pad node before them).
  for (const auto& s : spec.streams)
    EXPECT_STREQ(temporal_padding_name(s.temporal_padding),
                 (*o)["temporal_padding"].get<std::string>().c_str());
  bool softmax_warned = false;
  for (const auto& w : warnings) softmax_warned |= w.find("Softmax") != std::string::npos;
  EXPECT_EQ(softmax_warned, (*o)["softmax"].get<bool>());

  // The logits (before any softmax), then what the ONNX graph itself outputs.
  auto x = read_npy(testing::fixture_path((*o)["input"]));
  ASSERT_TRUE(x.is_ok()) << x.status().message();
  auto want = read_npy(testing::fixture_path((*o)["logits64"]));
  ASSERT_TRUE(want.is_ok()) << want.status().message();
  auto got = run_reference(*model, *x);
  ASSERT_TRUE(got.is_ok()) << got.status().message();
  const auto cl = testing::compare_logits(*got, *want);
  EXPECT_TRUE(cl.ok()) << "max |C++ - PyTorch| = " << cl.max_abs_diff << " > " << cl.tolerance;
  std::printf("[ onnx %s ] max |C++ - PyTorch| = %.3g (tolerance %.3g)\n", GetParam().c_str(),
              cl.max_abs_diff, cl.tolerance);
  if ((*o)["softmax"].get<bool>()) {
    auto probs = read_npy(testing::fixture_path((*o)["output64"]));
    ASSERT_TRUE(probs.is_ok()) << probs.status().message();
    const auto cp = testing::compare_logits(softmax_rows(*got), *probs);
    EXPECT_TRUE(cp.ok()) << "softmax: max |C++ - PyTorch| = " << cp.max_abs_diff;
  }
}

INSTANTIATE_TEST_SUITE_P(OnnxImport, OnnxImportCase,
                         ::testing::ValuesIn(testing::manifest_names("onnx")), testing::param_name);

// The imported model and the checkpoint it was exported from describe the
// same network: same blocks, same parameter count, (nearly) the same logits.
TEST(OnnxImport, AgreesWithTheCheckpointModel) {
  STGCN_REQUIRE_FIXTURES();
  for (const auto& o : testing::manifest()["onnx"]) {
    const std::string name = o["name"].get<std::string>();
    if (name.rfind("seed_full", 0) == 0) continue;  // covered above; slow here
    SCOPED_TRACE(name);
    auto ckpt = load_model(testing::fixture_path(o["checkpoint"]), checkpoint_options(o));
    ASSERT_TRUE(ckpt.is_ok()) << ckpt.status().message();
    auto onnx = load_model(testing::fixture_path(o["file"]), options_for(o, nullptr));
    ASSERT_TRUE(onnx.is_ok()) << onnx.status().message();
    EXPECT_EQ(parameter_count(*onnx), parameter_count(*ckpt));
    EXPECT_EQ(count_macs(onnx->spec, 150, 2), count_macs(ckpt->spec, 150, 2));
    EXPECT_EQ(onnx->spec.motion, ckpt->spec.motion);
    auto x = read_npy(testing::fixture_path(o["input"]));
    ASSERT_TRUE(x.is_ok());
    auto a = run_reference(*onnx, *x);
    auto b = run_reference(*ckpt, *x);
    ASSERT_TRUE(a.is_ok() && b.is_ok());
    EXPECT_TRUE(testing::compare_logits(*a, *b, 1e-5).ok());
  }
}

TEST(OnnxImport, BadFilesFailWithOneClearLine) {
  STGCN_REQUIRE_FIXTURES();
  for (const auto& b : testing::manifest()["bad_onnx"]) {
    SCOPED_TRACE(b["name"].get<std::string>());
    const std::string path = testing::fixture_path(b["file"]);
    auto model = load_model(path, LoadOptions{});
    ASSERT_FALSE(model.is_ok());
    EXPECT_NE(model.status().code(), ErrorCode::kOk);
    const std::string msg = model.status().message();
    EXPECT_EQ(msg.rfind("cannot load '" + path + "': ", 0), 0u) << msg;
    EXPECT_NE(testing::lower(msg).find(b["expect"].get<std::string>()), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
    std::printf("[ bad onnx %s ] %s\n", b["name"].get<std::string>().c_str(), msg.c_str());
  }
}

TEST(OnnxImport, ForeignGraphsNameTheFirstNodeNotUnderstood) {
  STGCN_REQUIRE_FIXTURES();
  const json* mlp = find_entry("bad_onnx", "not_stgcn_mlp");
  ASSERT_NE(mlp, nullptr);
  auto model = load_model(testing::fixture_path((*mlp)["file"]), LoadOptions{});
  ASSERT_FALSE(model.is_ok());
  EXPECT_NE(model.status().message().find("(Gemm) is not part of an ST-GCN graph we understand"),
            std::string::npos)
      << model.status().message();
  EXPECT_EQ(model.status().code(), ErrorCode::kUnsupported);
}

TEST(OnnxImport, BytesApiAndMissingFile) {
  STGCN_REQUIRE_FIXTURES();
  const json* tiny = find_entry("onnx", "tiny_2s_op17");
  ASSERT_NE(tiny, nullptr);
  const auto bytes = slurp_bytes(testing::fixture_path((*tiny)["file"]));
  auto ok = import_onnx_bytes(bytes, "mem.onnx", LoadOptions{});
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_TRUE(ok->spec.two_stream);
  auto bad = import_onnx_bytes(std::span<const uint8_t>(bytes.data(), bytes.size() / 3), "mem.onnx",
                               LoadOptions{});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().message().rfind("cannot load 'mem.onnx': ", 0), 0u)
      << bad.status().message();
  auto missing = load_model("/nonexistent/model.onnx", LoadOptions{});
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
}

// Every prefix (at a stride) and many single-byte corruptions of a valid file
// fail cleanly or import; never a crash, always one line naming the file.
TEST(OnnxImport, TruncatedAndCorruptedBytesFailCleanly) {
  STGCN_REQUIRE_FIXTURES();
  const json* tiny = find_entry("onnx", "tiny_2s_op17");
  ASSERT_NE(tiny, nullptr);
  const auto bytes = slurp_bytes(testing::fixture_path((*tiny)["file"]));
  ASSERT_GT(bytes.size(), 1000u);
  auto check = [](const Result<Model>& r) {
    if (r.is_ok()) return;
    EXPECT_EQ(r.status().message().rfind("cannot load 'x.onnx': ", 0), 0u) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << r.status().message();
  };
  for (size_t n = 0; n < bytes.size(); n += 613)
    check(import_onnx_bytes(std::span<const uint8_t>(bytes.data(), n), "x.onnx", LoadOptions{}));
  uint32_t seed = 12345;
  for (int i = 0; i < 300; ++i) {
    seed = seed * 1664525u + 1013904223u;
    auto copy = bytes;
    copy[seed % copy.size()] ^= static_cast<uint8_t>(1u << (seed >> 29));
    check(import_onnx_bytes(copy, "x.onnx", LoadOptions{}));
  }
}

// The project's exporter and this importer agree: export -> import gives the
// model's own logits, for every graph form the exporter offers.
TEST(OnnxImport, RoundTripsTheProjectsExporter) {
  STGCN_REQUIRE_FIXTURES();
  for (const char* name :
       {"tiny_2s_op17", "custom_distance_c2_op13", "blazepose_spatial_2s_central_op13"}) {
    const json* src = find_entry("onnx", name);
    ASSERT_NE(src, nullptr) << name;
    auto model = load_model(testing::fixture_path((*src)["checkpoint"]), checkpoint_options(*src));
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    auto x = read_npy(testing::fixture_path((*src)["input"]));
    ASSERT_TRUE(x.is_ok());
    auto want = run_reference(*model, *x);
    ASSERT_TRUE(want.is_ok());
    for (GraphConvForm form : {GraphConvForm::kEinsum, GraphConvForm::kMatMul})
      for (bool fold : {true, false})
        for (bool softmax : {false, true}) {
          OnnxExportOptions eo;
          // The oldest opset each form allows, and the newest (axes as inputs).
          eo.opset = softmax ? 18 : form == GraphConvForm::kMatMul ? 11 : 12;
          eo.T = static_cast<int>(x->shape[2]);
          eo.M = static_cast<int>(x->shape[4]);
          eo.batch = static_cast<int>(x->shape[0]);
          eo.dynamic_batch = softmax;
          eo.graph_conv = form;
          eo.fold_bn = fold;
          eo.softmax = softmax;
          SCOPED_TRACE(std::string(name) +
                       (form == GraphConvForm::kMatMul ? " matmul" : " einsum") +
                       (fold ? " folded" : "") + (softmax ? " softmax dynamic" : "") + " opset " +
                       std::to_string(eo.opset));
          auto bytes = export_onnx_bytes(*model, eo);
          if (!bytes.is_ok()) {
            ADD_FAILURE() << "export: " << bytes.status().message();
            continue;
          }
          auto back =
              import_onnx_bytes(std::span<const uint8_t>(
                                    reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()),
                                "roundtrip.onnx", LoadOptions{});
          ASSERT_TRUE(back.is_ok()) << back.status().message();
          EXPECT_EQ(back->spec.two_stream, model->spec.two_stream);
          EXPECT_EQ(back->spec.motion, model->spec.motion);
          EXPECT_EQ(parameter_count(*back), parameter_count(*model));
          auto got = run_reference(*back, *x);
          ASSERT_TRUE(got.is_ok());
          const auto cl = testing::compare_logits(*got, *want);
          EXPECT_TRUE(cl.ok()) << cl.max_abs_diff << " > " << cl.tolerance;
        }
  }
}

class OnnxImportCli : public testing::CliTest {
 protected:
  int run(const std::string& args, std::string* err) {
    const testing::CliResult r = testing::CliTest::run(args);
    *err = r.err;
    return r.exit_code;
  }
  static std::string q(const std::string& s) { return "'" + s + "'"; }
};

TEST_F(OnnxImportCli, InferRunsAnOnnxFile) {
  STGCN_REQUIRE_FIXTURES();
  const json* o = find_entry("onnx", "blazepose_spatial_2s_central_op13");
  ASSERT_NE(o, nullptr);
  const std::string out = (dir_ / "y.npy").string();
  std::string err;
  const int rc = run("infer " + q(testing::fixture_path((*o)["file"])) + " --input " +
                         q(testing::fixture_path((*o)["input"])) + " --output " + q(out),
                     &err);
  ASSERT_EQ(rc, 0) << err;
  auto got = read_npy(out);
  ASSERT_TRUE(got.is_ok()) << got.status().message();
  auto want = read_npy(testing::fixture_path((*o)["logits64"]));
  ASSERT_TRUE(want.is_ok());
  EXPECT_TRUE(testing::compare_logits(*got, *want).ok());
  EXPECT_EQ(run("inspect " + q(testing::fixture_path((*o)["file"])), &err), 0) << err;
}

TEST_F(OnnxImportCli, InferRejectsABadOnnxFile) {
  STGCN_REQUIRE_FIXTURES();
  const json* b = find_entry("bad_onnx", "not_stgcn_mlp");
  const json* o = find_entry("onnx", "tiny_2s_op17");
  ASSERT_TRUE(b && o);
  std::string err;
  const int rc =
      run("infer " + q(testing::fixture_path((*b)["file"])) + " -i " +
              q(testing::fixture_path((*o)["input"])) + " -o " + q((dir_ / "y.npy").string()),
          &err);
  EXPECT_EQ(rc, 1) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("is not part of an ST-GCN graph we understand"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir_ / "y.npy"));
}

}  // namespace
}  // namespace stgcn
