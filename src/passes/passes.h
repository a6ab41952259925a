// Graph passes: plain functions in one explicit, ordered list. Each one can
// be disabled by name (`stgcn build --disable-pass fold_batch_norm`); a pass
// that does not apply reports "no change". Every pass keeps the logits: a
// graph with any subset of passes disabled computes the same function.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/ir.h"

namespace stgcn::passes {

struct PassInfo {
  const char* name;
  const char* summary;
  bool (*run)(ir::Graph& graph);  // true when the graph changed
};

// The pipeline, in order.
const std::vector<PassInfo>& pipeline();

bool fold_edge_importance(ir::Graph& g);  // A ⊙ importance -> one constant
bool fold_batch_norm(ir::Graph& g);       // BN into the producing conv / aggregation
bool fuse_gcn_residual(ir::Graph& g);     // gcn residual -> one more gcn partition
bool fuse_relu(ir::Graph& g);             // ReLU into its producer
bool fuse_residual_add(ir::Graph& g);     // residual add (+ReLU) into the temporal conv
bool lower_aggregation(ir::Graph& g);     // aggregation as one GEMM per block
bool fuse_head(ir::Graph& g);             // pool + person mean + fcn
bool eliminate_dead_code(ir::Graph& g);   // unused nodes and constants

// Sets the activations' element type for a precision ("fp32", "bf16"). BF16
// keeps every activation between data_bn and the head in bfloat16 (the
// convolutions and GEMMs accumulate in FP32); it needs the fused graph, so it
// refuses a graph that still has unfused ops. Not a pass: always runs last.
Status assign_precision(ir::Graph& g, const std::string& precision,
                        const ir::Capabilities& backend);

// The range a calibration observed for one activation: the threshold |x| the
// int8 step is made from (step = amax / 127, or / 255 when the value is u8)
// and the smallest value seen (>= 0: the value can be u8).
struct TensorRange {
  float amax = 0.f;
  float min = 0.f;
};

// Refuses a graph that still has unfused ops (bf16 and int8 need the fused ops).
Status check_fused(const ir::Graph& g, const std::string& precision);
// Names of the layers int8 can quantise (those the backend computes in low precision:
// on the CPU the gcn, aggregation, temporal and residual convs), in graph order.
std::vector<std::string> quantizable_layers(const ir::Graph& g, const ir::Capabilities& backend);
// INT8 post-training quantisation of the fused FP32 graph: every quantisable
// layer not in `keep_fp32` computes in int8 (u8/s8 activations with per-tensor
// steps from `ranges`, keyed by value name; s8 weights with per-output-channel
// scales, stored as `<layer>.wscale`); convert nodes join int8 and FP32 parts.
// Not a pass: runs last, instead of assign_precision.
Status quantize_int8(ir::Graph& g, const std::map<std::string, TensorRange>& ranges,
                     const std::set<std::string>& keep_fp32, const ir::Capabilities& backend);

// Runs the pipeline without the passes named in `disabled` (unknown names are
// an error), verifying the graph after each pass. Returns the names of the
// passes that changed the graph.
Result<std::vector<std::string>> run_pipeline(ir::Graph& g,
                                              const std::vector<std::string>& disabled);

}  // namespace stgcn::passes
