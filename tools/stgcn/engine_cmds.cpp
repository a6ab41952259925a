// `stgcn build`, `stgcn bench`, and the engine side of `inspect` / `infer`.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.h"
#include "stgcn/engine.h"
#include "stgcn/npy.h"
#include "stgcn/reference.h"

namespace stgcn::cli {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// The process's peak resident set (VmHWM). Not getrusage's ru_maxrss: that
// survives execve, so a child of a big process (a Python benchmark driver)
// would report its parent's peak.
int64_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return 0;
}

}  // namespace

Result<std::shared_ptr<const Engine>> EngineFlags::get(int default_batch) const {
  if (is_engine_path(model.path)) return Engine::load(model.path);
  STGCN_ASSIGN_OR_RETURN(Model m, model.load());
  BuildOptions o;
  o.T = T;
  o.M = M;
  o.max_batch = std::max(batch, default_batch);
  o.precision = precision;
  o.disabled_passes = disabled_passes;
  o.warn = [](const std::string& w) {
    std::fprintf(stderr, "stgcn: warning: %s\n", escape_control(w).c_str());
  };
  o.progress = [](const std::string& w) {
    std::fprintf(stderr, "stgcn: %s\n", escape_control(w).c_str());
  };
  if (precision != "int8" && any())
    return Status(ErrorCode::kInvalidArgument,
                  "--calib, --calib-table, --max-drop and --keep-fp32 need --precision int8");
  Data data;
  STGCN_RETURN_IF_ERROR(apply(model, m.spec, o, data));
  return Engine::build(m, o);
}

Status Int8Flags::apply(const ModelFlags& model, const ModelSpec& spec, BuildOptions& o,
                        Data& data) const {
  if (!calib.empty()) {
    STGCN_ASSIGN_OR_RETURN(data.calib, model.read_samples(calib, spec, "--calib"));
    o.calib = &data.calib;
  }
  if (!val.empty()) {
    STGCN_ASSIGN_OR_RETURN(data.val, model.read_samples(val, spec, "--val"));
    o.val = &data.val;
  }
  if (!val_labels.empty()) {
    if (val.empty()) return Status(ErrorCode::kInvalidArgument, "--val-labels needs --val");
    STGCN_ASSIGN_OR_RETURN(data.labels, read_labels_npy(val_labels));
    o.val_labels = &data.labels;
  }
  if (!val.empty() && max_drop < 0)
    return Status(ErrorCode::kInvalidArgument, "--val is used by --max-drop; give --max-drop P");
  o.calib_size = calib_size;
  o.calib_method = calib_method;
  o.percentile = percentile;
  o.calib_table = calib_table;
  o.keep_fp32 = keep_fp32;
  o.max_drop = max_drop;
  return Status::ok();
}

