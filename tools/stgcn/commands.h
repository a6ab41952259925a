// Shared pieces of the stgcn CLI: model flags, error reporting, and the
// subcommands that live in their own files.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "stgcn/engine.h"
#include "stgcn/model.h"
#include "stgcn/onnx.h"
#include "stgcn/stream.h"

namespace stgcn::cli {

constexpr int kExitFailure = 1;  // the command failed
constexpr int kExitUsage = 2;    // bad usage

struct ModelFlags {
  std::string path;
  std::string layout;
  std::string strategy;
  int max_hop = 1;
  int dilation = 1;
  std::string motion = "first_difference";
  std::vector<int> strides;
  std::string temporal_padding;  // "" = from the model (see load)
  std::string gcn_adaptive;      // "" = read off the checkpoint (mmaction2 / pyskl)
  std::string input_layout;      // "" = the model's own (nmtvc for mmaction2 / pyskl)
  std::string feature;           // "" / "j": raw joints; b, jm, bm: computed from them

  // MODEL is positional; `model_required` false lets a command run without
  // it (e.g. the interactive export).
  void add_to(CLI::App* app, bool model_required = true) {
    auto* model =
        app->add_option("MODEL", path, "Checkpoint (.pt / .pth), ONNX (.onnx) or engine (.engine)");
    if (model_required) model->required();
    app->add_option("--layout", layout,
                    "Skeleton layout when the checkpoint holds no A (openpose, ntu-rgb+d, "
                    "ntu_edge, mediapipe, blazepose, coco, or a custom layout .json); when it "
                    "holds A, a differing layout only warns");
    app->add_option("--strategy", strategy,
                    "Partition strategy: uniform, distance, spatial (mmaction2 'stgcn_spatial'), "
                    "inward_outward (mmaction2 'spatial'), binary_adj")
        ->check(CLI::IsMember({"uniform", "distance", "spatial", "inward_outward", "binary_adj"}));
    app->add_option("--max-hop", max_hop, "Graph max_hop")
        ->capture_default_str()
        ->check(CLI::Range(0, 16));
    app->add_option("--dilation", dilation, "Graph dilation")
        ->capture_default_str()
        ->check(CLI::Range(1, 16));
    app->add_option("--motion", motion, "Two-stream motion input")
        ->capture_default_str()
        ->check(CLI::IsMember({"first_difference", "central_difference"}));
    app->add_option("--strides", strides,
                    "Per-block temporal strides, overriding the inferred ones (stride 2 where a "
                    "block has a residual conv)")
        ->delimiter(',');
    app->add_option("--temporal-padding", temporal_padding,
                    "How the temporal convs pad time: centre (upstream ST-GCN) or causal (kt-1 "
                    "frames before, none after); default: what classes.json next to the "
                    "checkpoint says, else centre (an ONNX graph's pads decide for ONNX)")
        ->check(CLI::IsMember({"centre", "center", "causal"}));
    app->add_option("--gcn-adaptive", gcn_adaptive,
                    "mmaction2 / pyskl: how the learned PA combines with A (importance: A*PA, "
                    "offset: A+PA); default: read off PA (mean |PA| >= 0.5: importance)")
        ->check(CLI::IsMember({"importance", "offset"}));
    app->add_option("--input-layout", input_layout,
                    "Axis order of the sample arrays this command reads: nctvm (N, C, T, V, M; "
                    "original ST-GCN) or nmtvc (N, M, T, V, C; mmaction2 / pyskl); default: the "
                    "model's own")
        ->check(CLI::IsMember({"nctvm", "nmtvc"}));
    app->add_option("--feature", feature,
                    "Input feature the model was trained on, computed from the raw joints in the "
                    "sample arrays (pyskl / mmaction2 GenSkeFeat): j (joints, default), b "
                    "(bones), jm (joint motion), bm (bone motion)")
        ->check(CLI::IsMember({"j", "b", "jm", "bm"}));
  }

