// The stgcn CLI as a user runs it: exit codes, one-line errors, no partial
// output files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "stgcn/npy.h"
#include "test_util.h"

namespace stgcn {
namespace {

namespace fs = std::filesystem;

using CliRun = testing::CliResult;

class Cli : public testing::CliTest {
 protected:
  std::string q(const std::string& s) { return "'" + s + "'"; }
};

TEST_F(Cli, HelpAndUsage) {
  CliRun help = run("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("inspect"), std::string::npos);
  EXPECT_NE(help.out.find("infer"), std::string::npos);
  EXPECT_EQ(run("infer --help").exit_code, 0);
  EXPECT_NE(run("").exit_code, 0);
  EXPECT_NE(run("frobnicate").exit_code, 0);
  EXPECT_NE(run("infer model.pt").exit_code, 0);  // --input/--output missing
  EXPECT_NE(run("infer model.pt -i x.npy -o y.npy --motion sideways").exit_code, 0);
  EXPECT_EQ(run("--version").exit_code, 0);
}

TEST_F(Cli, InspectDescribesTheSeedModel) {
  STGCN_REQUIRE_FIXTURES();
  for (const auto& c : testing::manifest()["cases"]) {
    if (c["name"] != "seed_full") continue;
    CliRun text = run("inspect " + q(testing::fixture_path(c["checkpoint"])));
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("6,195,788"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("mediapipe"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("11.54"), std::string::npos) << text.out;
    CliRun js = run("inspect --json --T 150 --M 5 " + q(testing::fixture_path(c["checkpoint"])));
    ASSERT_EQ(js.exit_code, 0) << js.err;
    auto j = nlohmann::json::parse(js.out);
    EXPECT_EQ(j["V"], 33);
    EXPECT_EQ(j["K"], 3);
    EXPECT_EQ(j["num_class"], 2);
    EXPECT_EQ(j["streams"], 2);
    EXPECT_EQ(j["parameters"], 6195788);
    EXPECT_EQ(j["blocks"].size(), 10u);
    EXPECT_EQ(j["blocks"][4]["stride"], 2);
    EXPECT_EQ(j["blocks"][7]["residual"], "conv");
    EXPECT_NEAR(j["macs"]["value"].get<double>() / 1e9, 57.7, 0.1);
    EXPECT_NE(j["a_source"].get<std::string>().find("checkpoint"), std::string::npos);
    return;
  }
  FAIL() << "no seed_full case";
}

// --temporal-padding, and the classes.json next to a checkpoint that names it.
TEST_F(Cli, TemporalPaddingFromTheFlagOrTheCheckpointsClassesJson) {
  const std::string demo = std::string(STGCN_SOURCE_DIR) + "/models/demo/stgcn_demo.pt";
  CliRun centre = run("inspect " + q(demo));
  ASSERT_EQ(centre.exit_code, 0) << centre.err;
  EXPECT_NE(centre.out.find("centre padding: 4 before, 4 after"), std::string::npos) << centre.out;
  CliRun causal = run("inspect --temporal-padding causal " + q(demo));
  ASSERT_EQ(causal.exit_code, 0) << causal.err;
  EXPECT_NE(causal.out.find("causal padding: 8 before, 0 after"), std::string::npos) << causal.out;
  EXPECT_EQ(run("inspect --temporal-padding sideways " + q(demo)).exit_code, 2);

  fs::copy_file(demo, path("m.pt"));
  auto sidecar = [&](const std::string& checkpoint, const std::string& padding) {
    std::ofstream(path("classes.json"))
        << R"({"classes": ["a", "b"], "model": {"checkpoint": ")" << checkpoint
        << R"(", "temporal_padding": ")" << padding << R"("}})";
  };
  sidecar("m.pt", "causal");
  CliRun js = run("inspect --json " + q(path("m.pt")));
  ASSERT_EQ(js.exit_code, 0) << js.err;
  EXPECT_EQ(nlohmann::json::parse(js.out)["temporal_padding"], "causal");
  // The flag wins over the file.
  js = run("inspect --json --temporal-padding centre " + q(path("m.pt")));
  EXPECT_EQ(nlohmann::json::parse(js.out)["temporal_padding"], "centre");
  // A classes.json describing another checkpoint does not apply.
  sidecar("other.pt", "causal");
  js = run("inspect --json " + q(path("m.pt")));
  EXPECT_EQ(nlohmann::json::parse(js.out)["temporal_padding"], "centre");
  // An unknown value in the file is an error that names the file.
  sidecar("m.pt", "sideways");
  expect_clean_failure(run("inspect " + q(path("m.pt"))), "classes.json");
}

