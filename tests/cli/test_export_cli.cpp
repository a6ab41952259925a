// `stgcn export` as a user runs it: flags, exit codes (1 failure, 2 usage),
// one-line errors, no partial files; the interactive mode driven through
// stdin with --interactive.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "onnx/export_test_util.h"
#include "stgcn/npy.h"
#include "test_util.h"

namespace stgcn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::OrtJob;
using testing::TempDir;

using testing::CliResult;

class ExportCli : public ::testing::Test {
 protected:
  // Runs `stgcn ARGS` with stdin from `stdin_text` (empty: /dev/null).
  CliResult run(const std::string& args, const std::string& stdin_text = "") {
    return testing::run_cli(args, dir_.path(), stdin_text);
  }

  void expect_one_line_error(const CliResult& r, int code, const std::string& expect) {
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(expect), std::string::npos) << r.err;
  }

  // Files in the work directory (the only place the commands may write).
  std::vector<std::string> files(const fs::path& where) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(where))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string fixture(const json& c, const char* key) { return testing::fixture_path(c[key]); }
  std::string q(const std::string& s) { return "'" + s + "'"; }

  // First sample of a case's input, and the first row of its PyTorch logits.
  std::pair<std::string, Tensor> first_sample(const json& c) {
    const std::string x = dir_ / (c["name"].get<std::string>() + "_x.npy");
    auto in = read_npy(fixture(c, "input"));
    auto want = read_npy(fixture(c, "logits64"));
    EXPECT_TRUE(in.is_ok() && want.is_ok());
    EXPECT_TRUE(write_npy(x, testing::slice_batch(*in, 0, 1)).is_ok());
    return {x, testing::slice_batch(*want, 0, 1)};
  }

  TempDir dir_{"export_cli"};
};

