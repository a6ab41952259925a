// Shared helpers for tests: the generated fixtures (python/gen_fixtures.py,
// run by the `generate_fixtures` CTest fixture) and small comparisons.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "stgcn/tensor.h"

namespace stgcn::testing {

inline std::string fixtures_dir() {
  if (const char* env = std::getenv("STGCN_FIXTURES")) return env;
  return STGCN_FIXTURES_DIR;
}

inline std::string fixture_path(const std::string& rel) { return fixtures_dir() + "/" + rel; }

// The manifest; fails the calling test (ASSERT in a void helper) when absent.
inline const nlohmann::json& manifest() {
  static nlohmann::json m = [] {
    std::ifstream in(fixture_path("manifest.json"));
    if (!in) return nlohmann::json();
    return nlohmann::json::parse(in, nullptr, false);
  }();
  return m;
}

#define STGCN_REQUIRE_FIXTURES()                                                        \
  ASSERT_TRUE(::stgcn::testing::manifest().is_object())                                 \
      << "fixtures missing: run `ctest` (it generates them) or python/gen_fixtures.py " \
      << ::stgcn::testing::fixtures_dir()

// Names of the manifest's `key` entries, for value-parameterised tests; a
// single "fixtures_missing" (a case no test finds, so it fails) when absent.
inline std::vector<std::string> manifest_names(const char* key) {
  std::vector<std::string> names;
  const auto& m = manifest();
  if (m.is_object() && m.contains(key))
    for (const auto& entry : m[key]) names.push_back(entry["name"].get<std::string>());
  if (names.empty()) names.push_back("fixtures_missing");
  return names;
}

// A gtest-safe parameter name.
inline std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

// A whole file as a string ("" when unreadable).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs `stgcn ARGS` (the built CLI) with stdout/stderr captured through files
// in `work_dir` and stdin from `stdin_text` (empty: /dev/null).
inline CliResult run_cli(const std::string& args, const std::filesystem::path& work_dir,
                         const std::string& stdin_text = "") {
  const auto out = work_dir / "out.txt", err = work_dir / "err.txt", in = work_dir / "stdin.txt";
  std::string stdin_path = "/dev/null";
  if (!stdin_text.empty()) {
    std::ofstream(in) << stdin_text;
    stdin_path = in.string();
  }
  const std::string cmd = std::string(STGCN_CLI_PATH) + " " + args + " >'" + out.string() +
                          "' 2>'" + err.string() + "' <'" + stdin_path + "'";
  const int rc = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  r.out = slurp(out);
  r.err = slurp(err);
  std::error_code ec;
  for (const auto& f : {out, err, in}) std::filesystem::remove(f, ec);
  return r;
}

inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A test that runs the CLI in its own temporary directory (removed after).
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           (std::string("stgcn_") + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  CliResult run(const std::string& args) { return run_cli(args, dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A failing command: exit 1 (not a crash), exactly one stderr line naming `expect`.
  void expect_clean_failure(const CliResult& r, const std::string& expect) {
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(lower(r.err).find(expect), std::string::npos) << r.err;
  }

  std::filesystem::path dir_;
};

// max |a - b| and the tolerance 1e-4 * max(1, max |b|) of the acceptance rule.
struct Closeness {
  double max_abs_diff = 0;
  double tolerance = 0;
  bool ok() const { return max_abs_diff <= tolerance; }
};

inline Closeness compare_logits(const Tensor& got, const Tensor& want, double rel = 1e-4) {
  Closeness c;
  double max_ref = 0;
  for (float v : want.data) max_ref = std::max(max_ref, std::abs(static_cast<double>(v)));
  c.tolerance = rel * std::max(1.0, max_ref);
  if (got.shape != want.shape) {
    c.max_abs_diff = INFINITY;
    return c;
  }
  for (size_t i = 0; i < got.data.size(); ++i)
    c.max_abs_diff =
        std::max(c.max_abs_diff, std::abs(static_cast<double>(got.data[i]) - want.data[i]));
  return c;
}

}  // namespace stgcn::testing
