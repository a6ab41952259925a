// mmaction2 1.x / pyskl ST-GCN and ST-GCN++ checkpoints (python/gen_mm_fixtures.py, our own
// PyTorch reference): the loader, the reference executor and FP32 / BF16 / INT8 engines against
// PyTorch's logits, engine files, the graph modes, input layouts and refused checkpoints.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "stgcn/engine.h"
#include "stgcn/graph.h"
#include "stgcn/model.h"
#include "stgcn/npy.h"
#include "stgcn/reference.h"
#include "test_util.h"

namespace stgcn {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const json& mm() {
  static const json empty = json::object();
  const json& m = testing::manifest();
  return m.is_object() && m.contains("mm") ? m["mm"] : empty;
}

std::vector<std::string> mm_case_names() {
  std::vector<std::string> names;
  if (mm().contains("cases"))
    for (const auto& c : mm()["cases"]) names.push_back(c["name"].get<std::string>());
  if (names.empty()) names.push_back("fixtures_missing");
  return names;
}

const json* mm_case(const std::string& name) {
  if (!mm().contains("cases")) return nullptr;
  for (const auto& c : mm()["cases"])
    if (c["name"] == name) return &c;
  return nullptr;
}

// What a user passes for the case: strides when the residual-conv rule does not give them,
// causal padding when the model was trained so.
LoadOptions options_for(const json& c) {
  LoadOptions o;
  const auto widths = c["widths"].get<std::vector<int>>();
  const auto strides = c["strides"].get<std::vector<int>>();
  int in = c["C"].get<int>();
  bool rule = true;
  for (size_t i = 0; i < widths.size(); ++i) {
    const bool conv = in != widths[i] || strides[i] != 1;
    rule &= strides[i] == (conv ? 2 : 1);
    in = widths[i];
  }
  if (!rule) o.strides = strides;
  if (c["temporal_padding"] == "causal") o.temporal_padding = TemporalPadding::kCausal;
  return o;
}

// Samples of the case in NCTVM, as every executor takes them.
Tensor input_of(const json& c) {
  auto x = read_npy(testing::fixture_path(c["input"]));
  EXPECT_TRUE(x.is_ok()) << x.status().message();
  auto y = convert_input_layout(*x, InputLayout::kNMTVC, InputLayout::kNCTVM);
  EXPECT_TRUE(y.is_ok()) << y.status().message();
  return *y;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.data) m = std::max(m, std::fabs(static_cast<double>(v)));
  return m;
}

// Largest |a - b| (infinite when the shapes differ).
double max_diff(const Tensor& a, const Tensor& b) {
  return testing::compare_logits(a, b).max_abs_diff;
}

// A fixture case loaded as a user would: its model, its input (NCTVM) and PyTorch's logits.
struct Case {
  Model model;
  Tensor x, want;
};
bool load_case(const std::string& name, Case& out) {
  const json* c = mm_case(name);
  if (c == nullptr) return false;
  auto model = load_model(testing::fixture_path((*c)["checkpoint"]), options_for(*c));
  auto want = read_npy(testing::fixture_path((*c)["logits64"]));
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  if (!model.is_ok() || !want.is_ok()) return false;
  out.model = std::move(model).value();
  out.x = input_of(*c);
  out.want = std::move(want).value();
  return true;
}

TEST(MmFixtures, CoverTheAcceptanceMatrix) {
  STGCN_REQUIRE_FIXTURES();
  ASSERT_TRUE(mm().contains("cases")) << "the fixtures have no mm section";
  std::set<std::string> families, adaptive, bn, layouts, heads, formats, padding;
  std::set<int> ms, cs;
  bool odd_t = false, full = false;
  for (const auto& c : mm()["cases"]) {
    families.insert(c["family"].get<std::string>());
    adaptive.insert(c["gcn_adaptive"].get<std::string>());
    bn.insert(c["data_bn_type"].get<std::string>());
    layouts.insert(c["layout"].get<std::string>());
    heads.insert(c["head"].get<std::string>());
    formats.insert(c["format"].get<std::string>());
    padding.insert(c["temporal_padding"].get<std::string>());
    ms.insert(c["M"].get<int>());
    cs.insert(c["C"].get<int>());
    odd_t |= c["T"].get<int>() % 2 == 1;
    full |= c["base_channels"].get<int>() == 64 && c["num_stages"].get<int>() == 10;
  }
  EXPECT_EQ(families, (std::set<std::string>{"stgcn", "stgcn++"}));
  for (const char* a : {"importance", "offset", "init", "none"}) EXPECT_TRUE(adaptive.count(a)) << a;
  EXPECT_EQ(bn, (std::set<std::string>{"MVC", "VC"}));
  for (const char* l : {"coco", "openpose", "nturgb+d"}) EXPECT_TRUE(layouts.count(l)) << l;
  EXPECT_EQ(heads, (std::set<std::string>{"fc", "fc_cls"}));
  for (const char* f : {"mmengine", "pyskl", "bare", "module_prefix"})
    EXPECT_TRUE(formats.count(f)) << f;
  EXPECT_EQ(padding, (std::set<std::string>{"causal", "centre"}));
  EXPECT_EQ(ms, (std::set<int>{1, 2}));
  EXPECT_EQ(cs, (std::set<int>{2, 3}));
  EXPECT_TRUE(odd_t);
  EXPECT_TRUE(full) << "no full-width (base 64, 10 stages) case";
}

