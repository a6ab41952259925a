// The oneDNN primitive of each IR node the CPU backend hands to oneDNN (gcn conv, lowered
// aggregation, temporal and residual convs) and the build-time weight packing. Internal to
// backends/cpu.
#pragma once

#include <string>
#include <vector>

#include "backends/cpu/onednn_util.h"
#include "ir/ir.h"
#include "stgcn/status.h"

namespace stgcn::cpu {

// The oneDNN primitive of a node: its descriptor, how many times it runs per
// sample (the gcn conv runs once per partition k) and the user layout of its
// plain weights.
struct PrimSpec {
  dnnl::primitive_desc pd;
  int runs = 1;                      // weight sets (gcn: K partitions)
  int persons = 1;                   // executions per weight set (gcn: one per person)
  dnnl::memory::desc plain_weights;  // one run's plain weights (gcn: one partition)
  int64_t plain_weight_floats = 0;   // floats per run in the plain constant
  // int8: packing divides by the per-channel weight scales (then rounds to s8).
  std::vector<float> weight_inv_scales;
};

// `weights`: the packed weight layout to use; null lets oneDNN choose (tag::any).
// Throws dnnl::error.
PrimSpec make_prim(const ir::Graph& g, const ir::Node& n,
                   const dnnl::memory::desc* weights = nullptr);
// True for the nodes make_prim handles.
bool uses_onednn(const ir::Node& n);
// The weight constant a oneDNN node packs (aggregation: none).
ir::ConstId packed_weight(const ir::Node& n);
// A primitive for `n` that reads weights packed in `packed`. oneDNN picks the packed layout
// by the threads available when the primitive is created (AMX kernels do): when its own
// choice differs, ask for a kernel that reads the given layout. False when none does.
bool prim_for_layout(const ir::Graph& g, const ir::Node& n, const dnnl::memory::desc& packed,
                     PrimSpec* ps);
// Plain FP32 weights of one run into the primitive's layout (int8: divided
// by the per-channel scales and rounded to s8, with oneDNN's compensation).
void reorder_weights(const PrimSpec& ps, const float* from, const dnnl::memory::desc& to_md,
                     void* to);

}  // namespace stgcn::cpu
