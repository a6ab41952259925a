#include "quant/mixed.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "backends/registry.h"
#include "passes/passes.h"

namespace stgcn::quant {

namespace {

int argmax(const float* p, int64_t n) {
  return static_cast<int>(std::max_element(p, p + n) - p);
}

// "s0.b3.tcn" -> "s0.b3": the block a layer belongs to.
std::string unit_of(const std::string& layer) {
  const auto a = layer.find('.');
  if (a == std::string::npos) return layer;
  const auto b = layer.find('.', a + 1);
  return b == std::string::npos ? layer : layer.substr(0, b);
}

Tensor head_of(const Tensor& t, int64_t n) {
  Tensor out;
  out.shape = t.shape;
  out.shape[0] = std::min(n, t.shape[0]);
  const int64_t per = t.numel() / std::max<int64_t>(1, t.shape[0]);
  out.data.assign(t.data.begin(), t.data.begin() + out.shape[0] * per);
  return out;
}

}  // namespace

double top1_score(const Tensor& logits, const Tensor* labels, const Tensor& reference) {
  const int64_t N = logits.shape[0], C = logits.shape[1];
  if (N == 0) return 0;
  int64_t hit = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int p = argmax(logits.data.data() + i * C, C);
    const int want = labels ? static_cast<int>(labels->data[i])
                            : argmax(reference.data.data() + i * C, C);
    hit += p == want;
  }
  return 100.0 * static_cast<double>(hit) / static_cast<double>(N);
}

Result<Tensor> run_graph(const ir::Graph& g, const Tensor& data, int threads) {
  STGCN_ASSIGN_OR_RETURN(auto exe, backend::default_backend().prepare(g, {.max_batch = 1}));
  STGCN_ASSIGN_OR_RETURN(auto runner, exe->create_context(threads));
  const int64_t N = data.shape[0];
  const int64_t per = data.numel() / std::max<int64_t>(1, N);
  const int64_t C = g.values[g.output].numel();
  Tensor out;
  out.shape = {N, C};
  out.data.assign(static_cast<size_t>(N * C), 0.f);
  for (int64_t i = 0; i < N; ++i)
    STGCN_RETURN_IF_ERROR(runner->run(data.data.data() + i * per, 1, out.data.data() + i * C));
  return out;
}

Result<MixedResult> search_mixed(const ir::Graph& fp32, const CalibTable& table, const Tensor& val,
                                 const Tensor* labels, double max_drop,
                                 const std::set<std::string>& keep_fp32, int threads,
                                 const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  MixedResult r;
  r.labelled = labels != nullptr;
  STGCN_ASSIGN_OR_RETURN(Tensor ref, run_graph(fp32, val, threads));
  r.fp32_score = top1_score(ref, labels, ref);
  auto quantized = [&](const std::set<std::string>& keep) -> Result<ir::Graph> {
    ir::Graph g = fp32;
    STGCN_RETURN_IF_ERROR(passes::quantize_int8(g, table.ranges, keep, backend::default_backend()));
    return g;
  };
  auto score = [&](const std::set<std::string>& keep) -> Result<double> {
    STGCN_ASSIGN_OR_RETURN(ir::Graph g, quantized(keep));
    STGCN_ASSIGN_OR_RETURN(Tensor lg, run_graph(g, val, threads));
    ++r.evaluations;
    return top1_score(lg, labels, ref);
  };
  auto drop_of = [&](double s) { return r.fp32_score - s; };
  STGCN_ASSIGN_OR_RETURN(r.int8_score, score(keep_fp32));
  r.final_score = r.int8_score;
  r.keep_fp32 = keep_fp32;
  say(fmt::format("fallback: FP32 {} {:.2f} %, all-INT8 {:.2f} % (drop {:.2f} points, budget {})",
                  r.labelled ? "accuracy" : "agreement", r.fp32_score, r.int8_score,
                  drop_of(r.int8_score), max_drop));
  if (drop_of(r.int8_score) <= max_drop) {
    r.final_drop = drop_of(r.int8_score);
    return r;
  }
  // Sensitivity of each block: that block alone in int8, on up to 64 samples.
  const std::vector<std::string> layers = passes::quantizable_layers(fp32, backend::default_backend());
  std::vector<std::string> units;
  std::map<std::string, std::vector<std::string>> members;
  for (const std::string& l : layers) {
    const std::string u = unit_of(l);
    if (!members.count(u)) units.push_back(u);
    members[u].push_back(l);
  }
  const Tensor sub = head_of(val, 64);
  const Tensor sub_ref = head_of(ref, 64);
  for (size_t i = 0; i < units.size(); ++i) {
    std::set<std::string> keep(layers.begin(), layers.end());
    for (const std::string& l : members[units[i]]) keep.erase(l);
    STGCN_ASSIGN_OR_RETURN(ir::Graph g, quantized(keep));
    STGCN_ASSIGN_OR_RETURN(Tensor lg, run_graph(g, sub, threads));
    ++r.evaluations;
    double err = 0;
    for (size_t k = 0; k < lg.data.size(); ++k) {
      const double d = lg.data[k] - sub_ref.data[k];
      err += d * d;
    }
    r.ranking.push_back({units[i], err / static_cast<double>(lg.data.size())});
    say(fmt::format("fallback: sensitivity {}/{} ({}: {:.3g})", i + 1, units.size(), units[i],
                    r.ranking.back().error));
  }
  std::stable_sort(r.ranking.begin(), r.ranking.end(),
                   [](const Sensitivity& a, const Sensitivity& b) { return a.error > b.error; });
  auto keep_first = [&](size_t k) {
    std::set<std::string> keep = keep_fp32;
    for (size_t i = 0; i < k; ++i)
      for (const std::string& l : members[r.ranking[i].unit]) keep.insert(l);
    return keep;
  };
  // Smallest k (most sensitive blocks kept in FP32) meeting the budget:
  // binary search, assuming keeping more never hurts; k = all is FP32.
  size_t lo = 0, hi = r.ranking.size();
  double hi_score = r.fp32_score;
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    STGCN_ASSIGN_OR_RETURN(double s, score(keep_first(mid)));
    say(fmt::format("fallback: {} most sensitive blocks in FP32: {:.2f} % (drop {:.2f})", mid, s,
                    drop_of(s)));
    if (drop_of(s) <= max_drop) {
      hi = mid;
      hi_score = s;
    } else {
      lo = mid;
    }
  }
  r.keep_fp32 = keep_first(hi);
  for (size_t i = 0; i < hi; ++i) r.units_fp32.push_back(r.ranking[i].unit);
  r.final_score = hi_score;
  r.final_drop = drop_of(hi_score);
  return r;
}

}  // namespace stgcn::quant
