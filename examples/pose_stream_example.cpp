// pose_stream_example: the stgcn-rt streaming API wired to a pose estimator's output.
//
//   pose_stream_example MODEL_OR_ENGINE SOURCE [--watch] [--labels classes.json]
//
// MODEL_OR_ENGINE  a compiled `.engine` file (Engine::load), or a checkpoint (`.pt`, ...)
//                  that is loaded and compiled here (load_model + Engine::build).
// SOURCE           a JSONL frame stream (python/make_streams.py writes them), a directory of
//                  OpenPose per-frame JSON files (`--write_json`), or "-" for JSONL on stdin:
//                  `producer | pose_stream_example model.engine -`.
// --watch          SOURCE is a directory that a live estimator is still writing into: poll it
//                  for new per-frame files until none has arrived for 2 s.
// --labels FILE    class names: a classes.json ({"classes": [...]}, as in models/trained/)
//                  or a text file with one name per line. Without it, labels print as numbers.
//
// Output: one line per classification event on stdout, statistics at the end; errors are
// one line on stderr and exit status 1. See examples/README.md.
//
// The flow is the one any integration follows:
//   1. get an Engine (shared, immutable; one per model),
//   2. create a StreamRuntime over it with an on_event callback,
//   3. for every frame the pose estimator produces: Frame -> runtime->push(),
//   4. when a camera stops: end_stream(); before exiting: drain(), then read stats().

#include <stgcn/engine.h>
#include <stgcn/model.h>
#include <stgcn/sources.h>
#include <stgcn/status.h>
#include <stgcn/stream.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kWindow = 150;                                    // frames per window (T)
constexpr auto kPollInterval = std::chrono::milliseconds(100);  // --watch: directory polling
constexpr auto kWatchIdle = std::chrono::seconds(2);            // --watch: stop after this

// Errors are values in stgcn-rt (Status / Result<T>). The example turns a failed step into a
// one-line message and exit status 1.
int fail(const std::string& message) {
  std::fprintf(stderr, "pose_stream_example: error: %s\n", message.c_str());
  return 1;
}

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: pose_stream_example MODEL_OR_ENGINE SOURCE [--watch] [--labels FILE]\n"
               "  MODEL_OR_ENGINE  .engine file, or a checkpoint to compile (T=150, M=1)\n"
               "  SOURCE           JSONL frame stream, OpenPose JSON directory, or - (stdin)\n"
               "  --watch          poll the SOURCE directory for new files until 2 s idle\n"
               "  --labels FILE    class names (classes.json or one name per line)\n");
}

struct Args {
  std::string model, source, labels;
  bool watch = false;
};

// Plain argv parsing: two positionals and two options.
bool parse_args(int argc, char** argv, Args& args, std::string& error) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--watch") {
      args.watch = true;
    } else if (a == "--labels") {
      if (i + 1 >= argc) {
        error = "--labels needs a file";
        return false;
      }
      args.labels = argv[++i];
    } else if (a.rfind("--labels=", 0) == 0) {
      args.labels = a.substr(9);
    } else if (a.size() > 1 && a[0] == '-') {  // "-" alone is stdin, a positional
      error = "unknown option '" + a + "'";
      return false;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) {
    error = "expected MODEL_OR_ENGINE and SOURCE (got " + std::to_string(positional.size()) +
            " arguments); --help for usage";
    return false;
  }
  args.model = positional[0];
  args.source = positional[1];
  return true;
}

// Class names. A classes.json is read with a deliberately tiny scanner (the strings of the
// "classes" array); a real application would use its JSON library.
stgcn::Result<std::vector<std::string>> read_labels(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return stgcn::not_found("cannot open labels file '" + path + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<std::string> names;

  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || text[first] != '{') {  // one name per line
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) names.push_back(line);
    }
  } else {
    const size_t key = text.find("\"classes\"");
    const size_t open = key == std::string::npos ? key : text.find('[', key);
    if (open == std::string::npos)
      return stgcn::corrupt("labels file '" + path + "' has no \"classes\" array");
    for (size_t i = open + 1; i < text.size() && text[i] != ']'; ++i) {
      if (text[i] != '"') continue;
      std::string name;
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;  // keep the escaped character
        name += text[i];
      }
      names.push_back(std::move(name));
    }
  }
  if (names.empty()) return stgcn::corrupt("labels file '" + path + "' lists no class");
  return names;
}

