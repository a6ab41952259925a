// `stgcn build --precision int8` (calibration, tables, fallback flags) and
// `stgcn validate` (reports, thresholds, exit codes) from the command line.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "stgcn/engine.h"
#include "stgcn/npy.h"
#include "test_util.h"

namespace stgcn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kDemo = std::string(STGCN_SOURCE_DIR) + "/models/demo/stgcn_demo.pt";
const std::string kDemoInput = std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_input.npy";

class Int8Cli : public testing::CliTest {
 protected:
  std::string q(const std::string& s) { return "'" + s + "'"; }
  // Labels that are the reference's own predictions (so accuracy is defined).
  std::string labels() {
    auto r = run("infer " + q(kDemo) + " -i " + q(kDemoInput) + " -o " + q(path("ref.npy")) +
                 " --reference");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto y = read_npy(path("ref.npy"));
    EXPECT_TRUE(y.is_ok());
    Tensor l({y->shape[0]});
    for (int64_t i = 0; i < y->shape[0]; ++i) {
      const float* p = y->data.data() + i * y->shape[1];
      l.data[i] = static_cast<float>(std::max_element(p, p + y->shape[1]) - p);
    }
    EXPECT_TRUE(write_npy(path("labels.npy"), l).is_ok());
    return path("labels.npy");
  }
};

