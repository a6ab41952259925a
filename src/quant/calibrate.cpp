#include "quant/calibrate.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "backends/registry.h"
#include "stgcn/npy.h"

namespace stgcn::quant {
using ir::Graph;
using ir::Node;
using ir::Op;

const char* calib_method_name(CalibMethod m) {
  switch (m) {
    case CalibMethod::kMinMax: return "minmax";
    case CalibMethod::kEntropy: return "entropy";
    case CalibMethod::kPercentile: return "percentile";
  }
  return "?";
}

Result<CalibMethod> parse_calib_method(const std::string& name) {
  if (name == "minmax") return CalibMethod::kMinMax;
  if (name == "entropy") return CalibMethod::kEntropy;
  if (name == "percentile") return CalibMethod::kPercentile;
  return Status(ErrorCode::kInvalidArgument,
                fmt::format("unknown calibration method '{}' (minmax, entropy, percentile)", name));
}

bool observed(const ir::Graph& g, const Node& n) {
  return n.op == Op::kDataBn || backend::default_backend().computes_in_low_precision(g, n);
}

namespace {

// Where a value's real (non-padding) elements are: persons m with rows
// [0, M), each (M, [K,] V, T', C) row block restricted to frames t' < valid.
struct Mask {
  std::vector<bool> person;  // per person slot
  int frames = 0;            // real input frames (0: an empty sample)
};

Mask sample_mask(const float* x, int64_t C, int64_t T, int64_t V, int64_t M) {
  Mask m;
  m.person.assign(static_cast<size_t>(M), false);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t v = 0; v < V; ++v)
        for (int64_t p = 0; p < M; ++p)
          if (x[((c * T + t) * V + v) * M + p] != 0.f) {
            m.person[p] = true;
            m.frames = std::max(m.frames, static_cast<int>(t + 1));
          }
  return m;
}

struct Stats {
  float amax = 0.f;
  float min = std::numeric_limits<float>::infinity();
  int64_t count = 0;
  std::vector<double> hist;
};

// Visits the real elements of a value (shape per sample, f32).
template <typename F>
void for_real(const ir::Value& v, const float* p, const Mask& mask, int64_t T_in, F f) {
  const auto& s = v.shape;  // (M, [K,] V, T', C)
  const int64_t M = s[0], C = s.back(), Tv = s[s.size() - 2];
  int64_t rows = 1;  // (K,) V per person
  for (size_t i = 1; i + 2 < s.size(); ++i) rows *= s[i];
  const int64_t valid = std::min<int64_t>(Tv, (mask.frames * Tv + T_in - 1) / T_in);
  for (int64_t m = 0; m < M; ++m) {
    if (m < static_cast<int64_t>(mask.person.size()) && !mask.person[m]) continue;
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = p + ((m * rows + r) * Tv) * C;
      for (int64_t i = 0; i < valid * C; ++i) f(row[i]);
    }
  }
}

}  // namespace

float percentile_threshold(const std::vector<double>& hist, float amax, double percentile) {
  double total = 0;
  for (double h : hist) total += h;
  if (total <= 0) return amax;
  const double want = total * std::clamp(percentile, 0.0, 100.0) / 100.0;
  double run = 0;
  const double width = static_cast<double>(amax) / static_cast<double>(hist.size());
  for (size_t i = 0; i < hist.size(); ++i) {
    if (run + hist[i] >= want) {
      const double frac = hist[i] > 0 ? (want - run) / hist[i] : 1.0;
      return static_cast<float>((static_cast<double>(i) + frac) * width);
    }
    run += hist[i];
  }
  return amax;
}

