// `stgcn run`: plays recorded (or piped) pose streams through the stream
// runtime, prints live stats and writes the events as JSONL.
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "commands.h"
#include "io/files.h"
#include "signals.h"
#include "stgcn/npy.h"
#include "stgcn/sources.h"
#include "stgcn/stream.h"

namespace stgcn::cli {

using Clock = std::chrono::steady_clock;

Result<std::vector<std::string>> load_labels(const std::string& path) {
  STGCN_ASSIGN_OR_RETURN(std::string text, read_file(path));
  auto j = nlohmann::json::parse(text, nullptr, false);
  std::vector<std::string> out;
  if (!j.is_discarded()) {
    const nlohmann::json* arr = &j;
    if (j.is_object() && j.contains("classes")) arr = &j["classes"];
    if (!arr->is_array())
      return invalid_argument(
          fmt::format("'{}': expected a list of class names or "
                      "{{\"classes\": [...]}}",
                      path));
    for (const auto& v : *arr) {
      if (!v.is_string())
        return invalid_argument(fmt::format("'{}': class names must be strings", path));
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  // One name per line.
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
    start = end + 1;
  }
  return out;
}

// classes.json next to the model, when there is one.
std::string default_labels_path(const std::string& model) {
  std::filesystem::path p = std::filesystem::path(model).parent_path() / "classes.json";
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) ? p.string() : "";
}

Result<std::unique_ptr<StreamRuntime>> make_runtime(const EngineFlags& f, StreamMode mode,
                                                    StreamOptions o, int batch,
                                                    std::string* layout) {
  if (mode == StreamMode::kContinual) {
    // The engine (built here from a model, at any precision, or loaded) is lowered to
    // per-track step kernels by its backend; tracks step in batches of up to 64.
    STGCN_ASSIGN_OR_RETURN(auto engine, f.get(1));
    if (layout) *layout = engine->info().spec.layout;
    if (o.max_batch == 0) o.max_batch = std::max(batch, 64);
    return StreamRuntime::create_continual(engine, std::move(o));
  }
  STGCN_ASSIGN_OR_RETURN(auto engine, f.get(batch));
  if (layout) *layout = engine->info().spec.layout;
  return StreamRuntime::create(engine, std::move(o));
}

namespace {

struct RunFlags {
  EngineFlags engine;
  std::vector<std::string> sources;
  std::string format = "auto", mode = "window", out, labels, fill = "zero", normalize = "none",
              grouping = "auto", channels;
  int hop = 0, min_frames = 0, top_k = 3, workers = 0, threads = 0, max_batch = 0, max_tracks = 64,
      queue = 1024, center_joint = 0;
  std::vector<int> scale_bone{11, 12};
  double realtime = 0, timeout = 1.0, max_delay_ms = 2, stats_interval = 1, min_confidence = 0;
  int64_t max_line_bytes = int64_t{1} << 20;
  bool quiet = false, lookahead = false;
};

std::string event_json(const StreamEvent& e, const std::vector<std::string>& labels) {
  nlohmann::json j;
  j["stream"] = e.stream;
  j["tracks"] = e.tracks;
  j["frame"] = e.frame;
  j["t"] = e.timestamp;
  j["label"] = e.label;
  if (!labels.empty()) j["class"] = labels[e.label];
  j["score"] = e.score;
  nlohmann::json top = nlohmann::json::array();
  for (auto& [k, p] : e.top) {
    nlohmann::json t = {{"label", k}, {"p", p}};
    if (!labels.empty()) t["class"] = labels[k];
    top.push_back(t);
  }
  j["top"] = top;
  j["latency_ms"] = e.latency_ms;
  j["final"] = e.final;
  return j.dump();
}

int run_streams(const RunFlags& f) {
  if (f.sources.empty()) return fail(invalid_argument("give at least one --source"));
  StreamOptions o;
  auto mode = parse_stream_mode(f.mode);
  if (!mode.is_ok()) return fail(mode.status());
  o.mode = *mode;
  o.hop = f.hop;
  o.min_frames = f.min_frames;
  o.top_k = f.top_k;
  o.workers = f.workers;
  o.threads = f.threads;
  o.max_batch = f.max_batch;
  o.max_tracks = f.max_tracks;
  o.lookahead = f.lookahead;
  if (f.lookahead && o.mode != StreamMode::kContinual)
    return fail(invalid_argument("--lookahead is for --mode continual"));
  o.queue_capacity = f.queue;
  // Played as fast as possible, a file must not lose frames: producers wait.
  // Paced like a camera, the live policy applies (drop the oldest).
  o.block_when_full = f.realtime <= 0;
  o.track_timeout = f.timeout;
  o.max_delay_ms = f.max_delay_ms;
  if (!std::isfinite(f.min_confidence))
    return fail(invalid_argument(fmt::format(
        "--min-confidence {} is not a number (give a value such as 0.3)", f.min_confidence)));
  o.min_confidence = static_cast<float>(f.min_confidence);
  o.channels = f.channels;
  o.fill = f.fill == "last" ? Fill::kLast : Fill::kZero;
  o.normalize = f.normalize == "center"         ? Normalize::kCenter
                : f.normalize == "center-scale" ? Normalize::kCenterScale
                                                : Normalize::kNone;
  o.grouping = f.grouping == "track"    ? Grouping::kTrack
               : f.grouping == "stream" ? Grouping::kStream
                                        : Grouping::kAuto;
  o.center_joint = f.center_joint;
  if (f.scale_bone.size() != 2) return fail(invalid_argument("--scale-bone takes two joints: A,B"));
  o.scale_bone = {f.scale_bone[0], f.scale_bone[1]};
  std::string labels_path = f.labels.empty() ? default_labels_path(f.engine.model.path) : f.labels;
  if (!labels_path.empty()) {
    auto l = load_labels(labels_path);
    if (!l.is_ok()) return fail(l.status());
    o.labels = *l;
  }
  std::vector<std::string> labels = o.labels;

  // Events go to --out (a temporary file moved into place at the end; a device or FIFO is
  // written through), or, with `--out -`, to stdout as they come (one flushed line each).
  // Every write is checked: a full disk or a closed pipe fails the command.
  std::optional<OutputFile> out_file;
  const bool live_out = f.out == "-";
  if (!live_out && !f.out.empty()) {
    auto of = OutputFile::open(f.out);
    if (!of.is_ok()) return fail(of.status());
    out_file.emplace(std::move(of).value());
  }
  std::mutex out_mu;
  std::map<std::pair<std::string, int64_t>, std::string> finals;  // (stream, track) -> class
  Status write_error = Status::ok();
  o.on_event = [&](const StreamEvent& e) {
    std::string line = event_json(e, labels);
    line += '\n';
    std::lock_guard<std::mutex> lock(out_mu);
    if (write_error.is_ok()) {
      if (out_file) {
        write_error = out_file->write(line);
      } else if (live_out) {
        if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() ||
            std::fflush(stdout) != 0)
          write_error =
              io_error(fmt::format("cannot write the events to stdout: {}", std::strerror(errno)));
      }
    }
    const std::string name = labels.empty() ? std::to_string(e.label) : labels[e.label];
    for (int64_t t : e.tracks) finals[{e.stream, t}] = name;  // the latest label per track
  };
  auto discard = [&] {
    if (out_file) out_file->discard();
  };

