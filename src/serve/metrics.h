// Prometheus metrics of the server (text exposition format 0.0.4, served at GET /metrics):
// requests and failures per protocol / model / outcome, a request latency histogram, batch
// sizes, and gauges read when scraped (queue depth, live sequences, ...).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "serve/types.h"

namespace stgcn::serve {

const char* code_name(Code code);  // "ok", "invalid_argument", ...

class Metrics {
 public:
  // Latency buckets (seconds) of stgcn_request_duration_seconds.
  static const std::vector<double>& latency_buckets();

  // A request answered (any outcome) for `model` ("" when no model was named or found).
  void request(std::string_view protocol, const std::string& model, Code code, double seconds);
  // One engine call of `size` samples for `model` (stgcn_batch_size histogram).
  void batch(const std::string& model, int size);
  // Work dropped or refused by the overload policy.
  void dropped(const std::string& model, int64_t n);
  // A gauge read at scrape time, e.g. the queue depth of a model.
  void gauge(std::string name, std::string help, std::string labels, std::function<double()> read);

  std::string render() const;

  // For tests and the load bench.
  int64_t requests_total(Code code) const;

 private:
  struct Histogram {
    std::vector<int64_t> counts;  // per bucket (not cumulative), then +Inf
    double sum = 0;
    int64_t count = 0;
  };
  struct Gauge {
    std::string name, help, labels;
    std::function<double()> read;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> requests_;  // proto, model, code
  std::map<std::pair<std::string, std::string>, Histogram> latency_;             // proto, model
  std::map<std::string, Histogram> batches_;
  std::map<std::string, int64_t> dropped_;
  std::vector<Gauge> gauges_;
};

}  // namespace stgcn::serve
