#include "serve/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace stgcn::serve {

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kUnavailable: return "unavailable";
    case Code::kResourceExhausted: return "resource_exhausted";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kDeadlineExceeded: return "deadline_exceeded";
    case Code::kInternal: return "internal";
  }
  return "unknown";
}

const std::vector<double>& Metrics::latency_buckets() {
  static const std::vector<double> b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   10};
  return b;
}

namespace {

const std::vector<double>& batch_buckets() {
  static const std::vector<double> b = {1, 2, 4, 8, 16, 32, 64, 128};
  return b;
}

void observe(std::vector<int64_t>& counts, const std::vector<double>& bounds, double v) {
  if (counts.empty()) counts.assign(bounds.size() + 1, 0);
  const size_t i = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) -
                                       bounds.begin());
  ++counts[i];
}

// A label value with \, " and newlines escaped (exposition format).
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void Metrics::request(std::string_view protocol, const std::string& model, Code code,
                      double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{std::string(protocol), model, code_name(code)}];
  Histogram& h = latency_[{std::string(protocol), model}];
  observe(h.counts, latency_buckets(), seconds);
  h.sum += seconds;
  ++h.count;
}

void Metrics::batch(const std::string& model, int size) {
  std::lock_guard<std::mutex> lock(mu_);
  Histogram& h = batches_[model];
  observe(h.counts, batch_buckets(), size);
  h.sum += size;
  ++h.count;
}

void Metrics::dropped(const std::string& model, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  dropped_[model] += n;
}

void Metrics::gauge(std::string name, std::string help, std::string labels,
                    std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_.push_back({std::move(name), std::move(help), std::move(labels), std::move(read)});
}

int64_t Metrics::requests_total(Code code) const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = 0;
  for (const auto& [key, v] : requests_)
    if (std::get<2>(key) == code_name(code)) n += v;
  return n;
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string o;
  o += "# HELP stgcn_requests_total Inference requests answered, by protocol, model and outcome.\n";
  o += "# TYPE stgcn_requests_total counter\n";
  for (const auto& [key, v] : requests_)
    o += fmt::format("stgcn_requests_total{{protocol=\"{}\",model=\"{}\",code=\"{}\"}} {}\n",
                     label(std::get<0>(key)), label(std::get<1>(key)), std::get<2>(key), v);
  o += "# HELP stgcn_request_failures_total Inference requests answered with an error.\n";
  o += "# TYPE stgcn_request_failures_total counter\n";
  std::map<std::pair<std::string, std::string>, int64_t> failures;
  for (const auto& [key, v] : requests_)
    if (std::get<2>(key) != std::string("ok")) failures[{std::get<0>(key), std::get<1>(key)}] += v;
  for (const auto& [key, v] : failures)
    o += fmt::format("stgcn_request_failures_total{{protocol=\"{}\",model=\"{}\"}} {}\n",
                     label(key.first), label(key.second), v);
  auto histogram = [&](const std::string& name, const std::string& labels, const Histogram& h,
                       const std::vector<double>& bounds) {
    int64_t cum = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      cum += h.counts.empty() ? 0 : h.counts[i];
      o += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, bounds[i], cum);
    }
    o += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, h.count);
    o += fmt::format("{}_sum{{{}}} {}\n", name, labels, h.sum);
    o += fmt::format("{}_count{{{}}} {}\n", name, labels, h.count);
  };
  o += "# HELP stgcn_request_duration_seconds Time from a request's arrival to its answer.\n";
  o += "# TYPE stgcn_request_duration_seconds histogram\n";
  for (const auto& [key, h] : latency_)
    histogram("stgcn_request_duration_seconds",
              fmt::format("protocol=\"{}\",model=\"{}\"", label(key.first), label(key.second)), h,
              latency_buckets());
  o += "# HELP stgcn_batch_size Samples per engine call (dynamic batching).\n";
  o += "# TYPE stgcn_batch_size histogram\n";
  for (const auto& [model, h] : batches_)
    histogram("stgcn_batch_size", fmt::format("model=\"{}\"", label(model)), h, batch_buckets());
  o += "# HELP stgcn_dropped_total Requests or frames refused or dropped by the overload policy.\n";
  o += "# TYPE stgcn_dropped_total counter\n";
  for (const auto& [model, n] : dropped_)
    o += fmt::format("stgcn_dropped_total{{model=\"{}\"}} {}\n", label(model), n);
  // One HELP / TYPE block per gauge name (they are registered per model, interleaved).
  std::vector<const Gauge*> sorted;
  for (const Gauge& g : gauges_) sorted.push_back(&g);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Gauge* a, const Gauge* b) { return a->name < b->name; });
  std::string last;
  for (const Gauge* gp : sorted) {
    const Gauge& g = *gp;
    if (g.name != last) {
      o += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", g.name, g.help, g.name);
      last = g.name;
    }
    o += fmt::format("{}{{{}}} {}\n", g.name, g.labels, g.read ? g.read() : 0.0);
  }
  return o;
}

}  // namespace stgcn::serve
