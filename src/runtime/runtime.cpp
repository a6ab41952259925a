// StreamRuntime: creation, the producer side (frame checks, per-track
// windows, person slots, hop) and the public API.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "runtime/continual.h"
#include "runtime/runtime_impl.h"

namespace stgcn {

const char* stream_mode_name(StreamMode m) {
  return m == StreamMode::kContinual ? "continual" : "window";
}

Result<StreamMode> parse_stream_mode(const std::string& name) {
  if (name == "window") return StreamMode::kWindow;
  if (name == "continual") return StreamMode::kContinual;
  return invalid_argument(fmt::format("unknown mode '{}' (window or continual)", name));
}

Status StreamRuntime::Impl::init() {
  if (opt.hop < 0) return invalid_argument(fmt::format("hop {} must be >= 0", opt.hop));
  hop = opt.hop > 0 ? opt.hop : (mode == StreamMode::kContinual ? 1 : std::max(1, T / 10));
  min_frames = opt.min_frames > 0 ? opt.min_frames : T;
  by_stream = opt.grouping == Grouping::kStream || (opt.grouping == Grouping::kAuto && M > 1);
  std::string ch = opt.channels;
  if (ch.empty()) ch = C == 2 ? "xy" : C == 4 ? "xyzc" : "xyc";
  if (static_cast<int>(ch.size()) != C)
    return invalid_argument(
        fmt::format("channels '{}' has {} letters; the model has C={}", ch, ch.size(), C));
  for (char c : ch) {
    const std::string letters = "xyzc";
    auto pos = letters.find(c);
    if (pos == std::string::npos)
      return invalid_argument(fmt::format("channels '{}': '{}' is not one of x, y, z, c", ch, c));
    channels.push_back(static_cast<int>(pos));
  }
  if (opt.center_joint < 0 || opt.center_joint >= V || opt.scale_bone.first < 0 ||
      opt.scale_bone.first >= V || opt.scale_bone.second < 0 || opt.scale_bone.second >= V)
    return invalid_argument(fmt::format("normalisation joints must be in [0, {})", V));
  if (opt.track_timeout <= 0) return invalid_argument("track_timeout must be > 0");
  if (opt.top_k < 1) return invalid_argument("top_k must be >= 1");
  if (opt.workers < 1 || opt.workers > 64) return invalid_argument("workers must be in [0, 64]");
  if (opt.queue_capacity < 1 || opt.events_capacity < 1)
    return invalid_argument("queue capacities must be >= 1");
  if (opt.max_delay_ms < 0) return invalid_argument("max_delay_ms must be >= 0");
  if (!opt.labels.empty() && static_cast<int>(opt.labels.size()) != num_class)
    return invalid_argument(
        fmt::format("{} labels for a model of {} classes", opt.labels.size(), num_class));
  latencies.assign(8192, -1.0);
  return Status::ok();
}

StreamRuntime::StreamRuntime() : impl_(std::make_unique<Impl>()) {}
StreamRuntime::~StreamRuntime() { impl_->stop_workers(); }

Result<std::unique_ptr<StreamRuntime>> StreamRuntime::create(std::shared_ptr<const Engine> engine,
                                                             StreamOptions options) {
  if (!engine) return invalid_argument("StreamRuntime: no engine");
  if (options.mode == StreamMode::kContinual)
    return invalid_argument(
        "continual mode needs the model's weights (create_continual with the checkpoint or "
        "ONNX model); an engine holds folded, packed weights");
  if (options.workers == 0) options.workers = 1;
  std::unique_ptr<StreamRuntime> rt(new StreamRuntime());
  Impl& m = *rt->impl_;
  const EngineInfo& info = engine->info();
  m.opt = std::move(options);
  m.mode = StreamMode::kWindow;
  m.engine = std::move(engine);
  m.T = info.T;
  m.M = info.M;
  m.V = info.spec.V();
  m.C = info.spec.C();
  m.num_class = info.spec.num_class();
  m.macs = info.macs;
  if (m.opt.max_batch < 0) return invalid_argument("max_batch must be >= 0");
  m.max_batch = m.opt.max_batch > 0 ? std::min(m.opt.max_batch, info.max_batch) : info.max_batch;
  STGCN_RETURN_IF_ERROR(m.init());
  m.queues.push_back(std::make_unique<WorkQueue>());
  STGCN_RETURN_IF_ERROR(m.start_workers());
  return rt;
}

namespace {

Status check_continual_options(int M, StreamOptions& options) {
  if (M < 1 || M > 16) return invalid_argument(fmt::format("M={} must be in [1, 16]", M));
  if (options.max_tracks < 1)
    return invalid_argument(fmt::format("max_tracks {} must be >= 1", options.max_tracks));
  if (options.workers == 0) {
    options.workers = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    if (options.threads == 0) options.threads = 1;
  }
  if (options.workers < 1 || options.workers > 64)
    return invalid_argument("workers must be in [0, 64]");
  if (options.max_batch < 0) return invalid_argument("max_batch must be >= 0");
  return Status::ok();
}

int lookahead_slots(const StreamOptions& options) {
  return options.lookahead ? options.workers * backend::Streaming::kLookaheadChunk : 0;
}

}  // namespace

Result<std::unique_ptr<StreamRuntime>> StreamRuntime::create_continual(const Model& model, int T,
                                                                       int M,
                                                                       StreamOptions options) {
  STGCN_RETURN_IF_ERROR(check_continual_options(M, options));
  STGCN_ASSIGN_OR_RETURN(
      auto cm, runtime::continual_from_model(model, T, options.max_tracks, lookahead_slots(options)));
  return continual(std::move(cm), T, M, std::move(options));
}

Result<std::unique_ptr<StreamRuntime>> StreamRuntime::create_continual(
    std::shared_ptr<const Engine> engine, StreamOptions options) {
  if (!engine) return invalid_argument("no engine");
  const EngineInfo& info = engine->info();
  STGCN_RETURN_IF_ERROR(check_continual_options(info.M, options));
  STGCN_ASSIGN_OR_RETURN(auto cm, runtime::continual_from_engine(*engine, options.max_tracks,
                                                                 lookahead_slots(options)));
  return continual(std::move(cm), info.T, info.M, std::move(options));
}

Result<std::unique_ptr<StreamRuntime>> StreamRuntime::continual(
    std::unique_ptr<backend::Streaming> cm, int T, int M, StreamOptions options) {
  std::unique_ptr<StreamRuntime> rt(new StreamRuntime());
  Impl& m = *rt->impl_;
  m.opt = std::move(options);
  m.opt.mode = StreamMode::kContinual;
  m.mode = StreamMode::kContinual;
  m.cm = std::move(cm);
  m.T = T;
  m.M = M;
  m.V = m.cm->V();
  m.C = m.cm->C();
  m.num_class = m.cm->num_class();
  m.macs = m.cm->macs_per_step();
  m.max_batch = m.opt.max_batch > 0 ? m.opt.max_batch : 64;
  STGCN_RETURN_IF_ERROR(m.init());
  for (int s = m.opt.max_tracks - 1; s >= 0; --s) m.free_slots.push_back(s);
  for (int w = 0; w < m.opt.workers; ++w) m.queues.push_back(std::make_unique<WorkQueue>());
  STGCN_RETURN_IF_ERROR(m.start_workers());
  return rt;
}

int StreamRuntime::Impl::take_slot() {
  std::lock_guard<std::mutex> lock(pool_mu);
  if (free_slots.empty()) return -1;
  int s = free_slots.back();
  free_slots.pop_back();
  cm->reset(s);  // the slot is free: no worker touches it
  return s;
}

void StreamRuntime::Impl::release_slots(const std::vector<int>& slots) {
  std::lock_guard<std::mutex> lock(pool_mu);
  for (int s : slots)
    if (s >= 0) free_slots.push_back(s);
}

// Model channels (C, V) of one detection: present joints normalised, missing
// ones filled (zero, or the joint's last values).
void StreamRuntime::Impl::to_channels(Track& tr, const PersonObs& p,
                                      std::vector<float>& out) const {
  out.assign(static_cast<size_t>(C) * V, 0.0f);
  auto conf = [&](int v) { return p.confidence.empty() ? 1.0f : p.confidence[v]; };
  auto present = [&](int v) { return conf(v) > opt.min_confidence; };
  float cx = 0, cy = 0, cz = 0, scale = 1;
  if (opt.normalize != Normalize::kNone) {
    const int j = opt.center_joint;
    if (present(j)) {
      tr.center[0] = p.xyz[j * 3];
      tr.center[1] = p.xyz[j * 3 + 1];
      tr.center[2] = p.xyz[j * 3 + 2];
      tr.has_center = true;
    }
    if (tr.has_center) {
      cx = tr.center[0];
      cy = tr.center[1];
      cz = tr.center[2];
    }
    if (opt.normalize == Normalize::kCenterScale) {
      const int a = opt.scale_bone.first, b = opt.scale_bone.second;
      if (present(a) && present(b)) {
        const float dx = p.xyz[a * 3] - p.xyz[b * 3], dy = p.xyz[a * 3 + 1] - p.xyz[b * 3 + 1],
                    dz = p.xyz[a * 3 + 2] - p.xyz[b * 3 + 2];
        const float d = std::sqrt(dx * dx + dy * dy + dz * dz);
        if (d > 1e-6f) {
          tr.scale = d;
          tr.has_scale = true;
        }
      }
      if (tr.has_scale) scale = tr.scale;
    }
  }
  if (tr.last.empty()) {
    tr.last.assign(static_cast<size_t>(C) * V, 0.0f);
    tr.joint_seen.assign(V, 0);
  }
  double conf_sum = 0;
  for (int v = 0; v < V; ++v) {
    if (!present(v)) {
      if (opt.fill == Fill::kLast && tr.joint_seen[v])
        for (int c = 0; c < C; ++c) out[c * V + v] = tr.last[c * V + v];
      continue;
    }
    conf_sum += conf(v);
    const float vals[4] = {(p.xyz[v * 3] - cx) / scale, (p.xyz[v * 3 + 1] - cy) / scale,
                           (p.xyz[v * 3 + 2] - cz) / scale, conf(v)};
    for (int c = 0; c < C; ++c) {
      out[c * V + v] = vals[channels[c]];
      tr.last[c * V + v] = vals[channels[c]];
    }
    tr.joint_seen[v] = 1;
  }
  tr.confidence = static_cast<float>(conf_sum / V);
}

// A frame where an alive track was not detected.
void StreamRuntime::Impl::fill_frame(Track& tr, std::vector<float>& out) const {
  if (opt.fill == Fill::kLast && !tr.last.empty())
    out = tr.last;
  else
    out.assign(static_cast<size_t>(C) * V, 0.0f);
}

bool StreamRuntime::Impl::due(int64_t frames_seen) const {
  return frames_seen >= min_frames && (frames_seen - min_frames) % hop == 0;
}

// kStream: a track keeps its person slot while alive; free slots go to the
// unplaced tracks detected most recently, then the most confident.
void StreamRuntime::Impl::assign_persons(StreamState& st, int64_t frame) {
  if (st.persons.empty()) st.persons.assign(M, -1);
  for (auto& p : st.persons)
    if (p >= 0 && !st.tracks.count(p)) p = -1;
  std::vector<Track*> waiting;
  for (auto& [id, tr] : st.tracks)
    if (tr.person < 0) waiting.push_back(&tr);
  std::sort(waiting.begin(), waiting.end(), [](const Track* a, const Track* b) {
    if (a->last_frame != b->last_frame) return a->last_frame > b->last_frame;
    if (a->confidence != b->confidence) return a->confidence > b->confidence;
    return a->id < b->id;
  });
  size_t next = 0;
  for (int m = 0; m < M && next < waiting.size(); ++m) {
    if (st.persons[m] >= 0) continue;
    Track* tr = waiting[next];
    if (mode == StreamMode::kContinual && tr->slot < 0) {
      tr->slot = take_slot();
      if (tr->slot < 0) break;  // no state slot: everyone still waiting is unplaced
    }
    ++next;
    tr->person = m;
    st.persons[m] = tr->id;
  }
  for (; next < waiting.size(); ++next)
    if (waiting[next]->last_frame == frame) unplaced++;
}

// Window (C, T, V, M) ending at `end_frame` from the tracks' histories.
void StreamRuntime::Impl::window_sample(const std::vector<const Track*>& persons, int64_t end_frame,
                                        int64_t stream_frames, std::vector<float>& out) const {
  out.assign(static_cast<size_t>(C) * T * V * M, 0.0f);
  const size_t cv = static_cast<size_t>(C) * V;
  for (int m = 0; m < M && m < static_cast<int>(persons.size()); ++m) {
    const Track* tr = persons[m];
    if (tr == nullptr) continue;
    for (int t = 0; t < T; ++t) {
      const int64_t g = end_frame - T + 1 + t;
      // Before the track appeared: an absent person. Older than the stream's
      // last T frames (a final window of a track that vanished earlier): its
      // ring entry was reused, so it counts as absent too.
      if (g < tr->first_frame || g < stream_frames - T) continue;
      const float* src = tr->hist.data() + static_cast<size_t>(g % T) * cv;
      for (int c = 0; c < C; ++c)
        for (int v = 0; v < V; ++v)
          out[((static_cast<size_t>(c) * T + t) * V + v) * M + m] = src[c * V + v];
    }
  }
}

Status StreamRuntime::Impl::push(const Frame& f) {
  auto reject = [&](const std::string& why) {
    rejected++;
    return invalid_argument(fmt::format("stream '{}' frame at t={:.3f} s: {}: frame rejected",
                                        f.stream, f.timestamp, why));
  };
  if (!std::isfinite(f.timestamp)) return reject("the timestamp is not finite");
  for (size_t i = 0; i < f.persons.size(); ++i) {
    const PersonObs& p = f.persons[i];
    if (p.xyz.size() != static_cast<size_t>(V) * 3)
      return reject(
          fmt::format("person {} (track {}) has {} keypoint values, expected {} ({} "
                      "joints x 3)",
                      i, p.track, p.xyz.size(), V * 3, V));
    if (!p.confidence.empty() && p.confidence.size() != static_cast<size_t>(V))
      return reject(fmt::format("person {} (track {}) has {} confidences, expected {}", i, p.track,
                                p.confidence.size(), V));
    for (size_t k = 0; k < p.xyz.size(); ++k)
      if (!std::isfinite(p.xyz[k]))
        return reject(
            fmt::format("person {} (track {}) joint {} is not finite", i, p.track, k / 3));
    for (size_t k = 0; k < p.confidence.size(); ++k)
      if (!std::isfinite(p.confidence[k]))
        return reject(
            fmt::format("person {} (track {}) confidence {} is not finite", i, p.track, k));
    for (size_t j = 0; j < i; ++j)
      if (f.persons[j].track == p.track)
        return reject(fmt::format("track {} appears twice", p.track));
  }
  std::shared_ptr<StreamState> sp;
  {
    std::lock_guard<std::mutex> lock(streams_mu);
    auto it = streams.find(f.stream);
    if (it == streams.end()) {
      if (streams.size() >= 4096) return reject("too many streams (4096)");
      sp = std::make_shared<StreamState>();
      sp->id = f.stream;
      sp->worker = next_worker++ % static_cast<int>(queues.size());
      streams.emplace(f.stream, sp);
    } else {
      sp = it->second;
    }
  }
  StreamState& st = *sp;
  std::vector<Job> jobs;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    if (st.ended) return reject("the stream has ended");
    if (st.frames > 0 && !(f.timestamp > st.last_ts))
      return reject(
          fmt::format("timestamp is not after the stream's last frame ({:.3f} s): "
                      "out-of-order or duplicate",
                      st.last_ts));
    const int64_t frame = st.frames;
    const Clock::time_point now = Clock::now();
    // Tracks not seen for track_timeout are forgotten.
    std::vector<int> released;
    for (auto it = st.tracks.begin(); it != st.tracks.end();) {
      if (f.timestamp - it->second.last_seen > opt.track_timeout) {
        if (it->second.slot >= 0) released.push_back(it->second.slot);
        if (it->second.person >= 0) st.persons[it->second.person] = -1;
        it = st.tracks.erase(it);
        active_tracks--;
      } else {
        ++it;
      }
    }
    if (!released.empty()) {
      Job rel = Job::make(Job::kFinal, st.id, frame, f.timestamp, now);
      rel.release_slots = released;
      jobs.push_back(std::move(rel));
    }
    // New tracks; the detections in model channels.
    std::vector<std::vector<float>> values(f.persons.size());
    for (size_t i = 0; i < f.persons.size(); ++i) {
      const PersonObs& p = f.persons[i];
      auto it = st.tracks.find(p.track);
      if (it == st.tracks.end()) {
        if (mode == StreamMode::kWindow && active_tracks.load() >= opt.max_tracks) {
          unplaced++;  // no history buffer: this person is not classified
          continue;
        }
        Track tr;
        tr.id = p.track;
        tr.first_frame = frame;
        if (mode == StreamMode::kWindow) tr.hist.assign(static_cast<size_t>(T) * C * V, 0.0f);
        it = st.tracks.emplace(p.track, std::move(tr)).first;
        active_tracks++;
      }
      Track& tr = it->second;
      if (mode == StreamMode::kContinual && !by_stream && tr.slot < 0) {
        tr.slot = take_slot();  // a fresh state; none free: not classified this frame
        if (tr.slot < 0) unplaced++;
      }
      to_channels(tr, p, values[i]);
      tr.last_frame = frame;
      tr.last_seen = f.timestamp;
    }
    st.frames++;
    st.last_ts = f.timestamp;
    frames++;
    if (by_stream) assign_persons(st, frame);
    // Each alive track's frame: its detection, or the fill.
    std::map<int64_t, const float*> frame_of;
    std::vector<std::vector<float>> fills;
    fills.reserve(st.tracks.size());
    for (size_t i = 0; i < f.persons.size(); ++i)
      if (!values[i].empty() && st.tracks.count(f.persons[i].track))
        frame_of[f.persons[i].track] = values[i].data();
    for (auto& [id, tr] : st.tracks)
      if (!frame_of.count(id)) {
        fills.emplace_back();
        fill_frame(tr, fills.back());
        frame_of[id] = fills.back().data();
      }
    const size_t cv = static_cast<size_t>(C) * V;
    if (mode == StreamMode::kWindow)
      for (auto& [id, tr] : st.tracks)
        std::memcpy(tr.hist.data() + static_cast<size_t>(frame % T) * cv, frame_of[id],
                    sizeof(float) * cv);
    // Samples due at this frame.
    std::vector<EventSpec> specs;
    std::vector<std::vector<const Track*>> members;
    if (!by_stream) {
      for (auto& [id, tr] : st.tracks)
        if (tr.last_frame == frame && due(frame - tr.first_frame + 1) &&
            (mode == StreamMode::kWindow || tr.slot >= 0)) {
          EventSpec e;
          e.tracks = {id};
          e.slots.assign(M, -1);
          e.slots[0] = tr.slot;
          specs.push_back(std::move(e));
          members.push_back({&tr});
          tr.last_event = frame;
        }
    } else if (due(frame + 1)) {
      EventSpec e;
      std::vector<const Track*> ps(M, nullptr);
      bool any_seen = false;
      e.slots.assign(M, -1);
      for (int m = 0; m < M; ++m)
        if (st.persons[m] >= 0) {
          const Track& tr = st.tracks.at(st.persons[m]);
          ps[m] = &tr;
          e.tracks.push_back(tr.id);
          e.slots[m] = tr.slot;
          any_seen = any_seen || tr.last_frame == frame;
        }
      if (any_seen) {
        specs.push_back(std::move(e));
        members.push_back(std::move(ps));
        st.last_event = frame;
      }
    }
    if (mode == StreamMode::kWindow) {
      for (size_t i = 0; i < specs.size(); ++i) {
        Job j = Job::make(Job::kSample, st.id, frame, f.timestamp, now);
        window_sample(members[i], frame, frame + 1, j.data);
        j.events.push_back(std::move(specs[i]));
        jobs.push_back(std::move(j));
      }
    } else {
      Job j = Job::make(Job::kStep, st.id, frame, f.timestamp, now);
      for (auto& [id, tr] : st.tracks) {
        if (tr.slot < 0) continue;
        if (by_stream && tr.person < 0) continue;
        j.step_slots.push_back(tr.slot);
        j.data.insert(j.data.end(), frame_of[id], frame_of[id] + cv);
      }
      j.events = std::move(specs);
      if (!j.step_slots.empty()) jobs.push_back(std::move(j));
    }
    const int queue = st.worker;
    for (Job& j : jobs) enqueue(queue, std::move(j));
  }
  return Status::ok();
}

