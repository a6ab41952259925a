// StreamRuntime: bounded work queues (drop oldest when full), dynamic
// batching (max batch or max_delay), the worker pool, event delivery, stats.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <thread>

#include "runtime/runtime_impl.h"

namespace stgcn {
namespace {

// A failed batch or step is logged in one line and skipped; the runtime goes on.
bool logged(const char* what, const Status& st) {
  if (st.is_ok()) return false;
  std::fprintf(stderr, "stgcn: error: %s: %s\n", what, escape_control(st.message()).c_str());
  return true;
}

}  // namespace

Status StreamRuntime::Impl::start_workers() {
  int threads = opt.threads;
  if (threads <= 0)
    threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / opt.workers);
  opt.threads = threads;
  if (mode == StreamMode::kWindow)
    for (int w = 0; w < opt.workers; ++w) {
      auto c = engine->create_context(opt.threads);
      if (!c.is_ok())
        return c.status().with_context(fmt::format(
            "stream worker {} of {} ({} threads each): ", w + 1, opt.workers, opt.threads));
      contexts.push_back(std::move(c).value());
    }
  for (int w = 0; w < opt.workers; ++w) workers.emplace_back([this, w] { worker_loop(w); });
  return Status::ok();
}

void StreamRuntime::Impl::stop_workers() {
  stopping = true;
  for (auto& q : queues) {
    std::lock_guard<std::mutex> lock(q->mu);
    q->cv.notify_all();
    q->space.notify_all();
  }
  for (auto& t : workers)
    if (t.joinable()) t.join();
  workers.clear();
}

void StreamRuntime::Impl::finish(int64_t n) {
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(drain_mu);
  in_flight -= n;
  if (in_flight == 0) drain_cv.notify_all();
}

void StreamRuntime::Impl::enqueue(int queue, Job job) {
  {
    std::lock_guard<std::mutex> lock(drain_mu);
    ++in_flight;
  }
  WorkQueue& q = *queues[queue];
  int64_t dropped_now = 0;
  {
    std::unique_lock<std::mutex> lock(q.mu);
    if (opt.block_when_full)
      q.space.wait(
          lock, [&] { return stopping || static_cast<int>(q.jobs.size()) < opt.queue_capacity; });
    // Overload: the oldest droppable work goes (final / release work is kept).
    while (static_cast<int>(q.jobs.size()) >= opt.queue_capacity) {
      auto it =
          std::find_if(q.jobs.begin(), q.jobs.end(), [](const Job& j) { return j.droppable(); });
      if (it == q.jobs.end()) break;
      q.jobs.erase(it);
      ++dropped_now;
    }
    q.jobs.push_back(std::move(job));
  }
  q.cv.notify_one();
  dropped += dropped_now;
  finish(dropped_now);
}

void StreamRuntime::Impl::worker_loop(int index) {
  omp_set_num_threads(opt.threads);
  WorkQueue& q = *queues[mode == StreamMode::kWindow ? 0 : index];
  Context* ctx = mode == StreamMode::kWindow ? contexts[index].get() : nullptr;
  std::vector<float> in, out;
  const auto max_delay = std::chrono::microseconds(static_cast<int64_t>(opt.max_delay_ms * 1000));
  while (true) {
    std::vector<Job> batch;
    {
      std::unique_lock<std::mutex> lock(q.mu);
      q.cv.wait(lock, [&] { return stopping || !q.jobs.empty(); });
      if (stopping) {
        const int64_t n = static_cast<int64_t>(q.jobs.size());
        q.jobs.clear();
        lock.unlock();
        finish(n);
        return;
      }
      // A final job runs alone; work items gather up to max_batch samples (or
      // slots), waiting at most max_delay after the oldest was queued.
      auto size_of = [](const Job& j) {
        return j.kind == Job::kStep ? static_cast<int>(j.step_slots.size()) : 1;
      };
      // Slots stepped in this batch, or blocked behind a job left in the
      // queue: a track's steps run in order, one per batch.
      std::set<int> used;
      int size = 0;
      const Clock::time_point deadline = q.jobs.front().pushed + max_delay;
      const size_t scan_limit = 8 * static_cast<size_t>(max_batch);
      while (true) {
        bool stop = false;
        size_t i = 0;
        while (i < q.jobs.size() && i < scan_limit) {
          Job& j = q.jobs[i];
          if (j.kind == Job::kFinal) {
            if (batch.empty() && i == 0) {
              batch.push_back(std::move(j));
              q.jobs.pop_front();
            }
            stop = true;
            break;
          }
          if (!batch.empty() && size + size_of(j) > max_batch) {
            stop = true;
            break;
          }
          bool clash = false;
          for (int s : j.step_slots) clash = clash || used.count(s);
          for (int s : j.step_slots) used.insert(s);
          if (clash) {
            stop = true;  // run what we have; this one waits for the next batch
            ++i;
            continue;
          }
          size += size_of(j);
          batch.push_back(std::move(j));
          q.jobs.erase(q.jobs.begin() + static_cast<std::ptrdiff_t>(i));
        }
        const bool full = stop || size >= max_batch || i >= scan_limit;
        if (full || stopping) break;
        if (q.cv.wait_until(lock, deadline) == std::cv_status::timeout) {
          if (!q.jobs.empty()) continue;
          break;
        }
      }
    }
    q.space.notify_all();
    if (batch.empty()) continue;
    const Clock::time_point t0 = Clock::now();
    if (batch.front().kind == Job::kFinal) {
      run_final(batch.front());
    } else if (mode == StreamMode::kWindow) {
      run_window(batch, *ctx, in, out);
    } else {
      run_continual(batch, index);
    }
    busy_us += std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
    finish(static_cast<int64_t>(batch.size()));
  }
}