class MmCase : public ::testing::TestWithParam<std::string> {};

TEST_P(MmCase, LoaderReferenceAndEngineMatchPyTorch) {
  STGCN_REQUIRE_FIXTURES();
  const json* c = mm_case(GetParam());
  ASSERT_NE(c, nullptr) << "no mm case '" << GetParam() << "'";
  auto model = load_model(testing::fixture_path((*c)["checkpoint"]), options_for(*c));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  const ModelSpec& spec = model->spec;
  const StreamSpec& s = spec.streams.front();
  // What the loader read off the tensors.
  EXPECT_EQ(spec.family, (*c)["family"] == "stgcn++" ? "ST-GCN++" : "ST-GCN");
  EXPECT_EQ(spec.dialect, (*c)["head"] == "fc_cls" ? Dialect::kPyskl : Dialect::kMmaction2);
  EXPECT_EQ(spec.input_layout(), InputLayout::kNMTVC);
  EXPECT_EQ(s.C, (*c)["C"].get<int>());
  EXPECT_EQ(s.V, (*c)["V"].get<int>());
  EXPECT_EQ(s.num_class, (*c)["num_classes"].get<int>());
  EXPECT_EQ(spec.fixed_persons(), (*c)["data_bn_type"] == "MVC" ? (*c)["M"].get<int>() : 0);
  const std::string adaptive = (*c)["gcn_adaptive"];
  if (adaptive == "importance" || adaptive == "offset") {
    EXPECT_EQ(spec.gcn_adaptive, adaptive);
  }
  const auto widths = (*c)["widths"].get<std::vector<int>>();
  const auto strides = (*c)["strides"].get<std::vector<int>>();
  ASSERT_EQ(s.blocks.size(), widths.size());
  for (size_t i = 0; i < widths.size(); ++i) {
    EXPECT_EQ(s.blocks[i].out_channels, widths[i]) << "block " << i;
    EXPECT_EQ(s.blocks[i].stride, strides[i]) << "block " << i;
    EXPECT_EQ(s.blocks[i].temporal == TemporalUnit::kMultiScale, (*c)["tcn_type"] == "mstcn");
    EXPECT_EQ(s.blocks[i].gcn_residual != ResidualKind::kNone, (*c)["gcn_with_res"].get<bool>());
  }

  const Tensor x = input_of(*c);
  auto want = read_npy(testing::fixture_path((*c)["logits64"]));
  ASSERT_TRUE(want.is_ok());
  const double tol = 1e-4 * std::max(1.0, max_abs(*want));
  auto ref = run_reference(*model, x);
  ASSERT_TRUE(ref.is_ok()) << ref.status().message();
  EXPECT_LE(max_diff(*ref, *want), tol) << "reference executor";

  BuildOptions o;
  o.T = static_cast<int>(x.shape[2]);
  o.M = static_cast<int>(x.shape[4]);
  o.max_batch = static_cast<int>(x.shape[0]);
  auto engine = Engine::build(*model, o);
  ASSERT_TRUE(engine.is_ok()) << engine.status().message();
  for (int threads : {1, 2}) {
    auto ctx = (*engine)->create_context(threads);
    ASSERT_TRUE(ctx.is_ok()) << ctx.status().message();
    auto y = (*ctx)->run(x);
    ASSERT_TRUE(y.is_ok()) << y.status().message();
    EXPECT_LE(max_diff(*y, *want), tol) << "FP32 engine, " << threads << " threads";
  }
}

INSTANTIATE_TEST_SUITE_P(Mm, MmCase, ::testing::ValuesIn(mm_case_names()), testing::param_name);