// TensorRT-style KL calibration: for each candidate threshold (bin i), the
// reference P = hist[0, i) with the clipped tail added to its last bin; the
// candidate Q = hist[0, i) merged into `levels` groups and spread back over
// each group's bins where P is non-empty (so clipping a heavy tail costs);
// pick the i with the smallest KL(P || Q).
float entropy_threshold(const std::vector<double>& hist, float amax, int levels) {
  const int bins = static_cast<int>(hist.size());
  if (bins <= levels) return amax;
  double total = 0;
  for (double h : hist) total += h;
  if (total <= 0) return amax;
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = bins;
  std::vector<double> P(bins), Q(bins);
  double tail = 0;
  for (int i = bins; i >= levels; --i) {
    // tail = sum of hist[i..bins)
    if (i < bins) tail += hist[i];
    std::copy(hist.begin(), hist.begin() + i, P.begin());
    P[i - 1] += tail;
    // Q: hist[0, i) (without the clipped tail) merged into `levels` groups,
    // each group's mass spread over the bins where P is non-zero.
    const double per = static_cast<double>(i) / levels;
    for (int j = 0; j < levels; ++j) {
      const int b0 = static_cast<int>(std::floor(j * per));
      const int b1 = j == levels - 1 ? i : static_cast<int>(std::floor((j + 1) * per));
      double sum = 0;
      int nonzero = 0;
      for (int b = b0; b < b1; ++b) {
        sum += hist[b];
        nonzero += P[b] > 0;
      }
      for (int b = b0; b < b1; ++b) Q[b] = P[b] > 0 && nonzero > 0 ? sum / nonzero : 0.0;
    }
    double ps = 0, qs = 0;
    for (int b = 0; b < i; ++b) ps += P[b], qs += Q[b];
    if (ps <= 0 || qs <= 0) continue;
    double kl = 0;
    constexpr double eps = 1e-10;
    for (int b = 0; b < i; ++b) {
      if (P[b] <= 0) continue;
      const double p = P[b] / ps;
      const double q = std::max(Q[b] / qs, eps);
      kl += p * std::log(p / q);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return static_cast<float>((best_i + 0.5) * amax / bins);
}

Result<CalibTable> calibrate(const Graph& g, const Tensor& data, const CalibOptions& opt) {
  const ir::Value& in = g.values[g.input];  // (C, T, V, M)
  if (data.rank() != 5 || data.shape[1] != in.shape[0] || data.shape[2] != in.shape[1] ||
      data.shape[3] != in.shape[2] || data.shape[4] != in.shape[3])
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("calibration data has shape {}, the engine takes (N, {}, {}, {}, {})",
                              shape_string(data.shape), in.shape[0], in.shape[1], in.shape[2],
                              in.shape[3]));
  const int64_t N = data.shape[0];
  if (N < 1) return Status(ErrorCode::kInvalidArgument, "calibration data has no samples");
  if (opt.bins < 256 || opt.bins > (1 << 16))
    return Status(ErrorCode::kInvalidArgument, "histogram bins must be in 256..65536");
  for (const ir::Value& v : g.values)
    if (v.dtype != ir::DType::kF32)
      return Status(ErrorCode::kInternal, "calibration needs the FP32 graph");
  for (float x : data.data)
    if (!std::isfinite(x))
      return Status(ErrorCode::kInvalidArgument, "calibration data holds NaN or infinity");
  STGCN_ASSIGN_OR_RETURN(auto exe, backend::default_backend().prepare(g, {.max_batch = 1}));
  const int threads = opt.threads > 0 ? opt.threads : std::max(1, omp_get_num_procs());
  STGCN_ASSIGN_OR_RETURN(auto runner, exe->create_context(threads));
  const int64_t C = in.shape[0], T = in.shape[1], V = in.shape[2], M = in.shape[3];
  const int64_t per = C * T * V * M;
  const int64_t classes = g.values[g.output].numel();
  std::vector<float> logits(static_cast<size_t>(classes));
  std::vector<Stats> stats(g.nodes.size());
  Mask mask;
  int used = 0;
  const bool histo = opt.method != CalibMethod::kMinMax;
  for (int pass = 0; pass < (histo ? 2 : 1); ++pass) {
    if (pass == 1)
      for (Stats& s : stats) s.hist.assign(static_cast<size_t>(opt.bins), 0.0);
    runner->set_observer([&](int node, int, const void* p) {
      const Node& n = g.nodes[node];
      if (!observed(g, n)) return;
      Stats& s = stats[node];
      const float* x = static_cast<const float*>(p);
      if (pass == 0) {
        for_real(g.values[n.output], x, mask, T, [&s](float v) {
          s.amax = std::max(s.amax, std::fabs(v));
          s.min = std::min(s.min, v);
          ++s.count;
        });
      } else if (s.amax > 0.f) {
        const double f = static_cast<double>(opt.bins) / s.amax;
        const int last = opt.bins - 1;
        // Exact zeros (half of a ReLU's output) quantise exactly: leaving them
        // out keeps their spike from dragging the KL threshold down.
        for_real(g.values[n.output], x, mask, T, [&](float v) {
          if (v == 0.f) return;
          const int b = std::min(last, static_cast<int>(std::fabs(v) * f));
          s.hist[b] += 1.0;
        });
      }
    });
    used = 0;
    for (int64_t i = 0; i < N; ++i) {
      const float* x = data.data.data() + i * per;
      mask = sample_mask(x, C, T, V, M);
      if (mask.frames == 0) continue;  // an all-zero sample: nothing real to see
      STGCN_RETURN_IF_ERROR(runner->run(x, 1, logits.data()));
      ++used;
      if (opt.progress && ((i + 1) % 50 == 0 || i + 1 == N))
        opt.progress(fmt::format("calibration pass {}/{}: {}/{} samples", pass + 1,
                                 histo ? 2 : 1, i + 1, N));
    }
    if (used == 0)
      return Status(ErrorCode::kInvalidArgument, "calibration data has only all-zero samples");
  }
  CalibTable t;
  t.method = calib_method_name(opt.method);
  t.percentile = opt.method == CalibMethod::kPercentile ? opt.percentile : 0;
  t.samples = used;
  t.T = static_cast<int>(T);
  t.M = static_cast<int>(M);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (!observed(g, n)) continue;
    const Stats& s = stats[i];
    passes::TensorRange r;
    r.min = s.count > 0 ? s.min : 0.f;
    r.amax = s.amax;
    if (s.amax > 0.f && histo) {
      const int levels = r.min >= 0.f ? 256 : 128;
      r.amax = opt.method == CalibMethod::kEntropy
                   ? entropy_threshold(s.hist, s.amax, levels)
                   : percentile_threshold(s.hist, s.amax, opt.percentile);
      r.amax = std::min(std::max(r.amax, s.amax / static_cast<float>(opt.bins)), s.amax);
    }
    if (!(r.amax > 0.f)) r.amax = 1e-6f;  // a value that was always zero
    t.ranges[g.values[n.output].name] = r;
  }
  return t;
}

