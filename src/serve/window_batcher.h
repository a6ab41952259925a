// Dynamic batching of stateless window requests for one engine: requests from concurrent
// frontend threads queue up (bounded: a full queue refuses at once), worker threads each with
// their own engine context take up to max_batch samples, waiting at most max_delay after the
// oldest request arrived, run them as one engine call and hand each request its logits.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "serve/metrics.h"
#include "serve/types.h"
#include "stgcn/engine.h"

namespace stgcn::serve {

struct BatcherOptions {
  int max_batch = 0;             // samples per engine call; 0 / above the engine's: the engine's
  int64_t max_queue_delay_us = 2000;
  int queue_capacity = 256;      // requests waiting; beyond: kResourceExhausted
  int workers = 1;               // engine contexts
  int threads = 0;               // compute threads per context (0: cores / workers)
};

class WindowBatcher {
 public:
  static Result<std::unique_ptr<WindowBatcher>> create(std::shared_ptr<const Engine> engine,
                                                       const BatcherOptions& options,
                                                       std::string model, Metrics* metrics);
  ~WindowBatcher();  // stops the workers; waiting requests are answered kUnavailable

  // `input`: n samples of (C, T, V, M) floats; `logits` receives n x num_class. Blocks.
  Error run(std::span<const float> input, int n, std::vector<float>& logits);

  int queue_depth() const;  // requests waiting
  int max_batch() const { return max_batch_; }

 private:
  struct Pending {
    std::span<const float> input;
    int n = 0;
    int done = 0;    // samples answered so far (a request may span several engine calls)
    int taken = 0;   // samples handed to workers
    std::vector<float>* logits = nullptr;
    Error error;
    bool finished = false;
    std::chrono::steady_clock::time_point arrived;
  };
  WindowBatcher() = default;
  void worker(int index);

  std::shared_ptr<const Engine> engine_;
  std::string model_;
  Metrics* metrics_ = nullptr;
  int max_batch_ = 1, capacity_ = 256;
  std::chrono::microseconds delay_{2000};
  size_t per_in_ = 0, per_out_ = 0;
  std::vector<std::unique_ptr<Context>> contexts_;
  std::vector<std::thread> workers_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Pending*> queue_;
  bool stopping_ = false;
};

}  // namespace stgcn::serve
