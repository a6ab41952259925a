// The fixture manifest's model cases (python/gen_fixtures.py): lookup and the
// load options a user would pass for each.
#pragma once

#include <string>
#include <vector>

#include "stgcn/model.h"
#include "test_util.h"

namespace stgcn::testing {

inline const nlohmann::json* find_case(const std::string& name) {
  for (const auto& c : manifest()["cases"])
    if (c["name"] == name) return &c;
  return nullptr;
}

// Strides are not stored in checkpoints: the loader gives stride 2 to blocks
// with a residual conv and 1 to the others. A model built otherwise needs
// --strides, as a user would pass it; the test then checks the override.
inline bool strides_follow_the_rule(const nlohmann::json& c) {
  const auto widths = c["widths"].get<std::vector<int>>();
  const auto strides = c["strides"].get<std::vector<int>>();
  int in = c["C"].get<int>();
  for (size_t i = 0; i < widths.size(); ++i) {
    const bool conv_residual = i > 0 && (in != widths[i] || strides[i] != 1);
    if (strides[i] != (conv_residual ? 2 : 1)) return false;
    in = widths[i];
  }
  return true;
}

inline LoadOptions options_for(const nlohmann::json& c) {
  LoadOptions opt;
  if (!c["motion"].is_null()) {
    auto motion = parse_motion_mode(c["motion"].get<std::string>());
    if (motion.is_ok()) opt.motion = *motion;
  }
  if (!strides_follow_the_rule(c)) opt.strides = c["strides"].get<std::vector<int>>();
  return opt;
}

}  // namespace stgcn::testing
