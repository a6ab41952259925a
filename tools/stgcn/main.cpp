// stgcn: the command-line tool. Every failure is one line on stderr and a
// non-zero exit code (1: the command failed; 2: bad usage).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
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
  const int64_t macs = stgcn::count_macs(spec, T, M);
  if (json) {
    nlohmann::json j;
    j["model"] = flags.path;
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
    j["blocks"] = nlohmann::json::array();
    for (const auto& b : s.blocks)
      j["blocks"].push_back({{"in", b.in_channels},
                             {"out", b.out_channels},
                             {"stride", b.stride},
                             {"residual", stgcn::residual_kind_name(b.residual)}});
    j["parameters"] = params;
    j["macs"] = {{"T", T}, {"M", M}, {"value", macs}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  fmt::print("model:            {}\n", flags.path);
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
  fmt::print("temporal kernel:  {}\n", s.temporal_kernel);
  fmt::print("blocks:\n   #    in   out  stride  residual\n");
  for (size_t i = 0; i < s.blocks.size(); ++i) {
    const auto& b = s.blocks[i];
    fmt::print("  {:2}  {:4}  {:4}  {:6}  {}\n", i, b.in_channels, b.out_channels, b.stride,
               stgcn::residual_kind_name(b.residual));
  }
  fmt::print("parameters:       {}\n", with_commas(params));
  fmt::print("MACs (T={}, M={}): {:.2f} G ({:.1f} GFLOP)\n", T, M, macs / 1e9, 2 * macs / 1e9);
  return 0;
}

int run_infer(const ModelFlags& flags, const std::string& input, const std::string& output) {
  auto model = flags.load();
  if (!model.is_ok()) return fail(model.status());
  auto x = stgcn::read_npy(input);
  if (!x.is_ok()) return fail(x.status());
  stgcn::Status st = stgcn::check_model_input(model->spec, *x, input);
  if (!st.is_ok()) return fail(st);
  auto logits = stgcn::run_reference(*model, *x);
  if (!logits.is_ok()) return fail(logits.status());
  st = stgcn::write_npy(output, *logits);
  if (!st.is_ok()) return fail(st);
  fmt::print(stderr, "stgcn: wrote {} logits {} to '{}'\n", "reference",
             stgcn::shape_string(logits->shape), output);
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

  ModelFlags infer_flags;
  std::string input, output;
  CLI::App* infer = app.add_subcommand(
      "infer", "Run a model on (N, C, T, V, M) skeletons from .npy; write (N, num_class) logits");
  infer_flags.add_to(infer);
  infer->add_option("--input,-i", input, "Input .npy, float32/float64 (N, C, T, V, M)")->required();
  infer->add_option("--output,-o", output, "Output .npy for the logits (N, num_class)")->required();

  std::vector<stgcn::cli::Subcommand> more = {stgcn::cli::add_export_command(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // 0 for --help/--version, non-zero for usage errors
  }
  if (inspect->parsed()) return run_inspect(inspect_flags, T, M, json);
  if (infer->parsed()) return run_infer(infer_flags, input, output);
  for (auto& sub : more)
    if (sub.app->parsed()) return sub.run();
  return stgcn::cli::kExitUsage;
}
