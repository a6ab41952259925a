// Real-time runtime: many cameras (streams), many tracked persons, one shared
// engine. Producers push frames from any thread; ready windows are batched
// across streams and classified on a worker pool; results come back through a
// callback or a poll queue. docs/runtime.md describes the semantics.
//
//   auto rt = stgcn::StreamRuntime::create(engine, {.hop = 4});
//   (*rt)->push({.stream = "cam1", .timestamp = 0.033, .persons = {{.track = 7, .xyz = ...}}});
//   std::vector<stgcn::StreamEvent> events;
//   (*rt)->poll(events);
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stgcn/engine.h"
#include "stgcn/model.h"
#include "stgcn/status.h"

namespace stgcn {
namespace backend {
class Streaming;
}

// One detected person in one frame, as a pose estimator emits it.
struct PersonObs {
  int64_t track = 0;       // tracker id, unique within the stream while the person is visible
  std::vector<float> xyz;  // V x 3 (x, y, z); z = 0 for 2D estimators
  // V per-joint confidences in [0, 1]; empty means 1 for every joint. A joint
  // whose confidence is <= StreamOptions::min_confidence is missing.
  std::vector<float> confidence;
};

struct Frame {
  std::string stream;      // camera / source id
  double timestamp = 0;    // seconds, strictly increasing within a stream
  std::vector<PersonObs> persons;
};

struct StreamEvent {
  std::string stream;
  std::vector<int64_t> tracks;  // the tracks in the sample, slot order (one when grouping by track)
  int64_t frame = 0;            // stream frame index (0-based) the prediction was made at
  double timestamp = 0;         // that frame's timestamp
  int label = -1;
  float score = 0;                          // softmax probability of `label`
  std::vector<std::pair<int, float>> top;   // top-k (class, probability), best first
  std::vector<float> logits;                // num_class raw logits
  double latency_ms = 0;  // from the push of `frame` to the result being ready
  bool final = false;     // emitted by end_stream() for a track's last frames
};

struct StreamStats {
  int64_t streams = 0, tracks = 0;      // currently active
  int64_t frames = 0;                   // accepted frames
  int64_t rejected = 0;                 // frames refused by push() (malformed, out of order)
  int64_t samples = 0;                  // windows (or continual steps) classified
  int64_t events = 0;                   // events delivered
  int64_t dropped = 0;                  // ready work dropped by the overload policy (oldest first)
  int64_t dropped_events = 0;           // events dropped from a full poll queue (oldest first)
  // Detections (person-frames) not classified for lack of a slot: more persons
  // than the model's M in a stream sample, or more tracks than max_tracks.
  int64_t unplaced = 0;
  int64_t batches = 0;                  // engine calls
  double mean_batch = 0;                // samples per engine call
  double latency_p50_ms = 0, latency_p99_ms = 0;  // push -> result, over the recent events
  int64_t queued = 0;                   // work waiting now
  double busy_ms = 0;                   // worker time spent classifying (all workers)
};

enum class StreamMode { kWindow, kContinual };
enum class Grouping { kAuto, kTrack, kStream };
enum class Normalize { kNone, kCenter, kCenterScale };
enum class Fill { kZero, kLast };

struct StreamOptions {
  StreamMode mode = StreamMode::kWindow;
  // Classify every `hop` frames of a stream; 0: 1 in continual mode, max(1, T/10) in window mode.
  int hop = 0;
  // kTrack: every track is its own sample (slot 0, the other M-1 slots empty).
  // kStream: a stream's sample holds up to M tracks in its M slots (most
  // recently seen, then most confident; a track keeps its slot while alive).
  // kAuto: kTrack when M == 1, else kStream.
  Grouping grouping = Grouping::kAuto;
  // Model channels, one letter each: x, y, z, c (confidence). "" = "xyc" for
  // C == 3, "xy" for C == 2, "xyzc" for C == 4.
  std::string channels;
  Normalize normalize = Normalize::kNone;
  int center_joint = 0;                        // kCenter / kCenterScale
  std::pair<int, int> scale_bone = {11, 12};   // kCenterScale: divide by this joint distance
  Fill fill = Fill::kZero;
  float min_confidence = 0.0f;
  double track_timeout = 1.0;  // seconds without a detection before a track is dropped
  int min_frames = 0;          // frames a track needs before its first event; 0 = T
  int top_k = 3;
  std::vector<std::string> labels;  // class names (optional, for events and CLI output)

