// The IR graph as JSON (inside an engine file's metadata), and back. Constant
// data is not in the JSON: each constant names its tensor in the file.
#pragma once

#include <nlohmann/json.hpp>

#include "ir/ir.h"

namespace stgcn::engine {

nlohmann::json graph_to_json(const ir::Graph& g);
// Structure only: constants get names and shapes; their data is attached by
// the caller. The result is not verified (the caller does that after
// attaching data).
Result<ir::Graph> graph_from_json(const nlohmann::json& j);

nlohmann::json spec_to_json(const ModelSpec& spec);
Result<ModelSpec> spec_from_json(const nlohmann::json& j);

}  // namespace stgcn::engine