void StreamRuntime::Impl::run_window(std::vector<Job>& batch, Context& ctx, std::vector<float>& in,
                                     std::vector<float>& out) {
  const size_t sample = static_cast<size_t>(C) * T * V * M;
  const int n = static_cast<int>(batch.size());
  in.resize(sample * n);
  out.resize(static_cast<size_t>(num_class) * n);
  for (int i = 0; i < n; ++i)
    std::copy(batch[i].data.begin(), batch[i].data.end(), in.begin() + i * sample);
  if (logged("stream batch", ctx.run(in, n, out))) return;
  batches++;
  samples += n;
  for (int i = 0; i < n; ++i)
    deliver(batch[i], batch[i].events.front(), out.data() + static_cast<size_t>(i) * num_class);
}

void StreamRuntime::Impl::run_continual(std::vector<Job>& batch, int worker) {
  std::vector<int> slots;
  std::vector<const float*> frames;
  const size_t cv = static_cast<size_t>(C) * V;
  for (const Job& j : batch)
    for (size_t i = 0; i < j.step_slots.size(); ++i) {
      slots.push_back(j.step_slots[i]);
      frames.push_back(j.data.data() + i * cv);
    }
  if (logged("continual step", cm->step(slots, frames))) return;
  batches++;
  samples += static_cast<int64_t>(slots.size());
  if (!opt.lookahead) {
    for (const Job& j : batch) classify_continual(j, nullptr);
    return;
  }
  // Lookahead: every slot with an event gets a flushed copy, all together.
  std::vector<int> event_slots;
  for (const Job& j : batch)
    for (const EventSpec& e : j.events)
      for (int s : e.slots)
        if (s >= 0 && std::find(event_slots.begin(), event_slots.end(), s) == event_slots.end())
          event_slots.push_back(s);
  std::vector<std::vector<float>> feats;
  std::vector<char> ok;
  if (logged("continual lookahead",
             cm->features_lookahead(event_slots, worker * backend::Streaming::kLookaheadChunk,
                                    feats, ok)))
    return;
  std::map<int, const std::vector<float>*> ready;
  for (size_t i = 0; i < event_slots.size(); ++i)
    if (ok[i]) ready[event_slots[i]] = &feats[i];
  for (const Job& j : batch) classify_continual(j, &ready);
}

// The events of a continual job from its slots' pooled features (`given`:
// precomputed ones, e.g. from flushed copies); a slot whose pipeline has
// produced no output yet makes no event.
void StreamRuntime::Impl::classify_continual(
    const Job& job, const std::map<int, const std::vector<float>*>* given) {
  std::vector<float> logits(num_class);
  std::vector<std::vector<float>> feats(M);
  for (const EventSpec& e : job.events) {
    std::vector<const std::vector<float>*> persons(M, nullptr);
    bool ready = true;
    for (int m = 0; m < M; ++m) {
      if (e.slots[m] < 0) continue;
      if (given) {
        auto it = given->find(e.slots[m]);
        ready = ready && it != given->end();
        if (it != given->end()) persons[m] = it->second;
      } else {
        ready = ready && cm->features(e.slots[m], feats[m]);
        persons[m] = &feats[m];
      }
    }
    if (!ready) {
      if (opt.warmup_events && !given && !job.final) deliver(job, e, nullptr);
      continue;
    }
    if (logged("continual logits", cm->logits(persons, logits))) continue;
    deliver(job, e, logits.data());
  }
}

