// Text readers: MediaPipe CSV (wide and long) and NTU RGB+D .skeleton
// (docs/sources.md). Both stream their file line by line.
#include <fmt/format.h>

#include <array>
#include <cctype>
#include <fstream>
#include <optional>
#include <utility>

#include "sources/sources_internal.h"

namespace stgcn::sources {

namespace {

constexpr int kMediaPipeJoints = 33;
constexpr int kNtuJoints = 25;

// Reads non-blank lines, counting every physical line.
class LineReader {
 public:
  Status open(const std::string& path, size_t max_line_bytes) {
    in_.open(path, std::ios::binary);
    if (!in_) return io_error("cannot open '" + path + "' for reading");
    path_ = path;
    max_line_bytes_ = max_line_bytes;
    return Status::ok();
  }
  // The next non-blank line (skipping lines starting with `comment` when not
  // '\0'); false at the end; an error Status on a read failure or an over-long line.
  Result<bool> next(std::string& out, char comment = '\0') {
    LineRead got;
    while ((got = read_line(in_, out, max_line_bytes_)) != LineRead::kEnd) {
      ++line_;
      if (got == LineRead::kTooLong)
        return invalid_argument(fmt::format("'{}' line {}: longer than {} bytes (--max-line-bytes)",
                                            path_, line_, max_line_bytes_));
      const std::string_view t = trim(out);
      if (t.empty() || (comment != '\0' && t.front() == comment)) continue;
      out = std::string(t);
      return true;
    }
    if (in_.bad()) return io_error("cannot read '" + path_ + "'");
    return false;
  }
  int64_t line() const { return line_; }

 private:
  std::ifstream in_;
  std::string path_;
  size_t max_line_bytes_ = size_t{1} << 20;
  int64_t line_ = 0;
};

std::vector<std::string> split_csv(std::string_view line) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur.push_back(c);
      }
    } else if (c == ',') {
      fields.emplace_back(trim(cur));
      cur.clear();
    } else if (c == '"') {
      quoted = true;
    } else {
      cur.push_back(c);
    }
  }
  fields.emplace_back(trim(cur));
  return fields;
}

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    const size_t b = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > b) out.push_back(line.substr(b, i - b));
  }
  return out;
}

// ---------------------------------------------------------------------------
// MediaPipe CSV.

bool one_of(std::string_view s, std::initializer_list<std::string_view> names) {
  for (auto n : names)
    if (s == n) return true;
  return false;
}

// x / y / z / visibility -> 0..3; -1 otherwise.
int channel_of(std::string_view s) {
  if (s == "x") return 0;
  if (s == "y") return 1;
  if (s == "z") return 2;
  if (one_of(s, {"v", "vis", "visibility", "c", "conf", "confidence", "score"})) return 3;
  return -1;
}

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 6) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

int to_int(std::string_view s) {
  int64_t v = 0;
  return parse_int64(s, v) ? static_cast<int>(v) : -1;
}

// A landmark named by index ("5", "landmark_5", "lm5") or MediaPipe name ("left_eye"); -1
// otherwise.
int landmark_of(std::string_view s) {
  for (std::string_view prefix : {"landmark", "keypoint", "joint", "lm", "kp"}) {
    if (s.substr(0, prefix.size()) == prefix) {
      std::string_view rest = s.substr(prefix.size());
      if (!rest.empty() && rest.front() == '_') rest.remove_prefix(1);
      if (all_digits(rest)) return to_int(rest);
    }
  }
  if (all_digits(s)) return to_int(s);
  const auto& names = mediapipe_landmark_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (s == names[i]) return static_cast<int>(i);
  return -1;
}

// A wide column: "x12" / "x_12" / "12_x" / "landmark_12_x" / "nose_x" / "left_wrist_visibility".
bool wide_column(std::string_view n, int& joint, int& channel) {
  size_t d = n.size();
  while (d > 0 && std::isdigit(static_cast<unsigned char>(n[d - 1]))) --d;
  if (d > 0 && d < n.size()) {
    std::string_view head = n.substr(0, d);
    if (head.back() == '_') head.remove_suffix(1);
    if ((channel = channel_of(head)) >= 0 && all_digits(n.substr(d))) {
      joint = to_int(n.substr(d));
      return true;
    }
  }
  const size_t p = n.find_last_of("_.");
  if (p == std::string_view::npos) return false;
  channel = channel_of(n.substr(p + 1));
  joint = landmark_of(n.substr(0, p));
  return channel >= 0 && joint >= 0;
}

