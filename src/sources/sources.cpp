// Input adapters: format names, detection, joint mappings and the checks every
// source shares. The readers are in sources_json.cpp and sources_text.cpp.
// docs/sources.md describes the formats and the mappings.
#include "stgcn/sources.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "io/files.h"
#include "stgcn/graph.h"
#include "sources/sources_internal.h"

namespace stgcn {

namespace fs = std::filesystem;
using namespace sources;

// ---------------------------------------------------------------------------
// Format names.

const char* source_format_name(SourceFormat f) {
  switch (f) {
    case SourceFormat::kAuto: return "auto";
    case SourceFormat::kJsonl: return "jsonl";
    case SourceFormat::kMediaPipeJson: return "mediapipe-json";
    case SourceFormat::kMediaPipeCsv: return "mediapipe-csv";
    case SourceFormat::kOpenPoseJson: return "openpose-json";
    case SourceFormat::kNtuSkeleton: return "ntu-skeleton";
    case SourceFormat::kKineticsJson: return "kinetics-json";
  }
  return "?";
}

Result<SourceFormat> parse_source_format(std::string_view name) {
  std::string n = lower(trim(name));
  std::replace(n.begin(), n.end(), '_', '-');
  if (n == "auto" || n.empty()) return SourceFormat::kAuto;
  if (n == "jsonl" || n == "ndjson") return SourceFormat::kJsonl;
  if (n == "mediapipe-json") return SourceFormat::kMediaPipeJson;
  if (n == "mediapipe-csv") return SourceFormat::kMediaPipeCsv;
  if (n == "openpose-json" || n == "openpose") return SourceFormat::kOpenPoseJson;
  if (n == "ntu-skeleton" || n == "ntu" || n == "skeleton") return SourceFormat::kNtuSkeleton;
  if (n == "kinetics-json" || n == "kinetics" || n == "kinetics-skeleton")
    return SourceFormat::kKineticsJson;
  return invalid_argument("unknown source format '" + std::string(name) +
                          "' (expected auto, jsonl, mediapipe-json, mediapipe-csv, openpose-json "
                          "or ntu-skeleton)");
}

// ---------------------------------------------------------------------------
// Layouts and joint mappings. Joint orders (0-based):
//   openpose (COCO-18, graph.cpp make_openpose): 0 nose, 1 neck, 2 R shoulder, 3 R elbow,
//     4 R wrist, 5 L shoulder, 6 L elbow, 7 L wrist, 8 R hip, 9 R knee, 10 R ankle, 11 L hip,
//     12 L knee, 13 L ankle, 14 R eye, 15 L eye, 16 R ear, 17 L ear.
//   body_25 (OpenPose BODY_25, no graph): as openpose for 0-7, 8 mid hip, 9 R hip, 10 R knee,
//     11 R ankle, 12 L hip, 13 L knee, 14 L ankle, 15 R eye, 16 L eye, 17 R ear, 18 L ear,
//     19 L big toe, 20 L small toe, 21 L heel, 22 R big toe, 23 R small toe, 24 R heel.
//   coco (graph.cpp make_coco): 0 nose, 1 L eye, 2 R eye, 3 L ear, 4 R ear, 5 L shoulder,
//     6 R shoulder, 7 L elbow, 8 R elbow, 9 L wrist, 10 R wrist, 11 L hip, 12 R hip, 13 L knee,
//     14 R knee, 15 L ankle, 16 R ankle.
//   mediapipe / blazepose: the 33 MediaPipe Pose landmarks (mediapipe_landmark_names());
//     the two layouts differ only in their edges (graph.cpp), not in their joints.
//   ntu-rgb+d: the 25 Kinect v2 joints (docs/dataset.md has the names).
//   ntu_edge: 24 nodes that are the NTU skeleton's bones, not joints: no joint
//     mapping produces it (bones are differences, not averages).

namespace {

using Mapping = std::vector<std::vector<int>>;

const Mapping kBody25ToOpenpose = {{0},  {1},  {2},  {3},  {4},  {5},  {6},  {7},  {9},
                                   {10}, {11}, {12}, {13}, {14}, {15}, {16}, {17}, {18}};
const Mapping kBody25ToCoco = {{0}, {16}, {15}, {18}, {17}, {5},  {2},  {6}, {3},
                               {7}, {4},  {12}, {9},  {13}, {10}, {14}, {11}};
const Mapping kOpenposeToCoco = {{0}, {15}, {14}, {17}, {16}, {5}, {2},  {6}, {3},
                                 {7}, {4},  {11}, {8},  {12}, {9}, {13}, {10}};
const Mapping kCocoToOpenpose = {{0},  {5, 6}, {6},  {8},  {10}, {5}, {7}, {9}, {12},
                                 {14}, {16},   {11}, {13}, {15}, {2}, {1}, {4}, {3}};
// As python/skeleton_data/skeleton.py MAPPINGS (what the bundled models were trained with).
const Mapping kMediapipeToOpenpose = {{0},  {11, 12}, {12}, {14}, {16}, {11}, {13}, {15}, {24},
                                      {26}, {28},     {23}, {25}, {27}, {5},  {2},  {8},  {7}};
const Mapping kMediapipeToCoco = {{0},  {2},  {5},  {7},  {8},  {11}, {12}, {13}, {14},
                                  {15}, {16}, {23}, {24}, {25}, {26}, {27}, {28}};
const Mapping kMediapipeToNtu = {{23, 24},
                                 {11, 12, 23, 24},
                                 {11, 12, 11, 12, 7, 8},
                                 {7, 8},  // spine base, mid, neck, head
                                 {11},
                                 {13},
                                 {15},
                                 {17, 19},  // left arm, hand
                                 {12},
                                 {14},
                                 {16},
                                 {18, 20},  // right arm, hand
                                 {23},
                                 {25},
                                 {27},
                                 {31},  // left leg, foot
                                 {24},
                                 {26},
                                 {28},
                                 {32},      // right leg, foot
                                 {11, 12},  // spine shoulder
                                 {19},
                                 {21},
                                 {20},
                                 {22}};  // hand tips, thumbs

bool is_mediapipe(std::string_view l) { return l == "mediapipe" || l == "blazepose"; }

}  // namespace

namespace sources {

int layout_joints(std::string_view name) {
  if (name == "body_25") return 25;
  auto l = named_layout(name);
  return l.is_ok() ? l->num_joints : 0;
}

std::string infer_layout(int V, bool has_z) {
  switch (V) {
    case 17: return "coco";
    case 18: return "openpose";
    case 24: return "ntu_edge";
    case 25: return has_z ? "ntu-rgb+d" : "body_25";
    case 33: return "mediapipe";
    default: return "";
  }
}

const std::vector<std::string>& mediapipe_landmark_names() {
  static const std::vector<std::string> names = {
      "nose",        "left_eye_inner",  "left_eye",        "left_eye_outer", "right_eye_inner",
      "right_eye",   "right_eye_outer", "left_ear",        "right_ear",      "mouth_left",
      "mouth_right", "left_shoulder",   "right_shoulder",  "left_elbow",     "right_elbow",
      "left_wrist",  "right_wrist",     "left_pinky",      "right_pinky",    "left_index",
      "right_index", "left_thumb",      "right_thumb",     "left_hip",       "right_hip",
      "left_knee",   "right_knee",      "left_ankle",      "right_ankle",    "left_heel",
      "right_heel",  "left_foot_index", "right_foot_index"};
  return names;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool parse_double(std::string_view s, double& out) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc::result_out_of_range) {  // 1e999: report it as non-finite, not as text
    out = (s.front() == '-') ? -HUGE_VAL : HUGE_VAL;
    return p == s.data() + s.size();
  }
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_int64(std::string_view s, int64_t& out) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string format_number(double v) { return fmt::format("{}", v); }

// A whole JSON document (MediaPipe JSON, an OpenPose frame, Kinetics-skeleton JSON): a
// regular file of at most 1 GiB (a device or FIFO has no size to check).
Result<std::string> read_file(const std::string& path) {
  STGCN_ASSIGN_OR_RETURN(uint64_t size, regular_file_size(path, uint64_t{1} << 30));
  return read_file_prefix(path, size);
}

LineRead read_line(std::istream& in, std::string& out, size_t max_bytes) {
  out.clear();
  bool any = false, too_long = false;
  std::streambuf* sb = in.rdbuf();
  while (true) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      if (!any) return LineRead::kEnd;
      break;
    }
    any = true;
    if (c == '\n') break;
    if (out.size() < max_bytes)
      out.push_back(static_cast<char>(c));
    else
      too_long = true;
  }
  if (too_long) out.clear();
  return too_long ? LineRead::kTooLong : LineRead::kLine;
}

