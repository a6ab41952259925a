#include "serve/sequences.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace stgcn::serve {

Result<std::unique_ptr<Sequences>> Sequences::create(std::shared_ptr<const Engine> engine,
                                                     const SequenceOptions& options,
                                                     std::string model, Metrics* metrics) {
  std::unique_ptr<Sequences> s(new Sequences());
  s->model_ = std::move(model);
  s->metrics_ = metrics;
  s->opt_ = options;
  const EngineInfo& info = engine->info();
  if (!info.continual)
    return unsupported(fmt::format("model '{}' cannot serve sequences: {}", s->model_,
                                   info.continual_note));
  s->V_ = info.spec.V();
  s->C_ = info.spec.C();
  s->num_class_ = info.spec.num_class();
  StreamOptions so;
  so.mode = StreamMode::kContinual;
  so.grouping = Grouping::kTrack;
  so.hop = 1;
  so.min_frames = 1;  // an answer for every frame, from the first
  // A finished sequence's slot returns to the pool on a worker: room for the ones ending now.
  so.max_tracks = options.max_sequences + 32;
  so.workers = options.workers;
  so.threads = options.threads;
  so.max_batch = options.max_batch;
  so.max_delay_ms = options.max_delay_ms;
  so.queue_capacity = options.queue_capacity;
  so.block_when_full = true;  // a request waits for room; nothing is dropped
  so.top_k = 1;
  so.warmup_events = true;  // every stepped frame answers, so a request knows when it is done
  // The frames carry the model's channels as it consumes them: passed through unchanged (C=3 is
  // read as x, y, z rather than x, y, confidence, and no joint is ever treated as missing).
  so.channels = s->C_ == 2 ? "xy" : s->C_ == 3 ? "xyz" : "xyzc";
  so.min_confidence = -std::numeric_limits<float>::infinity();
  Sequences* self = s.get();
  so.on_event = [self](const StreamEvent& e) { self->on_event(e); };
  auto rt = StreamRuntime::create_continual(engine, so);
  if (!rt) return rt.status();
  s->rt_ = std::move(rt).value();
  s->reaper_ = std::thread([self] { self->reap(); });
  return s;
}

Sequences::~Sequences() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  reaper_cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
  rt_.reset();  // stops the workers before the tables go
}

int Sequences::live() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(by_key_.size());
}

void Sequences::on_event(const StreamEvent& e) {
  if (e.final) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_stream_.find(e.stream);
  if (it == by_stream_.end()) return;
  Seq& s = *it->second;
  if (!s.logits || e.frame < s.want_first || e.frame >= s.want_first + s.want) return;
  const int64_t i = e.frame - s.want_first;
  if (static_cast<int>(e.logits.size()) == num_class_) {  // else a warmup event: no answer yet
    std::copy(e.logits.begin(), e.logits.end(), s.logits->begin() + i * num_class_);
    s.has[i] = 1;
  }
  // Only this sequence's request waits on its own condition (no herd of every sequence).
  if (++s.got == s.want) s.done.notify_one();
}

void Sequences::close(std::shared_ptr<Seq> seq) {
  // Not found: the sequence never got a frame; the runtime has nothing to forget.
  (void)rt_->end_stream(seq->stream);
}

void Sequences::reap() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto idle = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(opt_.idle_timeout_s));
  const auto period = std::min<std::chrono::steady_clock::duration>(idle / 4, std::chrono::seconds(1));
  while (!stopping_) {
    reaper_cv_.wait_for(lock, period);
    if (stopping_) break;
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<Seq>> expired;
    for (auto it = by_key_.begin(); it != by_key_.end();) {
      Seq& s = *it->second;
      // A sequence in use (its order lock held) is not idle.
      if (now - s.last_used > idle && s.order.try_lock()) {
        s.ended = true;
        s.order.unlock();
        by_stream_.erase(s.stream);
        expired.push_back(it->second);
        it = by_key_.erase(it);
      } else {
        ++it;
      }
    }
    lock.unlock();
    for (auto& s : expired) close(s);
    if (metrics_ && !expired.empty()) metrics_->dropped(model_, static_cast<int64_t>(expired.size()));
    lock.lock();
  }
}