struct CsvColumns {
  bool long_format = false;
  int frame = -1, ts = -1, ts_ms = -1, person = -1;
  int landmark = -1;                                      // long
  std::array<int, 4> channel{-1, -1, -1, -1};             // long: x, y, z, visibility
  std::array<std::array<int, 4>, kMediaPipeJoints> wide;  // wide: [joint][channel]
  size_t fields = 0;
  std::vector<std::string> names;  // the header
};

Status parse_csv_header(const std::vector<std::string>& header, const std::string& path,
                        CsvColumns& c) {
  c.fields = header.size();
  c.names = header;
  for (auto& j : c.wide) j.fill(-1);
  bool any_wide = false;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string n = lower(header[i]);
    const int col = static_cast<int>(i);
    int joint = -1, channel = -1;
    if (one_of(n, {"frame", "frame_index", "frame_idx", "frame_id", "frame_number"})) {
      c.frame = col;
    } else if (one_of(n, {"timestamp", "timestamp_s", "time", "time_s", "t"})) {
      c.ts = col;
    } else if (one_of(n, {"timestamp_ms", "time_ms", "t_ms"})) {
      c.ts_ms = col;
    } else if (one_of(n, {"person", "person_id", "person_index", "track", "track_id", "id", "pose",
                          "pose_index"})) {
      c.person = col;
    } else if (one_of(n, {"landmark", "landmark_id", "landmark_index", "landmark_name", "joint",
                          "joint_id", "keypoint"})) {
      c.landmark = col;
    } else if ((channel = channel_of(n)) >= 0) {
      c.channel[channel] = col;
    } else if (wide_column(n, joint, channel)) {
      if (joint >= kMediaPipeJoints)
        return corrupt(fmt::format("'{}': CSV column '{}' names landmark {}; MediaPipe Pose has 33",
                                   path, header[i], joint));
      c.wide[joint][channel] = col;
      any_wide = true;
    }
  }
  if (c.landmark >= 0 && c.channel[0] >= 0 && c.channel[1] >= 0) {
    c.long_format = true;
    if (c.frame < 0 && c.ts < 0 && c.ts_ms < 0)
      return corrupt("'" + path +
                     "': a long CSV (one row per landmark) needs a frame or "
                     "timestamp column to group its rows");
    return Status::ok();
  }
  if (!any_wide)
    return corrupt("'" + path +
                   "': the CSV header has neither per-landmark columns (x0, y0, z0, "
                   "v0, ... or nose_x, ...) nor landmark, x, y columns");
  for (int j = 0; j < kMediaPipeJoints; ++j)
    if (c.wide[j][0] < 0 || c.wide[j][1] < 0)
      return corrupt(fmt::format("'{}': the CSV header has no x / y column for landmark {} ({})",
                                 path, j, mediapipe_landmark_names()[j]));
  return Status::ok();
}

class MediaPipeCsvSource final : public SourceBase {
 public:
  MediaPipeCsvSource(const std::string& path, const SourceOptions& options)
      : SourceBase(path, options) {
    set_source_layout("mediapipe", 33);
  }
  Status load_header() {
    STGCN_RETURN_IF_ERROR(lines_.open(path(), options().max_line_bytes));
    std::string line;
    STGCN_ASSIGN_OR_RETURN(bool any, lines_.next(line, '#'));
    if (!any) return Status::ok();                             // empty file: no frames
    if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte order mark
    return parse_csv_header(split_csv(line), path(), cols_);
  }

 protected:
  Result<bool> read_raw(RawFrame& raw) override {
    if (cols_.fields == 0) return false;
    while (true) {
      Row row;
      bool have = false;
      if (pending_row_) {
        row = std::move(*pending_row_);
        pending_row_.reset();
        have = true;
      } else {
        std::string line;
        STGCN_ASSIGN_OR_RETURN(have, lines_.next(line, '#'));
        if (have) {
          row.line = lines_.line();
          row.fields = split_csv(line);
          row.key = group_key(row);
        }
      }
      if (!have) {
        if (!group_open_) return false;
        if (finish_group(raw)) return true;
        continue;
      }
      if (group_open_ && row.key != group_.key) {
        pending_row_ = std::move(row);
        if (finish_group(raw)) return true;
        continue;
      }
      if (!group_open_) start_group(row);
      add_row(row);
    }
  }

