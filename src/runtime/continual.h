// Continual mode's compute: the engine's backend lowers the engine's fused graph into per-track
// state rings and step kernels (backends/backend.h, Streaming), so continual runs whatever the
// engine was built as (FP32, BF16, INT8 with the engine's calibration) and every new op is
// written once.
#pragma once

#include <memory>

#include "backends/backend.h"
#include "stgcn/engine.h"
#include "stgcn/model.h"

namespace stgcn::runtime {

// From an engine; `scratch` extra slots serve features_lookahead().
Result<std::unique_ptr<backend::Streaming>> continual_from_engine(const Engine& engine, int slots,
                                                                  int scratch = 0);
// From a model's weights: an FP32 engine with a window of T frames (the span of the running
// average), one person.
Result<std::unique_ptr<backend::Streaming>> continual_from_model(const Model& model, int T,
                                                                 int slots, int scratch = 0);

}  // namespace stgcn::runtime
