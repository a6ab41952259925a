// What the library's own layers (the stream runtime) may ask of an Engine beyond the public
// API: continual inference compiled by the engine's backend from the engine's graph.
#pragma once

#include <memory>

#include "backends/backend.h"
#include "stgcn/engine.h"

namespace stgcn::engine {

struct Access {
  // The backend's continual lowering of the engine's graph (FP32, BF16 or INT8 as built,
  // INT8 with the engine's calibration). Refuses an engine whose info().continual is false.
  static Result<std::unique_ptr<backend::Streaming>> prepare_streaming(
      const Engine& engine, const backend::StreamingOptions& options);
};

}  // namespace stgcn::engine
