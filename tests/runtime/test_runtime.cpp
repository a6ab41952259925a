// StreamRuntime (include/stgcn/stream.h): window mode against the engine on
// the same windows, under concurrent producers; tracks, slots, bad frames,
// overload; continual mode against the window engine.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stgcn/engine.h"
#include "stgcn/model.h"
#include "stgcn/npy.h"
#include "stgcn/stream.h"

namespace stgcn {
namespace {

const std::string kDemoModel = std::string(STGCN_SOURCE_DIR) + "/models/demo/stgcn_demo.pt";
const std::string kDemoInput = std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_input.npy";

const Model& demo_model() {
  static Model m = [] {
    auto r = load_model(kDemoModel, {});
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    return std::move(r).value();
  }();
  return m;
}

std::shared_ptr<const Engine> demo_engine(int T, int M, int max_batch) {
  BuildOptions bo;
  bo.T = T;
  bo.M = M;
  bo.max_batch = max_batch;
  auto e = Engine::build(demo_model(), bo);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  return *e;
}

// A deterministic stream of frames for one person: sample frames of the demo
// input (x, y, confidence channels), cycled, with a per-stream offset.
struct Motion {
  Tensor x;  // (N, 3, 150, V, 1)
  int V = 0;
  Motion() {
    auto r = read_npy(kDemoInput);
    EXPECT_TRUE(r.is_ok());
    x = std::move(r).value();
    V = static_cast<int>(x.shape[3]);
  }
  PersonObs person(int64_t track, int stream, int64_t t) const {
    PersonObs p;
    p.track = track;
    const int n = stream % 2;
    const int64_t tt = (t + stream * 17) % 150;
    p.xyz.assign(static_cast<size_t>(V) * 3, 0.0f);
    p.confidence.assign(V, 0.0f);
    for (int v = 0; v < V; ++v) {
      auto at = [&](int c) { return x.data[((n * 3 + c) * 150 + tt) * V + v]; };
      p.xyz[v * 3] = at(0);
      p.xyz[v * 3 + 1] = at(1);
      p.confidence[v] = at(2);
    }
    return p;
  }
  // Model channels (C, V) of that person (missing joints are (0, 0, 0) already).
  std::vector<float> channels(int stream, int64_t t) const {
    PersonObs p = person(0, stream, t);
    std::vector<float> out(3 * V);
    for (int v = 0; v < V; ++v) {
      const bool present = p.confidence[v] > 0;
      out[v] = present ? p.xyz[v * 3] : 0;
      out[V + v] = present ? p.xyz[v * 3 + 1] : 0;
      out[2 * V + v] = present ? p.confidence[v] : 0;
    }
    return out;
  }
};

const Motion& motion() {
  static Motion m;
  return m;
}

// Window (1, C, T, V, 1) of `stream`'s frames end-T+1..end; frames before
// `first` are an absent person (zeros).
Tensor expected_window(int stream, int64_t end, int T, int64_t first = 0) {
  const int V = motion().V;
  Tensor w({1, 3, T, V, 1});
  for (int t = 0; t < T; ++t) {
    const int64_t g = end - T + 1 + t;
    if (g < first) continue;
    auto f = motion().channels(stream, g);
    for (int c = 0; c < 3; ++c)
      for (int v = 0; v < V; ++v) w.data[(c * T + t) * V + v] = f[c * V + v];
  }
  return w;
}

double max_abs(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - b[i]));
  return d;
}

// A worker that cannot have its engine context used to exit silently, and every producer
// then waited forever on the full queue (stgcn run --threads 64 hung): create() now makes
// the contexts first and fails with the reason.
TEST(StreamRuntime, AContextThatCannotBeHadFailsCreateInsteadOfHanging) {
  auto engine = demo_engine(20, 1, 2);
  StreamOptions o;
  o.workers = 2;
  o.threads = 5000;  // more than a context accepts
  auto rt = StreamRuntime::create(engine, o);
  ASSERT_FALSE(rt.is_ok());
  EXPECT_NE(rt.status().message().find("stream worker 1 of 2"), std::string::npos)
      << rt.status().message();
  EXPECT_NE(rt.status().message().find("threads must be <= 1024"), std::string::npos)
      << rt.status().message();
}

