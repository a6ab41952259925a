// ONNX export: every fixture case exported in each form, run by ONNX Runtime
// (python/ort_run.py) and compared with PyTorch's float64 logits, or with the
// reference executor for inputs the fixtures lack (batch 4, short T); graph
// structure, metadata, determinism and errors.
#ifndef ONNX_NAMESPACE
#define ONNX_NAMESPACE onnx  // as libonnx's CMake target defines it for the library
#endif
#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#include <onnx/onnx_pb.h>

#include <cstdio>
#include <map>

#include "export_test_util.h"
#include "onnx/export_builder.h"
#include "io/sha256.h"
#include "stgcn/onnx.h"
#include "stgcn/reference.h"

namespace stgcn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::OrtJob;
using testing::TempDir;

struct Variant {
  int opset;
  GraphConvForm form;
  bool fold_bn;
  std::string label() const {
    return "opset " + std::to_string(opset) +
           (form == GraphConvForm::kMatMul ? " matmul" : " einsum") +
           (fold_bn ? " fold-bn" : " no-fold-bn");
  }
};

OnnxExportOptions options_for(const json& c, const Variant& v) {
  OnnxExportOptions o;
  o.opset = v.opset;
  o.graph_conv = v.form;
  o.fold_bn = v.fold_bn;
  o.T = c["T"].get<int>();
  o.M = c["M"].get<int>();
  o.batch = 1;
  return o;
}

Model load_case(const json& c) {
  auto m = load_model(testing::fixture_path(c["checkpoint"]), testing::case_load_options(c));
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  return m.is_ok() ? std::move(m).value() : Model{};
}

Tensor read(const std::string& path) {
  auto t = read_npy(path);
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return t.is_ok() ? std::move(t).value() : Tensor{};
}

// One exported model and what ONNX Runtime must return for it.
struct Expectation {
  std::string what, group;
  std::string output;
  Tensor want;
};

// Runs all jobs in one Python process, then compares; prints the largest
// |difference| per group (the report's figures).
void run_and_compare(const std::vector<OrtJob>& jobs, const std::vector<Expectation>& expect,
                     const TempDir& dir) {
  ASSERT_EQ(testing::run_ort(jobs, dir), "");
  std::map<std::string, std::pair<double, int>> worst;
  for (const Expectation& e : expect) {
    Tensor got = read(e.output);
    testing::Closeness cl = testing::compare_logits(got, e.want);
    EXPECT_TRUE(cl.ok()) << e.what << ": max |diff| " << cl.max_abs_diff << " > " << cl.tolerance;
    auto& w = worst[e.group];
    w.first = std::max(w.first, cl.max_abs_diff);
    ++w.second;
  }
  for (const auto& [group, w] : worst)
    std::printf("  %-36s %3d models, max |ORT - expected| = %.2e\n", group.c_str(), w.second,
                w.first);
}

TEST(OnnxExport, EveryCaseMatchesPyTorch) {
  STGCN_REQUIRE_FIXTURES();
  TempDir dir("onnx");
  const std::vector<Variant> variants = {{11, GraphConvForm::kMatMul, true},
                                         {13, GraphConvForm::kEinsum, false},
                                         {17, GraphConvForm::kMatMul, false},
                                         {17, GraphConvForm::kEinsum, true}};
  // Opset 18 (ReduceMean takes axes as an input) on two cases.
  const std::map<std::string, Variant> opset18 = {
      {"mediapipe_spatial_2s_m5", {18, GraphConvForm::kMatMul, true}},
      {"ntu_spatial_2s_central", {18, GraphConvForm::kEinsum, false}}};
  std::vector<OrtJob> jobs;
  std::vector<Expectation> expect;
  int cases = 0;
  for (const auto& c : testing::manifest()["cases"]) {
    const std::string name = c["name"];
    Model model = load_case(c);
    ASSERT_FALSE(model.streams.empty()) << name;
    const std::string input = dir / (name + "_x.npy");
    ASSERT_TRUE(
        write_npy(input, testing::slice_batch(read(testing::fixture_path(c["input"])), 0, 1))
            .is_ok());
    const Tensor want = testing::slice_batch(read(testing::fixture_path(c["logits64"])), 0, 1);
    std::vector<Variant> vs = variants;
    if (opset18.count(name)) vs.push_back(opset18.at(name));
    for (size_t i = 0; i < vs.size(); ++i) {
      const std::string onnx = dir / (name + "_" + std::to_string(i) + ".onnx");
      Status st = export_onnx(model, options_for(c, vs[i]), onnx);
      ASSERT_TRUE(st.is_ok()) << name << " " << vs[i].label() << ": " << st.message();
      jobs.push_back({onnx, input, onnx + ".y.npy"});
      expect.push_back({name + " " + vs[i].label(), vs[i].label(), onnx + ".y.npy", want});
    }
    ++cases;
  }
  EXPECT_GE(cases, 16);
  run_and_compare(jobs, expect, dir);
}

