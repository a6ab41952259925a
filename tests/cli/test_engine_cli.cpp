// `stgcn build`, `bench`, and engines given to `inspect` / `infer`: exit
// codes, one-line errors, no partial output files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "stgcn/npy.h"
#include "test_util.h"

namespace stgcn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kDemo = std::string(STGCN_SOURCE_DIR) + "/models/demo/stgcn_demo.pt";
const std::string kDemoInput = std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_input.npy";
const std::string kDemoLogits = std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_logits.npy";

class EngineCli : public testing::CliTest {
 protected:
  // The demo model as an engine for its bundled sample (N=2, T=150, M=1).
  std::string demo_engine() {
    const std::string out = path("demo.engine");
    auto r = run("build '" + kDemo + "' -o '" + out + "' --T 150 --M 1 --batch 2");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }
};

TEST_F(EngineCli, BuildInspectInferMatchesPyTorch) {
  const std::string engine = demo_engine();
  ASSERT_TRUE(fs::exists(engine));
  auto r = run("inspect '" + engine + "' --graph");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("precision:        fp32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("temporal_conv(%s0.b1.agg, %s0.b0.tcn)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("continual mode:   yes"), std::string::npos) << r.out;
  r = run("inspect '" + engine + "' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["T"], 150);
  EXPECT_EQ(j["continual"], true);
  EXPECT_EQ(j["max_batch"], 2);
  EXPECT_EQ(j["format_version"], 1);
  r = run("infer '" + engine + "' -i '" + kDemoInput + "' -o '" + path("y.npy") + "' --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto y = read_npy(path("y.npy"));
  auto want = read_npy(kDemoLogits);
  ASSERT_TRUE(y.is_ok() && want.is_ok());
  auto cmp = testing::compare_logits(*y, *want);
  EXPECT_TRUE(cmp.ok()) << cmp.max_abs_diff;
}

TEST_F(EngineCli, InferOnAModelUsesAnEngineUnlessReferenceIsAsked) {
  auto a = run("infer '" + kDemo + "' -i '" + kDemoInput + "' -o '" + path("a.npy") + "'");
  auto b =
      run("infer '" + kDemo + "' -i '" + kDemoInput + "' -o '" + path("b.npy") + "' --reference");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(a.err.find("engine logits"), std::string::npos);
  EXPECT_NE(b.err.find("reference logits"), std::string::npos);
  auto ya = read_npy(path("a.npy")), yb = read_npy(path("b.npy"));
  ASSERT_TRUE(ya.is_ok() && yb.is_ok());
  EXPECT_TRUE(testing::compare_logits(*ya, *yb).ok());
}

TEST_F(EngineCli, BenchWritesTheDocumentedJson) {
  const std::string engine = demo_engine();
  auto r = run("bench '" + engine +
               "' --batch 1,2 --threads 1,2 --iterations 3 --warmup 1 --profile --json '" +
               path("b.json") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("per-layer time"), std::string::npos);
  json j = json::parse(testing::slurp(path("b.json")));
  EXPECT_EQ(j["results"].size(), 4u);
  for (const auto& res : j["results"]) {
    EXPECT_GT(res["latency_ms"]["median"].get<double>(), 0.0);
    EXPECT_LE(res["latency_ms"]["min"].get<double>(), res["latency_ms"]["p99"].get<double>());
    EXPECT_EQ(res["samples_ms"].size(), 3u);
    EXPECT_GT(res["throughput_per_s"].get<double>(), 0.0);
    EXPECT_GT(res["peak_rss_bytes"].get<int64_t>(), 0);
  }
  EXPECT_GT(j["engine_size_bytes"].get<int64_t>(), 0);
  EXPECT_TRUE(j.contains("load_ms"));
  EXPECT_FALSE(j["machine"]["onednn"].get<std::string>().empty());
  EXPECT_GT(j["profile"].size(), 20u);
  r = run("bench '" + engine + "' --batch 3 --iterations 1");
  expect_clean_failure(r, "exceeds the engine's maximum 2");
}

TEST_F(EngineCli, BuildErrors) {
  auto r = run("build '" + kDemo + "'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run("build '" + kDemo + "' -o '" + path("x.engine") + "' --precision int8");
  expect_clean_failure(r, "int8 needs calibration");
  r = run("build '" + kDemo + "' -o '" + path("x.engine") +
          "' --precision bf16 --disable-pass fuse_head");
  if (r.exit_code == 1) expect_clean_failure(r, "bf16 needs the fused graph");
  EXPECT_FALSE(fs::exists(path("x.engine")));
  r = run("build '" + kDemo + "' -o '" + path("x.engine") + "' --disable-pass fold_everything");
  expect_clean_failure(r, "unknown pass 'fold_everything'");
  r = run("build '" + kDemo + "' -o '" + path("no/such/dir/x.engine") + "'");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_FALSE(fs::exists(path("no/such/dir/x.engine")));
  const std::string engine = demo_engine();
  r = run("build '" + engine + "' -o '" + path("y.engine") + "'");
  expect_clean_failure(r, "already an engine");
  r = run("build --list-passes");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("lower_aggregation"), std::string::npos);
}

TEST_F(EngineCli, BadEngineFilesAreRefusedInOneLine) {
  const std::string engine = demo_engine();
  const std::string bytes = testing::slurp(engine);
  std::ofstream(path("cut.engine"), std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  std::ofstream(path("flip.engine"), std::ios::binary)
      .write(flipped.data(), static_cast<std::streamsize>(flipped.size()));
  std::string other = bytes;
  other[8] = 7;  // format version 7
  std::ofstream(path("v7.engine"), std::ios::binary)
      .write(other.data(), static_cast<std::streamsize>(other.size()));
  std::ofstream(path("text.engine")) << "hello";
  expect_clean_failure(run("inspect '" + path("cut.engine") + "'"), "cannot load");
  expect_clean_failure(run("inspect '" + path("flip.engine") + "'"), "checksum");
  expect_clean_failure(
      run("infer '" + path("v7.engine") + "' -i '" + kDemoInput + "' -o '" + path("o.npy") + "'"),
      "version 7");
  EXPECT_FALSE(fs::exists(path("o.npy")));
  expect_clean_failure(run("bench '" + path("text.engine") + "' --iterations 1"), "cannot load");
}

TEST_F(EngineCli, AnEngineForAnotherIsaIsRefused) {
  const std::string engine = demo_engine();
  auto info = run("inspect '" + engine + "' --json");
  ASSERT_EQ(info.exit_code, 0);
  const std::string isa = json::parse(info.out)["kernel_isa"];
  if (isa.rfind("avx512", 0) != 0)
    GTEST_SKIP() << "kernels are " << isa << ": no lesser ISA to fake";
  // oneDNN's own switch makes this CPU look like an AVX2-only one.
  setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 1);
  auto r = run("infer '" + engine + "' -i '" + kDemoInput + "' -o '" + path("o.npy") + "'");
  unsetenv("ONEDNN_MAX_CPU_ISA");
  expect_clean_failure(r, "needs " + isa + " kernels");
  EXPECT_FALSE(fs::exists(path("o.npy")));
}

// BF16 on a CPU without AVX512-BF16 (faked with oneDNN's ISA switch): an FP32
// engine, a warning, and a file name that says so.
TEST_F(EngineCli, Bf16FallsBackToFp32WhereTheCpuLacksIt) {
  setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE", 1);
  auto r = run("build '" + kDemo + "' -o '" + path("demo.engine") + "' --precision bf16");
  unsetenv("ONEDNN_MAX_CPU_ISA");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: this CPU (avx512_core) has no AVX512-BF16"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(path("demo.engine")));
  ASSERT_TRUE(fs::exists(path("demo_fp32.engine")));
  auto info = run("inspect '" + path("demo_fp32.engine") + "' --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(json::parse(info.out)["precision"], "fp32");
}

// Logits another runtime saved (TensorRT, Triton) validated against a reference: the data's
// layout comes from the reference; a file of another shape is refused in one line.
TEST_F(EngineCli, ValidateComparesSavedLogits) {
  auto r = run("validate '" + kDemoLogits + "' --reference '" + kDemo + "' --data '" + kDemoInput +
               "' --tolerance 1e-3 --min-agreement 100 --json -");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["candidate_kind"], "saved logits");
  EXPECT_LE(j["max_abs_error"].get<double>(), 1e-3);
  EXPECT_EQ(j["top1_agreement"].get<double>(), 100.0);
  // Another sample's logits fail the tolerance (exit 1, one line).
  auto logits = read_npy(kDemoLogits);
  ASSERT_TRUE(logits.is_ok());
  Tensor swapped = *logits;
  const int64_t C = swapped.shape[1];
  std::swap_ranges(swapped.data.begin(), swapped.data.begin() + C, swapped.data.begin() + C);
  ASSERT_TRUE(write_npy(path("swapped.npy"), swapped).is_ok());
  expect_clean_failure(run("validate '" + path("swapped.npy") + "' --reference '" + kDemo +
                           "' --data '" + kDemoInput + "' --tolerance 1e-3"),
                       "validation failed: max |diff|");
  Tensor one({1, C});
  ASSERT_TRUE(write_npy(path("one.npy"), one).is_ok());
  expect_clean_failure(run("validate '" + path("one.npy") + "' --reference '" + kDemo +
                           "' --data '" + kDemoInput + "'"),
                       "expected (2, classes)");
  expect_clean_failure(run("validate '" + kDemoLogits + "' --reference '" + kDemo + "' --data '" +
                           kDemoInput + "' --precision int8"),
                       "compared as they are");
}

TEST_F(EngineCli, InferRejectsAnInputOfAnotherShape) {
  const std::string engine = path("t100.engine");
  ASSERT_EQ(run("build '" + kDemo + "' -o '" + engine + "' --T 100").exit_code, 0);
  auto r = run("infer '" + engine + "' -i '" + kDemoInput + "' -o '" + path("o.npy") + "'");
  expect_clean_failure(r, "the engine takes (n, 3, 100, 33, 1)");
  EXPECT_FALSE(fs::exists(path("o.npy")));
}

}  // namespace
}  // namespace stgcn
