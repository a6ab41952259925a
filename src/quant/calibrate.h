// INT8 calibration: runs the fused FP32 graph over calibration samples,
// observes every activation an int8 engine quantises, and turns what it saw
// into one threshold per tensor (minmax, entropy / KL, percentile). The
// result is a readable text table, reusable without the data.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "ir/ir.h"
#include "passes/passes.h"
#include "stgcn/status.h"
#include "stgcn/tensor.h"

namespace stgcn::quant {

enum class CalibMethod { kMinMax, kEntropy, kPercentile };
const char* calib_method_name(CalibMethod m);
Result<CalibMethod> parse_calib_method(const std::string& name);

struct CalibOptions {
  CalibMethod method = CalibMethod::kEntropy;
  double percentile = 99.99;  // kPercentile: the |x| percentile kept
  int threads = 0;            // <= 0: one per core
  int bins = 2048;            // histogram bins over [0, max |x|]
  std::function<void(const std::string&)> progress;
};

struct CalibTable {
  std::string method;
  double percentile = 0;
  int samples = 0;
  int T = 0, M = 0;
  std::map<std::string, passes::TensorRange> ranges;  // value name -> range
};

// The values calibration observes: data_bn and every quantisable layer's output.
bool observed(const ir::Graph& g, const ir::Node& n);

// Runs `fp32_graph` (fused, FP32) over the samples of `data` (N, C, T, V, M).
// Padding does not count: per sample, frames after its last non-zero input
// frame and person slots that are all zero are left out of every statistic
// (a frame of a strided layer counts when it covers a real input frame).
Result<CalibTable> calibrate(const ir::Graph& fp32_graph, const Tensor& data,
                             const CalibOptions& options);

// The threshold a method picks from a histogram of |x| (`hist[i]` counts
// values in [i, i + 1) * amax / bins). `levels`: 128 (s8) or 256 (u8).
float entropy_threshold(const std::vector<double>& hist, float amax, int levels);
float percentile_threshold(const std::vector<double>& hist, float amax, double percentile);

std::string table_text(const CalibTable& t);
Result<CalibTable> parse_table(const std::string& text, const std::string& path);
Status write_table(const std::string& path, const CalibTable& t);  // atomic
Result<CalibTable> read_table(const std::string& path);

}  // namespace stgcn::quant