TEST_F(ExportCli, ExportsWithFlagsAndMatchesPyTorch) {
  STGCN_REQUIRE_FIXTURES();
  const json* c = testing::find_case("ntu_spatial_2s_central");  // two-stream, central, T=300, M=2
  ASSERT_NE(c, nullptr);
  const std::string out = dir_ / "ntu.onnx";
  CliResult r = run(
      "export " + q(fixture(*c, "checkpoint")) + " -o " + q(out) +
      " --opset 13 --graph-conv einsum --no-fold-bn --T 300 --M 2 --C 3 --motion central_difference"
      " --input-name x --output-name logits");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  for (const char* s :
       {"ntu.onnx", "opset 13", "einsum", "[1, 3, 300, 25, 2]", "[1, 60]", "'x'", "'logits'"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " in " << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;

  const std::string dyn = dir_ / "ntu_dyn.onnx";
  r = run("export " + q(fixture(*c, "checkpoint")) + " -o " + q(dyn) +
          " --dynamic-batch --softmax --T 300 --M 2 --motion central_difference");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[N, 3, 300, 25, 2]"), std::string::npos) << r.out;

  auto [x, want] = first_sample(*c);
  ASSERT_EQ(testing::run_ort({{out, x, out + ".y.npy"}, {dyn, x, dyn + ".y.npy"}}, dir_), "");
  auto got = read_npy(out + ".y.npy");
  ASSERT_TRUE(got.is_ok());
  testing::Closeness cl = testing::compare_logits(*got, want);
  EXPECT_TRUE(cl.ok()) << cl.max_abs_diff;
  auto prob = read_npy(dyn + ".y.npy");
  ASSERT_TRUE(prob.is_ok());
  const Tensor p = testing::softmax_rows(want);
  for (size_t i = 0; i < p.data.size(); ++i) EXPECT_NEAR(prob->data[i], p.data[i], 1e-5);
}

TEST_F(ExportCli, DefaultOutputGoesNextToTheModel) {
  STGCN_REQUIRE_FIXTURES();
  const json* c = testing::find_case("openpose_spatial");
  ASSERT_NE(c, nullptr);
  fs::copy_file(fixture(*c, "checkpoint"), dir_ / "walk.pt");
  CliResult r = run("export " + q(dir_ / "walk.pt") + " --M 5 --T 64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir_ / "walk_M5.onnx")) << r.out;
  EXPECT_NE(r.out.find("[1, 3, 64, 18, 5]"), std::string::npos) << r.out;
}

TEST_F(ExportCli, BadUsageAndFailuresAreOneLineWithoutFiles) {
  STGCN_REQUIRE_FIXTURES();
  const json* c = testing::find_case("openpose_spatial");
  ASSERT_NE(c, nullptr);
  const std::string model = q(fixture(*c, "checkpoint"));
  const std::string out = dir_ / "out.onnx";
  // Usage errors: exit 2.
  expect_one_line_error(run("export " + model + " -o " + q(out) + " --opset 10"), 2, "opset 10");
  expect_one_line_error(run("export " + model + " -o " + q(out) + " --opset 19"), 2, "opset 19");
  expect_one_line_error(
      run("export " + model + " -o " + q(out) + " --opset 11 --graph-conv einsum"), 2,
      "einsum needs opset >= 12");
  expect_one_line_error(run("export " + model + " -o " + q(out) + " --graph-conv gemv"), 2,
                        "matmul or einsum");
  expect_one_line_error(run("export " + model + " -o " + q(out) + " --batch 2 --dynamic-batch"), 2,
                        "exclude each other");
  expect_one_line_error(run("export " + model + " -o " + q(out) + " --T 0"), 2, "--T must be");
  expect_one_line_error(
      run("export " + model + " -o " + q(out) + " --input-name a --output-name a"), 2, "differ");
  // Failures: exit 1.
  expect_one_line_error(run("export " + model + " -o " + q(out) + " --C 2"), 1,
                        "--C 2 does not match the model's C=3");
  expect_one_line_error(run("export " + q(dir_ / "missing.pt") + " -o " + q(out)), 1, "missing.pt");
  expect_one_line_error(run("export " + model + " -o " + q(dir_ / "no/such/dir/out.onnx")), 1,
                        "cannot write");
  expect_one_line_error(run("export " + model + " -o " + q(out) + " --input-name fcn/Gemm"), 1,
                        "fcn/Gemm");
  EXPECT_EQ(files(dir_.path()), std::vector<std::string>{}) << "partial files left";
  // No MODEL and no terminal (stdin is /dev/null): usage on stderr, exit 2.
  CliResult r = run("export");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("MODEL is required"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Usage:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--interactive"), std::string::npos) << r.err;
  EXPECT_EQ(run("export --help").exit_code, 0);
}

// The TensorRT-ready exports from flags: INT8 Q/DQ from calibration samples (the table written)
// or from a table, layers kept FP32, FP16; the mistakes refused in one line without files.
TEST_F(ExportCli, Int8AndFp16ExportsFromFlags) {
  STGCN_REQUIRE_FIXTURES();
  const json* c = testing::find_case("ntu_spatial_2s_central");  // two-stream, T=300, M=2
  ASSERT_NE(c, nullptr);
  const std::string model = q(fixture(*c, "checkpoint")) + " --T 300 --M 2 --motion central_difference";
  const std::string table = dir_ / "table.txt", a = dir_ / "a.onnx", b = dir_ / "b.onnx",
                    h = dir_ / "h.onnx";
  CliResult r = run("export " + model + " --precision int8 --calib " + q(fixture(*c, "input")) +
                    " --calib-table " + q(table) + " -o " + q(a));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("int8 Q/DQ (0 layers kept fp32)"), std::string::npos) << r.out;
  EXPECT_NE(testing::slurp(table).find("s1.b0.gcn"), std::string::npos);
  r = run("export " + model + " --precision int8 --calib-table " + q(table) +
          " --keep-fp32 s1.b3.tcn --opset 13 -o " + q(b));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("opset 13, matmul, int8 Q/DQ (1 layer kept fp32)"), std::string::npos)
      << r.out;
  // The automatic fallback: as many layers kept FP32 as the search chose, none quantised.
  const std::string f = dir_ / "f.onnx";
  r = run("export " + model + " --precision int8 --calib-table " + q(table) + " --max-drop 0 --val " +
          q(fixture(*c, "input")) + " -o " + q(f));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto kept_at = r.out.find("int8 Q/DQ (");
  ASSERT_NE(kept_at, std::string::npos) << r.out;
  const int kept = std::stoi(r.out.substr(kept_at + 11));
  r = run("export " + model + " --precision fp16 --io-fp16 -o " + q(h));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("fp16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("input 'input' float16 [1, 3, 300, 25, 2]"), std::string::npos) << r.out;
  const std::string check = std::string("'") + STGCN_PYTHON + "' '" + STGCN_SOURCE_DIR +
                            "/python/check_qdq.py' " + q(a) + " " + q(b) + " " + q(h) + " " +
                            q(f) + " >" +
                            q(dir_ / "check.txt") + " 2>&1";
  const int rc = std::system(check.c_str());
  const std::string report = testing::slurp(dir_ / "check.txt");
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << report;
  EXPECT_NE(report.find("\"fp32_layers\": 1"), std::string::npos) << report;
  EXPECT_NE(report.find("\"input_type\": \"FLOAT16\""), std::string::npos) << report;
  EXPECT_NE(report.find("\"fp32_layers\": " + std::to_string(kept) + ","), std::string::npos)
      << kept << " kept by the fallback:\n" << report;

  const auto before = files(dir_.path());
  expect_one_line_error(run("export " + model + " --precision int8 -o " + q(dir_ / "x.onnx")),
                        1, "int8 needs calibration");
  expect_one_line_error(run("export " + model + " --precision int8 --calib-table " + q(table) +
                            " --keep-fp32 s0.b99.gcn -o " + q(dir_ / "x.onnx")),
                        1, "no quantisable layer named 's0.b99.gcn'");
  expect_one_line_error(run("export " + model + " --calib-table " + q(table) + " -o x.onnx"), 2,
                        "need --precision int8");
  expect_one_line_error(run("export " + model + " --precision int8 --calib-table " + q(table) +
                            " --opset 12 -o x.onnx"),
                        2, "needs opset >= 13");
  expect_one_line_error(run("export " + model + " --io-fp16 -o x.onnx"), 2,
                        "--io-fp16 needs --precision fp16 or int8");
  expect_one_line_error(run("export " + model + " --precision int8 --calib-table " + q(table) +
                            " --graph-conv einsum -o x.onnx"),
                        2, "Einsum only in FP32 / FP16");
  EXPECT_EQ(files(dir_.path()), before);
}

// --triton-repo: config.pbtxt parses with Triton's model-config schema (tritonclient), names the
// ONNX's inputs, outputs and shapes, and ONNX Runtime runs the model at batch 1 and the maximum.
TEST_F(ExportCli, TritonRepositoryParsesAndRuns) {
  STGCN_REQUIRE_FIXTURES();
  const json* orig = testing::find_case("openpose_spatial");  // (N, 3, 150, 18, 1)
  ASSERT_NE(orig, nullptr);
  const json& mm = testing::manifest()["mm"]["cases"][0];  // (N, M, T, V, C)
  const std::string repo = dir_ / "repo";
  CliResult r = run("export " + q(fixture(*orig, "checkpoint")) + " --triton-repo " + q(repo) +
                    " --triton-name walk --triton-max-batch 4 --precision fp16 --io-fp16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("config.pbtxt, 1/model.onnx, build_tensorrt.sh"), std::string::npos)
      << r.out;
  r = run("export " + q(fixture(mm, "checkpoint")) + " --triton-repo " + q(repo) +
          " --precision int8 --calib " + q(fixture(mm, "input")) + " --T " +
          std::to_string(mm["T"].get<int>()) + " --M " + std::to_string(mm["M"].get<int>()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string check = std::string("'") + STGCN_PYTHON + "' '" + STGCN_SOURCE_DIR +
                            "/python/check_triton_repo.py' " + q(repo) + " >" +
                            q(dir_ / "check.txt") + " 2>&1";
  const int rc = std::system(check.c_str());
  const std::string report = testing::slurp(dir_ / "check.txt");
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << report;
  EXPECT_NE(report.find("\"name\": \"walk\", \"backend\": \"onnxruntime\", \"max_batch_size\": 4, "
                        "\"inputs\": [[3, 150, 18, 1]]"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("\"name\": \"model\""), std::string::npos) << report;  // the stem
  const fs::path recipe = fs::path(repo) / "walk" / "build_tensorrt.sh";
  ASSERT_TRUE(fs::exists(recipe));
  EXPECT_NE(fs::status(recipe).permissions() & fs::perms::owner_exec, fs::perms::none);
  const std::string text = testing::slurp(recipe.string());
  for (const char* s : {"trtexec", "--stronglyTyped", "--minShapes=input:1x3x150x18x1",
                        "--maxShapes=input:4x3x150x18x1", "platform: \"tensorrt_plan\"",
                        "name: \"walk_trt\"", "data_type: TYPE_FP16"})
    EXPECT_NE(text.find(s), std::string::npos) << s;

  expect_one_line_error(run("export " + q(fixture(*orig, "checkpoint")) + " --triton-repo " +
                            q(repo) + " -o x.onnx"),
                        2, "drop --output");
  expect_one_line_error(run("export " + q(fixture(*orig, "checkpoint")) + " --triton-repo " +
                            q(repo) + " --triton-name 'a/b'"),
                        2, "not a usable model name");
  expect_one_line_error(run("export " + q(fixture(*orig, "checkpoint")) + " --triton-repo " +
                            q(repo) + " --batch 2"),
                        2, "drop --batch");
}

// Two checkpoints in a directory: one single-person (M=1), one multi-person
// (M=5), with invalid answers along the way that are re-asked.
class ExportInteractive : public ExportCli {
 protected:
  void SetUp() override {
    if (!testing::manifest().is_object()) GTEST_SKIP() << "fixtures missing";
    single_ = testing::find_case("openpose_spatial");        // V=18, M=1, T=150
    multi_ = testing::find_case("mediapipe_spatial_2s_m5");  // V=33, M=5, T=150, two-stream
    ASSERT_TRUE(single_ && multi_);
    models_ = dir_.path() / "models";
    fs::create_directories(models_);
    fs::copy_file(fixture(*single_, "checkpoint"), models_ / "a_walk.pt");
    fs::copy_file(fixture(*multi_, "checkpoint"), models_ / "b_group.pth");
    std::ofstream(models_ / "readme.txt") << "not a model\n";
  }
  const json* single_ = nullptr;
  const json* multi_ = nullptr;
  fs::path models_;
};

TEST_F(ExportInteractive, ExportsTwoModelsReAskingInvalidAnswers) {
  const std::string group_out = (dir_.path() / "group.onnx").string();
  // One answer per line; "" takes the default.
  const std::vector<std::string> lines = {
      dir_ / "nowhere",  // not a directory: re-asked
      models_.string(),
      "9",    // out of range: re-asked
      "x,1",  // not a number: re-asked
      "1,2",
      // a_walk.pt
      "",     // single (the default)
      "",     // output: <models>/a_walk_M1.onnx
      "4",    // C must be 3: re-asked
      "",     // C 3
      "abc",  // T not a number: re-asked
      "",     // T 150
      "33",   // V must be 18: re-asked
      "",     // V 18
      "",     // M 1
      "fp8",  // not a precision: re-asked
      "",     // fp32
      "7",    // opset 7: re-asked
      "11",
      // b_group.pth
      "both",  // neither single nor multi: re-asked
      "multi",
      (models_ / "a_walk_M1.onnx").string(),  // the first model's output: re-asked
      group_out,
      "",  // C 3
      "",  // T 150
      "",  // V 33
      "",  // M 5 (from multi)
      "",  // fp32
      "",  // opset 17
  };
  std::string answers;
  for (const std::string& l : lines) answers += l + "\n";
  CliResult r = run("export --interactive --dynamic-batch", answers);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_EQ(files(models_),
            (std::vector<std::string>{"a_walk.pt", "a_walk_M1.onnx", "b_group.pth", "readme.txt"}));
  ASSERT_TRUE(fs::exists(group_out));
  // Every invalid answer got its one-line reason.
  int reasons = 0;
  for (size_t p = r.out.find("invalid: "); p != std::string::npos;
       p = r.out.find("invalid: ", p + 1))
    ++reasons;
  EXPECT_EQ(reasons, 10) << r.out;
  for (const char* s :
       {"1) a_walk.pt", "2) b_group.pth", "must be in 1..2, got 9", "C must be the model's 3",
        "V must be the model's 18", "opset 7 is not supported", "answer single or multi",
        "precision must be fp32, fp16 or int8, got 'fp8'",
        "already the output of another model", "[1/2]", "[2/2]", "[single]", "[150]", "[17]", "[5]",
        "Exported 2 of 2"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " in:\n" << r.out;
  EXPECT_EQ(r.out.find("readme.txt"), std::string::npos);
  // The summary: one line per file.
  EXPECT_NE(r.out.find("wrote '" + (models_ / "a_walk_M1.onnx").string() + "' (opset 11"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("wrote '" + group_out + "' (opset 17"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[N, 3, 150, 33, 5]"), std::string::npos) << r.out;

  // Both files compute what PyTorch computes.
  auto [xs, ws] = first_sample(*single_);
  auto [xm, wm] = first_sample(*multi_);
  const std::string single_out = (models_ / "a_walk_M1.onnx").string();
  ASSERT_EQ(
      testing::run_ort({{single_out, xs, dir_ / "ys.npy"}, {group_out, xm, dir_ / "ym.npy"}}, dir_),
      "");
  for (const auto& [y, want] : {std::pair{dir_ / "ys.npy", ws}, std::pair{dir_ / "ym.npy", wm}}) {
    auto got = read_npy(y);
    ASSERT_TRUE(got.is_ok());
    EXPECT_TRUE(testing::compare_logits(*got, want).ok()) << y;
  }
}

TEST_F(ExportInteractive, EndOfInputAbortsWithoutFiles) {
  const std::string start = models_.string() + "\nall\n";
  const std::string first_model = "\n\n\n\n\n\n\n\n";  // all defaults for a_walk.pt
  for (const std::string& answers : {std::string(""), start, start + "\n\n3\n", start + first_model,
                                     start + first_model + "multi\n"}) {
    CliResult r = run("export --interactive", answers);
    EXPECT_EQ(r.exit_code, 1) << answers;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("export aborted"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nothing was written"), std::string::npos) << r.err;
    EXPECT_EQ(files(models_), (std::vector<std::string>{"a_walk.pt", "b_group.pth", "readme.txt"}))
        << answers;
  }
}

TEST_F(ExportInteractive, ModelArgumentSkipsTheDirectoryPrompts) {
  const std::string out = dir_ / "one.onnx";
  CliResult r = run("export --interactive " + q((models_ / "a_walk.pt").string()) + " -o " + q(out),
                    "\n\n\n64\n\n\n\n13\n");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("Models directory"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Output file [" + out + "]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[1, 3, 64, 18, 1]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("opset 13"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out));
}

// The precisions for TensorRT: int8 asks for the calibration (samples or a table), offers
// opset 13+ and writes a Q/DQ graph; fp16 a float16 one.
TEST_F(ExportInteractive, OffersFp16AndInt8) {
  const std::string out8 = dir_ / "walk_int8.onnx", out16 = dir_ / "walk_fp16.onnx";
  const std::string calib = fixture(*single_, "input");
  CliResult r = run("export --interactive " + q((models_ / "a_walk.pt").string()) + " -o " + q(out8),
                    "\n\n\n\n\n\nint8\n" + (dir_ / "missing.npy") + "\n" + calib + "\n12\n\n");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* s : {"Precision (fp32; fp16 or int8 Q/DQ for TensorRT)", "INT8 calibration",
                        "no file '", "Opset (13..18) [17]", "an INT8 (QDQ) export needs opset >= 13",
                        "int8 Q/DQ (0 layers kept fp32)"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " in:\n" << r.out;
  r = run("export --interactive " + q((models_ / "a_walk.pt").string()) + " -o " + q(out16),
          "\n\n\n\n\n\nfp16\n\n");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("matmul, fp16"), std::string::npos) << r.out;
  const std::string check = std::string("'") + STGCN_PYTHON + "' '" + STGCN_SOURCE_DIR +
                            "/python/check_qdq.py' '" + out8 + "' '" + out16 + "' >'" +
                            (dir_ / "check.txt") + "' 2>&1";
  const int rc = std::system(check.c_str());
  const std::string report = testing::slurp(dir_ / "check.txt");
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << report;
  EXPECT_NE(report.find("\"fp32_layers\": 0"), std::string::npos) << report;
  EXPECT_NE(report.find("FLOAT16"), std::string::npos) << report;
}

// Without MODEL on a terminal the prompts start by themselves: a
// pseudo-terminal from util-linux `script` (skipped where it is missing).
TEST_F(ExportInteractive, TerminalWithoutModelStartsThePrompts) {
  if (std::system("command -v script >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "no `script` for a pty";
  const std::string answers = dir_ / "answers.txt";
  std::ofstream(answers) << models_.string() << "\n1\n\n\n\n\n\n\n\n\n";
  const std::string transcript = dir_ / "transcript.txt";
  const std::string cmd = "script -qefc \"'" + std::string(STGCN_CLI_PATH) +
                          "' export\" /dev/null <'" + answers + "' >'" + transcript + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string out = testing::slurp(transcript);
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << out;
  EXPECT_NE(out.find("Models directory [.]"), std::string::npos) << out;
  EXPECT_NE(out.find("Exported 1 of 1"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(models_ / "a_walk_M1.onnx")) << out;
}

}  // namespace
}  // namespace stgcn