// ---------------------------------------------------------------------------
// SourceBase.

SourceBase::SourceBase(std::string path, const SourceOptions& options)
    : path_(std::move(path)), display_path_(path_ == "-" ? "stdin" : path_) {
  options_ = options;
}

std::string SourceBase::where(int64_t line) const {
  return display_path_ + ":" + std::to_string(line);
}

Status SourceBase::init() {
  if (!options_.source_layout.empty()) {
    const int V = layout_joints(options_.source_layout);
    if (source_known() && V != src_V_)
      return invalid_argument(
          fmt::format("'{}': source_layout '{}' has {} joints, but this format has {} ('{}')",
                      display_path_, options_.source_layout, V, src_V_, src_layout_));
    set_source_layout(options_.source_layout, V);
  }
  // Read ahead (keeping the records) until a person tells the source layout.
  while (!source_known()) {
    RawFrame raw;
    auto more = read_raw(raw);
    if (!more.is_ok()) return more.status();
    if (!*more) break;
    pending_.push_back(std::move(raw));
  }
  if (options_.layout.empty()) {
    out_layout_ = src_layout_;
    out_V_ = src_V_;
    return Status::ok();
  }
  out_layout_ = options_.layout;
  out_V_ = layout_joints(options_.layout);
  if (!source_known()) return Status::ok();  // no person anywhere: nothing to map
  if (src_layout_.empty()) {
    if (src_V_ == out_V_) return Status::ok();
    return unsupported(fmt::format(
        "'{}': the source's persons have {} joints, which is no known layout; cannot map them to "
        "'{}' ({} joints) (set the source layout)",
        display_path_, src_V_, options_.layout, out_V_));
  }
  auto m = joint_mapping(src_layout_, options_.layout);
  if (!m.is_ok()) return m.status().with_context("'" + display_path_ + "': ");
  map_ = std::move(*m);
  identity_ = static_cast<int>(map_.size()) == src_V_;
  for (size_t j = 0; identity_ && j < map_.size(); ++j)
    identity_ = map_[j].size() == 1 && map_[j][0] == static_cast<int>(j);
  return Status::ok();
}