void StreamRuntime::Impl::run_final(Job& job) {
  for (int s : job.flush_slots) logged("continual flush", cm->flush(s));
  if (!job.flush_slots.empty()) batches++;
  classify_continual(job, nullptr);
  release_slots(job.release_slots);
}

void StreamRuntime::Impl::deliver(const Job& job, const EventSpec& spec, const float* logits) {
  StreamEvent ev;
  ev.stream = job.stream;
  ev.tracks = spec.tracks;
  ev.frame = job.frame;
  ev.timestamp = job.timestamp;
  ev.final = job.final;
  if (logits == nullptr) {  // warmup_events: no answer yet
    ev.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - job.pushed).count();
    n_events++;
    if (opt.on_event) {
      opt.on_event(ev);
    } else {
      std::lock_guard<std::mutex> lock(events_mu);
      if (static_cast<int>(events.size()) >= opt.events_capacity) {
        events.pop_front();
        dropped_events++;
      }
      events.push_back(std::move(ev));
    }
    return;
  }
  ev.logits.assign(logits, logits + num_class);
  const float mx = *std::max_element(logits, logits + num_class);
  std::vector<std::pair<int, float>> probs(num_class);
  double sum = 0;
  for (int k = 0; k < num_class; ++k) sum += std::exp(static_cast<double>(logits[k] - mx));
  for (int k = 0; k < num_class; ++k)
    probs[k] = {k, static_cast<float>(std::exp(static_cast<double>(logits[k] - mx)) / sum)};
  const int k = std::min(opt.top_k, num_class);
  std::partial_sort(probs.begin(), probs.begin() + k, probs.end(),
                    [](const auto& a, const auto& b) {
                      return a.second > b.second || (a.second == b.second && a.first < b.first);
                    });
  probs.resize(k);
  ev.label = probs.front().first;
  ev.score = probs.front().second;
  ev.top = std::move(probs);
  ev.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - job.pushed).count();
  n_events++;
  {
    std::lock_guard<std::mutex> lock(events_mu);
    latencies[latency_pos++ % latencies.size()] = ev.latency_ms;
    if (!opt.on_event) {
      if (static_cast<int>(events.size()) >= opt.events_capacity) {
        events.pop_front();
        dropped_events++;
      }
      events.push_back(std::move(ev));
      return;
    }
  }
  opt.on_event(ev);
}

StreamStats StreamRuntime::Impl::stats() {
  StreamStats s;
  {
    std::lock_guard<std::mutex> lock(streams_mu);
    s.streams = static_cast<int64_t>(streams.size());
  }
  s.tracks = active_tracks.load();
  s.frames = frames.load();
  s.rejected = rejected.load();
  s.samples = samples.load();
  s.events = n_events.load();
  s.dropped = dropped.load();
  s.dropped_events = dropped_events.load();
  s.unplaced = unplaced.load();
  s.batches = batches.load();
  s.busy_ms = busy_us.load() / 1000.0;
  s.mean_batch = s.batches > 0 ? static_cast<double>(s.samples) / s.batches : 0;
  std::vector<double> lat;
  {
    std::lock_guard<std::mutex> lock(events_mu);
    for (double v : latencies)
      if (v >= 0) lat.push_back(v);
  }
  if (!lat.empty()) {
    std::sort(lat.begin(), lat.end());
    auto q = [&](double p) {
      return lat[std::min(lat.size() - 1, static_cast<size_t>(p * (lat.size() - 1) + 0.5))];
    };
    s.latency_p50_ms = q(0.5);
    s.latency_p99_ms = q(0.99);
  }
  for (auto& q : queues) {
    std::lock_guard<std::mutex> lock(q->mu);
    s.queued += static_cast<int64_t>(q->jobs.size());
  }
  return s;
}

}  // namespace stgcn