 private:
  struct Row {
    int64_t line = 0;
    std::vector<std::string> fields;
    std::string key;
  };
  struct Person {
    int64_t track = 0;
    PersonObs obs;
    std::array<bool, kMediaPipeJoints> seen{};
    int count = 0;
  };
  struct Group {
    std::string key;
    int64_t line = 0;
    std::vector<std::string> first_fields;
    std::vector<Person> persons;
    std::string error;  // first problem, and where
    int64_t error_line = 0;
  };

  std::string group_key(const Row& r) const {
    for (int col : {cols_.frame, cols_.ts_ms, cols_.ts})
      if (col >= 0 && col < static_cast<int>(r.fields.size())) return r.fields[col];
    return fmt::format("#{}", r.line);  // no frame column: every row is a frame
  }

  void start_group(const Row& r) {
    group_ = Group();
    group_.key = r.key;
    group_.line = r.line;
    group_.first_fields = r.fields;
    group_.first_fields.resize(cols_.fields);
    group_open_ = true;
  }

  void fail(const Row& r, std::string message) {
    if (!group_.error.empty()) return;
    group_.error = std::move(message);
    group_.error_line = r.line;
  }

  // The value of `col` in `r`; nullopt (after fail()) when it is not a number.
  std::optional<double> number(const Row& r, int col, bool required) {
    const std::string& f = r.fields[col];
    double v = 0;
    if (f.empty() && !required) return std::nullopt;
    if (!parse_double(f, v)) {
      fail(r, fmt::format("column {}: '{}' is not a number", cols_.names[col], f));
      return std::nullopt;
    }
    return v;
  }

  Person& person_for(const Row& r) {
    int64_t track = 0;
    const bool has_id = cols_.person >= 0 && !r.fields[cols_.person].empty();
    if (has_id && !parse_int64(r.fields[cols_.person], track))
      fail(r, "the person / track id '" + r.fields[cols_.person] + "' is not an integer");
    if (!has_id) track = cols_.long_format ? 0 : static_cast<int64_t>(group_.persons.size());
    if (cols_.long_format)
      for (Person& p : group_.persons)
        if (p.track == track) return p;
    Person p;
    p.track = track;
    p.obs.track = track;
    p.obs.xyz.assign(3 * kMediaPipeJoints, 0.0f);
    p.obs.confidence.assign(kMediaPipeJoints, 1.0f);
    group_.persons.push_back(std::move(p));
    return group_.persons.back();
  }

  void set_joint(Person& p, int j, const std::array<double, 4>& v) {
    for (int k = 0; k < 3; ++k) p.obs.xyz[3 * j + k] = static_cast<float>(v[k]);
    p.obs.confidence[j] = static_cast<float>(v[3]);
  }

  void add_row(const Row& r) {
    if (r.fields.size() != cols_.fields) {
      fail(r, fmt::format("the row has {} fields, the header {}", r.fields.size(), cols_.fields));
      return;
    }
    if (!cols_.long_format) {
      bool any = false;  // a row whose landmark fields are all empty: no person in the frame
      for (const auto& jc : cols_.wide)
        for (int col : jc) any = any || (col >= 0 && !r.fields[col].empty());
      if (!any) return;
      Person& p = person_for(r);
      for (int j = 0; j < kMediaPipeJoints; ++j) {
        std::array<double, 4> v{0, 0, 0, 1};
        for (int k = 0; k < 4; ++k) {
          const int col = cols_.wide[j][k];
          if (col < 0) continue;
          auto x = number(r, col, k < 2);
          if (x) v[k] = *x;
        }
        set_joint(p, j, v);
      }
      p.count = kMediaPipeJoints;
      return;
    }
    // Long: one landmark per row.
    const std::string& lm = r.fields[cols_.landmark];
    if (lm.empty() && r.fields[cols_.channel[0]].empty()) return;  // a frame without a person
    const int j = landmark_of(lower(lm));
    if (j < 0 || j >= kMediaPipeJoints) {
      fail(r, "landmark '" + lm + "' is not 0..32 or a MediaPipe landmark name");
      return;
    }
    std::array<double, 4> v{0, 0, 0, 1};
    for (int k = 0; k < 4; ++k) {
      const int col = cols_.channel[k];
      if (col < 0) continue;
      auto x = number(r, col, k < 2);
      if (x) v[k] = *x;
    }
    Person& p = person_for(r);
    if (p.seen[j]) {
      fail(r, fmt::format("track {} landmark {} appears twice in the frame", p.track, j));
      return;
    }
    p.seen[j] = true;
    ++p.count;
    set_joint(p, j, v);
  }