bool SourceBase::validate(const RawFrame& raw) {
  if (!std::isfinite(raw.timestamp)) {
    report(raw.where, "timestamp is not finite (" + format_number(raw.timestamp) + ")");
    return false;
  }
  std::set<int64_t> tracks;
  for (size_t i = 0; i < raw.persons.size(); ++i) {
    const PersonObs& p = raw.persons[i];
    const size_t V = p.confidence.size();
    if (static_cast<int>(V) != src_V_) {
      report(raw.where,
             fmt::format("person {} (track {}) has {} joints, expected {}", i, p.track, V, src_V_));
      return false;
    }
    for (size_t j = 0; j < V; ++j) {
      const float vals[4] = {p.xyz[3 * j], p.xyz[3 * j + 1], p.xyz[3 * j + 2], p.confidence[j]};
      for (float v : vals) {
        if (!std::isfinite(v)) {
          report(raw.where, fmt::format("person {} (track {}) joint {} has a non-finite value ({})",
                                        i, p.track, j, format_number(v)));
          return false;
        }
      }
    }
    if (!tracks.insert(p.track).second) {
      report(raw.where, fmt::format("track {} appears twice in the frame", p.track));
      return false;
    }
  }
  if (have_last_ && !(raw.timestamp > last_t_)) {
    report(raw.where, fmt::format("timestamp {} is not after the previous frame's {} (timestamps "
                                  "must increase)",
                                  format_number(raw.timestamp), format_number(last_t_)));
    return false;
  }
  have_last_ = true;
  last_t_ = raw.timestamp;
  return true;
}