// An unfused graph (any one pass off) computes the same logits in FP32.
TEST(MmEngine, EveryPassCanBeDisabledOnStgcnPlusPlus) {
  STGCN_REQUIRE_FIXTURES();
  Case k;
  ASSERT_TRUE(load_case("offset_res_mstcn_ntu_mmengine", k));
  const Tensor& x = k.x;
  const Tensor* want = &k.want;
  const Model* model = &k.model;
  for (const char* pass : {"fold_edge_importance", "fold_batch_norm", "fuse_gcn_residual",
                           "fuse_relu", "fuse_residual_add", "lower_aggregation", "fuse_head",
                           "eliminate_dead_code"}) {
    BuildOptions o;
    o.T = static_cast<int>(x.shape[2]);
    o.M = static_cast<int>(x.shape[4]);
    o.max_batch = static_cast<int>(x.shape[0]);
    o.disabled_passes = {pass};
    auto engine = Engine::build(*model, o);
    ASSERT_TRUE(engine.is_ok()) << pass << ": " << engine.status().message();
    auto ctx = (*engine)->create_context(1);
    ASSERT_TRUE(ctx.is_ok());
    auto y = (*ctx)->run(x);
    ASSERT_TRUE(y.is_ok()) << y.status().message();
    EXPECT_LE(max_diff(*y, *want), 1e-4 * std::max(1.0, max_abs(*want))) << "without " << pass;
  }
}

// BF16 and INT8 engines of the full-width ST-GCN++, saved and loaded, keep the spec and stay
// near FP32; the MVC model refuses another M.
TEST(MmEngine, LowPrecisionEnginesAndEngineFiles) {
  STGCN_REQUIRE_FIXTURES();
  Case k;
  ASSERT_TRUE(load_case("full_stgcnpp_coco2d_mmengine", k));
  const Tensor& x = k.x;
  const Tensor* want = &k.want;
  const Model* model = &k.model;
  const double scale = std::max(1.0, max_abs(*want));
  // Calibration: the input and small perturbations of it.
  Tensor calib({8, x.shape[1], x.shape[2], x.shape[3], x.shape[4]});
  for (int64_t n = 0; n < 8; ++n)
    for (int64_t i = 0; i < x.numel(); ++i)
      calib.data[n * x.numel() + i] = x.data[i] * (1.f + 0.05f * static_cast<float>(n % 4));
  const fs::path dir = fs::temp_directory_path() / "stgcn_mm_engine_test";
  fs::create_directories(dir);
  struct Precision {
    const char* precision;
    double tol;
  };
  for (Precision p : {Precision{"fp32", 1e-4}, Precision{"bf16", 0.05}, Precision{"int8", 0.15}}) {
    BuildOptions o;
    o.T = static_cast<int>(x.shape[2]);
    o.M = static_cast<int>(x.shape[4]);
    o.precision = p.precision;
    if (std::string(p.precision) == "int8") o.calib = &calib;
    auto engine = Engine::build(*model, o);
    if (!engine.is_ok() && engine.status().code() == ErrorCode::kUnsupported) {
      std::printf("skipping %s: %s\n", p.precision, engine.status().message().c_str());
      continue;
    }
    ASSERT_TRUE(engine.is_ok()) << p.precision << ": " << engine.status().message();
    const std::string path = (dir / (std::string(p.precision) + ".engine")).string();
    ASSERT_TRUE((*engine)->save(path).is_ok());
    auto loaded = Engine::load(path);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().message();
    const ModelSpec& spec = (*loaded)->info().spec;
    EXPECT_EQ(spec.family, "ST-GCN++");
    EXPECT_EQ(spec.dialect, Dialect::kMmaction2);
    EXPECT_EQ(spec.streams[0].blocks[4].branch_channels, model->spec.streams[0].blocks[4].branch_channels);
    EXPECT_EQ(spec.streams[0].blocks[0].gcn_residual, ResidualKind::kConv);
    auto ctx = (*loaded)->create_context(2);
    ASSERT_TRUE(ctx.is_ok());
    auto y = (*ctx)->run(x);
    ASSERT_TRUE(y.is_ok()) << y.status().message();
    EXPECT_LE(max_diff(*y, *want), p.tol * scale) << p.precision;
    if (std::string(p.precision) == "int8") {  // the multi-scale unit computes in int8 too
      const std::string text = (*loaded)->graph_text();
      EXPECT_NE(text.find("u8*"), std::string::npos);
      EXPECT_EQ(text.find("tcn.concat.f32"), std::string::npos) << text;
    }
  }
  fs::remove_all(dir);
}

