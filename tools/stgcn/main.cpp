// stgcn: the command-line tool. Every failure is one line on stderr and a
// non-zero exit code (1: the command failed; 2: bad usage).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "stgcn/engine.h"
#include "stgcn/model.h"
#include "stgcn/npy.h"
#include "stgcn/reference.h"

namespace {

using stgcn::cli::fail;
using stgcn::cli::ModelFlags;

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

int run_inspect(const ModelFlags& flags, int T, int M, bool json) {
  auto model = flags.load();
  if (!model.is_ok()) return fail(model.status());
  const stgcn::ModelSpec& spec = model->spec;
  const stgcn::StreamSpec& s = spec.streams.front();
  const int64_t params = stgcn::parameter_count(*model);
  if (spec.fixed_persons() > 0) M = spec.fixed_persons();
  const int64_t macs = stgcn::count_macs(spec, T, M);
  const bool nmtvc = spec.input_layout() == stgcn::InputLayout::kNMTVC;
  const std::string input_shape =
      nmtvc ? fmt::format("(N, M{}, T, V={}, C={})",
                          spec.fixed_persons() ? "=" + std::to_string(M) : "", s.V, s.C)
            : fmt::format("(N, C={}, T, V={}, M)", s.C, s.V);
  const bool ms = s.blocks.front().temporal == stgcn::TemporalUnit::kMultiScale;
  if (json) {
    nlohmann::json j;
    j["model"] = flags.path;
    j["dialect"] = stgcn::dialect_name(spec.dialect);
    j["family"] = spec.family;
    if (!spec.gcn_adaptive.empty()) j["gcn_adaptive"] = spec.gcn_adaptive;
    j["input_layout"] = stgcn::input_layout_name(spec.input_layout());
    j["input_shape"] = input_shape;
    j["data_bn"] = spec.fixed_persons() ? "MVC" : "VC";
    j["streams"] = spec.streams.size();
    j["two_stream"] = spec.two_stream;
    if (spec.two_stream) j["motion"] = stgcn::motion_mode_name(spec.motion);
    j["layout"] = spec.layout;
    j["strategy"] = spec.strategy;
    j["a_source"] = spec.a_source;
    j["V"] = s.V;
    j["C"] = s.C;
    j["K"] = s.K;
    j["num_class"] = s.num_class;
    j["edge_importance"] = s.edge_importance;
    j["temporal_kernel"] = s.temporal_kernel;
    j["temporal_padding"] = stgcn::temporal_padding_name(s.temporal_padding);
    j["blocks"] = nlohmann::json::array();
    for (const auto& b : s.blocks)
      j["blocks"].push_back({{"in", b.in_channels},
                             {"out", b.out_channels},
                             {"stride", b.stride},
                             {"residual", stgcn::residual_kind_name(b.residual)},
                             {"gcn_residual", stgcn::residual_kind_name(b.gcn_residual)},
                             {"temporal", b.temporal == stgcn::TemporalUnit::kMultiScale
                                              ? "mstcn"
                                              : "unit_tcn"},
                             {"branch_channels", b.branch_channels}});
    j["parameters"] = params;
    j["macs"] = {{"T", T}, {"M", M}, {"value", macs}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  fmt::print("model:            {}\n", flags.path);
  fmt::print("family:           {} ({} checkpoint{})\n", spec.family,
             stgcn::dialect_name(spec.dialect),
             spec.gcn_adaptive.empty() ? "" : ", gcn_adaptive " + spec.gcn_adaptive);
  fmt::print("input:            {} ({}){}\n", input_shape,
             stgcn::input_layout_name(spec.input_layout()),
             spec.fixed_persons() ? ", data_bn per person (MVC)" : "");
  if (spec.two_stream)
    fmt::print("streams:          2 (origin + motion, logits summed; motion {})\n",
               stgcn::motion_mode_name(spec.motion));
  else
    fmt::print("streams:          1\n");
  fmt::print("layout:           {}{}\n", spec.layout,
             spec.strategy.empty() ? "" : " (" + spec.strategy + ")");
  fmt::print("A from:           {}\n", spec.a_source);
  fmt::print("V, C, K:          {}, {}, {}\n", s.V, s.C, s.K);
  fmt::print("classes:          {}\n", s.num_class);
  fmt::print("edge importance:  {}\n", s.edge_importance ? "on" : "off");
  if (ms)
    fmt::print("temporal unit:    mstcn (3x1 convs dilated 1-4, 3x1 max-pool, 1x1; {} padding)\n",
               stgcn::temporal_padding_name(s.temporal_padding));
  else
    fmt::print("temporal kernel:  {} ({} padding: {} before, {} after)\n", s.temporal_kernel,
               stgcn::temporal_padding_name(s.temporal_padding), s.pad_left(), s.pad_right());
  fmt::print("blocks:\n   #    in   out  stride  residual  gcn residual{}\n",
             ms ? "  branch widths" : "");
  for (size_t i = 0; i < s.blocks.size(); ++i) {
    const auto& b = s.blocks[i];
    std::string widths;
    for (int c : b.branch_channels) widths += (widths.empty() ? "" : ",") + std::to_string(c);
    fmt::print("  {:2}  {:4}  {:4}  {:6}  {:8}  {:12}  {}\n", i, b.in_channels, b.out_channels,
               b.stride, stgcn::residual_kind_name(b.residual),
               stgcn::residual_kind_name(b.gcn_residual), widths);
  }
  fmt::print("parameters:       {}\n", with_commas(params));
  fmt::print("MACs (T={}, M={}): {:.2f} G ({:.1f} GFLOP)\n", T, M, macs / 1e9, 2 * macs / 1e9);
  return 0;
}

int run_infer(const ModelFlags& flags, const std::string& input, const std::string& output,
              bool reference, int threads) {
  stgcn::Result<stgcn::Tensor> logits = stgcn::Status(stgcn::ErrorCode::kInternal, "not run");
  const char* how = "reference";
  if (stgcn::is_engine_path(flags.path)) {
    if (reference)
      return fail(stgcn::Status(stgcn::ErrorCode::kInvalidArgument,
                                "--reference needs a checkpoint or ONNX model, not an engine"));
    auto engine = stgcn::Engine::load(flags.path);
    if (!engine.is_ok()) return fail(engine.status());
    auto x = flags.read_samples(input, (*engine)->info().spec, "input");
    if (!x.is_ok()) return fail(x.status());
    auto ctx = (*engine)->create_context(threads);
    if (!ctx.is_ok()) return fail(ctx.status());
    logits = (*ctx)->run(*x);
    how = "engine";
  } else {
    auto model = flags.load();
    if (!model.is_ok()) return fail(model.status());
    auto x = flags.read_samples(input, model->spec, "input");
    if (!x.is_ok()) return fail(x.status());
    stgcn::Status st = stgcn::check_model_input(model->spec, *x, input);
    if (!st.is_ok()) return fail(st);
    if (reference) {
      logits = stgcn::run_reference(*model, *x);
    } else {
      // Compile in memory for this input's shape.
      stgcn::BuildOptions o;
      o.T = static_cast<int>(x->shape[2]);
      o.M = static_cast<int>(x->shape[4]);
      o.max_batch = static_cast<int>(std::min<int64_t>(x->shape[0], 16));
      auto engine = stgcn::Engine::build(*model, o);
      if (!engine.is_ok()) return fail(engine.status());
      auto ctx = (*engine)->create_context(threads);
      if (!ctx.is_ok()) return fail(ctx.status());
      logits = (*ctx)->run(*x);
      how = "engine";
    }
  }
  if (!logits.is_ok()) return fail(logits.status());
  stgcn::Status st = stgcn::write_npy(output, *logits);
  if (!st.is_ok()) return fail(st);
  fmt::print(stderr, "stgcn: wrote {} logits {} to '{}'\n", how, stgcn::shape_string(logits->shape),
             output);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stgcn: ST-GCN skeleton action recognition models, loaded natively and run fast"};
  app.set_version_flag("--version", std::string("stgcn ") + STGCN_VERSION);
  app.require_subcommand(1);

  ModelFlags inspect_flags;
  int T = 150, M = 1;
  bool json = false;
  CLI::App* inspect =
      app.add_subcommand("inspect", "Describe a model: streams, layout, blocks, size, cost");
  inspect_flags.add_to(inspect);
  inspect->add_option("--T", T, "Frames for the MAC count")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  inspect->add_option("--M", M, "Persons for the MAC count")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 10));
  inspect->add_flag("--json", json, "Print JSON instead of text");
  bool graph = false;
  inspect->add_flag("--graph", graph,
                    "Also print the optimised graph (for a model: as built for --T/--M)");

  ModelFlags infer_flags;
  std::string input, output;
  CLI::App* infer = app.add_subcommand(
      "infer", "Run a model on skeletons from .npy ((N, C, T, V, M), or (N, M, T, V, C) for mmaction2 / "
      "pyskl models: --input-layout); write (N, num_class) logits");
  infer_flags.add_to(infer);
  infer->add_option("--input,-i", input, "Input .npy, float32/float64, in the model's layout (see --input-layout)")->required();
  infer->add_option("--output,-o", output, "Output .npy for the logits (N, num_class)")->required();
  bool reference = false;
  int threads = 0;
  infer->add_flag("--reference", reference,
                  "Run the reference executor (plain loops, the oracle) instead of an engine");
  infer->add_option("--threads", threads, "Threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));

  std::vector<stgcn::cli::Subcommand> more = {
      stgcn::cli::add_export_command(app), stgcn::cli::add_build_command(app),
      stgcn::cli::add_bench_command(app), stgcn::cli::add_validate_command(app),
      stgcn::cli::add_run_command(app), stgcn::cli::add_serve_command(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help/version, or the usage error
    return rc == 0 ? 0 : stgcn::cli::kExitUsage;
  }
  for (CLI::App* sub : app.get_subcommands()) {
    stgcn::Status st = stgcn::cli::check_outputs_are_not_inputs(*sub);
    if (!st.is_ok()) return fail(st);
  }
  auto dispatch = [&]() -> int {
    if (inspect->parsed()) {
      if (stgcn::is_engine_path(inspect_flags.path))
        return stgcn::cli::inspect_engine(inspect_flags.path, json, graph);
      int rc = run_inspect(inspect_flags, T, M, json && !graph);
      if (rc != 0 || !graph) return rc;
      stgcn::cli::EngineFlags ef;
      ef.model = inspect_flags;
      ef.T = T;
      ef.M = M;
      auto engine = ef.get(1);
      if (!engine.is_ok()) return fail(engine.status());
      fmt::print("graph (T={}, M={}):\n{}", T, M, (*engine)->graph_text());
      return 0;
    }
    if (infer->parsed()) return run_infer(infer_flags, input, output, reference, threads);
    for (auto& sub : more)
      if (sub.app->parsed()) return sub.run();
    return stgcn::cli::kExitUsage;
  };
  int rc = stgcn::cli::kExitFailure;
  try {
    rc = dispatch();
  } catch (const std::bad_alloc&) {  // the last line of defence; sizes are checked first
    std::fprintf(stderr, "stgcn: error: out of memory\n");
    return stgcn::cli::kExitFailure;
  }
  // What went to stdout must have arrived: a full disk or a closed pipe is an error.
  if ((std::fflush(stdout) != 0 || std::ferror(stdout)) && rc == 0) {
    std::fprintf(stderr, "stgcn: error: cannot write to stdout: %s\n", std::strerror(errno));
    return stgcn::cli::kExitFailure;
  }
  return rc;
}
