// JSON readers: our JSONL frame stream, OpenPose --write_json files and
// MediaPipe JSON documents (docs/sources.md). nlohmann exceptions are caught
// here; nothing throws past these functions.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "sources/sources_internal.h"

namespace stgcn::sources {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// ---------------------------------------------------------------------------
// A minimal JSON scanner: skips values without building them, so that the
// elements of a large array can be located (with their line) and parsed one
// by one, and the top-level keys of a document listed.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : t_(text) {}
  size_t pos = 0;

  bool at_end() const { return pos >= t_.size(); }
  char peek() const { return at_end() ? '\0' : t_[pos]; }
  void skip_ws() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(t_[pos]))) ++pos;
  }
  // At '"': past the closing quote; `out` gets the raw (unescaped) contents.
  bool read_string(std::string* out) {
    ++pos;
    while (!at_end()) {
      const char c = t_[pos];
      if (c == '\\') {
        if (out) out->append(t_.substr(pos, 2));
        pos += 2;
        continue;
      }
      ++pos;
      if (c == '"') return true;
      if (out) out->push_back(c);
    }
    return false;
  }
  // One value (string, container or scalar); false when the text ends inside it.
  bool skip_value() {
    if (peek() == '"') return read_string(nullptr);
    if (peek() != '{' && peek() != '[') {
      const size_t start = pos;
      while (!at_end() && std::string_view(",]}").find(t_[pos]) == std::string_view::npos &&
             !std::isspace(static_cast<unsigned char>(t_[pos])))
        ++pos;
      return pos > start;
    }
    int depth = 0;
    do {
      if (at_end()) return false;
      const char c = t_[pos];
      if (c == '"') {
        if (!read_string(nullptr)) return false;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') --depth;
      ++pos;
    } while (depth > 0);
    return true;
  }

 private:
  std::string_view t_;
};

// Frames of a MediaPipe JSON document: where each element is, or why it is not.
struct Element {
  size_t begin = 0, end = 0;
  int64_t line = 1;
  std::string error;  // set: report this instead of parsing
};

class LineCounter {
 public:
  explicit LineCounter(std::string_view t) : t_(t) {}
  int64_t at(size_t pos) {  // pos only grows
    for (; done_ < pos && done_ < t_.size(); ++done_) line_ += t_[done_] == '\n';
    return line_;
  }

 private:
  std::string_view t_;
  size_t done_ = 0;
  int64_t line_ = 1;
};

void scan_array(std::string_view text, Scanner& s, LineCounter& lines, std::vector<Element>& out) {
  ++s.pos;  // '['
  while (true) {
    s.skip_ws();
    if (s.at_end()) {
      out.push_back({s.pos, s.pos, lines.at(s.pos), "truncated: the frames array is not closed"});
      return;
    }
    if (s.peek() == ']') return;
    Element e;
    e.begin = s.pos;
    e.line = lines.at(s.pos);
    const bool ok = s.skip_value();
    e.end = ok ? s.pos : text.size();
    out.push_back(e);
    if (!ok) return;  // parsing the element reports it as truncated
    s.skip_ws();
    if (s.peek() == ',') {
      ++s.pos;
    } else if (s.peek() != ']') {
      out.push_back({s.pos, s.pos, lines.at(s.pos), "bad JSON: expected ',' or ']' after a frame"});
      if (s.at_end()) return;
    }
  }
}

// For each key of a top-level object: calls fn(key, scanner at its value)
// which must skip the value; stops when fn returns false.
template <typename Fn>
void for_each_top_level_key(Scanner& s, Fn fn) {
  s.skip_ws();
  if (s.peek() != '{') return;
  ++s.pos;
  while (true) {
    s.skip_ws();
    if (s.peek() != '"') return;
    std::string key;
    if (!s.read_string(&key)) return;
    s.skip_ws();
    if (s.peek() != ':') return;
    ++s.pos;
    s.skip_ws();
    if (!fn(key, s)) return;
    s.skip_ws();
    if (s.peek() != ',') return;
    ++s.pos;
  }
}

