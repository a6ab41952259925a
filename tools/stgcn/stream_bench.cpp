// `stgcn bench --streams`: how many concurrently tracked persons (one per
// stream) at a camera rate the runtime sustains with the p99 push-to-result
// latency under a bound and nothing dropped, per mode and hop.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.h"
#include "stgcn/npy.h"

namespace stgcn::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Probe {
  int tracks = 0;
  bool ok = false;
  double p50 = 0, p99 = 0, max_lag_ms = 0, mean_batch = 0;
  double ms_per_frame = 0;  // worker compute time per track-frame
  int64_t events = 0, dropped = 0, frames = 0;
  std::string why;
};

// A smooth, person-like moving skeleton (values in [0, 1], all joints present).
PersonObs person(int64_t track, int V, int64_t t, double fps) {
  PersonObs p;
  p.track = track;
  p.xyz.resize(static_cast<size_t>(V) * 3);
  p.confidence.assign(V, 0.9f);
  const double s = t / fps, phase = 0.37 * track;
  for (int v = 0; v < V; ++v) {
    p.xyz[v * 3] = static_cast<float>(0.5 + 0.2 * std::sin(0.7 * v + phase) +
                                      0.03 * std::sin(6.0 * s + v + phase));
    p.xyz[v * 3 + 1] = static_cast<float>(0.5 + 0.3 * std::cos(0.4 * v) +
                                          0.03 * std::cos(5.0 * s + 0.5 * v + phase));
    p.xyz[v * 3 + 2] = 0;
  }
  return p;
}

Probe probe(const EngineFlags& flags, StreamMode mode, int hop, int n, const StreamBenchFlags& b) {
  Probe r;
  r.tracks = n;
  std::mutex mu;
  std::vector<double> lat;
  StreamOptions o;
  o.mode = mode;
  o.hop = hop;
  o.min_frames = 1;
  o.max_tracks = n;
  o.workers = b.workers;
  o.threads = b.threads;
  o.lookahead = b.lookahead && mode == StreamMode::kContinual;
  o.on_event = [&](const StreamEvent& e) {
    if (e.timestamp < b.warmup) return;
    std::lock_guard<std::mutex> lock(mu);
    lat.push_back(e.latency_ms);
  };
  auto rt = make_runtime(flags, mode, o, 8, nullptr);
  if (!rt.is_ok()) {
    r.why = rt.status().message();
    return r;
  }
  StreamRuntime& runtime = **rt;
  const int V = runtime.V();
  const int64_t frames = static_cast<int64_t>((b.warmup + b.seconds) * b.fps);
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(fmt::format("s{}", i));
  // Frames are made ahead, so pushing costs what a producer's push costs.
  std::vector<std::vector<PersonObs>> data(64);
  for (int k = 0; k < 64; ++k)
    for (int i = 0; i < std::min(n, 16); ++i) data[k].push_back(person(i, V, k, b.fps));
  const Clock::time_point start = Clock::now();
  for (int64_t k = 0; k < frames; ++k) {
    const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(k / b.fps));
    std::this_thread::sleep_until(due);
    const double lag = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
    if (k / b.fps >= b.warmup) r.max_lag_ms = std::max(r.max_lag_ms, lag);
    for (int i = 0; i < n; ++i) {
      // Tracks appear at different frames (as people do), so their hops and
      // the strided layers' phases are spread rather than all in one frame.
      if (k < i % 8) continue;
      Frame f;
      f.stream = ids[i];
      f.timestamp = k / b.fps;
      f.persons.push_back(data[k % 64][i % data[k % 64].size()]);
      f.persons.back().track = i;
      Status st = runtime.push(f);
      if (!st.is_ok()) {
        r.why = st.message();
        return r;
      }
    }
  }
  runtime.drain();
  StreamStats s = runtime.stats();
  r.events = static_cast<int64_t>(lat.size());
  r.dropped = s.dropped;
  r.frames = s.frames;
  r.mean_batch = s.mean_batch;
  // A window (or a continual step) per classified sample; a window every hop frames.
  const double per_sample = s.samples > 0 ? s.busy_ms / static_cast<double>(s.samples) : 0;
  r.ms_per_frame = mode == StreamMode::kWindow ? per_sample / hop : per_sample;
  if (!lat.empty()) {
    std::sort(lat.begin(), lat.end());
    r.p50 = lat[lat.size() / 2];
    r.p99 = lat[std::min(lat.size() - 1, static_cast<size_t>(0.99 * (lat.size() - 1) + 0.5))];
  }
  if (r.events == 0)
    r.why = "no events after the warm-up";
  else if (r.dropped > 0)
    r.why = fmt::format("{} samples dropped", r.dropped);
  else if (r.p99 >= b.p99_ms)
    r.why = fmt::format("p99 {:.1f} ms", r.p99);
  else if (r.max_lag_ms >= b.p99_ms)
    r.why = fmt::format("the producer fell {:.0f} ms behind", r.max_lag_ms);
  r.ok = r.why.empty();
  return r;
}

}  // namespace

