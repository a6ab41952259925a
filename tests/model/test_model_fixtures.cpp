// End to end: PyTorch-made checkpoints -> C++ loader -> reference executor,
// compared with PyTorch's float64 logits.
#include <gtest/gtest.h>

#include <set>

#include "fixture_cases.h"
#include "stgcn/model.h"
#include "stgcn/npy.h"
#include "stgcn/reference.h"
#include "test_util.h"

namespace stgcn {
namespace {

using nlohmann::json;
using testing::find_case;
using testing::options_for;

TEST(ModelFixtures, CoverTheAcceptanceMatrix) {
  STGCN_REQUIRE_FIXTURES();
  std::set<std::string> layouts, strategies, motions;
  std::set<bool> two_stream, importance;
  std::set<int> ns, ms, ts;
  bool seed_full = false;
  for (const auto& c : testing::manifest()["cases"]) {
    layouts.insert(c["layout"].get<std::string>());
    strategies.insert(c["strategy"].get<std::string>());
    two_stream.insert(c["two_stream"].get<bool>());
    importance.insert(c["edge_importance"].get<bool>());
    if (c["two_stream"].get<bool>()) motions.insert(c["motion"].get<std::string>());
    ns.insert(c["N"].get<int>());
    ms.insert(c["M"].get<int>());
    ts.insert(c["T"].get<int>());
    seed_full |= c["name"] == "seed_full";
  }
  for (const char* l :
       {"openpose", "ntu-rgb+d", "ntu_edge", "mediapipe", "blazepose", "coco", "custom"})
    EXPECT_TRUE(layouts.count(l)) << l;
  EXPECT_EQ(strategies.size(), 3u);
  EXPECT_EQ(two_stream.size(), 2u);
  EXPECT_EQ(importance.size(), 2u);
  EXPECT_EQ(motions.size(), 2u);
  for (int n : {1, 3}) EXPECT_TRUE(ns.count(n)) << "N=" << n;
  for (int m : {1, 2, 5}) EXPECT_TRUE(ms.count(m)) << "M=" << m;
  for (int t : {150, 300, 37}) EXPECT_TRUE(ts.count(t)) << "T=" << t;
  EXPECT_TRUE(seed_full);
}

class ModelCase : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelCase, LogitsMatchPyTorch) {
  STGCN_REQUIRE_FIXTURES();
  const json* c = find_case(GetParam());
  ASSERT_NE(c, nullptr) << "no case '" << GetParam() << "' in the fixture manifest";
  auto model = load_model(testing::fixture_path((*c)["checkpoint"]), options_for(*c));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  const ModelSpec& spec = model->spec;
  EXPECT_EQ(spec.two_stream, (*c)["two_stream"].get<bool>());
  EXPECT_EQ(spec.V(), (*c)["V"].get<int>());
  EXPECT_EQ(spec.C(), (*c)["C"].get<int>());
  EXPECT_EQ(spec.num_class(), (*c)["num_class"].get<int>());
  EXPECT_EQ(spec.streams[0].edge_importance, (*c)["edge_importance"].get<bool>());
  const auto widths = (*c)["widths"].get<std::vector<int>>();
  const auto strides = (*c)["strides"].get<std::vector<int>>();
  ASSERT_EQ(spec.streams[0].blocks.size(), widths.size());
  for (size_t i = 0; i < widths.size(); ++i) {
    EXPECT_EQ(spec.streams[0].blocks[i].out_channels, widths[i]) << "block " << i;
    EXPECT_EQ(spec.streams[0].blocks[i].stride, strides[i]) << "block " << i;
  }
  if ((*c)["custom_layout"].is_null()) {
    EXPECT_EQ(spec.layout, (*c)["layout"].get<std::string>());
  }

