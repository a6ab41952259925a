// Lowers a loaded Model (model.h) into the IR, op for op as the reference
// semantics define it (no folding or fusion: that is the passes' job).
#pragma once

#include "ir/ir.h"

namespace stgcn::ir {

// T frames and M persons per sample; two-stream models get branch 1 for the
// motion stream and a joining add of the logits.
Result<Graph> graph_from_model(const Model& model, int T, int M);

}  // namespace stgcn::ir