  // The finished group as a frame; false (reported) when it is malformed.
  bool finish_group(RawFrame& raw) {
    group_open_ = false;
    const int64_t index = groups_++;
    raw = RawFrame();
    raw.where = where(group_.line);
    if (!group_.error.empty()) {
      report(where(group_.error_line), group_.error);
      return false;
    }
    for (size_t i = 0; i < group_.persons.size(); ++i) {
      if (group_.persons[i].count != kMediaPipeJoints) {
        report(raw.where,
               fmt::format("person {} (track {}) has {} joints, expected {}", i,
                           group_.persons[i].track, group_.persons[i].count, kMediaPipeJoints));
        return false;
      }
    }
    // Time from the group's first row: timestamp_ms, else timestamp (s), else frame / fps,
    // else the frame's position / fps.
    const auto& f = group_.first_fields;
    double v = 0;
    int64_t frame = 0;
    if (cols_.frame >= 0 && !parse_int64(f[cols_.frame], frame))
      return bad_value(raw, "frame", f[cols_.frame], "an integer");
    if (cols_.ts_ms >= 0) {
      if (!parse_double(f[cols_.ts_ms], v)) return bad_value(raw, "timestamp_ms", f[cols_.ts_ms]);
      raw.timestamp = v / 1000.0;
    } else if (cols_.ts >= 0) {
      if (!parse_double(f[cols_.ts], v)) return bad_value(raw, "timestamp", f[cols_.ts]);
      raw.timestamp = v;
    } else {
      raw.timestamp = static_cast<double>(cols_.frame >= 0 ? frame : index) / options_.fps;
    }
    for (Person& p : group_.persons) raw.persons.push_back(std::move(p.obs));
    return true;
  }

  bool bad_value(RawFrame& raw, const char* column, const std::string& value,
                 const char* expected = "a number") {
    report(raw.where, fmt::format("the {} column holds '{}', not {}", column, value, expected));
    return false;
  }

  LineReader lines_;
  CsvColumns cols_;
  std::optional<Row> pending_row_;
  Group group_;
  bool group_open_ = false;
  int64_t groups_ = 0;
};

// ---------------------------------------------------------------------------
// NTU RGB+D .skeleton.

class NtuSource final : public SourceBase {
 public:
  NtuSource(const std::string& path, const SourceOptions& options) : SourceBase(path, options) {
    set_source_layout("ntu-rgb+d", kNtuJoints);
  }
  Status open_input() { return lines_.open(path(), options().max_line_bytes); }

 protected:
  Result<bool> read_raw(RawFrame& raw) override {
    std::string line;
    while (!done_) {
      if (declared_ < 0) {
        STGCN_ASSIGN_OR_RETURN(bool any, lines_.next(line));
        if (!any) return end();
        if (!parse_int64(line, declared_) || declared_ < 0) {
          report(where(lines_.line()), "expected the frame count, got '" + clip(line) + "'");
          return end();
        }
        continue;
      }
      if (frame_ >= declared_) {
        STGCN_ASSIGN_OR_RETURN(bool any, lines_.next(line));
        if (any)
          report(where(lines_.line()),
                 fmt::format("data after the {} declared frames (ignored)", declared_));
        return end();
      }
      STGCN_ASSIGN_OR_RETURN(int status, read_frame(raw));
      if (status > 0) return true;
      if (status < 0) return end();
    }
    return false;
  }

 private:
  Result<bool> end() {
    done_ = true;
    return false;
  }
  static std::string clip(const std::string& s) {
    return s.size() > 40 ? s.substr(0, 40) + "..." : s;
  }