TEST(StreamRuntime, WindowModeEqualsTheEngineUnderConcurrentProducers) {
  const int T = 40, streams = 4, frames = 70;
  auto engine = demo_engine(T, 1, 4);
  StreamOptions o;
  o.hop = 5;
  o.max_delay_ms = 3;
  auto rt = StreamRuntime::create(engine, o);
  ASSERT_TRUE(rt.is_ok()) << rt.status().message();
  std::vector<std::thread> producers;
  for (int s = 0; s < streams; ++s)
    producers.emplace_back([&, s] {
      for (int t = 0; t < frames; ++t) {
        Frame f;
        f.stream = std::string("cam").append(std::to_string(s));
        f.timestamp = t / 30.0;
        f.persons.push_back(motion().person(100 + s, s, t));
        EXPECT_TRUE((*rt)->push(f).is_ok());
      }
    });
  for (auto& p : producers) p.join();
  (*rt)->drain();
  std::vector<StreamEvent> events;
  (*rt)->poll(events);
  // Frames 39, 44, ..., 69 of each stream: 7 events per stream.
  ASSERT_EQ(events.size(), static_cast<size_t>(streams * 7));
  auto ctx = engine->create_context(2);
  ASSERT_TRUE(ctx.is_ok());
  int exact = 0;
  for (const StreamEvent& e : events) {
    const int s = std::stoi(e.stream.substr(3));
    ASSERT_EQ(e.tracks, std::vector<int64_t>{100 + s});
    EXPECT_EQ((e.frame - (T - 1)) % 5, 0);
    EXPECT_NEAR(e.timestamp, e.frame / 30.0, 1e-9);
    auto ref = (*ctx)->run(expected_window(s, e.frame, T));
    ASSERT_TRUE(ref.is_ok());
    EXPECT_LE(max_abs(ref->data, e.logits), 1e-5) << e.stream << " frame " << e.frame;
    exact += ref->data == e.logits;
    EXPECT_GE(e.score, 0.0f);
    EXPECT_EQ(e.top.front().first, e.label);
    EXPECT_GE(e.latency_ms, 0.0);
  }
  EXPECT_EQ(exact, static_cast<int>(events.size())) << "not bit-exact";
  StreamStats st = (*rt)->stats();
  EXPECT_EQ(st.frames, streams * frames);
  EXPECT_EQ(st.samples, streams * 7);
  EXPECT_EQ(st.dropped, 0);
  EXPECT_EQ(st.tracks, streams);
  EXPECT_GT(st.latency_p99_ms, 0.0);
}

TEST(StreamRuntime, TracksAppearVanishAndReturnFresh) {
  const int T = 20;
  auto engine = demo_engine(T, 1, 2);
  StreamOptions o;
  o.hop = 1;
  o.min_frames = 10;
  o.track_timeout = 0.5;
  auto rt = StreamRuntime::create(engine, o);
  ASSERT_TRUE(rt.is_ok());
  // Track 1: frames 0..29, then gone for 30 frames (1 s), back at 60..74.
  // Track 2: frames 15..74. A gap of 3 frames for track 2 at 40..42 (kept).
  for (int t = 0; t < 75; ++t) {
    Frame f;
    f.stream = "a";
    f.timestamp = t / 30.0;
    if (t < 30 || t >= 60) f.persons.push_back(motion().person(1, 0, t));
    if (t >= 15 && !(t >= 40 && t <= 42)) f.persons.push_back(motion().person(2, 1, t));
    ASSERT_TRUE((*rt)->push(f).is_ok());
    if (t == 50) {
      EXPECT_EQ((*rt)->stats().tracks, 1);  // track 1 timed out
    }
  }
  (*rt)->drain();
  std::vector<StreamEvent> ev;
  (*rt)->poll(ev);
  std::map<int64_t, std::vector<int64_t>> frames_of;
  for (auto& e : ev) frames_of[e.tracks[0]].push_back(e.frame);
  // Track 1: events at 9..29, then (fresh) 69..74. Track 2: 24..74 except 40..42.
  std::vector<int64_t> want1, want2;
  for (int t = 9; t < 30; ++t) want1.push_back(t);
  for (int t = 69; t < 75; ++t) want1.push_back(t);
  for (int t = 24; t < 75; ++t)
    if (t < 40 || t > 42) want2.push_back(t);
  std::sort(frames_of[1].begin(), frames_of[1].end());
  std::sort(frames_of[2].begin(), frames_of[2].end());
  EXPECT_EQ(frames_of[1], want1);
  EXPECT_EQ(frames_of[2], want2);
  // The returned track's window starts at its return (zeros before).
  auto ctx = engine->create_context(1);
  for (auto& e : ev)
    if (e.tracks[0] == 1 && e.frame == 74) {
      auto ref = (*ctx)->run(expected_window(0, 74, T, 60));
      EXPECT_LE(max_abs(ref->data, e.logits), 1e-5);
    }
}