// Batch 4 through a symbolic batch axis (and batch 1 through the same model),
// short clips (T = 1, 2, 3: the motion edge cases), against the reference
// executor, which is verified against PyTorch elsewhere.
TEST(OnnxExport, DynamicBatchAndShortClipsMatchReference) {
  STGCN_REQUIRE_FIXTURES();
  TempDir dir("onnx");
  std::vector<OrtJob> jobs;
  std::vector<Expectation> expect;
  auto add = [&](const json& c, const Model& model, const Variant& v, int T, const Tensor& x,
                 const Tensor& want, const std::string& tag, bool dynamic) {
    OnnxExportOptions o = options_for(c, v);
    o.T = T;
    o.dynamic_batch = dynamic;
    o.batch = static_cast<int>(x.shape[0]);
    const std::string base = dir / (c["name"].get<std::string>() + "_" + tag);
    Status st = export_onnx(model, o, base + ".onnx");
    ASSERT_TRUE(st.is_ok()) << base << ": " << st.message();
    ASSERT_TRUE(write_npy(base + "_x.npy", x).is_ok());
    jobs.push_back({base + ".onnx", base + "_x.npy", base + "_y.npy"});
    expect.push_back(
        {base, (dynamic ? "dynamic batch, " : "short clips, ") + v.label(), base + "_y.npy", want});
  };
  const Variant matmul17{17, GraphConvForm::kMatMul, true},
      einsum12{12, GraphConvForm::kEinsum, false};
  for (const char* name :
       {"ntu_spatial_2s_central", "coco_uniform_2s_central_m5", "openpose_uniform_2s",
        "custom_distance_c2", "openpose_spatial_oddwidths"}) {
    const json* c = testing::find_case(name);
    ASSERT_NE(c, nullptr) << name;
    const Model model = load_case(*c);
    const Tensor x = read(testing::fixture_path((*c)["input"]));
    const int64_t n = x.shape[0];
    // Four samples: the fixture's, repeated and scaled so that the rows differ.
    Tensor x4({4, x.shape[1], x.shape[2], x.shape[3], x.shape[4]});
    const int64_t per = x.numel() / n;
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t i = 0; i < per; ++i)
        x4.data[j * per + i] = x.data[(j % n) * per + i] * (1.0f + 0.25f * j);
    auto want4 = run_reference(model, x4);
    ASSERT_TRUE(want4.is_ok()) << want4.status().message();
    const Tensor x1 = testing::slice_batch(x, 0, 1);
    const Tensor want1 = testing::slice_batch(read(testing::fixture_path((*c)["logits64"])), 0, 1);
    for (const Variant& v : {matmul17, einsum12}) {
      const std::string tag = std::to_string(v.opset);
      add(*c, model, v, (*c)["T"], x4, *want4, "dyn4_" + tag, true);
      add(*c, model, v, (*c)["T"], x1, want1, "dyn1_" + tag, true);
    }
  }
  // T = 1, 2, 3 for both motion modes (the first/last-frame rules of the motion input).
  for (const char* name : {"blazepose_spatial_2s_central", "openpose_uniform_2s"}) {
    const json* c = testing::find_case(name);
    ASSERT_NE(c, nullptr) << name;
    const Model model = load_case(*c);
    const Tensor x = read(testing::fixture_path((*c)["input"]));
    for (int T : {1, 2, 3}) {
      Tensor xt({1, x.shape[1], T, x.shape[3], x.shape[4]});
      const int64_t plane = x.shape[3] * x.shape[4];
      for (int64_t ch = 0; ch < x.shape[1]; ++ch)
        for (int64_t i = 0; i < T * plane; ++i)
          xt.data[ch * T * plane + i] = x.data[ch * x.shape[2] * plane + i];
      auto want = run_reference(model, xt);
      ASSERT_TRUE(want.is_ok()) << want.status().message();
      add(*c, model, T == 2 ? einsum12 : matmul17, T, xt, *want, "T" + std::to_string(T), false);
    }
  }
  run_and_compare(jobs, expect, dir);
}

