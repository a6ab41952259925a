// Kinetics-skeleton JSON (the st-gcn / mmskeleton format; docs/sources.md): one document per
// clip, {"data": [{"frame_index": i, "skeleton": [{"pose": [x0, y0, x1, y1, ...],
// "score": [s0, s1, ...]}, ...]}, ...], "label": name, "label_index": k}, with the 18 OpenPose
// joints in normalised image coordinates. Frames are read in file order; a frame's persons
// are numbered in order (the format has no tracker ids).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "sources/sources_internal.h"

namespace stgcn::sources {
namespace {

using json = nlohmann::json;
constexpr int kOpenPoseJoints = 18;

class KineticsSource final : public SourceBase {
 public:
  KineticsSource(const std::string& path, const SourceOptions& options)
      : SourceBase(path, options) {
    set_source_layout("openpose", kOpenPoseJoints);
  }

  Status load() {
    STGCN_ASSIGN_OR_RETURN(std::string text, read_file(path()));
    doc_ = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc_.is_discarded() || !doc_.is_object())
      return invalid_argument("'" + path() + "' is not a Kinetics-skeleton JSON document");
    const auto it = doc_.find("data");
    if (it == doc_.end() || !it->is_array())
      return invalid_argument("'" + path() +
                              "': a Kinetics-skeleton document needs a \"data\" list of frames");
    data_ = &*it;
    return Status::ok();
  }

 protected:
  Result<bool> read_raw(RawFrame& raw) override {
    while (next_ < data_->size()) {
      const size_t index = next_++;
      raw = RawFrame();
      raw.where = fmt::format("{}: data[{}]", display_path(), index);
      std::string err;
      if (parse_frame((*data_)[index], index, raw, err)) return true;
      report(raw.where, err);
    }
    return false;
  }

 private:
  bool parse_frame(const json& f, size_t index, RawFrame& raw, std::string& err) {
    if (!f.is_object()) return (err = "the frame is not a JSON object"), false;
    int64_t frame = static_cast<int64_t>(index) + 1;  // frame_index counts from 1
    if (const auto fi = f.find("frame_index"); fi != f.end()) {
      if (!fi->is_number_integer()) return (err = "'frame_index' is not an integer"), false;
      frame = fi->get<int64_t>();
    }
    raw.timestamp = static_cast<double>(frame - 1) / options().fps;
    const auto sk = f.find("skeleton");
    if (sk == f.end() || !sk->is_array()) return (err = "no 'skeleton' list"), false;
    for (size_t i = 0; i < sk->size(); ++i) {
      const json& s = (*sk)[i];
      const auto pose = s.is_object() ? s.find("pose") : s.end();
      if (!s.is_object() || pose == s.end() || !pose->is_array())
        return (err = fmt::format("skeleton {} has no 'pose' list", i)), false;
      if (pose->size() % 2 != 0)
        return (err = fmt::format("skeleton {}: 'pose' holds {} values, not (x, y) pairs", i,
                                  pose->size())),
               false;
      const size_t V = pose->size() / 2;
      PersonObs p;
      p.track = static_cast<int64_t>(i);
      p.xyz.assign(3 * V, 0.f);
      p.confidence.assign(V, 1.f);
      for (size_t k = 0; k < pose->size(); ++k) {
        if (!(*pose)[k].is_number())
          return (err = fmt::format("skeleton {}: pose value {} is not a number", i, k)), false;
        p.xyz[3 * (k / 2) + k % 2] = (*pose)[k].get<float>();
      }
      if (const auto score = s.find("score"); score != s.end()) {
        if (!score->is_array() || score->size() != V)
          return (err =
                      fmt::format("skeleton {}: 'score' must hold {} values, one per joint", i, V)),
                 false;
        for (size_t v = 0; v < V; ++v) {
          if (!(*score)[v].is_number())
            return (err = fmt::format("skeleton {}: score {} is not a number", i, v)), false;
          p.confidence[v] = (*score)[v].get<float>();
        }
      }
      raw.persons.push_back(std::move(p));
    }
    return true;
  }

  json doc_;
  const json* data_ = nullptr;
  size_t next_ = 0;
};

}  // namespace

bool looks_like_kinetics(const std::vector<std::string>& top_level_keys) {
  bool data = false, label = false;
  for (const std::string& k : top_level_keys) {
    data = data || k == "data";
    label = label || k == "label" || k == "label_index";
  }
  return data && label;
}

Result<std::unique_ptr<SourceBase>> make_kinetics_source(const std::string& path,
                                                         const SourceOptions& options) {
  auto src = std::make_unique<KineticsSource>(path, options);
  STGCN_RETURN_IF_ERROR(src->load());
  return std::unique_ptr<SourceBase>(std::move(src));
}

}  // namespace stgcn::sources
