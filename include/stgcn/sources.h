// Input adapters: what pose estimators write, read as stgcn::Frame records for
// the stream runtime (stream.h). Formats and joint mappings: docs/sources.md.
//
//   auto src = stgcn::FrameSource::open("cam1.jsonl", {.stream = "cam1"});
//   stgcn::Frame f;
//   while (true) {
//     auto more = (*src)->next(f);          // malformed records are reported and skipped
//     if (!more.is_ok() || !*more) break;   // an I/O error, or the end
//     runtime->push(f);
//   }
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stgcn/status.h"
#include "stgcn/stream.h"

namespace stgcn {

enum class SourceFormat {
  kAuto,           // from the extension / the first bytes (docs/sources.md)
  kJsonl,          // our frame stream: one JSON object per line (any estimator can write it)
  kMediaPipeJson,  // MediaPipe Pose landmarks (33 joints), one JSON document
  kMediaPipeCsv,   // MediaPipe Pose landmarks (33 joints), CSV
  kOpenPoseJson,   // OpenPose --write_json output: a directory of per-frame files, or one file
  kNtuSkeleton,    // NTU RGB+D .skeleton (25 joints, 3D)
  kKineticsJson,   // Kinetics-skeleton JSON (st-gcn / mmskeleton; 18 OpenPose joints, 2D)
};

const char* source_format_name(SourceFormat f);
Result<SourceFormat> parse_source_format(std::string_view name);

// A record that was skipped: where it was and why.
struct SourceError {
  std::string stream;
  std::string where;  // "file:line" (or the per-frame file name)
  std::string message;
};

struct SourceOptions {
  SourceFormat format = SourceFormat::kAuto;
  std::string stream;  // stream id given to the frames; "" = the file's stem ("stdin" for "-")
  // Joint layout the model expects ("" = the source's own). Mappings that are
  // well defined are applied (docs/sources.md), others are refused at open().
  std::string layout;
  // Layout of the source's joints when the format does not fix it (JSONL:
  // otherwise a "layout" record or inferred from V; OpenPose: otherwise
  // detected from the first person). "" = detect; open() then reads ahead to
  // the first person (on a pipe it waits for one).
  std::string source_layout;
  double fps = 30;  // timestamps for formats that carry none (frame index / fps)
  // The longest line a line-based format (JSONL, CSV, NTU .skeleton) may have: a longer
  // JSONL record is skipped as malformed (it is never held in memory), a longer CSV or
  // .skeleton line ends the source with an error.
  size_t max_line_bytes = size_t{1} << 20;
  // Pixel coordinates: x is divided by width and y by height when > 0 (every
  // format; use it for OpenPose / pixel-space JSONL). The model wants what it
  // was trained on: normalised [0, 1] image coordinates for the bundled models.
  double width = 0, height = 0;
  // Called for every skipped record; when empty, errors are only counted.
  std::function<void(const SourceError&)> on_error;
};

class FrameSource {
 public:
  // `path`: a file, a directory (OpenPose per-frame JSON files, read in name
  // order), or "-" for standard input (JSONL only, read line by line).
  // Errors: a missing path (kNotFound), an unknown / mismatched format or
  // layout, or a mapping that is not defined (kInvalidArgument / kUnsupported).
  static Result<std::unique_ptr<FrameSource>> open(const std::string& path,
                                                   const SourceOptions& options);
  virtual ~FrameSource() = default;
  // Fills `frame` with the next valid frame and returns true; false at the
  // end. Malformed records (bad JSON, wrong joint count, NaN / inf, a
  // non-increasing timestamp) are reported through on_error and skipped. An
  // error Status only for I/O failures.
  virtual Result<bool> next(Frame& frame) = 0;
  virtual const std::string& stream() const = 0;
  virtual int joints() const = 0;          // V of the frames produced (after mapping)
  virtual std::string layout() const = 0;  // layout name of the frames produced
  int64_t errors() const { return errors_; }

 protected:
  void report(const std::string& where, const std::string& message);
  SourceOptions options_;
  int64_t errors_ = 0;
};

// Joint mapping between layouts (e.g. BODY_25 -> openpose-18): for each target
// joint, the source joints averaged to make it. Layout names: graph.h's plus
// "body_25" (OpenPose BODY_25, a source layout). kInvalidArgument for an
// unknown name, kUnsupported when the mapping is not defined (docs/sources.md).
Result<std::vector<std::vector<int>>> joint_mapping(std::string_view from, std::string_view to);

}  // namespace stgcn