std::string table_text(const CalibTable& t) {
  std::string s = "# stgcn-rt int8 calibration table v1\n";
  s += fmt::format("# method {}", t.method);
  if (t.method == "percentile") s += fmt::format(" {}", t.percentile);
  s += fmt::format("  samples {}  T {}  M {}\n", t.samples, t.T, t.M);
  s += "# value  threshold(|x|)  min\n";
  for (const auto& [name, r] : t.ranges) s += fmt::format("{} {:.9g} {:.9g}\n", name, r.amax, r.min);
  return s;
}

Result<CalibTable> parse_table(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  CalibTable t;
  bool header = false;
  auto bad = [&](const std::string& what) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("calibration table '{}' line {}: {}", path, lineno, what));
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line[0] == '#') {
      if (lineno == 1) header = line.rfind("# stgcn-rt int8 calibration table v1", 0) == 0;
      std::istringstream h(line.substr(1));
      std::string key;
      h >> key;
      if (key == "method") {
        h >> t.method;
        if (t.method == "percentile") h >> t.percentile;
        std::string k;
        while (h >> k) {
          if (k == "samples") h >> t.samples;
          if (k == "T") h >> t.T;
          if (k == "M") h >> t.M;
        }
      }
      continue;
    }
    if (!header) {
      lineno = 1;
      return bad("not an stgcn-rt int8 calibration table (first line must be "
                 "'# stgcn-rt int8 calibration table v1')");
    }
    std::istringstream f(line);
    std::string name, extra;
    passes::TensorRange r;
    if (!(f >> name >> r.amax >> r.min) || (f >> extra))
      return bad("expected 'VALUE THRESHOLD MIN'");
    if (!std::isfinite(r.amax) || !(r.amax > 0.f) || !std::isfinite(r.min))
      return bad(fmt::format("'{}': threshold must be a finite number > 0", name));
    if (!t.ranges.emplace(name, r).second) return bad(fmt::format("'{}' appears twice", name));
  }
  if (!header) {
    lineno = 1;
    return bad("not an stgcn-rt int8 calibration table (empty)");
  }
  if (t.ranges.empty()) return bad("no entries");
  return t;
}

Status write_table(const std::string& path, const CalibTable& t) {
  return write_file_atomic(path, table_text(t));
}

Result<CalibTable> read_table(const std::string& path) {
  STGCN_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_table(text, path);
}

}  // namespace stgcn::quant