TEST_F(Int8Cli, BuildWithCalibrationThenFromTheTable) {
  const std::string table = path("calib.txt");
  auto r =
      run("build " + q(kDemo) + " -o " + q(path("a.engine")) + " --precision int8 --calib " +
          q(kDemoInput) + " --calib-method percentile --percentile 99.9 --calib-table " + q(table));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("calibration pass 2/2"), std::string::npos) << r.err;
  ASSERT_TRUE(fs::exists(table));
  r = run("build " + q(kDemo) + " -o " + q(path("b.engine")) + " --precision int8 --calib-table " +
          q(table));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run("inspect " + q(path("b.engine")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("precision:        int8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("percentile calibration"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("layer precisions:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("s1.b9.tcn"), std::string::npos) << r.out;
  r = run("inspect " + q(path("b.engine")) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["precision"], "int8");
  EXPECT_EQ(j["quantization"]["method"], "percentile");
  EXPECT_FALSE(j["layer_precisions"].empty());
  // Both engines give the same logits.
  r = run("infer " + q(path("a.engine")) + " -i " + q(kDemoInput) + " -o " + q(path("ya.npy")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run("infer " + q(path("b.engine")) + " -i " + q(kDemoInput) + " -o " + q(path("yb.npy")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ya = read_npy(path("ya.npy")), yb = read_npy(path("yb.npy"));
  ASSERT_TRUE(ya.is_ok() && yb.is_ok());
  EXPECT_EQ(ya->data, yb->data);
}

TEST_F(Int8Cli, KeepFp32AndMaxDropFromTheCommandLine) {
  const std::string lab = labels();
  auto r = run("build " + q(kDemo) + " -o " + q(path("k.engine")) + " --precision int8 --calib " +
               q(kDemoInput) + " --keep-fp32 s0.b0.gcn --keep-fp32 s1.b0.gcn --max-drop 0 --val " +
               q(kDemoInput) + " --val-labels " + q(lab));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("fallback: FP32 accuracy"), std::string::npos) << r.err;
  r = run("inspect " + q(path("k.engine")) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["quantization"]["metric"], "accuracy");
  EXPECT_LE(j["quantization"]["final_drop"].get<double>(), 0.0);
  for (const auto& lp : j["layer_precisions"])
    if (lp[0] == "s0.b0.gcn" || lp[0] == "s1.b0.gcn") {
      EXPECT_EQ(lp[1], "fp32");
    }
}

TEST_F(Int8Cli, BuildErrorsAreOneLineAndLeaveNoFile) {
  const std::string out = path("x.engine");
  auto r = run("build " + q(kDemo) + " -o " + q(out) + " --calib " + q(kDemoInput));
  expect_clean_failure(r, "need --precision int8");
  r = run("build " + q(kDemo) + " -o " + q(out) + " --precision int8 --calib " +
          q(path("none.npy")));
  expect_clean_failure(r, "none.npy");
  r = run("build " + q(kDemo) + " -o " + q(out) + " --precision int8 --calib " + q(kDemoInput) +
          " --T 40");
  expect_clean_failure(r, "calibration data has shape");
  r = run("build " + q(kDemo) + " -o " + q(out) + " --precision int8 --calib " + q(kDemoInput) +
          " --max-drop 1");
  expect_clean_failure(r, "--max-drop needs validation data");
  ASSERT_TRUE(write_file_atomic(path("bad.txt"), "hello\n").is_ok());
  r = run("build " + q(kDemo) + " -o " + q(out) + " --precision int8 --calib-table " +
          q(path("bad.txt")));
  expect_clean_failure(r, "not an stgcn-rt int8 calibration table");
  r = run("build " + q(kDemo) + " -o " + q(out) + " --precision int8 --calib " + q(kDemoInput) +
          " --calib-method median");
  EXPECT_EQ(r.exit_code, 2) << r.err;  // usage error from the option check
  EXPECT_FALSE(fs::exists(out));
}

// Without VNNI (forced through oneDNN's own switch), int8 still builds and
// runs, on the older kernels.
TEST_F(Int8Cli, BuildsWithoutVnni) {
  setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE", 1);
  auto r = run("build " + q(kDemo) + " -o " + q(path("n.engine")) + " --precision int8 --calib " +
               q(kDemoInput));
  auto i = run("inspect " + q(path("n.engine")));
  auto y = run("infer " + q(path("n.engine")) + " -i " + q(kDemoInput) + " -o " + q(path("n.npy")));
  unsetenv("ONEDNN_MAX_CPU_ISA");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(i.exit_code, 0) << i.err;
  const auto k = i.out.find("kernels:");
  ASSERT_NE(k, std::string::npos);
  EXPECT_EQ(i.out.substr(k, i.out.find('\n', k) - k).find("vnni"), std::string::npos) << i.out;
  EXPECT_EQ(y.exit_code, 0) << y.err;
}

TEST_F(Int8Cli, ValidateReportsAndFailsOnThresholds) {
  const std::string lab = labels();
  auto r = run("build " + q(kDemo) + " -o " + q(path("e.engine")) + " --batch 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // An FP32 engine against its checkpoint: passes a tight tolerance.
  r = run("validate " + q(path("e.engine")) + " --reference " + q(kDemo) + " --data " +
          q(kDemoInput) + " --labels " + q(lab) + " --tolerance 1e-3 --min-agreement 100 --json " +
          q(path("v.json")));
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("result:           PASS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("per class:"), std::string::npos) << r.out;
  auto text = read_file(path("v.json"));
  ASSERT_TRUE(text.is_ok());
  json j = json::parse(*text);
  EXPECT_EQ(j["pass"], true);
  EXPECT_EQ(j["samples"], 2);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 100.0);
  EXPECT_LE(j["max_abs_error"].get<double>(), 1e-3);
  EXPECT_GE(j["cosine_min"].get<double>(), 0.999999);
  // An int8 model (built in memory) against an engine reference, with a tolerance it cannot meet.
  r = run("validate " + q(kDemo) + " --precision int8 --calib " + q(kDemoInput) + " --reference " +
          q(path("e.engine")) + " --data " + q(kDemoInput) + " --tolerance 0 --json -");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  j = json::parse(r.out);
  EXPECT_EQ(j["pass"], false);
  EXPECT_EQ(j["candidate_kind"], "int8 engine (built in memory)");
  EXPECT_EQ(j["reference_kind"], "fp32 engine");
  EXPECT_GT(j["max_abs_error"].get<double>(), 0.0);
  EXPECT_NE(r.err.find("validation failed: max |diff|"), std::string::npos) << r.err;
  // Bad inputs: one line.
  r = run("validate " + q(path("e.engine")) + " --reference " + q(kDemo) + " --data " +
          q(path("missing.npy")));
  expect_clean_failure(r, "missing.npy");
  Tensor three({3});
  ASSERT_TRUE(write_npy(path("l3.npy"), three).is_ok());
  r = run("validate " + q(path("e.engine")) + " --reference " + q(kDemo) + " --data " +
          q(kDemoInput) + " --labels " + q(path("l3.npy")));
  expect_clean_failure(r, "holds 3 values for 2 samples");
  Tensor bad({2}, {0.f, 7.f});
  ASSERT_TRUE(write_npy(path("l7.npy"), bad).is_ok());
  r = run("validate " + q(path("e.engine")) + " --reference " + q(kDemo) + " --data " +
          q(kDemoInput) + " --labels " + q(path("l7.npy")));
  expect_clean_failure(r, "not a class index");
  r = run("validate " + q(path("e.engine")) + " --data " + q(kDemoInput));
  EXPECT_EQ(r.exit_code, 2);  // --reference is required
}

// Every precision through `validate` (a model compiled in memory), against
// the reference executor: same top-1 on the demo samples.
TEST_F(Int8Cli, ValidateEveryPrecision) {
  for (const std::string p : {"fp32", "bf16", "fp16", "int8"}) {
    auto r = run("validate " + q(kDemo) + " --precision " + p +
                 (p == "int8" ? " --calib " + q(kDemoInput) : std::string()) + " --reference " +
                 q(kDemo) + " --data " + q(kDemoInput) + " --min-agreement 100 --json -");
    ASSERT_EQ(r.exit_code, 0) << p << ": " << r.err;
    json j = json::parse(r.out);
    const std::string kind = j["candidate_kind"];
    // bf16 builds an FP32 engine (with a warning) where the CPU lacks AVX512-BF16.
    EXPECT_TRUE(kind.rfind(p + " engine", 0) == 0 ||
                (p == "bf16" && kind.rfind("fp32 engine", 0) == 0 &&
                 r.err.find("no AVX512-BF16") != std::string::npos))
        << p << ": " << kind;
    EXPECT_DOUBLE_EQ(j["top1_agreement"].get<double>(), 100.0) << p;
    EXPECT_GT(j["cosine_min"].get<double>(), p == "fp32" ? 0.999999 : 0.99) << p;
  }
}

// On an AMX CPU the int8 kernels are AMX ones and the weights are packed for them: the engine
// must say so, and a CPU without AMX (faked with oneDNN's switch) must refuse it at load.
TEST_F(Int8Cli, AnAmxPackedEngineRecordsAmxAndIsRefusedWithoutIt) {
  if (stgcn::machine_info().isa != "avx512_core_amx") GTEST_SKIP() << "this CPU has no AMX";
  const std::string engine = path("amx.engine");
  auto r =
      run("build " + q(kDemo) + " -o " + q(engine) + " --precision int8 --calib " + q(kDemoInput));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto info = run("inspect " + q(engine) + " --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out)["kernel_isa"], "avx512_core_amx") << info.out;
  setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16", 1);
  auto y = run("infer " + q(engine) + " -i " + q(kDemoInput) + " -o " + q(path("y.npy")));
  unsetenv("ONEDNN_MAX_CPU_ISA");
  expect_clean_failure(y, "needs avx512_core_amx kernels");
  EXPECT_FALSE(fs::exists(path("y.npy")));
}

}  // namespace
}  // namespace stgcn