TEST(StreamRuntime, FinalWindowOfATrackThatVanishedEarlierHoldsOnlyItsOwnFrames) {
  const int T = 20, V = motion().V;
  auto engine = demo_engine(T, 1, 1);
  StreamOptions o;
  o.min_frames = 100;  // no events before the end
  o.track_timeout = 100;
  o.fill = Fill::kLast;  // the frames after it vanished repeat its last frame
  auto rt = StreamRuntime::create(engine, o);
  ASSERT_TRUE(rt.is_ok());
  // Track 1 for frames 0..29, then 8 frames without it: its final window ends
  // at frame 29; frames 18..29 are still held, 10..17 were overwritten by the
  // fills of frames 30..37 and count as absent.
  Tensor want({1, 3, T, V, 1});
  for (int t = 0; t < 38; ++t) {
    Frame f{"v", t / 30.0, {}};
    if (t < 30) {
      PersonObs p = motion().person(1, 0, t);
      std::fill(p.confidence.begin(), p.confidence.end(), 0.9f);
      f.persons.push_back(p);
      const int w = t - (29 - T + 1);
      if (t >= 18)
        for (int v = 0; v < V; ++v) {
          want.data[(0 * T + w) * V + v] = p.xyz[v * 3];
          want.data[(1 * T + w) * V + v] = p.xyz[v * 3 + 1];
          want.data[(2 * T + w) * V + v] = 0.9f;
        }
    }
    ASSERT_TRUE((*rt)->push(f).is_ok());
  }
  ASSERT_TRUE((*rt)->end_stream("v").is_ok());
  (*rt)->drain();
  std::vector<StreamEvent> ev;
  (*rt)->poll(ev);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0].final);
  EXPECT_EQ(ev[0].frame, 29);
  auto ctx = engine->create_context(1);
  auto ref = (*ctx)->run(want);
  EXPECT_EQ(ref->data, ev[0].logits);
}

TEST(StreamRuntime, MorePersonsThanSlotsKeepTheFirstPlacedAndCountTheRest) {
  const int T = 16;
  auto engine = demo_engine(T, 2, 2);
  StreamOptions o;
  o.hop = 4;
  auto rt = StreamRuntime::create(engine, o);  // M = 2: grouped by stream
  ASSERT_TRUE(rt.is_ok());
  for (int t = 0; t < 32; ++t) {
    Frame f;
    f.stream = "s";
    f.timestamp = t * 0.04;
    for (int k = 0; k < 3; ++k) {
      PersonObs p = motion().person(10 + k, k, t);
      if (k == 2)  // the least confident one
        for (auto& c : p.confidence) c *= 0.5f;
      f.persons.push_back(p);
    }
    ASSERT_TRUE((*rt)->push(f).is_ok());
  }
  (*rt)->drain();
  std::vector<StreamEvent> ev;
  (*rt)->poll(ev);
  ASSERT_EQ(ev.size(), 5u);  // frames 15, 19, 23, 27, 31
  for (auto& e : ev) EXPECT_EQ(e.tracks, (std::vector<int64_t>{10, 11}));
  EXPECT_EQ((*rt)->stats().unplaced, 32);  // track 12, every frame
  EXPECT_EQ((*rt)->stats().tracks, 3);
}

TEST(StreamRuntime, MissingJointsAreFilledWithZeroOrTheLastValue) {
  const int T = 12;
  auto engine = demo_engine(T, 1, 1);
  for (Fill fill : {Fill::kZero, Fill::kLast}) {
    StreamOptions o;
    o.hop = 100;
    o.fill = fill;
    auto rt = StreamRuntime::create(engine, o);
    ASSERT_TRUE(rt.is_ok());
    const int V = motion().V;
    Tensor want({1, 3, T, V, 1});
    std::vector<float> last(3 * V, 0.0f);
    for (int t = 0; t < T; ++t) {
      PersonObs p = motion().person(5, 0, t);
      std::fill(p.confidence.begin(), p.confidence.end(), 0.9f);
      if (t % 3 == 1) p.confidence[7] = 0.0f;  // joint 7 missing every third frame
      Frame f{"cam", t * 0.1, {p}};
      ASSERT_TRUE((*rt)->push(f).is_ok());
      for (int v = 0; v < V; ++v) {
        const bool present = p.confidence[v] > 0;
        for (int c = 0; c < 3; ++c) {
          float val = c == 0 ? p.xyz[v * 3] : c == 1 ? p.xyz[v * 3 + 1] : p.confidence[v];
          if (!present)
            val = fill == Fill::kLast ? last[c * V + v] : 0.0f;
          else
            last[c * V + v] = val;
          want.data[(c * T + t) * V + v] = val;
        }
      }
    }
    (*rt)->drain();
    std::vector<StreamEvent> ev;
    (*rt)->poll(ev);
    ASSERT_EQ(ev.size(), 1u);
    auto ctx = engine->create_context(1);
    auto ref = (*ctx)->run(want);
    EXPECT_EQ(ref->data, ev[0].logits);
  }
}

