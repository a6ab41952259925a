// The CPU backend on oneDNN. Build time: `pack_weights` reorders the weights
// of the convolutions and GEMMs into the layouts oneDNN's kernels want and
// records those layouts. Load time: `Executable::prepare` recreates the
// primitives, checks that they want exactly the recorded layouts (else the
// engine was built for another CPU or oneDNN) and runs on the packed bytes in
// place. A `Runner` (one per context) owns the arena and scratchpads; its
// `run` allocates nothing.
//
// Layout: activations are channels-last (M, V, T, C) = oneDNN NHWC with
// H = V, W = T; the gcn conv writes (M, K, V, T, C) so that the aggregation
// is one GEMM per person: Z (V, T*C) = G (V, K*V) x Y (K*V, T*C).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "ir/ir.h"
#include "passes/memory_plan.h"
#include "stgcn/status.h"

namespace stgcn::cpu {

std::string onednn_version();
// The CPU's model name (/proc/cpuinfo), "unknown" when unreadable.
std::string cpu_model_name();
// The CPU's effective ISA as oneDNN names it, and as a bit set.
std::string cpu_isa_name();
unsigned cpu_isa_bits();
// Refuses (with what it needs) an activation arena larger than the memory available.
Status check_arena_fits(int64_t arena_bytes);
// Bits of an ISA name (as in `kernel_isa`), 0 when unknown.
unsigned isa_bits(const std::string& name);

// Build time: the weights of the oneDNN convolutions / GEMMs packed into the
// layouts the kernels want (zero-copy at load), or, with `half_storage`, kept
// plain as IEEE half (half the file; unpacked to FP32 and packed at load).
// `kernel_isa` receives the highest ISA among the chosen kernels.
Status pack_weights(ir::Graph& g, std::string* kernel_isa, bool half_storage = false);

class Runner;

class Executable final : public backend::Executable,
                         public std::enable_shared_from_this<Executable> {
 public:
  ~Executable() override;
  static Result<std::shared_ptr<const Executable>> prepare(const ir::Graph& graph, int max_batch);
  Result<std::unique_ptr<Runner>> create_runner(int threads) const;
  Result<std::unique_ptr<backend::Context>> create_context(int threads) const override;
  const ir::Graph& graph() const override;
  const passes::MemoryPlan& plan() const;
  int max_batch() const override;
  // Names of the oneDNN implementations, per node (empty for our kernels).
  std::vector<std::string> implementations() const override;
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  Executable() = default;
  std::unique_ptr<Impl> impl_;
};

class Runner final : public backend::Context {
 public:
  ~Runner() override;
  // input: batch * (C*T*V*M) floats; output: batch * classes floats.
  Status run(const float* input, int batch, float* output) override;
  void set_profiling(bool on) override;
  // Milliseconds per graph node accumulated since profiling was switched on.
  const std::vector<double>& node_ms() const override;
  int64_t arena_bytes() const override;
  // oneDNN primitive executions per sample.
  int onednn_calls_per_sample() const;
  // Testing: skip the oneDNN executions (our own kernels still run), to
  // check that everything but oneDNN's per-call bookkeeping allocates nothing.
  void skip_library_calls_for_testing(bool on);
  // Calibration: called after every node with (node index, sample in the
  // batch, the node's output bytes). With two streams running concurrently it
  // is called from both stream threads (for nodes of different streams).
  void set_observer(Observer observer) override;
  struct State;

 private:
  friend class Executable;
  Runner() = default;
  std::unique_ptr<State> state_;
};

// The CPU backend behind the seam (backends/backend.h); backend::cpu() returns it.
const backend::Backend& cpu_backend();

}  // namespace stgcn::cpu
