// Triton's sequence extension over the continual runtime: each sequence (one tracked person)
// is a stream of the model's continual StreamRuntime; a request carries F frames of that track
// and waits for their F per-frame answers (hop 1). Requests of one sequence run in order; idle
// sequences are dropped after a timeout; a cap on live sequences refuses new ones past it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "serve/metrics.h"
#include "serve/types.h"
#include "stgcn/stream.h"

namespace stgcn::serve {

struct SequenceOptions {
  int max_sequences = 1024;
  double idle_timeout_s = 60;
  double wait_timeout_s = 30;  // a request waiting longer for its answers fails (never hangs)
  int workers = 0, threads = 0;
  int max_batch = 0;
  double max_delay_ms = 2;
  int queue_capacity = 4096;  // frames waiting in the runtime (push blocks beyond)
};

class Sequences {
 public:
  // Refused when the engine cannot run in continual mode (EngineInfo::continual_note says why).
  static Result<std::unique_ptr<Sequences>> create(std::shared_ptr<const Engine> engine,
                                                   const SequenceOptions& options,
                                                   std::string model, Metrics* metrics);
  ~Sequences();

  // `frames`: F x V x C floats (the model's channels, one track). `key` is the sequence id
  // (uint64 as decimal, or "s:" + string). Every frame is stepped; `answered` receives the
  // indices (within the sequence, from 0) of the frames that have an answer and `logits` their
  // answers (answered.size() x num_class). A model with right padding answers from its D-th
  // frame on (D - 1 = the frames its temporal layers look ahead; 0 for a causal model).
  Error step(const std::string& key, bool start, bool end, std::span<const float> frames, int F,
             std::vector<float>& logits, std::vector<int64_t>& answered);

  int live() const;
  int V() const { return V_; }
  int C() const { return C_; }

 private:
  struct Seq {
    std::mutex order;  // one request of the sequence at a time
    std::string stream;
    int64_t next_frame = 0;
    std::chrono::steady_clock::time_point last_used;
    bool ended = false;
    // The request waiting for its answers (under Sequences::mu_).
    int64_t want_first = 0;
    int want = 0, got = 0;
    std::vector<float>* logits = nullptr;  // want x num_class
    std::vector<char> has;                 // want: frame answered
    std::condition_variable done;          // its request's answers are all in
  };
  Sequences() = default;
  void on_event(const StreamEvent& e);
  void reap();
  void close(std::shared_ptr<Seq> seq);  // ends its stream (under mu_ not held)

  std::unique_ptr<StreamRuntime> rt_;
  std::string model_;
  Metrics* metrics_ = nullptr;
  SequenceOptions opt_;
  int V_ = 0, C_ = 0, num_class_ = 0;
  int64_t generation_ = 0;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Seq>> by_key_;
  std::map<std::string, std::shared_ptr<Seq>> by_stream_;
  std::thread reaper_;
  bool stopping_ = false;
  std::condition_variable reaper_cv_;
};

}  // namespace stgcn::serve
