// Shared between the input adapters (sources.cpp: open(), mappings, the common
// validation; sources_json.cpp: JSONL, OpenPose, MediaPipe JSON;
// sources_text.cpp: MediaPipe CSV, NTU .skeleton). docs/sources.md.
#pragma once

#include <deque>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stgcn/sources.h"

namespace stgcn::sources {

// One record as the format holds it, in the source's joint layout.
struct RawFrame {
  std::string where;  // "path:line" or the per-frame file
  double timestamp = 0;
  // xyz: V x 3; confidence: always V values (1 where the format has none).
  std::vector<PersonObs> persons;
};

// The common part of every source: the source layout, read-ahead until it is
// known, the generic checks (joint count, finite values, unique tracks,
// increasing timestamps), pixel scaling and the joint mapping.
class SourceBase : public FrameSource {
 public:
  SourceBase(std::string path, const SourceOptions& options);
  Result<bool> next(Frame& frame) final;
  const std::string& stream() const final { return options_.stream; }
  int joints() const final { return out_V_; }
  std::string layout() const final { return out_layout_; }
  // Called once by open(): reads ahead until the source layout is known
  // (when the format does not fix it) and sets up the mapping.
  Status init();

 protected:
  // The next record, already parsed; false at the end. Records the format
  // itself cannot parse are reported (report()) and skipped here. An error
  // Status only for I/O failures.
  virtual Result<bool> read_raw(RawFrame& raw) = 0;
  // Formats with a fixed layout call this in their constructor, detecting
  // ones when they parse their first person (if !source_known()).
  void set_source_layout(std::string name, int V) {
    src_layout_ = std::move(name);
    src_V_ = V;
  }
  bool source_known() const { return src_V_ > 0; }
  const std::string& source_layout() const { return src_layout_; }
  std::string where(int64_t line) const;  // "path:line"
  const std::string& display_path() const { return display_path_; }
  const std::string& path() const { return path_; }
  const SourceOptions& options() const { return options_; }

 private:
  bool validate(const RawFrame& raw);
  void convert(RawFrame& raw, Frame& out) const;

  std::string path_, display_path_;
  std::string src_layout_;
  int src_V_ = 0;
  std::string out_layout_;
  int out_V_ = 0;
  bool identity_ = true;
  std::vector<std::vector<int>> map_;
  std::deque<RawFrame> pending_;
  bool have_last_ = false;
  double last_t_ = 0;
};

// Joint count of a layout name this module knows (graph.h's layouts and
// body_25); 0 when unknown.
int layout_joints(std::string_view name);
// The layout a V-joint source most likely has ("" when no known layout has V).
std::string infer_layout(int V, bool has_z);

// MediaPipe Pose landmark names, index order (33).
const std::vector<std::string>& mediapipe_landmark_names();

// Readers (sources_json.cpp, sources_text.cpp). `path` exists; they open it.
Result<std::unique_ptr<SourceBase>> make_jsonl_source(const std::string& path,
                                                      const SourceOptions& options);
Result<std::unique_ptr<SourceBase>> make_openpose_source(const std::string& path,
                                                         const SourceOptions& options);
Result<std::unique_ptr<SourceBase>> make_mediapipe_json_source(const std::string& path,
                                                               const SourceOptions& options);
Result<std::unique_ptr<SourceBase>> make_mediapipe_csv_source(const std::string& path,
                                                              const SourceOptions& options);
// Kinetics-skeleton JSON (sources_kinetics.cpp); detected by its "data" and "label" keys.
Result<std::unique_ptr<SourceBase>> make_kinetics_source(const std::string& path,
                                                         const SourceOptions& options);
bool looks_like_kinetics(const std::vector<std::string>& top_level_keys);
Result<std::unique_ptr<SourceBase>> make_ntu_source(const std::string& path,
                                                    const SourceOptions& options);

// Small text helpers shared by the readers.
std::string_view trim(std::string_view s);
std::string lower(std::string_view s);
bool parse_double(std::string_view s, double& out);  // the whole (trimmed) field
bool parse_int64(std::string_view s, int64_t& out);  // the whole (trimmed) field
std::string format_number(double v);                 // short, for messages
// The whole file; an error Status when it cannot be read.
Result<std::string> read_file(const std::string& path);

// One line of at most `max_bytes` (without the newline) into `out`. kLine, kEnd at the end of
// the input, or kTooLong: the line was longer (the rest of it is consumed, never stored).
enum class LineRead { kLine, kEnd, kTooLong };
LineRead read_line(std::istream& in, std::string& out, size_t max_bytes);
// Top-level keys when `text` is a JSON object ({} when it is not one / cannot
// be scanned); used by format detection.
std::vector<std::string> json_top_level_keys(std::string_view text);

}  // namespace stgcn::sources