void EngineFlags::add_to(CLI::App* app, bool with_batch) {
  model.add_to(app);
  app->add_option("--T", T, "Frames per window (fixed in the engine)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app->add_option("--M", M, "Persons per sample (fixed in the engine)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  if (with_batch)
    app->add_option("--batch", batch, "Largest batch N the engine runs")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
  app->add_option("--precision", precision, "Compute precision")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16", "fp16", "int8"}));
  app->add_option("--disable-pass", disabled_passes,
                  "Skip a graph pass (repeatable; see --list-passes)");
  Int8Flags::add_to(app);
}

void Int8Flags::add_to(CLI::App* app) {
  const char* g = "INT8 (with --precision int8)";
  app->add_option("--calib", calib,
                  "Calibration samples, .npy like the inputs (see --input-layout); all-zero padding "
                  "frames and persons are ignored")
      ->group(g);
  app->add_option("--calib-size", calib_size, "Use the first N calibration samples (0: all)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 30))
      ->group(g);
  app->add_option("--calib-method", calib_method, "Activation thresholds from the histograms")
      ->capture_default_str()
      ->check(CLI::IsMember({"minmax", "entropy", "percentile"}))
      ->group(g);
  app->add_option("--percentile", percentile, "|x| percentile kept by --calib-method percentile")
      ->capture_default_str()
      ->check(CLI::Range(50.0, 100.0))
      ->group(g);
  app->add_option("--calib-table", calib_table,
                  "Text calibration table: written when --calib is given, else read (reuse "
                  "without data)")
      ->group(g);
  app->add_option("--keep-fp32", keep_fp32,
                  "Keep a layer in FP32 (node name, e.g. s0.b0.gcn; repeatable)")
      ->group(g);
  app->add_option("--max-drop", max_drop,
                  "Automatic fallback: keep the most sensitive blocks in FP32 until the top-1 "
                  "drop on --val is <= P points")
      ->check(CLI::Range(0.0, 100.0))
      ->group(g);
  app->add_option("--val", val, "Validation samples for --max-drop, .npy like the inputs")
      ->group(g);
  app->add_option("--val-labels", val_labels,
                  "Class index per --val sample, .npy; the drop is then in accuracy, else in "
                  "agreement with FP32")
      ->group(g);
}

std::string int8_summary(const EngineInfo& i) {
  int q = 0;
  for (const auto& lp : i.layer_precisions) q += lp.second == "int8";
  auto rec = nlohmann::json::parse(i.quantization_json, nullptr, false);
  std::string how;
  if (rec.is_object()) {
    how = fmt::format(", {} calibration", rec.value("method", std::string("?")));
    if (rec.contains("calibration_samples"))
      how += fmt::format(" on {} samples", rec["calibration_samples"].get<int>());
    if (rec.contains("max_drop"))
      how += fmt::format("; fallback --max-drop {} ({}): drop {:.2f} points",
                         rec["max_drop"].get<double>(), rec.value("metric", std::string()),
                         rec.value("final_drop", 0.0));
  }
  return fmt::format(
      "int8 ({} of {} layers int8, the rest fp32; s8 weights per channel, "
      "u8/s8 activations per tensor{})",
      q, i.layer_precisions.size(), how);
}

std::string engine_summary(const Engine& e, const std::string& path) {
  const EngineInfo& i = e.info();
  const StreamSpec& s = i.spec.streams.front();
  std::string out;
  out += fmt::format("engine:           {}\n", path);
  out += fmt::format("format version:   {}  (stgcn {}, oneDNN {})\n", i.format_version,
                     i.toolkit_version, i.onednn_version);
  out += fmt::format("precision:        {}\n",
                     i.precision == "fp16"
                         ? "fp16 storage, fp32 compute (no FP16 kernels on x86 CPUs in oneDNN 2.6)"
                     : i.precision == "bf16" ? "bf16 compute, fp32 accumulation"
                     : i.precision == "int8" ? int8_summary(i)
                                             : i.precision);
  out += fmt::format("kernels:          {} (built on {})\n", i.kernel_isa, i.build_cpu);
  out += fmt::format(
      "streams:          {}{}\n", i.spec.streams.size(),
      i.spec.two_stream ? fmt::format(" (motion {})", motion_mode_name(i.spec.motion)) : "");
  out += fmt::format("layout:           {} ({})\n", i.spec.layout, i.spec.strategy);
  out += fmt::format("input:            (N<={}, C={}, T={}, V={}, M={})\n", i.max_batch, s.C, i.T,
                     s.V, i.M);
  out += fmt::format("classes:          {}\n", s.num_class);
  out += fmt::format("MACs per sample:  {:.2f} G\n", i.macs / 1e9);
  out += fmt::format("weights:          {:.2f} MB packed\n", i.weights_bytes / 1e6);
  out += fmt::format("activations:      {:.2f} MB arena per context\n", i.arena_bytes / 1e6);
  out += fmt::format("file size:        {:.2f} MB\n", i.file_bytes / 1e6);
  out += fmt::format("continual mode:   {}\n",
                     i.continual ? "yes (stgcn run --mode continual)" : "no: " + i.continual_note);
  out += fmt::format("passes applied:   {}\n", fmt::join(i.passes_applied, ", "));
  if (!i.passes_disabled.empty())
    out += fmt::format("passes disabled:  {}\n", fmt::join(i.passes_disabled, ", "));
  if (i.precision == "int8") {
    out += "layer precisions:\n";
    for (const auto& [layer, p] : i.layer_precisions) out += fmt::format("  {:18} {}\n", layer, p);
  }
  return out;
}

nlohmann::json engine_json(const Engine& e, const std::string& path) {
  const EngineInfo& i = e.info();
  return {{"engine", path},
          {"format_version", i.format_version},
          {"toolkit_version", i.toolkit_version},
          {"onednn_version", i.onednn_version},
          {"precision", i.precision},
          {"kernel_isa", i.kernel_isa},
          {"build_cpu", i.build_cpu},
          {"two_stream", i.spec.two_stream},
          {"layout", i.spec.layout},
          {"strategy", i.spec.strategy},
          {"C", i.spec.C()},
          {"V", i.spec.V()},
          {"T", i.T},
          {"M", i.M},
          {"max_batch", i.max_batch},
          {"num_class", i.spec.num_class()},
          {"macs", i.macs},
          {"weights_bytes", i.weights_bytes},
          {"arena_bytes", i.arena_bytes},
          {"file_bytes", i.file_bytes},
          {"passes_applied", i.passes_applied},
          {"passes_disabled", i.passes_disabled},
          {"continual", i.continual},
          {"continual_note", i.continual_note},
          {"layer_precisions", i.layer_precisions},
          {"quantization",
           nlohmann::json::parse(i.quantization_json.empty() ? "null" : i.quantization_json,
                                 nullptr, false)}};
}

int inspect_engine(const std::string& path, bool json, bool graph) {
  auto e = Engine::load(path);
  if (!e.is_ok()) return fail(e.status());
  if (json) {
    auto j = engine_json(**e, path);
    if (graph) j["graph"] = (*e)->graph_text();
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("{}", engine_summary(**e, path));
  if (graph) fmt::print("graph:\n{}", (*e)->graph_text());
  return 0;
}

Subcommand add_build_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "build",
      "Compile a model into an engine file for this CPU (passes, packed weights, memory plan)");
  auto flags = std::make_shared<EngineFlags>();
  auto out = std::make_shared<std::string>();
  auto list = std::make_shared<bool>(false);
  flags->add_to(cmd, true);
  cmd->get_option("MODEL")->required(false);
  cmd->add_option("--output,-o", *out, "Engine file to write (.engine)");
  cmd->add_flag("--list-passes", *list, "List the graph passes, in order, and exit");
  return {
      cmd, [flags, out, list]() -> int {
        if (*list) {
          for (const auto& [name, summary] : list_passes()) fmt::print("{:22} {}\n", name, summary);
          return 0;
        }
        if (flags->model.path.empty() || out->empty()) {
          fmt::print(stderr,
                     "stgcn: error: build needs MODEL and --output (see stgcn build --help)\n");
          return kExitUsage;
        }
        if (is_engine_path(flags->model.path)) {
          fmt::print(
              stderr,
              "stgcn: error: '{}' is already an engine; build takes a checkpoint or ONNX model\n",
              flags->model.path);
          return kExitFailure;
        }
        auto t0 = Clock::now();
        auto e = flags->get(1);
        if (!e.is_ok()) return fail(e.status());
        std::string path = *out;
        if ((*e)->info().precision != flags->precision) {
          // A fallback (e.g. bf16 on a CPU without it): the file name says what it holds.
          const auto dot = path.find_last_of('.');
          const auto slash = path.find_last_of('/');
          const bool has_ext =
              dot != std::string::npos && (slash == std::string::npos || dot > slash);
          std::string stem = has_ext ? path.substr(0, dot) : path;
          stem += "_";
          stem += (*e)->info().precision;
          path = has_ext ? stem + path.substr(dot) : stem;
        }
        Status st = (*e)->save(path);
        if (!st.is_ok()) return fail(st);
        fmt::print(stderr, "stgcn: built '{}' in {:.0f} ms: {} with {} kernels, {:.2f} MB\n", path,
                   ms_since(t0), (*e)->info().precision, (*e)->info().kernel_isa,
                   (*e)->info().file_bytes / 1e6);
        return 0;
      }};
}

namespace {

struct Stats {
  double min, median, p90, p99, max, mean, stdev;
};
Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto q = [&](double p) {
    return v[std::min(v.size() - 1,
                      static_cast<size_t>(std::ceil(p * v.size())) - (p > 0 ? 1 : 0))];
  };
  double mean = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  return {v.front(), q(0.5), q(0.9), q(0.99), v.back(), mean, std::sqrt(var / v.size())};
}

}  // namespace