TEST(StreamRuntime, BadFramesAreRejectedWithAReasonAndTheStreamGoesOn) {
  auto engine = demo_engine(8, 1, 1);
  StreamOptions o;
  o.hop = 1;
  auto rt = StreamRuntime::create(engine, o);
  ASSERT_TRUE(rt.is_ok());
  auto push = [&](double ts, PersonObs p) { return (*rt)->push(Frame{"cam7", ts, {p}}); };
  ASSERT_TRUE(push(0.0, motion().person(1, 0, 0)).is_ok());
  ASSERT_TRUE(push(0.1, motion().person(1, 0, 1)).is_ok());
  Status dup = push(0.1, motion().person(1, 0, 2));
  EXPECT_FALSE(dup.is_ok());
  EXPECT_NE(dup.message().find("cam7"), std::string::npos);
  EXPECT_NE(dup.message().find("duplicate"), std::string::npos);
  EXPECT_FALSE(push(0.05, motion().person(1, 0, 2)).is_ok());  // out of order
  PersonObs shortp = motion().person(1, 0, 2);
  shortp.xyz.resize(shortp.xyz.size() - 6);
  Status s = push(0.2, shortp);
  EXPECT_NE(s.message().find("expected"), std::string::npos) << s.message();
  PersonObs nanp = motion().person(1, 0, 2);
  nanp.xyz[4] = std::nanf("");
  s = push(0.2, nanp);
  EXPECT_NE(s.message().find("joint 1 is not finite"), std::string::npos) << s.message();
  Frame twice{"cam7", 0.2, {motion().person(3, 0, 2), motion().person(3, 0, 2)}};
  EXPECT_FALSE((*rt)->push(twice).is_ok());
  EXPECT_EQ((*rt)->stats().rejected, 5);
  for (int t = 2; t < 10; ++t) ASSERT_TRUE(push(0.1 * t + 0.1, motion().person(1, 0, t)).is_ok());
  (*rt)->drain();
  std::vector<StreamEvent> ev;
  (*rt)->poll(ev);
  EXPECT_EQ(ev.size(), 3u);  // frames 7, 8, 9 of the 10 accepted
  EXPECT_EQ((*rt)->stats().frames, 10);
}

TEST(StreamRuntime, OverloadDropsTheOldestAndCountsThem) {
  const int T = 150;
  auto engine = demo_engine(T, 1, 1);
  StreamOptions o;
  o.hop = 1;
  o.min_frames = 1;
  o.queue_capacity = 4;
  o.threads = 1;
  o.events_capacity = 8;
  auto rt = StreamRuntime::create(engine, o);
  ASSERT_TRUE(rt.is_ok());
  const int n = 300;
  int64_t max_queued = 0;
  for (int t = 0; t < n; ++t) {
    ASSERT_TRUE((*rt)->push(Frame{"busy", t * 0.001, {motion().person(1, 0, t)}}).is_ok());
    max_queued = std::max(max_queued, (*rt)->stats().queued);
  }
  (*rt)->drain();
  StreamStats st = (*rt)->stats();
  EXPECT_LE(max_queued, 4);
  EXPECT_GT(st.dropped, 0);
  EXPECT_EQ(st.samples + st.dropped, n);  // every sample is classified or counted
  EXPECT_EQ(st.events, st.samples);
  std::vector<StreamEvent> ev;
  (*rt)->poll(ev);
  EXPECT_LE(ev.size(), 8u);  // the poll queue is bounded too
  EXPECT_EQ(static_cast<int64_t>(ev.size()) + st.dropped_events, st.events);
  EXPECT_EQ(ev.back().frame, n - 1);  // the newest survive
}