Error Sequences::step(const std::string& key, bool start, bool end, std::span<const float> frames,
                      int F, std::vector<float>& logits, std::vector<int64_t>& answered) {
  if (F < 1 || frames.size() != static_cast<size_t>(F) * V_ * C_)
    return make_error(Code::kInvalidArgument, "a sequence request needs at least one frame");
  std::shared_ptr<Seq> seq, old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_key_.find(key);
    if (start) {
      if (it != by_key_.end()) {  // a restart: the old state goes
        old = it->second;
        by_stream_.erase(old->stream);
        by_key_.erase(it);
      }
      if (static_cast<int>(by_key_.size()) >= opt_.max_sequences) {
        if (metrics_) metrics_->dropped(model_, 1);
        if (old) by_key_.emplace(key, old), by_stream_.emplace(old->stream, old);
        return make_error(Code::kResourceExhausted,
                          fmt::format("model '{}' holds {} live sequences (--max-sequences); end "
                                      "one or try again later",
                                      model_, opt_.max_sequences));
      }
      seq = std::make_shared<Seq>();
      seq->stream = fmt::format("{}#{}", key, ++generation_);
      seq->last_used = std::chrono::steady_clock::now();
      by_key_.emplace(key, seq);
      by_stream_.emplace(seq->stream, seq);
    } else {
      if (it == by_key_.end())
        return make_error(Code::kInvalidArgument,
                          fmt::format("unknown sequence {} for model '{}' (send sequence_start "
                                      "to begin it; an idle sequence ends after {} s)",
                                      key.rfind("s:", 0) == 0 ? fmt::format("'{}'", key.substr(2)) : key,
                                      model_, opt_.idle_timeout_s));
      seq = it->second;
    }
  }
  if (old) {
    std::lock_guard<std::mutex> order(old->order);
    old->ended = true;
    close(old);
  }
  std::lock_guard<std::mutex> order(seq->order);
  if (seq->ended)
    return make_error(Code::kInvalidArgument,
                      fmt::format("sequence {} of model '{}' ended while this request waited",
                                  key, model_));
  {
    std::lock_guard<std::mutex> lock(mu_);
    logits.assign(static_cast<size_t>(F) * num_class_, 0.f);
    seq->has.assign(F, 0);
    seq->want_first = seq->next_frame;
    seq->want = F;
    seq->got = 0;
    seq->logits = &logits;
  }
  const int64_t first_frame = seq->next_frame;
  Error err;
  Frame fr;
  fr.stream = seq->stream;
  fr.persons.resize(1);
  PersonObs& p = fr.persons[0];
  p.track = 0;
  int pushed = 0;
  for (int f = 0; f < F; ++f) {
    const float* x = frames.data() + static_cast<size_t>(f) * V_ * C_;
    p.xyz.assign(static_cast<size_t>(V_) * 3, 0.f);
    p.confidence.clear();
    // The model's channels as the runtime reads them back (so.channels): xy, xyz or xyzc.
    const bool has_z = C_ >= 3, has_c = C_ == 4;
    if (has_c) p.confidence.resize(V_);
    for (int v = 0; v < V_; ++v) {
      p.xyz[v * 3] = x[v * C_];
      p.xyz[v * 3 + 1] = x[v * C_ + 1];
      if (has_z) p.xyz[v * 3 + 2] = x[v * C_ + 2];
      if (has_c) p.confidence[v] = x[v * C_ + 3];
    }
    fr.timestamp = static_cast<double>(seq->next_frame) / 30.0;
    const Status st = rt_->push(fr);
    if (!st.is_ok()) {
      err = make_error(Code::kInvalidArgument,
                       fmt::format("frame {} of the request: {}", f, st.message()));
      break;
    }
    ++seq->next_frame;
    ++pushed;
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    seq->want = pushed;  // answers for the frames the runtime took
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(opt_.wait_timeout_s));
    if (!seq->done.wait_until(lock, deadline, [&] { return seq->got >= seq->want; }) &&
        err.ok())
      err = make_error(Code::kDeadlineExceeded,
                       fmt::format("sequence {} of model '{}': {} of {} answers after {} s", key,
                                   model_, seq->got, seq->want, opt_.wait_timeout_s));
    seq->logits = nullptr;
    seq->want = 0;
    // Keep the answered frames only, in order.
    answered.clear();
    size_t w = 0;
    for (int f = 0; f < F; ++f)
      if (seq->has[f]) {
        answered.push_back(first_frame + f);
        std::copy_n(logits.begin() + static_cast<size_t>(f) * num_class_, num_class_,
                    logits.begin() + w * num_class_);
        ++w;
      }
    logits.resize(w * num_class_);
    seq->last_used = std::chrono::steady_clock::now();
    if (end || !err.ok()) {
      // The end of the track (or a failed request: its state is no longer the client's).
      auto it = by_key_.find(key);
      if (it != by_key_.end() && it->second == seq) by_key_.erase(it);
      by_stream_.erase(seq->stream);
      seq->ended = true;
    }
  }
  if (seq->ended) close(seq);
  return err;
}

}  // namespace stgcn::serve