  std::string layout;
  auto rt = make_runtime(f.engine, o.mode, o, 8, &layout);
  if (!rt.is_ok()) {
    discard();
    return fail(rt.status());
  }
  StreamRuntime& runtime = **rt;

  // Open every source first: a bad path fails before anything runs.
  auto fmt_r = parse_source_format(f.format);
  if (!fmt_r.is_ok()) {
    discard();
    return fail(fmt_r.status());
  }
  std::atomic<int64_t> source_errors{0};
  std::vector<std::unique_ptr<FrameSource>> sources;
  for (const std::string& path : f.sources) {
    SourceOptions so;
    so.format = *fmt_r;
    // The model's skeleton ("coco (by V=17)" for a learned graph names it by its joints).
    const std::string skeleton = layout.substr(0, layout.find(' '));
    so.layout = skeleton == "custom" ? "" : skeleton;
    so.fps = f.realtime > 0 ? f.realtime : 30;
    so.max_line_bytes = static_cast<size_t>(f.max_line_bytes);
    so.on_error = [&, quiet = f.quiet](const SourceError& e) {
      source_errors++;
      if (!quiet)
        std::fprintf(stderr, "stgcn: warning: stream '%s' %s: %s (skipped)\n",
                     escape_control(e.stream).c_str(), escape_control(e.where).c_str(),
                     escape_control(e.message).c_str());
    };
    auto s = FrameSource::open(path, so);
    if (!s.is_ok()) {
      discard();
      return fail(s.status());
    }
    sources.push_back(std::move(s).value());
  }
  {
    std::map<std::string, int> seen;
    for (auto& s : sources)
      if (seen[s->stream()]++) {
        discard();
        return fail(invalid_argument(fmt::format(
            "two sources are named '{}': stream ids come from the file names", s->stream())));
      }
  }
  if (!f.quiet)
    fmt::print(stderr, "stgcn: run: {} source(s), {} mode, hop {}, T={}, M={}, {} classes{}\n",
               sources.size(), stream_mode_name(runtime.mode()), runtime.hop(), runtime.T(),
               runtime.M(), runtime.num_class(),
               f.realtime > 0 ? fmt::format(", paced at {} fps", f.realtime) : "");