  // 1: a frame; 0: a malformed frame (reported, skipped); -1: cannot go on (reported).
  Result<int> read_frame(RawFrame& raw) {
    std::string line;
    const int64_t frame = frame_;
    auto truncated = [&](const std::string& what) {
      report(where(lines_.line() + 1),
             fmt::format("truncated: frame {} of {} {} (end of file)", frame, declared_, what));
      return -1;
    };
    STGCN_ASSIGN_OR_RETURN(bool any, lines_.next(line));
    if (!any) return truncated("is missing");
    raw = RawFrame();
    raw.where = where(lines_.line());
    raw.timestamp = static_cast<double>(frame) / options_.fps;
    ++frame_;
    int64_t bodies = 0;
    if (!parse_int64(line, bodies) || bodies < 0 || bodies > 1000) {
      report(raw.where,
             fmt::format("frame {}: expected a body count, got '{}'", frame, clip(line)));
      return -1;
    }
    std::string error;
    int64_t error_line = 0;
    auto fail = [&](std::string message) {
      if (!error.empty()) return;
      error = std::move(message);
      error_line = lines_.line();
    };
    for (int64_t b = 0; b < bodies; ++b) {
      STGCN_ASSIGN_OR_RETURN(any, lines_.next(line));
      if (!any) return truncated(fmt::format("ends before body {}", b));
      const int64_t body_line = lines_.line();
      const auto info = split_ws(line);
      PersonObs p;
      p.track = b;
      if (info.size() != 10)
        fail(fmt::format("body {}: the info line has {} values, expected 10", b, info.size()));
      else if (!parse_int64(info[0], p.track))
        fail(fmt::format("body {}: the body id '{}' is not an integer", b, info[0]));
      STGCN_ASSIGN_OR_RETURN(any, lines_.next(line));
      if (!any) return truncated(fmt::format("ends before body {}'s joint count", b));
      int64_t joints = 0;
      if (!parse_int64(line, joints) || joints < 0 || joints > 1000) {
        report(where(lines_.line()),
               fmt::format("frame {} body {}: expected a joint count, got '{}'", frame, b,
                           clip(line)));
        return -1;
      }
      if (joints != kNtuJoints)
        fail(fmt::format("body {} has {} joints, expected {}", b, joints, kNtuJoints));
      p.xyz.assign(3 * static_cast<size_t>(joints), 0.0f);
      p.confidence.assign(static_cast<size_t>(joints), 1.0f);
      for (int64_t j = 0; j < joints; ++j) {
        STGCN_ASSIGN_OR_RETURN(any, lines_.next(line));
        if (!any) {
          report(where(body_line),
                 fmt::format("truncated: frame {} body {} has {} of {} joint lines (end of file)",
                             frame, b, j, joints));
          return -1;
        }
        const auto v = split_ws(line);
        if (v.size() != 12) {
          fail(fmt::format("body {} joint {} has {} values, expected 12", b, j, v.size()));
          continue;
        }
        double xyz[3];
        for (int k = 0; k < 3; ++k)
          if (!parse_double(v[k], xyz[k]))
            fail(fmt::format("body {} joint {}: '{}' is not a number", b, j, v[k]));
        for (int k = 0; k < 3; ++k) p.xyz[3 * j + k] = static_cast<float>(xyz[k]);
        // trackingState: 2 tracked, 1 inferred, 0 not tracked.
        int64_t state = 2;
        if (!parse_int64(v[11], state) || state < 0 || state > 2)
          fail(fmt::format("body {} joint {}: trackingState '{}' is not 0, 1 or 2", b, j, v[11]));
        p.confidence[j] = state == 2 ? 1.0f : state == 1 ? 0.5f : 0.25f;
      }
      raw.persons.push_back(std::move(p));
    }
    if (!error.empty()) {
      report(where(error_line), "frame " + std::to_string(frame) + ": " + error);
      return 0;
    }
    return 1;
  }

  LineReader lines_;
  int64_t declared_ = -1;  // frame count from the first line
  int64_t frame_ = 0;      // frames read
  bool done_ = false;
};

}  // namespace

Result<std::unique_ptr<SourceBase>> make_mediapipe_csv_source(const std::string& path,
                                                              const SourceOptions& options) {
  auto src = std::make_unique<MediaPipeCsvSource>(path, options);
  STGCN_RETURN_IF_ERROR(src->load_header());
  return std::unique_ptr<SourceBase>(std::move(src));
}

Result<std::unique_ptr<SourceBase>> make_ntu_source(const std::string& path,
                                                    const SourceOptions& options) {
  auto src = std::make_unique<NtuSource>(path, options);
  STGCN_RETURN_IF_ERROR(src->open_input());
  return std::unique_ptr<SourceBase>(std::move(src));
}

}  // namespace stgcn::sources