Subcommand add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bench",
      "Time a model or engine: latency percentiles, throughput, memory, per-layer profile");
  struct Opts {
    EngineFlags flags;
    std::vector<int> batches{1};
    std::vector<int> threads{0};
    int iterations = 20, warmup = 3;
    std::string json;
    bool profile = false;
    StreamBenchFlags streams;
  };
  auto o = std::make_shared<Opts>();
  o->flags.add_to(cmd, false);
  cmd->add_option("--batch", o->batches, "Batch sizes, comma-separated")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--threads", o->threads, "Thread counts, comma-separated (0: one per core)")
      ->delimiter(',')
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--iterations", o->iterations, "Timed runs per configuration")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", o->warmup, "Untimed runs first")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--json", o->json, "Also write the results as JSON to this file");
  cmd->add_flag("--profile", o->profile, "Per-layer times (median batch, first thread count)");
  add_stream_bench_flags(cmd, o->streams);
  return {
      cmd, [o]() -> int {
        if (o->streams.on) return run_stream_bench(o->flags, o->streams, o->json);
        const int max_batch = *std::max_element(o->batches.begin(), o->batches.end());
        auto t0 = Clock::now();
        auto e = o->flags.get(max_batch);
        if (!e.is_ok()) return fail(e.status());
        const double load_ms = ms_since(t0);
        const Engine& engine = **e;
        const EngineInfo& info = engine.info();
        if (max_batch > info.max_batch) {
          fmt::print(
              stderr,
              "stgcn: error: batch {} exceeds the engine's maximum {} (rebuild with --batch {})\n",
              max_batch, info.max_batch, max_batch);
          return kExitFailure;
        }
        const bool is_engine = is_engine_path(o->flags.model.path);
        nlohmann::json j;
        j["tool"] = "stgcn";
        j["version"] = STGCN_VERSION;
        j["model"] = o->flags.model.path;
        j["engine_size_bytes"] = info.file_bytes;
        j[is_engine ? "load_ms" : "build_ms"] = load_ms;
        const MachineInfo machine = machine_info();
        j["machine"] = {{"cpu", machine.device},
                        {"cores", omp_get_num_procs()},
                        {"isa", machine.isa},
                        {"onednn", machine.library.substr(machine.library.find(' ') + 1)}};
        j["weights_bytes"] = info.weights_bytes;
        j["activations_bytes"] = info.arena_bytes;
        j["macs"] = info.macs;
        j["results"] = nlohmann::json::array();
        fmt::print("{}: {} {}, {} (T={}, V={}, M={}), {} kernels on {} ({} cores), oneDNN {}\n",
                   o->flags.model.path, is_engine ? "loaded in" : "built in",
                   fmt::format("{:.1f} ms", load_ms), info.precision, info.T, info.spec.V(), info.M,
                   info.kernel_isa, machine.device, omp_get_num_procs(),
                   machine.library.substr(machine.library.find(' ') + 1));
        fmt::print("{:>5} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>10}\n", "batch", "threads",
                   "min ms", "median", "p90", "p99", "stdev", "samples/s", "GFLOP/s");
        const size_t per_in = static_cast<size_t>(info.spec.C()) * info.T * info.spec.V() * info.M;
        std::mt19937 rng(7);
        std::normal_distribution<float> dist(0.f, 1.f);
        std::vector<float> input(per_in * max_batch);
        for (float& x : input) x = dist(rng);
        std::vector<float> logits(static_cast<size_t>(info.spec.num_class()) * max_batch);
        for (int threads : o->threads) {
          auto ctx = engine.create_context(threads);
          if (!ctx.is_ok()) return fail(ctx.status());
          for (int batch : o->batches) {
            std::span<const float> in(input.data(), per_in * batch);
            std::span<float> out(logits.data(), static_cast<size_t>(info.spec.num_class()) * batch);
            for (int i = 0; i < o->warmup; ++i) {
              Status st = (*ctx)->run(in, batch, out);
              if (!st.is_ok()) return fail(st);
            }
            std::vector<double> times;
            for (int i = 0; i < o->iterations; ++i) {
              auto t = Clock::now();
              Status st = (*ctx)->run(in, batch, out);
              times.push_back(ms_since(t));
              if (!st.is_ok()) return fail(st);
            }
            Stats s = stats(times);
            const double tput = batch * 1000.0 / s.median;
            const double gflops = 2.0 * info.macs * batch / (s.median * 1e6);
            fmt::print(
                "{:>5} {:>7} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>11.1f} {:>10.1f}\n",
                batch, (*ctx)->threads(), s.min, s.median, s.p90, s.p99, s.stdev, tput, gflops);
            j["results"].push_back({{"batch", batch},
                                    {"threads", (*ctx)->threads()},
                                    {"iterations", o->iterations},
                                    {"warmup", o->warmup},
                                    {"latency_ms",
                                     {{"min", s.min},
                                      {"median", s.median},
                                      {"p90", s.p90},
                                      {"p99", s.p99},
                                      {"max", s.max},
                                      {"mean", s.mean},
                                      {"stdev", s.stdev}}},
                                    {"throughput_per_s", tput},
                                    {"gflops", gflops},
                                    {"peak_rss_bytes", peak_rss_bytes()},
                                    {"samples_ms", times}});
          }
        }
        fmt::print(
            "peak RSS {:.1f} MB (weights {:.1f} MB + activations {:.1f} MB per context), engine "
            "file {:.1f} MB\n",
            peak_rss_bytes() / 1e6, info.weights_bytes / 1e6, info.arena_bytes / 1e6,
            info.file_bytes / 1e6);
        if (o->profile) {
          auto ctx = engine.create_context(o->threads.front());
          if (!ctx.is_ok()) return fail(ctx.status());
          const int batch = o->batches.front();
          std::span<const float> in(input.data(), per_in * batch);
          std::span<float> out(logits.data(), static_cast<size_t>(info.spec.num_class()) * batch);
          for (int i = 0; i < std::max(1, o->warmup); ++i) (void)(*ctx)->run(in, batch, out);
          (*ctx)->set_profiling(true);
          for (int i = 0; i < o->iterations; ++i) (void)(*ctx)->run(in, batch, out);
          auto prof = (*ctx)->profile();
          double total = 0;
          for (auto& p : prof) total += p.ms;
          fmt::print(
              "\nper-layer time (batch {}, {} threads; streams overlap when run concurrently):\n",
              batch, (*ctx)->threads());
          fmt::print("{:<24} {:<14} {:>9} {:>6}  {}\n", "node", "op", "ms", "%", "kernel");
          j["profile"] = nlohmann::json::array();
          for (auto& p : prof) {
            const double ms = p.ms / o->iterations;
            fmt::print("{:<24} {:<14} {:>9.3f} {:>5.1f}%  {}\n", p.node, p.op, ms,
                       100 * p.ms / std::max(total, 1e-9),
                       p.implementation.empty() ? "stgcn" : p.implementation);
            j["profile"].push_back(
                {{"node", p.node}, {"op", p.op}, {"ms", ms}, {"kernel", p.implementation}});
          }
        }
        if (!o->json.empty()) {
          Status st = write_file_atomic(o->json, j.dump(2) + "\n");
          if (!st.is_ok()) return fail(st);
        }
        return 0;
      }};
}

}  // namespace stgcn::cli