void SourceBase::convert(RawFrame& raw, Frame& out) const {
  const float sx = options_.width > 0 ? static_cast<float>(1.0 / options_.width) : 1.0f;
  const float sy = options_.height > 0 ? static_cast<float>(1.0 / options_.height) : 1.0f;
  for (PersonObs& p : raw.persons) {
    const size_t V = p.confidence.size();
    for (size_t j = 0; j < V; ++j) {
      p.xyz[3 * j] *= sx;
      p.xyz[3 * j + 1] *= sy;
      p.confidence[j] = std::clamp(p.confidence[j], 0.0f, 1.0f);
    }
    if (identity_) continue;
    std::vector<float> xyz(map_.size() * 3, 0.0f), conf(map_.size(), 0.0f);
    for (size_t t = 0; t < map_.size(); ++t) {
      const auto& srcs = map_[t];
      bool present = true;
      float c = 1.0f;
      for (int s : srcs) {
        present = present && p.confidence[s] > 0.0f;
        c = std::min(c, p.confidence[s]);
      }
      if (!present) continue;  // missing: (0, 0, 0), confidence 0
      for (int k = 0; k < 3; ++k) {
        float sum = 0;
        for (int s : srcs) sum += p.xyz[3 * s + k];
        xyz[3 * t + k] = sum / static_cast<float>(srcs.size());
      }
      conf[t] = c;
    }
    p.xyz = std::move(xyz);
    p.confidence = std::move(conf);
  }
  out.stream = options_.stream;
  out.timestamp = raw.timestamp;
  out.persons = std::move(raw.persons);
}

Result<bool> SourceBase::next(Frame& frame) {
  while (true) {
    RawFrame raw;
    if (!pending_.empty()) {
      raw = std::move(pending_.front());
      pending_.pop_front();
    } else {
      auto more = read_raw(raw);
      if (!more.is_ok()) return more.status();
      if (!*more) return false;
    }
    if (!validate(raw)) continue;
    convert(raw, frame);
    return true;
  }
}

}  // namespace sources

void FrameSource::report(const std::string& where, const std::string& message) {
  ++errors_;
  if (options_.on_error) options_.on_error(SourceError{options_.stream, where, message});
}

Result<std::vector<std::vector<int>>> joint_mapping(std::string_view from, std::string_view to) {
  for (std::string_view l : {from, to})
    if (layout_joints(l) == 0)
      return invalid_argument("unknown layout '" + std::string(l) +
                              "' (expected openpose, body_25, coco, mediapipe, blazepose, "
                              "ntu-rgb+d or ntu_edge)");
  if (from == to || (is_mediapipe(from) && is_mediapipe(to))) {
    Mapping id(layout_joints(from));
    for (size_t j = 0; j < id.size(); ++j) id[j] = {static_cast<int>(j)};
    return id;
  }
  if (from == "body_25" && to == "openpose") return kBody25ToOpenpose;
  if (from == "body_25" && to == "coco") return kBody25ToCoco;
  if (from == "openpose" && to == "coco") return kOpenposeToCoco;
  if (from == "coco" && to == "openpose") return kCocoToOpenpose;
  if (is_mediapipe(from) && to == "openpose") return kMediapipeToOpenpose;
  if (is_mediapipe(from) && to == "coco") return kMediapipeToCoco;
  if (is_mediapipe(from) && (to == "ntu-rgb+d" || to == "nturgb+d")) return kMediapipeToNtu;
  if (to == "ntu_edge")
    return unsupported("no joint mapping from '" + std::string(from) +
                       "' to 'ntu_edge': its 24 nodes are the NTU skeleton's bones, not joints");
  return unsupported("no joint mapping from '" + std::string(from) + "' to '" + std::string(to) +
                     "' (defined: body_25 -> openpose / coco, openpose <-> coco, "
                     "mediapipe / blazepose -> openpose / coco / ntu-rgb+d, and identities)");
}

// ---------------------------------------------------------------------------
// open() and format detection.

namespace {

// The first non-blank line of `text`.
std::string_view first_line(std::string_view text) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    if (!line.empty()) return line;
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return {};
}