// Step 1: the engine. A `.engine` file is memory-mapped as is; a checkpoint is compiled for
// this CPU for windows of T = 150 frames and M = 1 person slot (what the bundled demo model
// was trained with). max_batch lets the runtime classify several ready windows (several
// tracks or cameras) in one call. `stgcn build` does the same ahead of time.
stgcn::Result<std::shared_ptr<const stgcn::Engine>> get_engine(const std::string& path) {
  if (stgcn::is_engine_path(path)) return stgcn::Engine::load(path);
  stgcn::LoadOptions load;  // layout, graph and strides inferred from the checkpoint
  load.warn = [](const std::string& w) {
    std::fprintf(stderr, "pose_stream_example: warning: %s\n", w.c_str());
  };
  STGCN_ASSIGN_OR_RETURN(stgcn::Model model, stgcn::load_model(path, load));
  stgcn::BuildOptions build;
  build.T = kWindow;
  build.M = 1;
  build.max_batch = 4;
  build.warn = load.warn;
  return stgcn::Engine::build(model, build);
}

// Thread-safe printing of events: on_event runs on the runtime's worker threads.
class EventPrinter {
 public:
  explicit EventPrinter(std::vector<std::string> labels) : labels_(std::move(labels)) {}

  void print(const stgcn::StreamEvent& e) {
    std::string tracks;
    for (int64_t t : e.tracks) {
      if (!tracks.empty()) tracks += ',';
      tracks += std::to_string(t);
    }
    const std::string label = e.label >= 0 && static_cast<size_t>(e.label) < labels_.size()
                                  ? labels_[static_cast<size_t>(e.label)]
                                  : std::string("class ").append(std::to_string(e.label));
    std::lock_guard<std::mutex> lock(mutex_);
    std::printf("%s track %s frame %lld t=%.3fs: %s %.3f (%.1f ms)%s\n", e.stream.c_str(),
                tracks.c_str(), static_cast<long long>(e.frame), e.timestamp, label.c_str(),
                static_cast<double>(e.score), e.latency_ms, e.final ? " final" : "");
    std::fflush(stdout);  // one line per event, visible at once when piped
  }

 private:
  std::vector<std::string> labels_;
  std::mutex mutex_;
};

// Skipped input records (bad JSON, wrong joint count, NaN, a repeated timestamp) are reported
// by the source and do not stop the stream.
void report_source_error(const stgcn::SourceError& e) {
  std::fprintf(stderr, "pose_stream_example: skipped %s: %s\n", e.where.c_str(), e.message.c_str());
}

// Pushes one frame. A refused frame (out of order, wrong joint count for the model) is
// reported and counted in stats().rejected; the stream goes on.
void push_frame(stgcn::StreamRuntime& runtime, const stgcn::Frame& frame,
                std::set<std::string>& streams) {
  streams.insert(frame.stream);
  const stgcn::Status st = runtime.push(frame);
  if (!st.is_ok())
    std::fprintf(stderr, "pose_stream_example: frame rejected: %s\n", st.message().c_str());
}

// Step 3a: a file, a whole directory, or stdin: read until the end of the source.
stgcn::Status run_source(stgcn::StreamRuntime& runtime, const std::string& path,
                         const stgcn::SourceOptions& options, std::set<std::string>& streams,
                         int64_t& source_errors) {
  STGCN_ASSIGN_OR_RETURN(std::unique_ptr<stgcn::FrameSource> source,
                         stgcn::FrameSource::open(path, options));
  if (source->joints() != runtime.V())
    return stgcn::invalid_argument("source '" + path + "' has " + std::to_string(source->joints()) +
                                   " joints (" + source->layout() + "), the model expects " +
                                   std::to_string(runtime.V()));
  stgcn::Frame frame;
  while (true) {
    STGCN_ASSIGN_OR_RETURN(bool more, source->next(frame));  // error: I/O failure only
    if (!more) break;
    push_frame(runtime, frame, streams);
  }
  source_errors += source->errors();
  return stgcn::Status::ok();
}