Status StreamRuntime::Impl::end_stream(const std::string& id) {
  std::shared_ptr<StreamState> sp;
  {
    std::lock_guard<std::mutex> lock(streams_mu);
    auto it = streams.find(id);
    if (it == streams.end()) return not_found(fmt::format("no stream '{}'", id));
    sp = it->second;
    streams.erase(it);
  }
  StreamState& st = *sp;
  std::lock_guard<std::mutex> lock(st.mu);
  st.ended = true;
  std::vector<Job> jobs;
  const Clock::time_point now = Clock::now();
  auto base = [&](int64_t frame) {
    Job j = Job::make(Job::kSample, st.id, frame, st.last_ts, now);
    j.final = true;
    return j;
  };
  if (mode == StreamMode::kWindow) {
    if (!by_stream) {
      for (auto& [tid, tr] : st.tracks) {
        if (tr.last_event == tr.last_frame) continue;
        Job j = base(tr.last_frame);
        j.kind = Job::kSample;
        window_sample({&tr}, tr.last_frame, st.frames, j.data);
        EventSpec e;
        e.tracks = {tid};
        j.events.push_back(std::move(e));
        jobs.push_back(std::move(j));
      }
    } else if (!st.persons.empty() && st.last_event != st.frames - 1) {
      Job j = base(st.frames - 1);
      j.kind = Job::kSample;
      std::vector<const Track*> ps(M, nullptr);
      EventSpec e;
      for (int m = 0; m < M; ++m)
        if (st.persons[m] >= 0) {
          ps[m] = &st.tracks.at(st.persons[m]);
          e.tracks.push_back(st.persons[m]);
        }
      if (!e.tracks.empty()) {
        window_sample(ps, st.frames - 1, st.frames, j.data);
        j.events.push_back(std::move(e));
        jobs.push_back(std::move(j));
      }
    }
  } else {
    Job j = base(st.frames - 1);
    j.kind = Job::kFinal;
    for (auto& [tid, tr] : st.tracks) {
      if (tr.slot < 0) continue;
      j.release_slots.push_back(tr.slot);
      if (by_stream && tr.person < 0) continue;
      j.flush_slots.push_back(tr.slot);
      if (!by_stream) {
        EventSpec e;
        e.tracks = {tid};
        e.slots.assign(M, -1);
        e.slots[0] = tr.slot;
        j.events.push_back(std::move(e));
      }
    }
    if (by_stream && !st.persons.empty()) {
      EventSpec e;
      e.slots.assign(M, -1);
      for (int m = 0; m < M; ++m)
        if (st.persons[m] >= 0) {
          e.tracks.push_back(st.persons[m]);
          e.slots[m] = st.tracks.at(st.persons[m]).slot;
        }
      if (!e.tracks.empty()) j.events.push_back(std::move(e));
    }
    if (!j.release_slots.empty()) jobs.push_back(std::move(j));
  }
  active_tracks -= static_cast<int64_t>(st.tracks.size());
  st.tracks.clear();
  for (Job& j : jobs) enqueue(st.worker, std::move(j));
  return Status::ok();
}