  // Batching and threads.
  int max_batch = 0;        // 0: the engine's max batch (window) / 64 (continual)
  double max_delay_ms = 2;  // a partial batch waits at most this long for more work
  // Worker threads (each with its own context). 0: one per core with one
  // compute thread each in continual mode (small GEMMs scale better across
  // workers than across threads), one with every core in window mode.
  int workers = 0;
  int threads = 0;          // compute threads per worker; 0 = cores / workers
  int queue_capacity = 1024;   // ready samples waiting (drop oldest beyond)
  // Offline playback: push() waits for room in a full queue instead of
  // dropping the oldest work (a live source should keep the default).
  bool block_when_full = false;
  int events_capacity = 65536; // poll queue (drop oldest beyond); unused with a callback
  // Called on a worker thread for every event; when empty, events go to the poll queue.
  std::function<void(const StreamEvent&)> on_event;

  // Continual mode: every event flushes a copy of the track's pipeline (the
  // window's right padding) before classifying: closer to window mode (equal
  // for a track of exactly T frames), at the cost of a flush per event.
  bool lookahead = false;
  // Continual mode: a step whose track has no answer yet (its first frames, while the
  // temporal layers' right padding fills: none for a causal model) still delivers an event,
  // with label -1 and no logits, so that every stepped frame is answered (stgcn serve).
  bool warmup_events = false;
  // Tracks held at once (window: history buffers; continual: the preallocated
  // state slots, about 5 MB each for the seed model). Beyond: not classified.
  int max_tracks = 64;
};

class StreamRuntime {
 public:
  // Window mode over a shared engine (T, M and the max batch are the engine's).
  static Result<std::unique_ptr<StreamRuntime>> create(std::shared_ptr<const Engine> engine,
                                                       StreamOptions options);
  // Continual mode from the model's weights: T is the window the running
  // average spans (as the window engine's T), M the person slots.
  static Result<std::unique_ptr<StreamRuntime>> create_continual(const Model& model, int T, int M,
                                                                 StreamOptions options);
  // Continual mode from a built engine, in its precision (FP32, BF16, or INT8 with the
  // engine's calibration); T and M are the engine's. Refused when the engine's
  // info().continual is false (the note says why).
  static Result<std::unique_ptr<StreamRuntime>> create_continual(
      std::shared_ptr<const Engine> engine, StreamOptions options);
  ~StreamRuntime();  // stops the workers; queued work is dropped

  // Thread-safe. Rejects (and counts) a malformed or out-of-order frame with a
  // one-line message; the stream and the runtime go on.
  Status push(const Frame& frame);
  // The stream ended: classify each track's last frames (events marked final;
  // continual mode flushes its pipeline) and forget the stream.
  Status end_stream(const std::string& stream);
  // Blocks until every accepted frame's work has been classified and delivered.
  void drain();
  // Moves up to `max` queued events (0: all) into `out`; returns how many.
  size_t poll(std::vector<StreamEvent>& out, size_t max = 0);
  StreamStats stats() const;

  int T() const;
  int M() const;
  int V() const;
  int num_class() const;
  int hop() const;
  StreamMode mode() const;
  // Multiply-accumulates per classified sample (window) / per track-frame step (continual).
  int64_t macs_per_sample() const;

  struct Impl;

 private:
  StreamRuntime();
  static Result<std::unique_ptr<StreamRuntime>> continual(std::unique_ptr<backend::Streaming> cm,
                                                          int T, int M, StreamOptions options);
  std::unique_ptr<Impl> impl_;
};

const char* stream_mode_name(StreamMode m);
Result<StreamMode> parse_stream_mode(const std::string& name);

}  // namespace stgcn