bool has_key(const std::vector<std::string>& keys, std::string_view k) {
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

Result<SourceFormat> detect_format(const std::string& path) {
  if (path == "-") return SourceFormat::kJsonl;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return SourceFormat::kOpenPoseJson;
  const std::string ext = lower(fs::path(path).extension().string());
  if (ext == ".jsonl" || ext == ".ndjson") return SourceFormat::kJsonl;
  if (ext == ".skeleton") return SourceFormat::kNtuSkeleton;
  if (ext == ".csv") return SourceFormat::kMediaPipeCsv;
  STGCN_ASSIGN_OR_RETURN(std::string text, read_file(path));
  if (ext == ".json") {
    const auto keys = json_top_level_keys(text);
    if (looks_like_kinetics(keys)) return SourceFormat::kKineticsJson;
    return has_key(keys, "people") ? SourceFormat::kOpenPoseJson : SourceFormat::kMediaPipeJson;
  }
  // Other extensions: from the first bytes.
  const std::string_view line = first_line(text);
  if (!line.empty() && line.front() == '{') {
    const auto line_keys = json_top_level_keys(line);
    if (has_key(line_keys, "persons") || has_key(line_keys, "layout")) return SourceFormat::kJsonl;
    const auto keys = json_top_level_keys(text);
    if (looks_like_kinetics(keys)) return SourceFormat::kKineticsJson;
    if (has_key(keys, "people")) return SourceFormat::kOpenPoseJson;
    return SourceFormat::kMediaPipeJson;
  }
  if (!line.empty() && line.front() == '[') return SourceFormat::kMediaPipeJson;
  int64_t n = 0;
  if (parse_int64(line, n)) return SourceFormat::kNtuSkeleton;
  if (line.find(',') != std::string_view::npos) return SourceFormat::kMediaPipeCsv;
  return unsupported("cannot detect the format of '" + path +
                     "' (extensions: .jsonl, .json, .csv, .skeleton, or a directory of OpenPose "
                     "JSON files); name the format");
}

std::string default_stream_name(const std::string& path) {
  if (path == "-") return "stdin";
  fs::path p(path);
  if (!p.has_filename()) p = p.parent_path();  // "dir/"
  std::error_code ec;
  if (fs::is_directory(p, ec)) return p.filename().string();
  return p.stem().string();
}

}  // namespace

Result<std::unique_ptr<FrameSource>> FrameSource::open(const std::string& path,
                                                       const SourceOptions& options) {
  if (!(options.fps > 0) || !std::isfinite(options.fps))
    return invalid_argument("source '" + path + "': fps must be > 0, got " +
                            format_number(options.fps));
  if (!(options.width >= 0) || !std::isfinite(options.width) || !(options.height >= 0) ||
      !std::isfinite(options.height))
    return invalid_argument("source '" + path + "': width and height must be >= 0");
  for (const std::string* l : {&options.layout, &options.source_layout})
    if (!l->empty() && layout_joints(*l) == 0)
      return invalid_argument("source '" + path + "': unknown layout '" + *l +
                              "' (expected openpose, body_25, coco, mediapipe, blazepose, "
                              "ntu-rgb+d or ntu_edge)");
  if (path.empty()) return invalid_argument("source path is empty");
  std::error_code ec;
  const bool is_stdin = path == "-";
  if (!is_stdin && !fs::exists(path, ec)) return not_found("input '" + path + "' not found");
  const bool is_dir = !is_stdin && fs::is_directory(path, ec);

  SourceFormat format = options.format;
  if (format == SourceFormat::kAuto) {
    STGCN_ASSIGN_OR_RETURN(format, detect_format(path));
  }
  if (is_stdin && format != SourceFormat::kJsonl)
    return invalid_argument(std::string("standard input ('-') is read as jsonl only, not ") +
                            source_format_name(format));
  if (is_dir && format != SourceFormat::kOpenPoseJson)
    return invalid_argument("'" + path + "' is a directory; only openpose-json reads directories");

  SourceOptions opt = options;
  opt.format = format;
  if (opt.stream.empty()) opt.stream = default_stream_name(path);

  Result<std::unique_ptr<SourceBase>> src = internal_error("no reader");
  switch (format) {
    case SourceFormat::kJsonl: src = make_jsonl_source(path, opt); break;
    case SourceFormat::kOpenPoseJson: src = make_openpose_source(path, opt); break;
    case SourceFormat::kMediaPipeJson: src = make_mediapipe_json_source(path, opt); break;
    case SourceFormat::kMediaPipeCsv: src = make_mediapipe_csv_source(path, opt); break;
    case SourceFormat::kNtuSkeleton: src = make_ntu_source(path, opt); break;
    case SourceFormat::kKineticsJson: src = make_kinetics_source(path, opt); break;
    case SourceFormat::kAuto: break;
  }
  if (!src.is_ok()) return src.status();
  STGCN_RETURN_IF_ERROR((*src)->init());
  return std::unique_ptr<FrameSource>(std::move(*src));
}

}  // namespace stgcn
