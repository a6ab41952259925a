// Graph passes: plain functions in one explicit, ordered list. Each one can
// be disabled by name (`stgcn build --disable-pass fold_batch_norm`); a pass
// that does not apply reports "no change". Every pass keeps the logits: a
// graph with any subset of passes disabled computes the same function.
#pragma once

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
bool fuse_relu(ir::Graph& g);             // ReLU into its producer
bool fuse_residual_add(ir::Graph& g);     // residual add (+ReLU) into the temporal conv
bool lower_aggregation(ir::Graph& g);     // aggregation as one GEMM per block
bool fuse_head(ir::Graph& g);             // pool + person mean + fcn
bool eliminate_dead_code(ir::Graph& g);   // unused nodes and constants

// Sets the activations' element type for a precision ("fp32", "bf16"). BF16
// keeps every activation between data_bn and the head in bfloat16 (the
// convolutions and GEMMs accumulate in FP32); it needs the fused graph, so it
// refuses a graph that still has unfused ops. Not a pass: always runs last.
Status assign_precision(ir::Graph& g, const std::string& precision);

// Runs the pipeline without the passes named in `disabled` (unknown names are
// an error), verifying the graph after each pass. Returns the names of the
// passes that changed the graph.
Result<std::vector<std::string>> run_pipeline(ir::Graph& g,
                                              const std::vector<std::string>& disabled);

}  // namespace stgcn::passes