TEST(StreamRuntime, OfflinePlaybackWaitsInsteadOfDropping) {
  auto engine = demo_engine(150, 1, 1);
  StreamOptions o;
  o.hop = 1;
  o.min_frames = 1;
  o.queue_capacity = 2;
  o.block_when_full = true;
  std::atomic<int> events{0};
  o.on_event = [&](const StreamEvent&) { events++; };
  auto rt = StreamRuntime::create(engine, o);
  ASSERT_TRUE(rt.is_ok());
  for (int t = 0; t < 60; ++t) {
    ASSERT_TRUE((*rt)->push(Frame{"file", t * 0.001, {motion().person(1, 0, t)}}).is_ok());
    EXPECT_LE((*rt)->stats().queued, 2);
  }
  (*rt)->drain();
  EXPECT_EQ((*rt)->stats().dropped, 0);
  EXPECT_EQ(events.load(), 60);
}

TEST(StreamRuntime, ContinualFinalEventOfATFrameTrackEqualsTheWindow) {
  const int T = 40;
  auto engine = demo_engine(T, 1, 1);
  StreamOptions o;
  o.mode = StreamMode::kContinual;
  o.max_tracks = 4;
  std::mutex mu;
  std::vector<StreamEvent> ev;
  o.on_event = [&](const StreamEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    ev.push_back(e);
  };
  auto rt = StreamRuntime::create_continual(demo_model(), T, 1, o);
  ASSERT_TRUE(rt.is_ok()) << rt.status().message();
  EXPECT_EQ((*rt)->hop(), 1);
  std::vector<std::thread> producers;
  for (int s = 0; s < 3; ++s)
    producers.emplace_back([&, s] {
      const std::string id = std::string("c").append(std::to_string(s));
      for (int t = 0; t < T; ++t)
        EXPECT_TRUE((*rt)->push(Frame{id, t / 30.0, {motion().person(1, s, t)}}).is_ok());
      EXPECT_TRUE((*rt)->end_stream(id).is_ok());
    });
  for (auto& p : producers) p.join();
  (*rt)->drain();
  auto ctx = engine->create_context(1);
  int finals = 0;
  for (auto& e : ev) {
    if (!e.final) {
      EXPECT_EQ(e.frame, T - 1);  // min_frames = T
      continue;
    }
    ++finals;
    auto ref = (*ctx)->run(expected_window(std::stoi(e.stream.substr(1)), T - 1, T));
    double scale = 1e-6;
    for (float v : ref->data) scale = std::max(scale, double(std::fabs(v)));
    EXPECT_LE(max_abs(ref->data, e.logits) / scale, 1e-4) << e.stream;
  }
  EXPECT_EQ(finals, 3);
  EXPECT_EQ((*rt)->stats().tracks, 0);
  EXPECT_FALSE((*rt)->end_stream("c0").is_ok());  // already ended
}

TEST(StreamRuntime, ContinualLookaheadEventsMatchTheWindowOfATFrameTrack) {
  const int T = 40;
  auto engine = demo_engine(T, 1, 1);
  StreamOptions o;
  o.mode = StreamMode::kContinual;
  o.lookahead = true;
  o.min_frames = 10;
  o.hop = 30;  // events at frames 9 and 39
  auto rt = StreamRuntime::create_continual(demo_model(), T, 1, o);
  ASSERT_TRUE(rt.is_ok());
  for (int t = 0; t < T; ++t)
    ASSERT_TRUE((*rt)->push(Frame{"la", t / 30.0, {motion().person(1, 0, t)}}).is_ok());
  (*rt)->drain();
  std::vector<StreamEvent> ev;
  (*rt)->poll(ev);
  ASSERT_EQ(ev.size(), 2u);  // early: the flushed copy has outputs before the pipeline does
  EXPECT_EQ(ev[0].frame, 9);
  EXPECT_EQ(ev[1].frame, T - 1);
  auto ctx = engine->create_context(1);
  auto ref = (*ctx)->run(expected_window(0, T - 1, T));
  double scale = 1e-6;
  for (float v : ref->data) scale = std::max(scale, double(std::fabs(v)));
  EXPECT_LE(max_abs(ref->data, ev[1].logits) / scale, 1e-4);
  // The copy was flushed, not the track: it goes on.
  ASSERT_TRUE((*rt)->push(Frame{"la", T / 30.0, {motion().person(1, 0, T)}}).is_ok());
  (*rt)->drain();
  EXPECT_EQ((*rt)->stats().rejected, 0);
}