  // Loads the model (model_flags.cpp). Temporal padding: --temporal-padding,
  // else the "model.temporal_padding" of a classes.json next to a checkpoint
  // that names it, else centre; an ONNX graph carries its own.
  stgcn::Result<stgcn::Model> load() const;
  // The spec of MODEL (a checkpoint / ONNX model, or an engine's metadata).
  stgcn::Result<stgcn::ModelSpec> spec() const;
  // Reads samples from a .npy in the layout --input-layout names (else the model's own) and
  // returns them as (N, C, T, V, M); a shape that does not fit says what the model expects.
  stgcn::Result<stgcn::Tensor> read_samples(const std::string& npy, const stgcn::ModelSpec& spec,
                                            const std::string& what) const;
};

// Every message may quote input (paths, stream names, JSON text): control characters are
// escaped so that a record cannot forge lines or terminal sequences on stderr.
inline int fail(const stgcn::Status& st) {
  std::fprintf(stderr, "stgcn: error: %s\n", stgcn::escape_control(st.message()).c_str());
  return kExitFailure;
}

// Refuses (one line) an output option that names the same file as one of the parsed
// subcommand's inputs (output_guard.cpp).
Status check_outputs_are_not_inputs(const CLI::App& sub);

// A subcommand registered on the app; `run` is called when it was parsed.
struct Subcommand {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// `stgcn export` (export_cmd.cpp).
Subcommand add_export_command(CLI::App& app);

// `stgcn export --triton-repo DIR` (triton_repo.cpp): DIR/<name>/{config.pbtxt, 1/model.onnx,
// build_tensorrt.sh}.
struct TritonRepo {
  std::string dir, name;
  int max_batch = 8, queue_delay_us = 500, instances = 1;
};
std::string triton_model_path(const TritonRepo& r);
stgcn::Status check_triton_name(const std::string& name);
// Writes the repository around `onnx_bytes` (exported with `o`); returns the model directory.
stgcn::Result<std::string> write_triton_repo(const TritonRepo& r, const stgcn::ModelSpec& spec,
                                             const stgcn::OnnxExportOptions& o,
                                             const std::string& onnx_bytes);

// The INT8 options of `build` (and every command that compiles a model) and of `export
// --precision int8` (engine_cmds.cpp).
struct Int8Flags {
  std::string calib, calib_method = "entropy", calib_table, val, val_labels;
  int calib_size = 0;
  double percentile = 99.99, max_drop = -1;
  std::vector<std::string> keep_fp32;
  // The sample tensors the options point at (kept alive by the caller).
  struct Data {
    stgcn::Tensor calib, val, labels;
  };
  void add_to(CLI::App* app);
  bool any() const {
    return !calib.empty() || !calib_table.empty() || max_drop >= 0 || !keep_fp32.empty();
  }
  // Reads the sample files (in the model's layout, see ModelFlags) into `data` and sets the
  // int8 fields of `o`.
  stgcn::Status apply(const ModelFlags& model, const stgcn::ModelSpec& spec,
                      stgcn::BuildOptions& o, Data& data) const;
};

// A MODEL (checkpoint / ONNX, compiled in memory) or an ENGINE file, with the
// build options that apply to a model (engine_cmds.cpp).
struct EngineFlags : Int8Flags {
  ModelFlags model;
  int T = 150, M = 1, batch = 1;
  std::string precision = "fp32";
  std::vector<std::string> disabled_passes;
  void add_to(CLI::App* app, bool with_batch);
  stgcn::Result<std::shared_ptr<const stgcn::Engine>> get(int default_batch) const;
};
Subcommand add_build_command(CLI::App& app);
Subcommand add_run_command(CLI::App& app);    // run_cmd.cpp
Subcommand add_serve_command(CLI::App& app);  // serve_cmd.cpp

// `stgcn bench --streams` (stream_bench.cpp): concurrent tracks at a camera
// rate that the runtime sustains under a p99 latency bound.
struct StreamBenchFlags {
  bool on = false;
  std::vector<std::string> modes{"continual", "window"};
  std::vector<int> hops{1, 4};
  double seconds = 5, warmup = 3, fps = 30, p99_ms = 100;
  int tracks = 0;  // > 0: measure this count only (no search)
  int max_tracks = 512;
  int workers = 0, threads = 0;  // 0: the runtime's defaults
  bool lookahead = false;
};
int run_stream_bench(const EngineFlags& flags, const StreamBenchFlags& s, const std::string& json);
void add_stream_bench_flags(CLI::App* cmd, StreamBenchFlags& s);
// A runtime over the engine of `flags` (window) or its model (continual).
Result<std::unique_ptr<StreamRuntime>> make_runtime(const EngineFlags& flags, StreamMode mode,
                                                    StreamOptions options, int batch,
                                                    std::string* layout);
Subcommand add_validate_command(CLI::App& app);
Subcommand add_bench_command(CLI::App& app);
int inspect_engine(const std::string& path, bool json, bool graph);

}  // namespace stgcn::cli