Status split_frames(std::string_view text, const std::string& path, std::vector<Element>& out) {
  Scanner s(text);
  LineCounter lines(text);
  s.skip_ws();
  if (s.peek() == '[') {
    scan_array(text, s, lines, out);
    return Status::ok();
  }
  if (s.peek() != '{')
    return corrupt("'" + path +
                   "' is not a MediaPipe JSON document (expected an array of frames "
                   "or an object)");
  const size_t object_begin = s.pos;
  bool found = false;
  for_each_top_level_key(s, [&](const std::string& key, Scanner& sc) {
    if (key == "frames" && sc.peek() == '[') {
      scan_array(text, sc, lines, out);
      found = true;
      return false;
    }
    return sc.skip_value();
  });
  if (!found) out.push_back({object_begin, text.size(), lines.at(object_begin), ""});  // one frame
  return Status::ok();
}

// A bare NaN / Infinity token outside strings (Python's json.dumps writes them).
bool has_non_finite_token(std::string_view t) {
  bool in_string = false;
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if ((c == 'N' && t.substr(i, 3) == "NaN") || (c == 'I' && t.substr(i, 8) == "Infinity"))
      return true;
  }
  return false;
}

bool parse_json(std::string_view text, json& out, std::string& error) {
  try {
    out = json::parse(text.begin(), text.end());
    return true;
  } catch (const json::exception& e) {
    if (has_non_finite_token(text)) {
      error = "non-finite value (NaN / Infinity; JSON has no such numbers)";
      return false;
    }
    std::string what = e.what();
    if (const size_t p = what.find("] "); what.rfind("[json.exception", 0) == 0 && p != what.npos)
      what = what.substr(p + 2);
    if (what.size() > 200) what = what.substr(0, 200) + "...";
    error = "bad JSON: " + what;
    return false;
  }
}

bool get_number(const json& v, double& out) {
  if (!v.is_number()) return false;
  out = v.get<double>();
  return true;
}

bool get_integer(const json& v, int64_t& out) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return false;
    out = static_cast<int64_t>(v.get<uint64_t>());
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!(std::floor(d) == d) || std::fabs(d) > 9e15) return false;
    out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

bool is_mediapipe(std::string_view l) { return l == "mediapipe" || l == "blazepose"; }

