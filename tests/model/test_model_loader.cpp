// Architecture inference details: where A comes from, warnings, overrides.
#include <gtest/gtest.h>

#include "stgcn/checkpoint.h"
#include "stgcn/model.h"
#include "stgcn/npy.h"
#include "stgcn/reference.h"
#include "test_util.h"

namespace stgcn {
namespace {

const nlohmann::json& case_named(const std::string& name) {
  for (const auto& c : testing::manifest()["cases"])
    if (c["name"] == name) return c;
  static const nlohmann::json none;
  return none;
}

StateDict without_a(StateDict sd) {
  std::erase_if(sd, [](const auto& kv) { return kv.first == "A" || kv.first.ends_with(".A"); });
  return sd;
}

TEST(ModelLoader, ComputesAWhenTheCheckpointHasNone) {
  STGCN_REQUIRE_FIXTURES();
  for (const char* name :
       {"mediapipe_spatial_2s_m5", "openpose_uniform_2s", "ntu_edge_distance_2s"}) {
    SCOPED_TRACE(name);
    const auto& c = case_named(name);
    ASSERT_TRUE(c.is_object());
    auto sd = read_checkpoint(testing::fixture_path(c["checkpoint"]));
    ASSERT_TRUE(sd.is_ok()) << sd.status().message();
    LoadOptions opt;
    opt.motion = *parse_motion_mode(c["motion"].get<std::string>());
    auto model = model_from_state_dict(without_a(*sd), opt, "no_a.pt");
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    EXPECT_EQ(model->spec.layout, c["layout"].get<std::string>());      // guessed from V
    EXPECT_EQ(model->spec.strategy, c["strategy"].get<std::string>());  // from K
    EXPECT_NE(model->spec.a_source.find("computed"), std::string::npos);
    auto x = read_npy(testing::fixture_path(c["input"]));
    auto want = read_npy(testing::fixture_path(c["logits64"]));
    ASSERT_TRUE(x.is_ok() && want.is_ok());
    auto got = run_reference(*model, *x);
    ASSERT_TRUE(got.is_ok());
    EXPECT_TRUE(testing::compare_logits(*got, *want).ok());
  }
}

TEST(ModelLoader, WarnsWhenTheNamedLayoutDiffersFromTheCheckpointsA) {
  STGCN_REQUIRE_FIXTURES();
  const auto& c = case_named("mediapipe_uniform");
  ASSERT_TRUE(c.is_object());
  std::vector<std::string> warnings;
  LoadOptions opt;
  opt.warn = [&](const std::string& w) { warnings.push_back(w); };
  opt.layout = "mediapipe";
  opt.strategy = Strategy::kUniform;
  ASSERT_TRUE(load_model(testing::fixture_path(c["checkpoint"]), opt).is_ok());
  EXPECT_TRUE(warnings.empty());
  opt.layout = "blazepose";
  auto model = load_model(testing::fixture_path(c["checkpoint"]), opt);
  ASSERT_TRUE(model.is_ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("blazepose"), std::string::npos) << warnings[0];
  EXPECT_EQ(model->spec.layout, "mediapipe");  // the checkpoint's A wins
}

TEST(ModelLoader, RejectsBadOverrides) {
  STGCN_REQUIRE_FIXTURES();
  const auto& c = case_named("openpose_spatial");
  ASSERT_TRUE(c.is_object());
  const std::string path = testing::fixture_path(c["checkpoint"]);
  LoadOptions opt;
  opt.strides = std::vector<int>{1, 1, 2};
  EXPECT_FALSE(load_model(path, opt).is_ok());
  opt.strides = std::vector<int>{1, 2, 1, 1, 2, 1, 1, 2, 1, 1};  // identity block with stride 2
  auto bad = load_model(path, opt);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("block 1"), std::string::npos) << bad.status().message();
  LoadOptions no_layout;
  no_layout.layout = "no-such-layout";
  EXPECT_FALSE(load_model(path, no_layout).is_ok());
}

TEST(ModelLoader, NamesTheOffendingTensor) {
  STGCN_REQUIRE_FIXTURES();
  const auto& c = case_named("openpose_spatial");
  auto sd = read_checkpoint(testing::fixture_path(c["checkpoint"]));
  ASSERT_TRUE(sd.is_ok());
  StateDict broken = *sd;
  for (auto& [name, t] : broken)
    if (name == "st_gcn_networks.5.tcn.3.running_var") t = Tensor({7});
  auto m = model_from_state_dict(broken, LoadOptions{}, "broken.pt");
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("st_gcn_networks.5.tcn.3.running_var"), std::string::npos)
      << m.status().message();
  StateDict extra = *sd;
  extra.emplace_back("classifier.weight", Tensor({2, 2}));
  m = model_from_state_dict(extra, LoadOptions{}, "extra.pt");
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("classifier.weight"), std::string::npos);
  EXPECT_FALSE(model_from_state_dict(StateDict{}, LoadOptions{}, "empty.pt").is_ok());
}

}  // namespace
}  // namespace stgcn
