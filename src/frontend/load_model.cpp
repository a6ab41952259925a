// The one frontend dispatcher: a path is a torch checkpoint, an ONNX graph or an engine. The
// checkpoint reader (model/) and the ONNX importer (onnx/) never call each other; this picks.
#include <fmt/format.h>

#include "stgcn/checkpoint.h"
#include "stgcn/engine.h"
#include "stgcn/model.h"
#include "stgcn/onnx.h"

namespace stgcn {

Result<Model> load_model(const std::string& path, const LoadOptions& options) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".onnx") == 0)
    return import_onnx(path, options);
  if (is_engine_path(path))
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("cannot load '{}' as a model: it is an engine (folded, packed "
                              "weights); give the checkpoint or ONNX model it was built from",
                              escape_control(path)));
  STGCN_ASSIGN_OR_RETURN(StateDict sd, read_checkpoint(path));
  auto model = model_from_state_dict(sd, options, path);
  if (!model.is_ok()) return model.status().with_context("cannot load '" + path + "': ");
  return model;
}

}  // namespace stgcn