const json* find(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// ---------------------------------------------------------------------------
// JSONL: {"t": 0.033, "frame": 1, "persons": [{"id": 3, "kp": [[x, y, c], ...]}]}

class JsonlSource final : public SourceBase {
 public:
  JsonlSource(const std::string& path, const SourceOptions& options) : SourceBase(path, options) {}
  Status open_input() {
    if (path() == "-") {
      in_ = &std::cin;
      return Status::ok();
    }
    file_.open(path(), std::ios::binary);
    if (!file_) return io_error("cannot open '" + path() + "' for reading");
    in_ = &file_;
    return Status::ok();
  }

 protected:
  Result<bool> read_raw(RawFrame& raw) override {
    std::string text;
    while (true) {
      const LineRead got = read_line(*in_, text, options().max_line_bytes);
      if (got == LineRead::kEnd) {
        if (in_->bad()) return io_error("cannot read '" + display_path() + "'");
        return false;
      }
      ++line_;
      if (got == LineRead::kTooLong) {
        report(where(line_), fmt::format("the line is longer than {} bytes (--max-line-bytes)",
                                         options().max_line_bytes));
        continue;
      }
      const std::string_view sv = trim(text);
      if (sv.empty() || sv.front() == '#') continue;
      const int64_t index = records_++;
      raw = RawFrame();
      raw.where = where(line_);
      std::string err;
      if (parse_record(sv, index, raw, err)) return true;
      if (!err.empty()) report(raw.where, err);
    }
  }

 private:
  // False with `err` empty: a header record (no frame).
  bool parse_record(std::string_view text, int64_t index, RawFrame& raw, std::string& err) {
    json j;
    if (!parse_json(text, j, err)) return false;
    if (!j.is_object()) return (err = "the record is not a JSON object"), false;
    if (const json* l = find(j, "layout")) {
      if (!l->is_string()) return (err = "'layout' is not a string"), false;
      const std::string name = l->get<std::string>();
      const int V = layout_joints(name);
      if (V == 0) return (err = "unknown layout '" + name + "'"), false;
      if (!source_known()) {
        set_source_layout(name, V);
      } else if (name != source_layout() &&
                 !(is_mediapipe(name) && is_mediapipe(source_layout()))) {
        return (err = "layout '" + name + "' differs from the stream's '" + source_layout() + "'"),
               false;
      }
    }
    const json* persons = find(j, "persons");
    if (!persons) {
      if (find(j, "layout")) return false;  // header record
      return (err = "no 'persons' array"), false;
    }
    if (!persons->is_array()) return (err = "'persons' is not an array"), false;
    int64_t frame = 0;
    const json* fr = find(j, "frame");
    if (fr && !get_integer(*fr, frame)) return (err = "'frame' is not an integer"), false;
    if (const json* t = find(j, "t")) {
      if (!get_number(*t, raw.timestamp)) return (err = "'t' is not a number"), false;
    } else {
      raw.timestamp = static_cast<double>(fr ? frame : index) / options_.fps;
    }
    for (size_t i = 0; i < persons->size(); ++i) {
      PersonObs p;
      if (!parse_person((*persons)[i], i, p, err)) return false;
      raw.persons.push_back(std::move(p));
    }
    return true;
  }

  bool parse_person(const json& pj, size_t i, PersonObs& p, std::string& err) {
    if (!pj.is_object()) return (err = fmt::format("person {} is not an object", i)), false;
    p.track = static_cast<int64_t>(i);
    const json* id = find(pj, "id");
    if (!id) id = find(pj, "track");
    if (id && !get_integer(*id, p.track))
      return (err = fmt::format("person {}: the track id is not an integer", i)), false;
    const json* kp = find(pj, "kp");
    if (!kp || !kp->is_array()) return (err = fmt::format("person {} has no 'kp' array", i)), false;
    if (kp->empty()) return (err = fmt::format("person {} has no keypoints", i)), false;
    const size_t width = (*kp)[0].is_array() ? (*kp)[0].size() : 0;
    if (width < 2 || width > 4)
      return (err = fmt::format("person {} joint 0: a keypoint is a row of 2, 3 or 4 numbers", i)),
             false;
    const size_t V = kp->size();
    p.xyz.assign(3 * V, 0.0f);
    p.confidence.assign(V, 1.0f);
    for (size_t v = 0; v < V; ++v) {
      const json& row = (*kp)[v];
      if (!row.is_array() || row.size() != width)
        return (err =
                    fmt::format("person {} joint {}: rows must all have {} numbers", i, v, width)),
               false;
      double x[4] = {0, 0, 0, 1};
      for (size_t k = 0; k < width; ++k)
        if (!get_number(row[k], x[k]))
          return (err = fmt::format("person {} joint {}: value {} is not a number", i, v, k)),
                 false;
      // [x, y] / [x, y, c] / [x, y, z, c]
      const double z = width == 4 ? x[2] : 0.0;
      const double c = width == 3 ? x[2] : width == 4 ? x[3] : 1.0;
      p.xyz[3 * v] = static_cast<float>(x[0]);
      p.xyz[3 * v + 1] = static_cast<float>(x[1]);
      p.xyz[3 * v + 2] = static_cast<float>(z);
      p.confidence[v] = static_cast<float>(c);
    }
    if (!source_known())
      set_source_layout(infer_layout(static_cast<int>(V), width == 4), static_cast<int>(V));
    return true;
  }

  std::ifstream file_;
  std::istream* in_ = nullptr;
  int64_t line_ = 0;
  int64_t records_ = 0;
};

// ---------------------------------------------------------------------------
// OpenPose --write_json: {"version": 1.3, "people": [{"person_id": [-1],
// "pose_keypoints_2d": [x, y, c, ...]}]}, one file per frame.

// Natural order: digit runs compare as numbers ("f2" < "f10"); equals name
// order for zero-padded names.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      std::string_view na(a.data() + i, ie - i), nb(b.data() + j, je - j);
      while (na.size() > 1 && na.front() == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb.front() == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return (a.size() - i) < (b.size() - j);
  return a < b;
}

// The frame number in "video_000000000012_keypoints.json" (or "000012.json"); -1 when none.
int64_t frame_number(const std::string& filename) {
  std::string stem = fs::path(filename).stem().string();
  const std::string suffix = "_keypoints";
  if (stem.size() > suffix.size() &&
      stem.compare(stem.size() - suffix.size(), suffix.size(), suffix) == 0)
    stem.resize(stem.size() - suffix.size());
  size_t b = stem.size();
  while (b > 0 && std::isdigit(static_cast<unsigned char>(stem[b - 1]))) --b;
  if (b == stem.size() || stem.size() - b > 15) return -1;
  int64_t n = 0;
  return parse_int64(std::string_view(stem).substr(b), n) ? n : -1;
}

class OpenPoseSource final : public SourceBase {
 public:
  OpenPoseSource(const std::string& path, const SourceOptions& options)
      : SourceBase(path, options) {}

  Status list_files() {
    std::error_code ec;
    if (!fs::is_directory(path(), ec)) {
      const int64_t n = frame_number(fs::path(path()).filename().string());
      files_.push_back({path(), n >= 0 ? n : 0});
      return Status::ok();
    }
    std::vector<std::string> names;
    for (fs::directory_iterator it(path(), ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code ec2;
      if (!it->is_regular_file(ec2)) continue;
      const std::string name = it->path().filename().string();
      if (lower(it->path().extension().string()) == ".json") names.push_back(name);
    }
    if (ec) return io_error("cannot list '" + path() + "': " + ec.message());
    if (names.empty()) return not_found("no .json files in directory '" + path() + "'");
    std::sort(names.begin(), names.end(), natural_less);
    for (size_t i = 0; i < names.size(); ++i) {
      const int64_t n = frame_number(names[i]);
      files_.push_back(
          {(fs::path(path()) / names[i]).string(), n >= 0 ? n : static_cast<int64_t>(i)});
    }
    return Status::ok();
  }

 protected:
  Result<bool> read_raw(RawFrame& raw) override {
    while (next_ < files_.size()) {
      const auto& [file, index] = files_[next_++];
      STGCN_ASSIGN_OR_RETURN(std::string text, read_file(file));
      raw = RawFrame();
      raw.where = file;
      raw.timestamp = static_cast<double>(index) / options_.fps;
      std::string err;
      if (parse_frame(text, raw, err)) return true;
      report(raw.where, err);
    }
    return false;
  }

 private:
  bool parse_frame(std::string_view text, RawFrame& raw, std::string& err) {
    json j;
    if (!parse_json(text, j, err)) return false;
    const json* people = j.is_object() ? find(j, "people") : nullptr;
    if (!people || !people->is_array())
      return (err = "no 'people' array (not an OpenPose --write_json file)"), false;
    for (size_t i = 0; i < people->size(); ++i) {
      const json& pj = (*people)[i];
      if (!pj.is_object()) return (err = fmt::format("person {} is not an object", i)), false;
      const json* kp = find(pj, "pose_keypoints_2d");
      if (!kp || !kp->is_array())
        return (err = fmt::format("person {} has no 'pose_keypoints_2d' array", i)), false;
      if (kp->empty()) continue;  // a person without body keypoints (face / hands only)
      if (kp->size() != 75 && kp->size() != 54)
        return (err = fmt::format("person {} has {} keypoint values, expected 75 (BODY_25) or 54 "
                                  "(COCO-18)",
                                  i, kp->size())),
               false;
      PersonObs p;
      p.track = static_cast<int64_t>(i);
      if (const json* id = find(pj, "person_id")) {
        const json& v = (id->is_array() && !id->empty()) ? (*id)[0] : *id;
        int64_t track = -1;
        if (!v.is_array() && !get_integer(v, track))
          return (err = fmt::format("person {}: 'person_id' is not an integer", i)), false;
        if (track >= 0) p.track = track;
      }
      const size_t V = kp->size() / 3;
      p.xyz.assign(3 * V, 0.0f);
      p.confidence.assign(V, 0.0f);
      for (size_t v = 0; v < V; ++v) {
        double x[3];
        for (size_t k = 0; k < 3; ++k)
          if (!get_number((*kp)[3 * v + k], x[k]))
            return (err = fmt::format("person {}: value {} is not a number", i, 3 * v + k)), false;
        p.xyz[3 * v] = static_cast<float>(x[0]);
        p.xyz[3 * v + 1] = static_cast<float>(x[1]);
        p.confidence[v] = static_cast<float>(x[2]);
      }
      if (!source_known()) set_source_layout(V == 25 ? "body_25" : "openpose", static_cast<int>(V));
      raw.persons.push_back(std::move(p));
    }
    return true;
  }

  std::vector<std::pair<std::string, int64_t>> files_;  // path, frame index
  size_t next_ = 0;
};

// ---------------------------------------------------------------------------
// MediaPipe JSON: [{"timestamp_ms": 33, "landmarks": [{"x":..,"y":..,"z":..,"visibility":..},
// ...]}] or {"frames": [...]}; several persons: "pose_landmarks" / "poses" / "landmarks" as a list
// of landmark lists, optional "track_ids".

// A landmark list: [landmark, ...] (objects or arrays of numbers), or {"landmark": [...]}
// (protobuf MessageToDict). nullptr when `v` is not one.
const json* as_landmark_list(const json& v) {
  if (v.is_object()) {
    const json* l = find(v, "landmark");
    if (!l) l = find(v, "landmarks");
    return (l && l->is_array()) ? l : nullptr;
  }
  if (!v.is_array() || v.empty()) return nullptr;
  const json& first = v[0];
  if (first.is_object() && first.contains("x")) return &v;
  if (first.is_array() && !first.empty() && first[0].is_number()) return &v;
  return nullptr;
}

bool parse_landmarks(const json& list, size_t person, PersonObs& p, std::string& err) {
  const size_t V = list.size();
  p.xyz.assign(3 * V, 0.0f);
  p.confidence.assign(V, 1.0f);
  for (size_t v = 0; v < V; ++v) {
    const json& lm = list[v];
    double x[4] = {0, 0, 0, 1};  // x, y, z, visibility
    if (lm.is_object()) {
      static const char* const kKeys[4] = {"x", "y", "z", "visibility"};
      for (int k = 0; k < 4; ++k) {
        const json* f = find(lm, kKeys[k]);
        if (!f) {
          if (k < 2)
            return (err = fmt::format("person {} landmark {} has no '{}'", person, v, kKeys[k])),
                   false;
          continue;
        }
        if (!get_number(*f, x[k]))
          return (err = fmt::format("person {} landmark {}: '{}' is not a number", person, v,
                                    kKeys[k])),
                 false;
      }
    } else if (lm.is_array() && lm.size() >= 2 && lm.size() <= 4) {
      for (size_t k = 0; k < lm.size(); ++k)
        if (!get_number(lm[k], x[k]))
          return (err =
                      fmt::format("person {} landmark {}: value {} is not a number", person, v, k)),
                 false;
    } else {
      return (err = fmt::format("person {} landmark {} is not an object or a row of 2 to 4 "
                                "numbers [x, y, z, visibility]",
                                person, v)),
             false;
    }
    for (int k = 0; k < 3; ++k) p.xyz[3 * v + k] = static_cast<float>(x[k]);
    p.confidence[v] = static_cast<float>(x[3]);
  }
  return true;
}

class MediaPipeJsonSource final : public SourceBase {
 public:
  MediaPipeJsonSource(const std::string& path, const SourceOptions& options)
      : SourceBase(path, options) {
    set_source_layout("mediapipe", 33);
  }
  Status load() {
    STGCN_ASSIGN_OR_RETURN(text_, read_file(path()));
    return split_frames(text_, path(), elements_);
  }

 protected:
  Result<bool> read_raw(RawFrame& raw) override {
    while (next_ < elements_.size()) {
      const size_t index = next_++;
      const Element& e = elements_[index];
      raw = RawFrame();
      raw.where = where(e.line);
      std::string err = e.error;
      if (err.empty()) {
        if (parse_frame(std::string_view(text_).substr(e.begin, e.end - e.begin), index, raw, err))
          return true;
      }
      report(raw.where, err);
    }
    return false;
  }

 private:
  bool parse_frame(std::string_view text, size_t index, RawFrame& raw, std::string& err) {
    json j;
    if (!parse_json(text, j, err)) return false;
    if (!j.is_object()) return (err = "the frame is not a JSON object"), false;
    int64_t frame = static_cast<int64_t>(index);
    double t = 0;
    if (const json* ms = find(j, "timestamp_ms")) {
      if (!get_number(*ms, t)) return (err = "'timestamp_ms' is not a number"), false;
      raw.timestamp = t / 1000.0;
    } else if (const json* s = find(j, "timestamp")) {
      if (!get_number(*s, t)) return (err = "'timestamp' is not a number"), false;
      raw.timestamp = t;
    } else {
      if (const json* f = find(j, "frame"); f && !get_integer(*f, frame))
        return (err = "'frame' is not an integer"), false;
      raw.timestamp = static_cast<double>(frame) / options_.fps;
    }
    const json* value = nullptr;
    const char* key = nullptr;
    for (const char* k : {"landmarks", "pose_landmarks", "poses"}) {
      if ((value = find(j, k))) {
        key = k;
        break;
      }
    }
    std::vector<const json*> lists;
    if (value && !value->is_null()) {
      if (const json* l = as_landmark_list(*value)) {
        lists.push_back(l);
      } else if (value->is_array()) {
        for (size_t i = 0; i < value->size(); ++i) {
          const json* l = as_landmark_list((*value)[i]);
          if (!l && (*value)[i].is_array() && (*value)[i].empty()) l = &(*value)[i];  // 0 joints
          if (!l)
            return (err = fmt::format("'{}' person {} is not a landmark list", key, i)), false;
          lists.push_back(l);
        }
      } else {
        return (err = fmt::format("'{}' is not a landmark list or a list of them", key)), false;
      }
    }
    std::vector<int64_t> ids;
    if (const json* tid = find(j, "track_ids"); tid && !tid->is_null()) {
      if (!tid->is_array() || tid->size() != lists.size())
        return (err = fmt::format("'track_ids' must be an array of {} ids, one per person",
                                  lists.size())),
               false;
      for (const json& v : *tid) {
        int64_t id = 0;
        if (!get_integer(v, id)) return (err = "'track_ids' holds a non-integer"), false;
        ids.push_back(id);
      }
    }
    for (size_t i = 0; i < lists.size(); ++i) {
      PersonObs p;
      p.track = ids.empty() ? static_cast<int64_t>(i) : ids[i];
      if (!parse_landmarks(*lists[i], i, p, err)) return false;
      raw.persons.push_back(std::move(p));
    }
    return true;
  }

  std::string text_;
  std::vector<Element> elements_;
  size_t next_ = 0;
};

}  // namespace

std::vector<std::string> json_top_level_keys(std::string_view text) {
  std::vector<std::string> keys;
  Scanner s(text);
  for_each_top_level_key(s, [&](const std::string& key, Scanner& sc) {
    keys.push_back(key);
    return sc.skip_value();
  });
  return keys;
}

Result<std::unique_ptr<SourceBase>> make_jsonl_source(const std::string& path,
                                                      const SourceOptions& options) {
  auto src = std::make_unique<JsonlSource>(path, options);
  STGCN_RETURN_IF_ERROR(src->open_input());
  return std::unique_ptr<SourceBase>(std::move(src));
}

Result<std::unique_ptr<SourceBase>> make_openpose_source(const std::string& path,
                                                         const SourceOptions& options) {
  auto src = std::make_unique<OpenPoseSource>(path, options);
  STGCN_RETURN_IF_ERROR(src->list_files());
  return std::unique_ptr<SourceBase>(std::move(src));
}

Result<std::unique_ptr<SourceBase>> make_mediapipe_json_source(const std::string& path,
                                                               const SourceOptions& options) {
  auto src = std::make_unique<MediaPipeJsonSource>(path, options);
  STGCN_RETURN_IF_ERROR(src->load());
  return std::unique_ptr<SourceBase>(std::move(src));
}

}  // namespace stgcn::sources