void add_stream_bench_flags(CLI::App* cmd, StreamBenchFlags& s) {
  const char* g = "Stream capacity (--streams)";
  cmd->add_flag("--streams", s.on,
                "Measure how many tracked persons at --fps the stream runtime sustains with p99 "
                "latency under --p99-ms and nothing dropped (one person per stream)")
      ->group(g);
  cmd->add_option("--mode", s.modes, "Runtime modes, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember({"window", "continual"}))
      ->group(g);
  cmd->add_option("--hop", s.hops, "Hops, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 100000))
      ->group(g);
  cmd->add_option("--seconds", s.seconds, "Measured seconds per probe (after the warm-up)")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 3600.0))
      ->group(g);
  cmd->add_option("--warmup-seconds", s.warmup, "Warm-up seconds per probe (not measured)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0))
      ->group(g);
  cmd->add_option("--fps", s.fps, "Camera rate")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1000.0))
      ->group(g);
  cmd->add_option("--p99-ms", s.p99_ms, "Latency bound")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6))
      ->group(g);
  cmd->add_option("--tracks", s.tracks, "Probe this many tracks only (0: search the capacity)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000))
      ->group(g);
  cmd->add_option("--max-tracks", s.max_tracks, "Upper end of the search")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000))
      ->group(g);
  cmd->add_flag("--lookahead", s.lookahead, "Continual mode with a flush per event")->group(g);
  cmd->add_option("--workers", s.workers, "Runtime worker threads (0: the runtime's default)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64))
      ->group(g);
}

int run_stream_bench(const EngineFlags& flags, const StreamBenchFlags& b, const std::string& json) {
  nlohmann::json j;
  j["tool"] = "stgcn bench --streams";
  j["model"] = flags.model.path;
  j["T"] = flags.T;
  j["M"] = flags.M;
  j["precision"] = flags.precision;
  j["fps"] = b.fps;
  j["p99_bound_ms"] = b.p99_ms;
  j["seconds"] = b.seconds;
  j["warmup_seconds"] = b.warmup;
  j["cores"] = omp_get_num_procs();
  j["results"] = nlohmann::json::array();
  fmt::print("{}: {} tracks at {} fps, p99 < {} ms, nothing dropped ({} cores)\n",
             flags.model.path, b.tracks > 0 ? "probing" : "max concurrent", b.fps, b.p99_ms,
             omp_get_num_procs());
  fmt::print("{:>12} {:>9} {:>4} {:>7} {:>9} {:>9} {:>10} {:>13} {:>12}\n", "mode", "precision",
             "hop", "tracks", "p50 ms", "p99 ms", "mean batch", "MACs/frame", "ms/frame");
  for (const std::string& mode_name : b.modes) {
    const StreamMode mode = *parse_stream_mode(mode_name);
    // An engine file runs in its own precision.
    std::string precision = flags.precision;
    if (is_engine_path(flags.model.path))
      if (auto e = Engine::load(flags.model.path); e.is_ok()) precision = (*e)->info().precision;
    EngineFlags f = flags;
    int64_t macs_frame = 0;
    {
      StreamOptions o;
      o.mode = mode;
      o.max_tracks = 1;
      auto rt = make_runtime(f, mode, o, 8, nullptr);
      if (!rt.is_ok()) return fail(rt.status());
      macs_frame = (*rt)->macs_per_sample();
    }
    for (int hop : b.hops) {
      Probe last;
      auto run = [&](int n) {
        Probe p = probe(f, mode, hop, n, b);
        last = p;
        fmt::print(stderr, "stgcn: {} hop {}: {} tracks: {} (p50 {:.1f} ms, p99 {:.1f} ms)\n",
                   mode_name, hop, n, p.ok ? "sustained" : p.why, p.p50, p.p99);
        return p;
      };
      Probe best;
      if (b.tracks > 0) {
        best = run(b.tracks);
        if (!best.ok) best.tracks = 0;
      } else {
        int lo = 0, hi = 0;
        Probe at;
        for (int n = 1; n <= b.max_tracks; n *= 2) {
          Probe p = run(n);
          if (!p.ok) {
            hi = n;
            break;
          }
          lo = n;
          best = p;
        }
        if (hi == 0) hi = b.max_tracks + 1;
        while (lo > 0 && hi - lo > std::max(1, lo / 16)) {
          const int mid = (lo + hi) / 2;
          Probe p = run(mid);
          if (p.ok) {
            lo = mid;
            best = p;
          } else {
            hi = mid;
          }
        }
        best.tracks = lo;
      }
      // Per frame: window mode classifies T frames every hop; continual steps once.
      const double macs_per_frame =
          mode == StreamMode::kWindow ? static_cast<double>(macs_frame) / hop : macs_frame;
      const std::string shown =
          mode == StreamMode::kContinual && b.lookahead ? "continual+la" : mode_name;
      fmt::print("{:>12} {:>9} {:>4} {:>7} {:>9.1f} {:>9.1f} {:>10.1f} {:>13.3g} {:>12.3f}\n",
                 shown, precision, hop, best.tracks, best.p50, best.p99, best.mean_batch,
                 macs_per_frame, best.tracks > 0 ? best.ms_per_frame : last.ms_per_frame);
      j["results"].push_back({{"mode", shown},
                              {"precision", precision},
                              {"hop", hop},
                              {"tracks", best.tracks},
                              {"p50_ms", best.p50},
                              {"p99_ms", best.p99},
                              {"mean_batch", best.mean_batch},
                              {"macs_per_frame", macs_per_frame},
                              {"compute_ms_per_frame",
                               best.tracks > 0 ? best.ms_per_frame : last.ms_per_frame},
                              {"probe", {{"tracks", last.tracks},
                                         {"ok", last.ok},
                                         {"why", last.why},
                                         {"p99_ms", last.p99},
                                         {"compute_ms_per_frame", last.ms_per_frame}}}});
    }
  }
  if (!json.empty()) {
    Status st = write_file_atomic(json, j.dump(2) + "\n");
    if (!st.is_ok()) return fail(st);
  }
  return 0;
}

}  // namespace stgcn::cli