Status StreamRuntime::push(const Frame& frame) { return impl_->push(frame); }
Status StreamRuntime::end_stream(const std::string& stream) { return impl_->end_stream(stream); }

void StreamRuntime::drain() {
  std::unique_lock<std::mutex> lock(impl_->drain_mu);
  impl_->drain_cv.wait(lock, [this] { return impl_->in_flight == 0; });
}

size_t StreamRuntime::poll(std::vector<StreamEvent>& out, size_t max) {
  std::lock_guard<std::mutex> lock(impl_->events_mu);
  size_t n = 0;
  while (!impl_->events.empty() && (max == 0 || n < max)) {
    out.push_back(std::move(impl_->events.front()));
    impl_->events.pop_front();
    ++n;
  }
  return n;
}

StreamStats StreamRuntime::stats() const { return impl_->stats(); }
int StreamRuntime::T() const { return impl_->T; }
int StreamRuntime::M() const { return impl_->M; }
int StreamRuntime::V() const { return impl_->V; }
int StreamRuntime::num_class() const { return impl_->num_class; }
int StreamRuntime::hop() const { return impl_->hop; }
StreamMode StreamRuntime::mode() const { return impl_->mode; }
int64_t StreamRuntime::macs_per_sample() const { return impl_->macs; }

}  // namespace stgcn