TEST(OnnxExport, SoftmaxHeadGivesProbabilities) {
  STGCN_REQUIRE_FIXTURES();
  TempDir dir("onnx");
  std::vector<OrtJob> jobs;
  std::vector<std::pair<std::string, Tensor>> want;
  for (const char* name :
       {"openpose_uniform_2s", "ntu_distance_h2"}) {  // N = 3: a fixed batch of 3
    const json* c = testing::find_case(name);
    ASSERT_NE(c, nullptr);
    Model model = load_case(*c);
    OnnxExportOptions o =
        options_for(*c, {name[0] == 'o' ? 11 : 17,
                         name[0] == 'o' ? GraphConvForm::kMatMul : GraphConvForm::kEinsum, true});
    o.batch = (*c)["N"];
    o.softmax = true;
    const std::string onnx = dir / (std::string(name) + ".onnx");
    ASSERT_TRUE(export_onnx(model, o, onnx).is_ok());
    jobs.push_back({onnx, testing::fixture_path((*c)["input"]), onnx + ".y.npy"});
    want.emplace_back(onnx + ".y.npy",
                      testing::softmax_rows(read(testing::fixture_path((*c)["logits64"]))));
  }
  ASSERT_EQ(testing::run_ort(jobs, dir), "");
  for (const auto& [path, p] : want) {
    const Tensor got = read(path);
    ASSERT_EQ(got.shape, p.shape) << path;
    for (int64_t i = 0; i < got.shape[0]; ++i) {
      double sum = 0;
      for (int64_t j = 0; j < got.shape[1]; ++j) {
        const size_t k = static_cast<size_t>(i * got.shape[1] + j);
        sum += got.data[k];
        EXPECT_NEAR(got.data[k], p.data[k], 1e-5) << path << " row " << i;
      }
      EXPECT_NEAR(sum, 1.0, 1e-5) << path << " row " << i;
    }
  }
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto mp;
  EXPECT_TRUE(mp.ParseFromString(bytes));
  return mp;
}

std::map<std::string, int> op_counts(const onnx::ModelProto& mp) {
  std::map<std::string, int> n;
  for (const auto& node : mp.graph().node()) ++n[node.op_type()];
  return n;
}

std::map<std::string, std::string> metadata(const onnx::ModelProto& mp) {
  std::map<std::string, std::string> m;
  for (const auto& p : mp.metadata_props()) m[p.key()] = p.value();
  return m;
}