// Step 3b (--watch): OpenPose writes one `*_keypoints.json` per frame into a directory while
// it runs. Poll the directory; a new file is read once its size has stayed the same for one
// poll interval (so that a file still being written is not read half-way). The files carry
// no time, so frame n gets the timestamp n / fps. Stops when no new file arrived for 2 s.
stgcn::Status watch_directory(stgcn::StreamRuntime& runtime, const std::string& dir,
                              stgcn::SourceOptions options, std::set<std::string>& streams,
                              int64_t& source_errors) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return stgcn::invalid_argument("--watch needs a directory; '" + dir + "' is not one");
  if (options.stream.empty()) {
    fs::path p = fs::path(dir).lexically_normal();
    if (!p.has_filename()) p = p.parent_path();  // "dir/" -> "dir"
    options.stream = p.filename().string();
  }
  options.format = stgcn::SourceFormat::kOpenPoseJson;

  std::set<std::string> done;                // files already read (or skipped)
  std::map<std::string, uintmax_t> pending;  // new file -> size at the last poll
  int64_t index = 0;
  auto last_new = Clock::now();
  while (Clock::now() - last_new < kWatchIdle) {
    std::vector<std::pair<std::string, uintmax_t>> ready;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code entry_ec;  // a file that vanished meanwhile is just passed over
      if (!it->is_regular_file(entry_ec) || it->path().extension() != ".json") continue;
      const std::string name = it->path().string();
      if (done.count(name)) continue;
      const uintmax_t size = it->file_size(entry_ec);
      if (entry_ec) continue;
      auto [slot, inserted] = pending.try_emplace(name, size);
      if (inserted) {
        last_new = Clock::now();
      } else if (slot->second == size && size > 0) {
        ready.emplace_back(name, size);  // unchanged since the last poll: complete
      } else {
        slot->second = size;
      }
    }
    if (ec) return stgcn::io_error("cannot list '" + dir + "': " + ec.message());

    std::sort(ready.begin(), ready.end());  // OpenPose names are zero-padded: name = frame order
    for (const auto& entry : ready) {
      const std::string& name = entry.first;
      pending.erase(name);
      done.insert(name);
      auto source = stgcn::FrameSource::open(name, options);
      if (!source.is_ok()) {  // e.g. not an OpenPose file: report, keep watching
        report_source_error({options.stream, name, source.status().message()});
        ++source_errors;
        continue;
      }
      stgcn::Frame frame;
      auto more = (*source)->next(frame);
      source_errors += (*source)->errors();
      if (!more.is_ok()) return more.status();
      if (!*more) continue;  // the file held no valid frame (already reported)
      frame.timestamp = static_cast<double>(index++) / options.fps;
      push_frame(runtime, frame, streams);
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return stgcn::Status::ok();
}

int run(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    }
  }
  Args args;
  std::string error;
  if (!parse_args(argc, argv, args, error)) return fail(error);

  std::vector<std::string> labels;
  if (!args.labels.empty()) {
    auto l = read_labels(args.labels);
    if (!l.is_ok()) return fail(l.status().message());
    labels = std::move(*l);
  }

  // 1. The engine.
  auto engine = get_engine(args.model);
  if (!engine.is_ok())
    return fail("cannot load '" + args.model + "': " + engine.status().message());

  // 2. The runtime. Window mode: every track keeps the last T = 150 frames and is classified
  // every `hop` frames once it has T of them. Events arrive on a worker thread.
  EventPrinter printer(labels);
  stgcn::StreamOptions options;
  options.hop = 15;  // a prediction every 0.5 s at 30 fps
  options.labels = labels;
  options.on_event = [&printer](const stgcn::StreamEvent& e) { printer.print(e); };
  auto runtime = stgcn::StreamRuntime::create(*engine, options);
  if (!runtime.is_ok()) return fail(runtime.status().message());
  stgcn::StreamRuntime& rt = **runtime;
  if (!labels.empty() && static_cast<int>(labels.size()) != rt.num_class())
    return fail("--labels lists " + std::to_string(labels.size()) + " classes, the model has " +
                std::to_string(rt.num_class()));

  // 3. Frames in. The source converts to the model's joint layout when that is well defined
  // (and refuses at open() otherwise); a record it cannot read is reported and skipped.
  stgcn::SourceOptions source_options;
  const std::string& layout = (*engine)->info().spec.layout;
  if (layout != "custom") source_options.layout = layout;
  source_options.on_error = report_source_error;

  std::set<std::string> streams;
  int64_t source_errors = 0;
  const stgcn::Status st =
      args.watch ? watch_directory(rt, args.source, source_options, streams, source_errors)
                 : run_source(rt, args.source, source_options, streams, source_errors);
  if (!st.is_ok()) return fail(st.message());

  // 4. The end: classify every track's last frames (events marked "final"), wait until all
  // work has been delivered, then the statistics.
  for (const std::string& s : streams) {
    const stgcn::Status end = rt.end_stream(s);
    if (!end.is_ok()) return fail(end.message());
  }
  rt.drain();
  const stgcn::StreamStats stats = rt.stats();
  std::printf(
      "stats: %lld frames (%lld rejected, %lld skipped by the source), %lld windows, "
      "%lld events, %lld engine calls (mean batch %.2f), latency p50 %.2f ms p99 %.2f ms, "
      "%lld dropped\n",
      static_cast<long long>(stats.frames), static_cast<long long>(stats.rejected),
      static_cast<long long>(source_errors), static_cast<long long>(stats.samples),
      static_cast<long long>(stats.events), static_cast<long long>(stats.batches), stats.mean_batch,
      stats.latency_p50_ms, stats.latency_p99_ms,
      static_cast<long long>(stats.dropped + stats.dropped_events));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // stgcn-rt reports errors as values; this only guards the standard library (bad_alloc,
  // filesystem) so that no exception escapes main.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unknown exception");
  }
}