TEST(StreamRuntime, TwoPersonSamplesMatchTheEngineInBothModes) {
  // M = 2, grouped by stream: both tracks of the stream in one sample.
  const int T = 24, V = motion().V;
  auto engine = demo_engine(T, 2, 2);
  Tensor want({1, 3, T, V, 2});
  for (int m = 0; m < 2; ++m)
    for (int t = 0; t < T; ++t) {
      auto f = motion().channels(m, t);
      for (int c = 0; c < 3; ++c)
        for (int v = 0; v < V; ++v) want.data[((c * T + t) * V + v) * 2 + m] = f[c * V + v];
    }
  auto ctx = engine->create_context(1);
  auto ref = (*ctx)->run(want);
  ASSERT_TRUE(ref.is_ok());
  double scale = 1e-6;
  for (float v : ref->data) scale = std::max(scale, double(std::fabs(v)));
  for (StreamMode mode : {StreamMode::kWindow, StreamMode::kContinual}) {
    StreamOptions o;
    o.mode = mode;
    o.max_tracks = 4;
    auto rt = mode == StreamMode::kWindow ? StreamRuntime::create(engine, o)
                                          : StreamRuntime::create_continual(demo_model(), T, 2, o);
    ASSERT_TRUE(rt.is_ok()) << rt.status().message();
    for (int t = 0; t < T; ++t)
      ASSERT_TRUE(
          (*rt)
              ->push(Frame{"duo", t / 30.0, {motion().person(4, 0, t), motion().person(9, 1, t)}})
              .is_ok());
    ASSERT_TRUE((*rt)->end_stream("duo").is_ok());
    (*rt)->drain();
    std::vector<StreamEvent> ev;
    (*rt)->poll(ev);
    ASSERT_FALSE(ev.empty());
    const StreamEvent& e = ev.back();  // window: frame T-1; continual: the flushed final
    EXPECT_EQ(e.tracks, (std::vector<int64_t>{4, 9}));
    EXPECT_EQ(e.final, mode == StreamMode::kContinual);
    EXPECT_LE(max_abs(ref->data, e.logits) / scale, mode == StreamMode::kWindow ? 0 : 1e-4)
        << stream_mode_name(mode);
  }
}

TEST(StreamRuntime, ContinualSlotsAreBoundedAndReused) {
  StreamOptions o;
  o.mode = StreamMode::kContinual;
  o.max_tracks = 2;
  o.track_timeout = 0.2;
  o.min_frames = 1;
  std::atomic<int> events7{0};
  o.on_event = [&](const StreamEvent& e) { events7 += e.tracks[0] == 7; };
  auto rt = StreamRuntime::create_continual(demo_model(), 16, 1, o);
  ASSERT_TRUE(rt.is_ok());
  for (int t = 0; t < 200; ++t) {
    Frame f{"x", t * 0.1, {}};
    if (t < 3)
      for (int k = 0; k < 3; ++k) f.persons.push_back(motion().person(k, k, t));
    else
      f.persons.push_back(motion().person(7, 0, t));  // the others time out, 7 gets a slot
    ASSERT_TRUE((*rt)->push(f).is_ok());
    (*rt)->drain();  // slots return to the pool when the worker has released them
  }
  StreamStats st = (*rt)->stats();
  // Track 2 at frames 0-2; track 7 at 3, 4 (others alive) and 5 (released during that push).
  EXPECT_EQ(st.unplaced, 6);
  EXPECT_EQ(st.tracks, 1);
  EXPECT_GT(events7.load(), 100);
}

TEST(StreamRuntime, OptionsAreChecked) {
  auto engine = demo_engine(8, 1, 1);
  StreamOptions o;
  o.channels = "xyq";
  EXPECT_FALSE(StreamRuntime::create(engine, o).is_ok());
  o = {};
  o.mode = StreamMode::kContinual;
  auto r = StreamRuntime::create(engine, o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("continual"), std::string::npos);
  o = {};
  o.labels.assign(engine->info().spec.num_class() + 1, "x");
  EXPECT_FALSE(StreamRuntime::create(engine, o).is_ok());
  o = {};
  o.center_joint = 99;
  o.normalize = Normalize::kCenter;
  EXPECT_FALSE(StreamRuntime::create(engine, o).is_ok());
}

}  // namespace
}  // namespace stgcn