  auto x = read_npy(testing::fixture_path((*c)["input"]));
  ASSERT_TRUE(x.is_ok()) << x.status().message();
  auto want = read_npy(testing::fixture_path((*c)["logits64"]));
  ASSERT_TRUE(want.is_ok()) << want.status().message();
  auto got = run_reference(*model, *x);
  ASSERT_TRUE(got.is_ok()) << got.status().message();
  const auto cl = testing::compare_logits(*got, *want);
  EXPECT_TRUE(cl.ok()) << "max |C++ - PyTorch| = " << cl.max_abs_diff << " > " << cl.tolerance;
  RecordProperty("max_abs_diff", std::to_string(cl.max_abs_diff));
  std::printf("[ case %s ] max |C++ - PyTorch| = %.3g (tolerance %.3g)\n", GetParam().c_str(),
              cl.max_abs_diff, cl.tolerance);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelCase, ::testing::ValuesIn(testing::manifest_names("cases")),
                         testing::param_name);

TEST(ModelFixtures, SeedFullShapeHasTheReferenceSize) {
  STGCN_REQUIRE_FIXTURES();
  const json* c = find_case("seed_full");
  ASSERT_NE(c, nullptr);
  auto model = load_model(testing::fixture_path((*c)["checkpoint"]), options_for(*c));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  EXPECT_EQ(parameter_count(*model), 6195788);
  // Reference page: seed two-stream, T=150, M=1 is 11.54 G MACs.
  EXPECT_NEAR(count_macs(model->spec, 150, 1) / 1e9, 11.54, 0.01);
  EXPECT_NEAR(count_macs(model->spec, 150, 5) / 1e9, 57.7, 0.1);
}

TEST(ModelFixtures, AllCheckpointFormatsGiveTheSameLogits) {
  STGCN_REQUIRE_FIXTURES();
  const json& formats = testing::manifest()["formats"];
  auto x = read_npy(testing::fixture_path(formats["input"]));
  ASSERT_TRUE(x.is_ok()) << x.status().message();
  Tensor plain_logits;
  for (const auto& v : formats["variants"]) {
    SCOPED_TRACE(v["name"].get<std::string>());
    auto model = load_model(testing::fixture_path(v["file"]), LoadOptions{});
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    // The layout is recognised from A whatever the storage dtype (f16 rounds A).
    EXPECT_EQ(model->spec.layout, formats["model"]["layout"].get<std::string>());
    auto got = run_reference(*model, *x);
    ASSERT_TRUE(got.is_ok());
    auto want = read_npy(testing::fixture_path(v["logits64"]));
    ASSERT_TRUE(want.is_ok());
    const auto cl = testing::compare_logits(*got, *want);
    EXPECT_TRUE(cl.ok()) << cl.max_abs_diff << " > " << cl.tolerance;
    if (v["name"] == "plain") plain_logits = *got;
    if (!plain_logits.data.empty() && v["same_tensors_as"] == "plain") {
      EXPECT_EQ(got->data, plain_logits.data) << "identical tensors must give identical logits";
    }
  }
}

TEST(ModelFixtures, BadCheckpointsFailWithAClearMessage) {
  STGCN_REQUIRE_FIXTURES();
  for (const auto& b : testing::manifest()["bad_checkpoints"]) {
    SCOPED_TRACE(b["name"].get<std::string>());
    const std::string path = testing::fixture_path(b["file"]);
    auto model = load_model(path, LoadOptions{});
    ASSERT_FALSE(model.is_ok());
    const std::string msg = model.status().message();
    EXPECT_NE(testing::lower(msg).find(b["expect"].get<std::string>()), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

TEST(ModelFixtures, WrongInputShapesAreRejected) {
  STGCN_REQUIRE_FIXTURES();
  const json& bad = testing::manifest()["bad_npy"];
  auto model = load_model(testing::fixture_path(bad["model"]), LoadOptions{});
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  for (const auto& f : bad["files"]) {
    SCOPED_TRACE(f["name"].get<std::string>());
    const std::string path = testing::fixture_path(f["file"]);
    auto x = read_npy(path);
    Status st = x.is_ok() ? check_model_input(model->spec, *x, path) : x.status();
    if (f["name"] == "good_f64") {
      ASSERT_TRUE(st.is_ok()) << st.message();
      auto got = run_reference(*model, *x);
      ASSERT_TRUE(got.is_ok());
      auto want = read_npy(testing::fixture_path(f["logits64"]));
      ASSERT_TRUE(want.is_ok());
      EXPECT_TRUE(testing::compare_logits(*got, *want).ok());
      continue;
    }
    ASSERT_FALSE(st.is_ok());
    EXPECT_NE(testing::lower(st.message()).find(f["expect"].get<std::string>()), std::string::npos)
        << st.message();
  }
}

}  // namespace
}  // namespace stgcn
