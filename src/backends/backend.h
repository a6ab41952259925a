// The backend seam: what the engine, the quantiser and the runtime ask of a compute backend,
// in the shape of ONNX Runtime's capability query and TensorRT's engine / context split.
//
//   const Backend& be = backend::cpu();            // backends/registry.h
//   be.supports(graph, node)                        // can it run this node, in these types?
//   be.pack(graph, ...)                             // build time: weights into its layouts
//   auto exe = be.prepare(graph, {.max_batch = 4}); // load time: an immutable Executable
//   auto ctx = exe->create_context(threads);        // per caller: arena, scratch, streams
//   auto st  = be.prepare_streaming(graph, {...});  // continual inference from the same graph
//
// ir/, passes/, quant/ and engine/ include only this header (and registry.h); a backend's own
// headers stay inside backends/<name>/ (tests/layering enforces it). A new backend (CUDA, say)
// implements these classes and adds itself to registry.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ir/ir.h"
#include "stgcn/status.h"

namespace stgcn::passes {
struct MemoryPlan;
}

namespace stgcn::backend {

// A window executor's per-caller state: run() allocates nothing.
class Context {
 public:
  virtual ~Context() = default;
  // input: batch * (C*T*V*M) floats; output: batch * classes floats.
  virtual Status run(const float* input, int batch, float* output) = 0;
  virtual void set_profiling(bool on) = 0;
  // Milliseconds per graph node accumulated since profiling was switched on.
  virtual const std::vector<double>& node_ms() const = 0;
  virtual int64_t arena_bytes() const = 0;
  // Calibration: called after every node with (node index, sample in the batch, the node's
  // output bytes); possibly from several threads at once for nodes of different streams.
  using Observer = std::function<void(int node, int sample, const void* data)>;
  virtual void set_observer(Observer observer) = 0;
};

// A graph prepared for window inference: immutable, shared by any number of contexts.
class Executable {
 public:
  virtual ~Executable() = default;
  virtual const ir::Graph& graph() const = 0;
  virtual int max_batch() const = 0;
  // The backend's kernel per node ("" where it runs its own loops).
  virtual std::vector<std::string> implementations() const = 0;
  virtual Result<std::unique_ptr<Context>> create_context(int threads) const = 0;
};

// Continual (per-track streaming) inference compiled from the same fused graph: every new
// frame of a track flows through the network once; each temporal op keeps a ring of its
// last inputs per track, the global pool a running mean. Tracks live in slots; step() may be
// called from several threads at once on disjoint slots.
struct StreamingOptions {
  int slots = 1;    // track slots
  int scratch = 0;  // extra slots for features_lookahead()
};

class Streaming {
 public:
  static constexpr int kLookaheadChunk = 8;
  virtual ~Streaming() = default;
  virtual int slots() const = 0;
  virtual int C() const = 0;
  virtual int V() const = 0;
  virtual int num_class() const = 0;
  virtual int feature_size() const = 0;
  virtual int64_t state_bytes_per_slot() const = 0;
  // Mean multiply-accumulates per track step (strided layers run every s-th step).
  virtual int64_t macs_per_step() const = 0;
  // Forgets a slot's past (before a new track uses it).
  virtual void reset(int slot) = 0;
  // Advances slots[i] by one frame frames[i] (C x V floats, channel-major c * V + v).
  virtual Status step(std::span<const int> slots, std::span<const float* const> frames) = 0;
  // Appends every temporal layer's right padding; afterwards the slot only serves features().
  virtual Status flush(int slot) = 0;
  // Pooled features of each model stream (feature_size() floats); false before the first
  // output of the last layer.
  virtual bool features(int slot, std::vector<float>& out) const = 0;
  // The features the slots would have if their tracks ended now (a flushed copy in scratch
  // slots scratch_base ..): for a track of exactly T frames, the window engine's answer.
  virtual Status features_lookahead(std::span<const int> slots, int scratch_base,
                                    std::vector<std::vector<float>>& out,
                                    std::vector<char>& ok) = 0;
  // Logits from M persons' features (nullptr: an empty person, an all-zero window).
  virtual Status logits(std::span<const std::vector<float>* const> persons,
                        std::span<float> out) = 0;
};

struct PrepareOptions {
  int max_batch = 1;
};

// What the machine offers, for engine metadata and `stgcn bench` reports.
struct DeviceInfo {
  std::string library;  // "oneDNN 2.6.3"
  std::string device;   // CPU model name
  std::string isa;      // the effective ISA ("avx512_core_amx")
};

class Backend : public ir::Capabilities {
 public:
  ~Backend() override = default;
  virtual const char* name() const = 0;
  virtual DeviceInfo device() const = 0;
  // Capability query: can this backend execute `node` with the element types `graph` gives
  // its inputs and output? (With ir::Capabilities' computes_in_low_precision and check_types,
  // what the verifier, the precision passes and the quantiser ask.)
  virtual bool supports(const ir::Graph& graph, const ir::Node& node) const = 0;
  // Refuses a precision this machine cannot run (bf16 without the instructions), naming it.
  virtual Status check_precision(const std::string& precision) const = 0;
  // Build time: pack the weights into the backend's layouts; `kernel_isa` receives what the
  // chosen kernels need. `half_storage`: keep FP16 in the file, pack at load.
  virtual Status pack(ir::Graph& graph, bool half_storage, std::string* kernel_isa) const = 0;
  // Load time: refuses kernels this machine cannot run.
  virtual Status check_kernel_isa(const std::string& kernel_isa, const std::string& file,
                                  const std::string& build_device) const = 0;
  // Refuses an activation arena larger than the memory available.
  virtual Status check_arena_fits(int64_t arena_bytes) const = 0;
  virtual Result<std::shared_ptr<const Executable>> prepare(const ir::Graph& graph,
                                                            const PrepareOptions& options) const = 0;
  // The activation arena prepare() would plan (for engine metadata).
  virtual int64_t arena_bytes(const ir::Graph& graph, int max_batch) const = 0;
  // Whether prepare_streaming() can lower this graph (a cheap check; the failure says why).
  virtual Status check_streaming(const ir::Graph& graph) const = 0;
  // Continual inference from the fused graph (window length from the graph's T).
  virtual Result<std::unique_ptr<Streaming>> prepare_streaming(
      const ir::Graph& graph, const StreamingOptions& options) const = 0;
};

}  // namespace stgcn::backend