  install_stop_handlers();  // Ctrl-C: stop reading, finish, write what was produced
  std::atomic<int> running{static_cast<int>(sources.size())};
  std::atomic<int64_t> io_failures{0};
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> producers;
  for (size_t i = 0; i < sources.size(); ++i)
    producers.emplace_back([&, s = sources[i].get(), source_path = f.sources[i]] {
      Frame frame;
      int64_t n = 0;
      while (!stop_requested()) {
        auto more = s->next(frame);
        if (!more.is_ok()) {
          io_failures++;
          std::fprintf(stderr, "stgcn: error: stream '%s': %s\n",
                       escape_control(s->stream()).c_str(),
                       escape_control(more.status().message()).c_str());
          break;
        }
        if (!*more) {
          if (n == 0) {  // nothing at all: the wrong format, or an empty recording
            io_failures++;
            std::fprintf(stderr,
                         "stgcn: error: stream '%s': no frames in '%s' (empty, or not in the "
                         "format read; see --format)\n",
                         escape_control(s->stream()).c_str(), escape_control(source_path).c_str());
          }
          break;
        }
        if (f.realtime > 0) {
          const Clock::time_point due =
              start + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(static_cast<double>(n) / f.realtime));
          while (Clock::now() < due && !stop_requested())
            std::this_thread::sleep_for(
                std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(50)));
          if (stop_requested()) break;
        }
        ++n;
        Status st = runtime.push(frame);
        if (!st.is_ok() && !f.quiet)
          std::fprintf(stderr, "stgcn: warning: %s\n", escape_control(st.message()).c_str());
      }
      Status st = runtime.end_stream(s->stream());
      (void)st;  // a stream that never produced a frame has nothing to end
      running--;
    });

  // Live stats.
  StreamStats last{};
  Clock::time_point last_t = start;
  while (running.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const double since = std::chrono::duration<double>(Clock::now() - last_t).count();
    if (!f.quiet && f.stats_interval > 0 && since >= f.stats_interval) {
      StreamStats s = runtime.stats();
      fmt::print(stderr,
                 "stgcn: [{:6.1f} s] streams {} tracks {} | {:.0f} frames/s | events {} | latency "
                 "p50 {:.1f} ms p99 {:.1f} ms | dropped {} rejected {}\n",
                 std::chrono::duration<double>(Clock::now() - start).count(), s.streams, s.tracks,
                 (s.frames - last.frames) / since, s.events, s.latency_p50_ms, s.latency_p99_ms,
                 s.dropped, s.rejected + source_errors.load());
      last = s;
      last_t = Clock::now();
    }
  }
  for (auto& p : producers) p.join();
  runtime.drain();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  StreamStats s = runtime.stats();
  if (!write_error.is_ok()) {
    discard();
    return fail(write_error);
  }
  if (out_file) {
    Status st = out_file->commit();
    if (!st.is_ok()) return fail(st);
  }
  if (!f.quiet) {
    fmt::print(stderr,
               "stgcn: done in {:.2f} s: {} frames ({:.0f}/s), {} events, {} engine calls (mean "
               "batch {:.1f}), latency p50 {:.1f} ms p99 {:.1f} ms, dropped {}, rejected {}, "
               "unplaced {}\n",
               secs, s.frames, s.frames / std::max(secs, 1e-9), s.events, s.batches, s.mean_batch,
               s.latency_p50_ms, s.latency_p99_ms, s.dropped, s.rejected + source_errors.load(),
               s.unplaced);
  }
  // Each track's last label (on stderr when stdout carries the events).
  for (auto& [key, name] : finals)
    fmt::print(live_out ? stderr : stdout, "{} track {}: {}\n", key.first, key.second, name);
  if (stop_requested()) {
    fmt::print(stderr, "stgcn: stopped by signal {}: wrote the {} events produced\n", stop_signal(),
               s.events);
    return 128 + stop_signal();
  }
  return io_failures.load() > 0 ? kExitFailure : 0;
}

}  // namespace

