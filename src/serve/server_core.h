// The server core (core.h) over loaded engines: a WindowBatcher per model for stateless
// window requests and, where the engine runs in continual mode, Sequences for Triton's
// sequence extension. docs/serving.md describes the tensors each model takes and returns.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serve/core.h"
#include "serve/sequences.h"
#include "serve/window_batcher.h"
#include "stgcn/engine.h"

namespace stgcn::serve {

struct ModelOptions {
  BatcherOptions batching;
  SequenceOptions sequences;
  bool serve_sequences = true;  // when the engine can run in continual mode
};

class ServerCore final : public Core {
 public:
  ServerCore();
  ~ServerCore() override;

  // Adds a loaded engine under `name` (not ready until set_ready()).
  Status add_model(const std::string& name, std::shared_ptr<const Engine> engine,
                   const ModelOptions& options);
  void set_ready(bool ready) { ready_ = ready; }
  // Readiness goes false and new requests are refused (kUnavailable); returns when the
  // requests in flight have been answered, or after `timeout_s` (false then).
  bool drain(double timeout_s);

  bool live() const override { return true; }
  bool ready() const override { return ready_ && !draining_; }
  ServerMetadata server_metadata() const override;
  std::vector<std::string> model_names() const override;
  Error model_ready(const std::string& name, const std::string& version) const override;
  Error model_metadata(const std::string& name, const std::string& version,
                       ModelMetadata& out) const override;
  Error model_config(const std::string& name, const std::string& version,
                     ModelConfig& out) const override;
  Error infer(const InferRequest& request, InferResponse& response,
              std::string_view protocol) override;
  Metrics& metrics() override { return metrics_; }

  int64_t in_flight() const { return in_flight_; }

 private:
  struct Served {
    std::string name;
    std::shared_ptr<const Engine> engine;
    ModelOptions options;
    std::unique_ptr<WindowBatcher> batcher;
    std::unique_ptr<Sequences> sequences;  // null: window only
    std::string sequences_note;            // why not
    bool nmtvc = false;                    // samples come as (N, M, T, V, C)
  };
  Error find(const std::string& name, const std::string& version, const Served*& out) const;
  // One window's dimensions in the model's layout: (C, T, V, M) or (M, T, V, C).
  static std::vector<int64_t> sample_dims(const Served& m);
  Error infer_window(const Served& m, const InferRequest& req, InferResponse& resp);
  Error infer_sequence(const Served& m, const InferRequest& req, const std::string& key,
                       InferResponse& resp);

  Metrics metrics_;
  std::map<std::string, std::unique_ptr<Served>> models_;
  std::atomic<bool> ready_{false}, draining_{false};
  std::atomic<int64_t> in_flight_{0};
  std::mutex drain_mu_;
  std::condition_variable drain_cv_;
};

}  // namespace stgcn::serve
