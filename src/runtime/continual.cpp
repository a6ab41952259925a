#include "runtime/continual.h"

#include <fmt/format.h>

#include "engine/engine_internal.h"

namespace stgcn::runtime {

Result<std::unique_ptr<backend::Streaming>> continual_from_engine(const Engine& engine, int slots,
                                                                  int scratch) {
  return engine::Access::prepare_streaming(engine, {.slots = slots, .scratch = scratch});
}

Result<std::unique_ptr<backend::Streaming>> continual_from_model(const Model& model, int T,
                                                                 int slots, int scratch) {
  if (T < 1) return Status(ErrorCode::kInvalidArgument,
                           fmt::format("continual mode: T={} must be >= 1", T));
  BuildOptions bo;
  bo.T = T;
  bo.M = 1;
  bo.max_batch = 1;
  STGCN_ASSIGN_OR_RETURN(auto engine, Engine::build(model, bo));
  return continual_from_engine(*engine, slots, scratch);
}

}  // namespace stgcn::runtime