const onnx::TensorProto* initializer(const onnx::ModelProto& mp, const std::string& name) {
  for (const auto& t : mp.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

std::vector<int64_t> dims_of(const onnx::ValueInfoProto& v) {
  std::vector<int64_t> d;
  for (const auto& dim : v.type().tensor_type().shape().dim())
    d.push_back(dim.has_dim_param() ? -1 : dim.dim_value());
  return d;
}

TEST(OnnxExport, GraphHasTheDocumentedStructure) {
  STGCN_REQUIRE_FIXTURES();
  const json* c =
      testing::find_case("mediapipe_spatial_2s_m5");  // two-stream, 10 blocks, 2 conv residuals
  ASSERT_NE(c, nullptr);
  const Model model = load_case(*c);
  const int blocks = 2 * 10, residual_convs = 2 * 2;

  auto matmul = export_onnx_bytes(model, options_for(*c, {17, GraphConvForm::kMatMul, true}));
  ASSERT_TRUE(matmul.is_ok()) << matmul.status().message();
  onnx::ModelProto mp = parse(*matmul);
  auto ops = op_counts(mp);
  EXPECT_EQ(ops["MatMul"], blocks);  // one aggregation GEMM per block
  EXPECT_EQ(ops["Einsum"], 0);
  EXPECT_EQ(ops["BatchNormalization"], 0);
  EXPECT_EQ(ops["Conv"], 2 * blocks + residual_convs);
  EXPECT_EQ(ops["Gemm"], 2);
  EXPECT_EQ(ops["Softmax"], 0);
  for (const auto& node : mp.graph().node()) {
    if (node.op_type() == "MatMul") {  // (N*M, Cin*T, V) x (V, K*V) constant
      const onnx::TensorProto* b = initializer(mp, node.input(1));
      ASSERT_NE(b, nullptr) << node.name();
      EXPECT_EQ(std::vector<int64_t>(b->dims().begin(), b->dims().end()),
                (std::vector<int64_t>{33, 99}));
    }
    if (node.op_type() == "ReduceMean") {
      EXPECT_EQ(node.input_size(), 1);
      EXPECT_EQ(node.attribute(0).name(), "axes");
    }
  }
  EXPECT_EQ(mp.ir_version(), 8);
  ASSERT_EQ(mp.opset_import_size(), 1);
  EXPECT_EQ(mp.opset_import(0).version(), 17);
  EXPECT_EQ(mp.producer_name(), "stgcn-rt");
  ASSERT_EQ(mp.graph().input_size(), 1);
  EXPECT_EQ(mp.graph().input(0).name(), "input");
  EXPECT_EQ(dims_of(mp.graph().input(0)), (std::vector<int64_t>{1, 3, 150, 33, 5}));
  ASSERT_EQ(mp.graph().output_size(), 1);
  EXPECT_EQ(dims_of(mp.graph().output(0)), (std::vector<int64_t>{1, 2}));
  auto meta = metadata(mp);
  const std::map<std::string, std::string> expect_meta = {{"producer", "stgcn-rt"},
                                                          {"layout", "mediapipe"},
                                                          {"strategy", "spatial"},
                                                          {"two_stream", "true"},
                                                          {"motion", "first_difference"},
                                                          {"num_class", "2"},
                                                          {"C", "3"},
                                                          {"T", "150"},
                                                          {"V", "33"},
                                                          {"M", "5"},
                                                          {"K", "3"},
                                                          {"batch", "1"},
                                                          {"graph_conv", "matmul"},
                                                          {"fold_bn", "true"},
                                                          {"softmax", "false"}};
  for (const auto& [k, v] : expect_meta) EXPECT_EQ(meta[k], v) << k;

  OnnxExportOptions o = options_for(*c, {13, GraphConvForm::kEinsum, false});
  o.dynamic_batch = true;
  o.softmax = true;
  o.input_name = "skeletons";
  o.output_name = "probabilities";
  auto einsum = export_onnx_bytes(model, o);
  ASSERT_TRUE(einsum.is_ok()) << einsum.status().message();
  mp = parse(*einsum);
  ops = op_counts(mp);
  EXPECT_EQ(ops["Einsum"], blocks);
  EXPECT_EQ(ops["MatMul"], 0);
  EXPECT_EQ(ops["BatchNormalization"],
            2 * (1 + 10 * 2) + residual_convs);  // data_bn, tcn.0, tcn.3, residual.1
  EXPECT_EQ(ops["Softmax"], 1);
  EXPECT_EQ(mp.ir_version(), 7);
  EXPECT_EQ(mp.graph().input(0).name(), "skeletons");
  EXPECT_EQ(mp.graph().output(0).name(), "probabilities");
  EXPECT_EQ(mp.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  EXPECT_EQ(mp.graph().output(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  EXPECT_EQ(metadata(mp)["batch"], "N");

  auto v18 = export_onnx_bytes(model, options_for(*c, {18, GraphConvForm::kMatMul, true}));
  ASSERT_TRUE(v18.is_ok()) << v18.status().message();
  mp = parse(*v18);
  int reduce = 0;
  for (const auto& node : mp.graph().node())
    if (node.op_type() == "ReduceMean") {  // opset 18: axes is an input
      EXPECT_EQ(node.input_size(), 2);
      ++reduce;
    }
  EXPECT_EQ(reduce, 4);
  auto v11 = export_onnx_bytes(model, options_for(*c, {11, GraphConvForm::kMatMul, true}));
  ASSERT_TRUE(v11.is_ok()) << v11.status().message();
  EXPECT_EQ(parse(*v11).ir_version(), 6);
}

std::string sha256sum(const std::string& path) {
  std::string out;
  if (std::FILE* p = ::popen(("sha256sum '" + path + "'").c_str(), "r")) {
    char buf[128];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  return out.substr(0, std::min<size_t>(64, out.size()));
}

TEST(OnnxExport, MetadataRecordsTheSourceCheckpoint) {
  STGCN_REQUIRE_FIXTURES();
  const json* c = testing::find_case("openpose_spatial");
  ASSERT_NE(c, nullptr);
  const Model model = load_case(*c);
  OnnxExportOptions o = options_for(*c, {17, GraphConvForm::kMatMul, true});
  o.source_path = testing::fixture_path((*c)["checkpoint"]);
  auto bytes = export_onnx_bytes(model, o);
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().message();
  auto meta = metadata(parse(*bytes));
  EXPECT_EQ(meta["source"], "model.pt");
  EXPECT_EQ(meta["two_stream"], "false");
  EXPECT_EQ(meta.count("motion"), 0u);
  EXPECT_EQ(meta["source_sha256"], sha256sum(o.source_path));
  EXPECT_EQ(meta["source_sha256"].size(), 64u);
  o.source_path = "/nonexistent/model.pt";
  auto missing = export_onnx_bytes(model, o);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/model.pt"), std::string::npos);
}

TEST(OnnxExport, Sha256KnownVectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {std::string(1000000, 'a'),
       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"}};
  for (const auto& [msg, hex] : vectors) {
    auto got = io::sha256_hex(msg);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    EXPECT_EQ(*got, hex) << msg.size() << " bytes";
  }
  TempDir dir("onnx");
  ASSERT_TRUE(write_file_atomic(dir / "big.bin", vectors[3].first).is_ok());  // > one read chunk
  auto file = io::sha256_file_hex(dir / "big.bin");
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  EXPECT_EQ(*file, vectors[3].second);
  EXPECT_EQ(io::sha256_file_hex(dir / "missing").status().code(), ErrorCode::kNotFound);
}

TEST(OnnxExport, SameInputsGiveTheSameBytes) {
  STGCN_REQUIRE_FIXTURES();
  TempDir dir("onnx");
  const json* c = testing::find_case("ntu_spatial_2s_central");
  ASSERT_NE(c, nullptr);
  for (const Variant& v :
       {Variant{17, GraphConvForm::kMatMul, true}, Variant{13, GraphConvForm::kEinsum, false}}) {
    OnnxExportOptions o = options_for(*c, v);
    o.source_path = testing::fixture_path((*c)["checkpoint"]);
    auto a = export_onnx_bytes(load_case(*c), o);  // a freshly loaded model each time
    auto b = export_onnx_bytes(load_case(*c), o);
    ASSERT_TRUE(a.is_ok() && b.is_ok());
    EXPECT_TRUE(*a == *b) << v.label();
    ASSERT_TRUE(export_onnx(load_case(*c), o, dir / "m.onnx").is_ok());
    EXPECT_TRUE(testing::slurp(dir / "m.onnx") == *a) << v.label();
  }
}

TEST(OnnxExport, RejectsBadOptionsWithClearErrors) {
  STGCN_REQUIRE_FIXTURES();
  TempDir dir("onnx");
  const json* c = testing::find_case("openpose_spatial");  // single stream
  ASSERT_NE(c, nullptr);
  const Model model = load_case(*c);
  const OnnxExportOptions good = options_for(*c, {17, GraphConvForm::kMatMul, true});
  const std::vector<std::pair<std::function<void(OnnxExportOptions&)>, std::string>> bad = {
      {[](auto& o) { o.opset = 10; }, "opset 10 is not supported"},
      {[](auto& o) { o.opset = 19; }, "opset 19 is not supported"},
      {[](auto& o) {
         o.opset = 11;
         o.graph_conv = GraphConvForm::kEinsum;
       },
       "einsum"},
      {[](auto& o) { o.T = 0; }, "T must be"},
      {[](auto& o) { o.M = 0; }, "M must be"},
      {[](auto& o) { o.batch = 0; }, "batch must be"},
      {[](auto& o) { o.input_name = ""; }, "must not be empty"},
      {[](auto& o) { o.output_name = o.input_name; }, "must differ"},
      {[](auto& o) { o.input_name = "fcn/Gemm"; }, "input name 'fcn/Gemm'"},
      {[](auto& o) { o.output_name = "data_bn/scale"; }, "output name 'data_bn/scale'"},
  };
  for (const auto& [mutate, expect] : bad) {
    OnnxExportOptions o = good;
    mutate(o);
    auto r = export_onnx_bytes(model, o);
    ASSERT_FALSE(r.is_ok()) << expect;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().message();
    EXPECT_NE(r.status().message().find(expect), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
    EXPECT_FALSE(export_onnx(model, o, dir / "bad.onnx").is_ok());
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
  // Opset 12 is the first with Einsum.
  OnnxExportOptions o = good;
  o.opset = 12;
  o.graph_conv = GraphConvForm::kEinsum;
  EXPECT_TRUE(export_onnx_bytes(model, o).is_ok());
}

TEST(OnnxExport, UnwritablePathLeavesNoFile) {
  STGCN_REQUIRE_FIXTURES();
  TempDir dir("onnx");
  const json* c = testing::find_case("openpose_spatial");
  ASSERT_NE(c, nullptr);
  const Model model = load_case(*c);
  const OnnxExportOptions o = options_for(*c, {17, GraphConvForm::kMatMul, true});
  ASSERT_TRUE(write_file_atomic(dir / "file.txt", "x").is_ok());
  for (const std::string& path : {dir / "file.txt/model.onnx", dir / "missing/model.onnx"}) {
    Status st = export_onnx(model, o, path);
    ASSERT_FALSE(st.is_ok()) << path;
    EXPECT_EQ(st.code(), ErrorCode::kIo);
    EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
  }
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir.path()))
    left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"file.txt"});
}

TEST(OnnxExport, RefusesOversizedAndInconsistentModels) {
  EXPECT_TRUE(onnx_export::check_onnx_size(onnx_export::kMaxOnnxBytes).is_ok());
  Status big = onnx_export::check_onnx_size(onnx_export::kMaxOnnxBytes + 1);
  EXPECT_EQ(big.code(), ErrorCode::kUnsupported);
  EXPECT_NE(big.message().find("2 GiB"), std::string::npos) << big.message();

  STGCN_REQUIRE_FIXTURES();
  const json* c = testing::find_case("openpose_uniform_2s");
  ASSERT_NE(c, nullptr);
  const Model good = load_case(*c);
  const OnnxExportOptions o = options_for(*c, {17, GraphConvForm::kMatMul, true});
  const std::vector<std::pair<std::function<void(Model&)>, std::string>> bad = {
      {[](Model& m) { m.streams[1].fcn_bias.data.pop_back(); }, "motion_stream.fcn.bias"},
      {[](Model& m) { m.streams[0].blocks[3].tcn_weight.data.resize(5); },
       "origin_stream.st_gcn_networks.3.tcn.2.weight"},
      {[](Model& m) { m.streams[0].A.data.clear(); }, "origin_stream.A"},
      {[](Model& m) { m.streams.pop_back(); }, "weight streams"},
      {[](Model& m) { m.spec.streams[0].blocks[2].stride = 2; }, "identity residual"},
  };
  for (const auto& [mutate, expect] : bad) {
    Model m = good;
    mutate(m);
    auto r = export_onnx_bytes(m, o);
    ASSERT_FALSE(r.is_ok()) << expect;
    EXPECT_NE(r.status().message().find(expect), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace stgcn