// mmaction2's graph modes, as its Graph class builds them (float64 A from the generator).
TEST(MmGraphs, ModesMatchMmaction2) {
  STGCN_REQUIRE_FIXTURES();
  ASSERT_TRUE(mm().contains("graphs"));
  int checked = 0;
  for (const auto& gr : mm()["graphs"]) {
    const std::string layout = gr["layout"];
    const std::string mode = gr["mode"];
    const Strategy st = mode == "stgcn_spatial" ? Strategy::kSpatial
                        : mode == "spatial"     ? Strategy::kInwardOutward
                                                : Strategy::kBinary;
    auto l = named_layout(layout);
    ASSERT_TRUE(l.is_ok()) << layout;
    auto a = build_adjacency(*l, {st, 1, 1});
    ASSERT_TRUE(a.is_ok()) << a.status().message();
    auto want = read_npy(testing::fixture_path(gr["file"]));
    ASSERT_TRUE(want.is_ok());
    ASSERT_EQ(want->shape, (std::vector<int64_t>{a->K, a->V, a->V})) << layout << " " << mode;
    double d = 0;
    for (size_t i = 0; i < a->values.size(); ++i)
      d = std::max(d, std::fabs(a->values[i] - want->data[i]));
    EXPECT_LE(d, 1e-6) << layout << " " << mode;
    ++checked;
  }
  EXPECT_EQ(checked, 9);
}

// A checkpoint with the stored graph is recognised by layout and mode.
TEST(MmGraphs, InspectRecognisesTheLayout) {
  STGCN_REQUIRE_FIXTURES();
  for (const char* name : {"stgcn_ntu3d_pyskl", "stgcn_openpose2d_bare", "stgcn_coco2d_mmengine"}) {
    const json* c = mm_case(name);
    ASSERT_NE(c, nullptr) << name;
    auto model = load_model(testing::fixture_path((*c)["checkpoint"]), options_for(*c));
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    const std::string want = (*c)["layout"];
    EXPECT_EQ(model->spec.layout, want) << name;
  }
}

TEST(MmLoader, RefusesBadCheckpointsWithOneLineNamingTheTensor) {
  STGCN_REQUIRE_FIXTURES();
  ASSERT_TRUE(mm().contains("bad"));
  for (const auto& b : mm()["bad"]) {
    auto model = load_model(testing::fixture_path(b["file"]), LoadOptions{});
    ASSERT_FALSE(model.is_ok()) << b["name"];
    const std::string msg = model.status().message();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(msg.find(b["expect"].get<std::string>()), std::string::npos)
        << b["name"] << ": " << msg;
  }
}

// --feature b / jm / bm: the toolkit's GenSkeFeat equals mmaction2's (our Python port of it).
TEST(MmFeatures, BonesAndMotionsMatchGenSkeFeat) {
  STGCN_REQUIRE_FIXTURES();
  ASSERT_TRUE(mm().contains("features"));
  int checked = 0;
  for (const auto& f : mm()["features"]) {
    auto raw = read_npy(testing::fixture_path(f["input"]));
    ASSERT_TRUE(raw.is_ok());
    auto x = convert_input_layout(*raw, InputLayout::kNMTVC, InputLayout::kNCTVM);
    ASSERT_TRUE(x.is_ok());
    for (const char* name : {"j", "b", "jm", "bm"}) {
      auto kind = parse_skeleton_feature(name);
      ASSERT_TRUE(kind.is_ok());
      auto y = skeleton_feature(*x, f["layout"].get<std::string>(), *kind);
      ASSERT_TRUE(y.is_ok()) << y.status().message();
      auto got = convert_input_layout(*y, InputLayout::kNCTVM, InputLayout::kNMTVC);
      auto want = read_npy(testing::fixture_path(f[name]));
      ASSERT_TRUE(got.is_ok() && want.is_ok());
      EXPECT_LE(max_diff(*got, *want), 1e-6) << f["layout"] << " " << name;
      ++checked;
    }
  }
  EXPECT_GE(checked, 8);
  EXPECT_FALSE(parse_skeleton_feature("x").is_ok());
  EXPECT_FALSE(skeleton_feature(Tensor({1, 3, 4, 5, 1}), "coco", SkeletonFeature::kBone).is_ok());
}

TEST(MmLoader, InputLayoutsConvertBothWays) {
  Tensor x({2, 3, 4, 5, 6});
  for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = static_cast<float>(i);
  auto y = convert_input_layout(x, InputLayout::kNMTVC, InputLayout::kNCTVM);
  ASSERT_TRUE(y.is_ok());
  EXPECT_EQ(y->shape, (std::vector<int64_t>{2, 6, 4, 5, 3}));
  // y[n, c, t, v, m] = x[n, m, t, v, c]
  EXPECT_EQ(y->data[(((1 * 6 + 5) * 4 + 3) * 5 + 4) * 3 + 2], x.data[(((1 * 3 + 2) * 4 + 3) * 5 + 4) * 6 + 5]);
  auto z = convert_input_layout(*y, InputLayout::kNCTVM, InputLayout::kNMTVC);
  ASSERT_TRUE(z.is_ok());
  EXPECT_EQ(z->data, x.data);
  EXPECT_FALSE(convert_input_layout(Tensor({2, 3}), InputLayout::kNMTVC, InputLayout::kNCTVM).is_ok());
}

}  // namespace
}  // namespace stgcn
