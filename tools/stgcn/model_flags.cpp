// ModelFlags::load: the load options from the command line (and a checkpoint's
// classes.json for its temporal padding).
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "commands.h"
#include "stgcn/npy.h"

namespace stgcn::cli {
namespace {

// "model.temporal_padding" of classes.json next to `path`, when that file
// describes this checkpoint ("model.checkpoint" is its file name); "" otherwise.
std::string sidecar_temporal_padding(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p = fs::path(path).parent_path() / "classes.json";
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return "";
  std::ifstream in(p);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) return "";
  const nlohmann::json& m = j["model"];
  if (!m.contains("checkpoint") || !m["checkpoint"].is_string() ||
      m["checkpoint"].get<std::string>() != fs::path(path).filename().string() ||
      !m.contains("temporal_padding") || !m["temporal_padding"].is_string())
    return "";
  return m["temporal_padding"].get<std::string>();
}

}  // namespace

Result<Model> ModelFlags::load() const {
  if (is_engine_path(path))
    return Status(ErrorCode::kInvalidArgument,
                  "'" + path +
                      "' is an engine: this command needs the checkpoint or ONNX "
                      "model it was built from (an engine holds folded, packed weights)");
  LoadOptions opt;
  if (!layout.empty()) opt.layout = layout;
  if (!strategy.empty()) {
    auto s = parse_strategy(strategy);
    if (!s.is_ok()) return s.status();
    opt.strategy = *s;
  }
  opt.max_hop = max_hop;
  opt.dilation = dilation;
  auto m = parse_motion_mode(motion);
  if (!m.is_ok()) return m.status();
  opt.motion = *m;
  if (!strides.empty()) opt.strides = strides;
  if (!gcn_adaptive.empty()) opt.gcn_adaptive = gcn_adaptive;
  opt.warn = [](const std::string& w) {
    std::fprintf(stderr, "stgcn: warning: %s\n", escape_control(w).c_str());
  };
  const std::string tp =
      temporal_padding.empty() ? sidecar_temporal_padding(path) : temporal_padding;
  if (!tp.empty()) {
    auto p = parse_temporal_padding(tp);
    if (!p.is_ok())
      return p.status().with_context(
          temporal_padding.empty() ? "classes.json next to '" + path + "': " : "");
    opt.temporal_padding = *p;
  }
  auto model = load_model(path, opt);
  if (model.is_ok() && !temporal_padding.empty() &&
      model->spec.streams.front().temporal_padding != opt.temporal_padding)
    opt.warn("'" + path + "': --temporal-padding " + temporal_padding +
             " is ignored; the ONNX graph's convs are " +
             temporal_padding_name(model->spec.streams.front().temporal_padding));
  return model;
}

Result<ModelSpec> ModelFlags::spec() const {
  if (is_engine_path(path)) {
    STGCN_ASSIGN_OR_RETURN(auto e, Engine::load(path));
    return e->info().spec;
  }
  STGCN_ASSIGN_OR_RETURN(Model m, load());
  return m.spec;
}

Result<Tensor> ModelFlags::read_samples(const std::string& npy, const ModelSpec& spec,
                                        const std::string& what) const {
  InputLayout layout = spec.input_layout();
  if (!input_layout.empty()) {
    STGCN_ASSIGN_OR_RETURN(layout, parse_input_layout(input_layout));
  }
  STGCN_ASSIGN_OR_RETURN(Tensor x, read_npy(npy));
  const bool nmtvc = layout == InputLayout::kNMTVC;
  const std::string expected =
      nmtvc ? fmt::format("(N, M, T, V={}, C={})", spec.V(), spec.C())
            : fmt::format("(N, C={}, T, V={}, M)", spec.C(), spec.V());
  const int64_t c_axis = nmtvc ? 4 : 1;
  if (x.rank() != 5 || x.shape[c_axis] != spec.C() || x.shape[3] != spec.V())
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("{} '{}' has shape {}; the model expects {} ({}{})", what, npy,
                              shape_string(x.shape), expected, input_layout_name(layout),
                              input_layout.empty() ? ", the model's layout; --input-layout "
                                                     "says otherwise"
                                                   : ""));
  STGCN_ASSIGN_OR_RETURN(Tensor y, convert_input_layout(x, layout, InputLayout::kNCTVM));
  if (feature.empty() || feature == "j") return y;
  STGCN_ASSIGN_OR_RETURN(SkeletonFeature f, parse_skeleton_feature(feature));
  // The skeleton the bones follow: the model's recognised layout ("coco (by V=17)" -> "coco").
  const std::string skeleton = spec.layout.substr(0, spec.layout.find(' '));
  auto out = skeleton_feature(y, skeleton, f);
  if (!out.is_ok()) return out.status().with_context("--feature " + feature + ": ");
  return out;
}

}  // namespace stgcn::cli
