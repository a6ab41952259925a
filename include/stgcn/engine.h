// Engines: a model compiled for this CPU (graph passes, packed weights, a
// memory plan), saved as a memory-mappable `.engine` file and run through
// per-caller contexts.
//
//   auto engine = stgcn::Engine::build(model, {.T = 150, .M = 1, .max_batch = 4});
//   (*engine)->save("model.engine");
//   auto ctx = (*engine)->create_context(/*threads=*/2);
//   (*ctx)->run(input, batch, logits);  // allocates nothing
//
// An Engine is immutable and shared by any number of threads; a Context
// (arena, scratchpads, oneDNN streams) belongs to one caller at a time.
// Byte layout of the file: docs/engine_format.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "stgcn/model.h"
#include "stgcn/status.h"
#include "stgcn/tensor.h"

namespace stgcn {
namespace engine {
struct Access;  // the library's internal access (src/engine/engine_internal.h)
}

struct BuildOptions {
  int T = 150;                               // frames per window
  int M = 1;                                 // persons per sample
  int max_batch = 1;                         // largest batch N a context runs
  std::string precision = "fp32";            // "fp32", "bf16", "fp16" (storage) or "int8"
  std::vector<std::string> disabled_passes;  // names from `stgcn build --list-passes`
  // Receives warnings, e.g. "this CPU has no BF16 instructions: building FP32" (may be empty).
  std::function<void(const std::string&)> warn;
  // Receives progress lines of long steps (calibration, fallback search); may be empty.
  std::function<void(const std::string&)> progress;

  // ---- int8: post-training static quantisation (docs/engine.md, "INT8") ----
  // Calibration samples (N, C, T, V, M); not owned, read during build only.
  // With `calib`, `calib_table` (when set) is written; without, it is read.
  const Tensor* calib = nullptr;
  int calib_size = 0;                    // use the first N samples (0: all)
  std::string calib_method = "entropy";  // "minmax", "entropy" or "percentile"
  double percentile = 99.99;             // for "percentile"
  std::string calib_table;               // path of the text calibration table
  std::vector<std::string> keep_fp32;    // layers (node names) kept in FP32
  // >= 0: automatic fallback. Keep the most sensitive blocks in FP32 until the
  // top-1 drop on `val` (accuracy points with `val_labels`, else 100 - agreement
  // with FP32) is <= max_drop.
  double max_drop = -1;
  const Tensor* val = nullptr;         // (N, C, T, V, M)
  const Tensor* val_labels = nullptr;  // (N) class indices, optional
};

struct EngineInfo {
  ModelSpec spec;
  int T = 0, M = 0, max_batch = 0;
  std::string precision;
  std::string kernel_isa;       // the ISA the packed weights and kernels need
  std::string onednn_version;   // oneDNN that built it
  std::string build_cpu;        // CPU model name at build time
  std::string toolkit_version;  // stgcn-rt version
  std::vector<std::string> passes_applied, passes_disabled;
  int64_t macs = 0;           // per sample, dense aggregation
  int64_t weights_bytes = 0;  // constants (packed) in the file
  int64_t arena_bytes = 0;    // activations per context
  int64_t file_bytes = 0;
  uint32_t format_version = 0;
  // Per quantisable layer (gcn, aggregation, temporal / residual conv), in
  // graph order: its name and "fp32", "bf16" or "int8".
  std::vector<std::pair<std::string, std::string>> layer_precisions;
  std::string quantization_json;  // int8: calibration and fallback record ("" otherwise)
  // Whether the backend can run this engine in continual (streaming) mode, and why not.
  bool continual = false;
  std::string continual_note;
};

struct NodeTime {
  std::string node, op, implementation;
  double ms = 0;  // accumulated
};

class Context;

class Engine : public std::enable_shared_from_this<Engine> {
 public:
  static Result<std::shared_ptr<const Engine>> build(const Model& model,
                                                     const BuildOptions& options);
  // Memory-maps and validates an engine file (format version, checksum, ISA).
  static Result<std::shared_ptr<const Engine>> load(const std::string& path);
  static Result<std::shared_ptr<const Engine>> from_bytes(std::vector<uint8_t> bytes,
                                                          const std::string& name = "<memory>");
  ~Engine();
  // Writes the engine file atomically (no partial file on failure).
  Status save(const std::string& path) const;
  std::span<const uint8_t> bytes() const;
  const EngineInfo& info() const;
  // The optimised graph, one line per op.
  std::string graph_text() const;
  // threads <= 0: one per core.
  Result<std::unique_ptr<Context>> create_context(int threads = 0) const;

  struct Impl;

 private:
  Engine();
  std::unique_ptr<Impl> impl_;
  friend class Context;
  friend struct engine::Access;
};

class Context {
 public:
  ~Context();
  // input: batch x (C, T, V, M) floats; logits: batch x num_class floats.
  Status run(std::span<const float> input, int batch, std::span<float> logits);
  // Convenience: (N, C, T, V, M) tensor in, (N, num_class) out; N above the
  // engine's max batch runs in chunks.
  Result<Tensor> run(const Tensor& input);
  int threads() const;
  int64_t arena_bytes() const;
  void set_profiling(bool on);  // resets the accumulated times
  std::vector<NodeTime> profile() const;

  struct Impl;

 private:
  friend class Engine;
  Context();
  std::unique_ptr<Impl> impl_;
};

// What an INT8 build with `options` would quantise, without compiling anything: the activation
// thresholds (calibrated on options.calib, or read from options.calib_table) and the layers kept
// FP32 (options.keep_fp32 and the options.max_drop fallback). `stgcn export --precision int8`
// writes them into explicitly quantised ONNX (docs/tensorrt.md).
struct Int8Plan {
  std::map<std::string, float> thresholds;  // activation (IR value name) -> |x| threshold
  std::set<std::string> fp32_layers;        // layers (IR node names) left in FP32
  std::vector<std::string> layers;          // every quantisable layer, in graph order
  std::string record_json;                  // calibration and fallback record (inspect --json)
};
Result<Int8Plan> plan_int8(const Model& model, const BuildOptions& options);

// The machine engines are built for and run on, as the backend reports it.
struct MachineInfo {
  std::string backend;  // "cpu"
  std::string library;  // "oneDNN 2.6.3"
  std::string device;   // CPU model name
  std::string isa;      // effective ISA, e.g. "avx512_core_amx"
};
MachineInfo machine_info();

// The graph passes of `stgcn build`, in order: (name, one-line summary).
std::vector<std::pair<std::string, std::string>> list_passes();

// True when `path` ends in ".engine" or starts with the engine file magic.
bool is_engine_path(const std::string& path);

}  // namespace stgcn