TEST_F(Cli, InferMatchesPyTorchAndWritesNpy) {
  STGCN_REQUIRE_FIXTURES();
  int checked = 0;
  for (const auto& c : testing::manifest()["cases"]) {
    if (c["name"] == "seed_full" || checked >= 3) continue;
    const std::string out = (dir_ / "y.npy").string();
    CliRun r = run(
        "infer " + q(testing::fixture_path(c["checkpoint"])) + " --input " +
        q(testing::fixture_path(c["input"])) + " --output " + q(out) + " --motion " +
        (c["motion"].is_null() ? std::string("first_difference") : c["motion"].get<std::string>()));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto got = read_npy(out);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    auto want = read_npy(testing::fixture_path(c["logits64"]));
    ASSERT_TRUE(want.is_ok());
    EXPECT_TRUE(testing::compare_logits(*got, *want).ok()) << c["name"];
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST_F(Cli, BadCheckpointsFailCleanly) {
  STGCN_REQUIRE_FIXTURES();
  const nlohmann::json& bad_npy = testing::manifest()["bad_npy"];
  const std::string good_input = testing::fixture_path(testing::manifest()["formats"]["input"]);
  for (const auto& b : testing::manifest()["bad_checkpoints"]) {
    SCOPED_TRACE(b["name"].get<std::string>());
    const std::string out = (dir_ / "y.npy").string();
    CliRun r = run("infer " + q(testing::fixture_path(b["file"])) + " -i " + q(good_input) +
                   " -o " + q(out));
    expect_clean_failure(r, b["expect"].get<std::string>());
    EXPECT_FALSE(fs::exists(out));
    CliRun i = run("inspect " + q(testing::fixture_path(b["file"])));
    expect_clean_failure(i, b["expect"].get<std::string>());
  }
  (void)bad_npy;
}

TEST_F(Cli, BadInputsFailCleanly) {
  STGCN_REQUIRE_FIXTURES();
  const auto& bad = testing::manifest()["bad_npy"];
  const std::string model = testing::fixture_path(bad["model"]);
  for (const auto& f : bad["files"]) {
    if (f["name"] == "good_f64") continue;
    SCOPED_TRACE(f["name"].get<std::string>());
    const std::string out = (dir_ / "y.npy").string();
    CliRun r =
        run("infer " + q(model) + " -i " + q(testing::fixture_path(f["file"])) + " -o " + q(out));
    expect_clean_failure(r, f["expect"].get<std::string>());
    EXPECT_FALSE(fs::exists(out));
  }
  // An unwritable output: clean failure, nothing left behind.
  const std::string good = testing::fixture_path(testing::manifest()["formats"]["input"]);
  const std::string fmodel =
      testing::fixture_path(testing::manifest()["formats"]["variants"][0]["file"]);
  CliRun r = run("infer " + q(fmodel) + " -i " + q(good) + " -o /nonexistent-dir/y.npy");
  expect_clean_failure(r, "cannot write");
  // A missing input.
  CliRun m = run("infer " + q(fmodel) + " -i " + q((dir_ / "missing.npy").string()) + " -o " +
                 q((dir_ / "y.npy").string()));
  expect_clean_failure(m, "not found");
  EXPECT_FALSE(fs::exists(dir_ / "y.npy"));
}

}  // namespace
}  // namespace stgcn