Subcommand add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "run",
      "Play pose streams (files, OpenPose directories or '-' for stdin JSONL) through the "
      "real-time runtime; print live stats, write events as JSONL");
  auto f = std::make_shared<RunFlags>();
  f->engine.add_to(cmd, true);
  f->engine.batch = 8;
  cmd->add_option("--source", f->sources,
                  "A stream: .jsonl, MediaPipe .json / .csv, OpenPose JSON file or directory, NTU "
                  ".skeleton, or '-' (JSONL on stdin); repeatable, one stream each")
      ->required();
  cmd->add_option("--format", f->format, "Source format")
      ->capture_default_str()
      ->check(CLI::IsMember(
          {"auto", "jsonl", "mediapipe-json", "mediapipe-csv", "openpose", "ntu", "kinetics"}));
  cmd->add_option("--mode", f->mode,
                  "window: classify the last T frames (exact); continual: each frame flows "
                  "through the network once (needs the checkpoint / ONNX, FP32)")
      ->capture_default_str()
      ->check(CLI::IsMember({"window", "continual"}));
  cmd->add_option("--hop", f->hop, "Classify every N frames (0: 1 continual, T/10 window)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--realtime", f->realtime,
                  "Pace each source at this many frames per second (0: as fast as possible)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10000.0));
  cmd->add_option("--out", f->out,
                  "Write events as JSONL: a file (atomically, at the end), or '-' for stdout as "
                  "they come");
  cmd->add_option("--labels", f->labels,
                  "Class names: JSON list / {\"classes\": [...]} or one per line (default: "
                  "classes.json next to the model)");
  cmd->add_option("--min-frames", f->min_frames,
                  "Frames a track needs before its first event (0: T)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--timeout", f->timeout, "Seconds without a detection before a track ends")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1e6));
  cmd->add_option("--grouping", f->grouping,
                  "track: one sample per track; stream: the stream's M most recent tracks in "
                  "one sample (auto: track when M = 1)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "track", "stream"}));
  cmd->add_option("--channels", f->channels,
                  "Model channels from x, y, z, c (default xyc for C=3)");
  cmd->add_option("--fill", f->fill, "Missing joints (confidence <= --min-confidence)")
      ->capture_default_str()
      ->check(CLI::IsMember({"zero", "last"}));
  cmd->add_option("--max-line-bytes", f->max_line_bytes,
                  "Longest line of a JSONL / CSV / .skeleton source; a longer JSONL record is "
                  "skipped as malformed, never held in memory")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{64}, int64_t{1} << 30));
  cmd->add_option("--min-confidence", f->min_confidence, "A joint at or below this is missing")
      ->capture_default_str();
  cmd->add_option("--normalize", f->normalize, "Coordinates: as given, centred, centred and scaled")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "center", "center-scale"}));
  cmd->add_option("--center-joint", f->center_joint, "Joint to centre on")->capture_default_str();
  cmd->add_option("--scale-bone", f->scale_bone, "Two joints whose distance is the unit: A,B")
      ->delimiter(',');
  cmd->add_option("--top-k", f->top_k, "Classes per event")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--workers", f->workers,
                  "Worker threads (0: one per core, one thread each, in continual mode; one in "
                  "window mode)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  cmd->add_option("--threads", f->threads, "Compute threads per worker (0: cores / workers)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--max-batch", f->max_batch, "Samples per engine call (0: the engine's --batch)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--max-delay-ms", f->max_delay_ms, "A partial batch waits at most this long")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10000.0));
  cmd->add_option("--max-tracks", f->max_tracks, "Tracks held at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--queue", f->queue,
                  "Ready work held; beyond it the oldest is dropped with --realtime, producers "
                  "wait without")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--stats-interval", f->stats_interval,
                  "Seconds between live stats lines (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_flag("--lookahead", f->lookahead,
                "Continual mode: classify a flushed copy of each track's pipeline (the window's "
                "right padding): closer to window mode, costs a flush per event");
  cmd->add_flag("--quiet", f->quiet, "No stats or warnings on stderr");
  return {cmd, [f]() { return run_streams(*f); }};
}

}  // namespace stgcn::cli
