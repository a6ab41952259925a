// Helpers for the ONNX export tests (library and CLI): fixture models, batch
// slicing, and ONNX Runtime runs through python/ort_run.py (one Python process
// for many models, since its start-up dominates).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "stgcn/model.h"
#include "stgcn/npy.h"
#include "test_util.h"

namespace stgcn::testing {

namespace fs = std::filesystem;

// The load options a fixture case needs: its motion mode and its strides
// (not stored in checkpoints).
inline LoadOptions case_load_options(const nlohmann::json& c) {
  LoadOptions opt;
  if (!c["motion"].is_null()) {
    auto motion = parse_motion_mode(c["motion"].get<std::string>());
    if (motion.is_ok()) opt.motion = *motion;
  }
  opt.strides = c["strides"].get<std::vector<int>>();
  return opt;
}

inline const nlohmann::json* find_case(const std::string& name) {
  for (const auto& c : manifest()["cases"])
    if (c["name"] == name) return &c;
  return nullptr;
}

// Samples [first, first + count) of an (N, ...) tensor.
inline Tensor slice_batch(const Tensor& t, int64_t first, int64_t count) {
  std::vector<int64_t> shape = t.shape;
  const int64_t per = t.numel() / shape[0];
  shape[0] = count;
  Tensor out(shape);
  std::copy(t.data.begin() + first * per, t.data.begin() + (first + count) * per, out.data.begin());
  return out;
}

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("stgcn_" + tag + "_" + info->test_suite_name() + "_" +
                                         info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

struct OrtJob {
  std::string model, input, output;
};

// Runs every job in one `python/ort_run.py --batch` process (1 thread each).
// Returns "" on success, else the script's stderr.
inline std::string run_ort(const std::vector<OrtJob>& jobs, const TempDir& dir) {
  nlohmann::json list = nlohmann::json::array();
  for (const OrtJob& j : jobs)
    list.push_back({{"model", j.model}, {"input", j.input}, {"output", j.output}});
  const std::string jobs_file = dir / "ort_jobs.json";
  std::ofstream(jobs_file) << list.dump();
  const std::string err = dir / "ort_stderr.txt";
  const std::string cmd = std::string("'") + STGCN_PYTHON + "' '" + STGCN_SOURCE_DIR +
                          "/python/ort_run.py' --threads 1 --batch '" + jobs_file + "' 2>'" + err +
                          "'";
  const int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 0) return "";
  const std::string msg = slurp(err);
  return msg.empty() ? "ort_run.py failed (exit status " + std::to_string(rc) + ")" : msg;
}

// Row-wise softmax of (N, K) logits, in double.
inline Tensor softmax_rows(const Tensor& logits) {
  Tensor out(logits.shape);
  const int64_t n = logits.shape[0], k = logits.shape[1];
  for (int64_t i = 0; i < n; ++i) {
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < k; ++j) mx = std::max(mx, static_cast<double>(logits.data[i * k + j]));
    for (int64_t j = 0; j < k; ++j) sum += std::exp(logits.data[i * k + j] - mx);
    for (int64_t j = 0; j < k; ++j)
      out.data[i * k + j] = static_cast<float>(std::exp(logits.data[i * k + j] - mx) / sum);
  }
  return out;
}

}  // namespace stgcn::testing
