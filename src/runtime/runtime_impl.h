// StreamRuntime internals shared by runtime.cpp (producers: per-stream state,
// windows, slot assignment) and runtime_workers.cpp (queues, batching, the
// engine / continual model, event delivery).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stgcn/stream.h"
#include "backends/backend.h"

namespace stgcn {

using Clock = std::chrono::steady_clock;

// One person-sample to classify: the tracks in its M slots.
struct EventSpec {
  std::vector<int64_t> tracks;  // the tracks present in the sample
  std::vector<int> slots;       // continual: M pool slots (-1 = an empty person)
};

struct Job {
  enum Kind { kSample, kStep, kFinal } kind = kSample;
  std::string stream;
  int64_t frame = 0;
  double timestamp = 0;
  Clock::time_point pushed;
  bool final = false;
  // kSample: one window (C, T, V, M); kStep: C*V floats per stepping slot.
  std::vector<float> data;
  std::vector<int> step_slots;     // kStep: slots advanced by this frame
  std::vector<EventSpec> events;   // what to classify after the work
  std::vector<int> flush_slots;    // kFinal: flushed before the events
  std::vector<int> release_slots;  // kFinal: returned to the pool after
  bool droppable() const { return kind != kFinal; }

  static Job make(Kind kind, const std::string& stream, int64_t frame, double timestamp,
                  Clock::time_point pushed) {
    Job j;
    j.kind = kind;
    j.stream = stream;
    j.frame = frame;
    j.timestamp = timestamp;
    j.pushed = pushed;
    return j;
  }
};

struct WorkQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::condition_variable space;  // signalled when jobs leave (block_when_full)
  std::deque<Job> jobs;
};

struct Track {
  int64_t id = 0;
  int64_t first_frame = 0, last_frame = 0;  // stream frames: first / last detection
  double last_seen = 0;                     // timestamp of the last detection
  float confidence = 0;                     // mean joint confidence at the last detection
  std::vector<float> hist;                  // window mode: T frames (C*V), ring by frame % T
  std::vector<float> last;                  // last values per joint (C*V), for Fill::kLast
  std::vector<uint8_t> joint_seen;          // V
  float center[3] = {0, 0, 0};
  float scale = 1;
  bool has_center = false, has_scale = false;
  int slot = -1;    // continual pool slot (-1: none)
  int person = -1;  // kStream: index in the stream's M slots (-1: not in the sample)
  int64_t last_event = -1;
};

struct StreamState {
  std::mutex mu;
  std::string id;
  int64_t frames = 0;  // accepted frames; the next frame's index
  double last_ts = 0;
  int worker = 0;
  std::map<int64_t, Track> tracks;
  std::vector<int64_t> persons;  // kStream: the track in each of the M slots (-1: empty)
  int64_t last_event = -1;
  bool ended = false;
};

struct StreamRuntime::Impl {
  StreamOptions opt;
  StreamMode mode = StreamMode::kWindow;
  std::shared_ptr<const Engine> engine;
  std::unique_ptr<backend::Streaming> cm;  // continual mode
  int T = 0, M = 0, V = 0, C = 0, num_class = 0, hop = 1, min_frames = 1, max_batch = 1;
  bool by_stream = false;
  std::vector<int> channels;  // per model channel: 0 x, 1 y, 2 z, 3 confidence
  int64_t macs = 0;

  // Streams.
  std::mutex streams_mu;
  std::map<std::string, std::shared_ptr<StreamState>> streams;
  int next_worker = 0;
  std::atomic<int64_t> active_tracks{0};

  // Continual slot pool.
  std::mutex pool_mu;
  std::vector<int> free_slots;

  // Work.
  std::vector<std::unique_ptr<WorkQueue>> queues;  // 1 (window) or one per worker (continual)
  std::vector<std::thread> workers;
  // Window mode: one engine context per worker, created before any worker starts (a context
  // that cannot be had fails create(), instead of leaving the queue without a consumer).
  std::vector<std::unique_ptr<Context>> contexts;
  std::atomic<bool> stopping{false};
  std::mutex drain_mu;
  std::condition_variable drain_cv;
  int64_t in_flight = 0;  // under drain_mu

  // Events.
  std::mutex events_mu;
  std::deque<StreamEvent> events;
  std::vector<double> latencies;  // ring of the recent ones
  size_t latency_pos = 0;

  // Counters.
  std::atomic<int64_t> frames{0}, rejected{0}, samples{0}, n_events{0}, dropped{0},
      dropped_events{0}, unplaced{0}, batches{0}, busy_us{0};

  // runtime.cpp
  Status init();
  Status push(const Frame& frame);
  Status end_stream(const std::string& id);
  void to_channels(Track& tr, const PersonObs& p, std::vector<float>& out) const;
  void fill_frame(Track& tr, std::vector<float>& out) const;
  void assign_persons(StreamState& st, int64_t frame);
  bool due(int64_t frames_seen) const;
  void window_sample(const std::vector<const Track*>& persons, int64_t end_frame,
                     int64_t stream_frames, std::vector<float>& out) const;
  int take_slot();
  void release_slots(const std::vector<int>& slots);

  // runtime_workers.cpp
  Status start_workers();
  void stop_workers();
  void enqueue(int queue, Job job);
  void worker_loop(int index);
  void run_window(std::vector<Job>& batch, Context& ctx, std::vector<float>& in,
                  std::vector<float>& out);
  void run_continual(std::vector<Job>& batch, int worker);
  void run_final(Job& job);
  void classify_continual(const Job& job, const std::map<int, const std::vector<float>*>* given);
  // logits nullptr: a warmup event (StreamOptions::warmup_events), label -1, no logits.
  void deliver(const Job& job, const EventSpec& spec, const float* logits);
  void finish(int64_t n);
  StreamStats stats();
};

}  // namespace stgcn
