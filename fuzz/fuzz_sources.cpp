// libFuzzer target: the input adapters (sources.h) must report and skip any
// malformed record, and every frame they return must be well-formed. The first
// byte picks the format (and, from 128, a 2 MB line in front with a 256-byte line cap); the
// rest is the file.
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "stgcn/sources.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const stgcn::SourceFormat kFormats[] = {
      stgcn::SourceFormat::kJsonl,        stgcn::SourceFormat::kMediaPipeJson,
      stgcn::SourceFormat::kMediaPipeCsv, stgcn::SourceFormat::kOpenPoseJson,
      stgcn::SourceFormat::kNtuSkeleton,  stgcn::SourceFormat::kAuto,
      stgcn::SourceFormat::kKineticsJson};
  static const char* kExt[] = {".jsonl", ".json", ".csv", ".json", ".skeleton", ".jsonl", ".json"};
  const int f = (data[0] & 0x7f) % 7;
  // A first byte >= 128: a 2 MB line in front of the document and a 256-byte line cap, so
  // over-long lines (skipped without being held, or an error) are reached every time.
  const bool long_line = data[0] & 0x80;
  const std::string path = "/tmp/fuzz_sources_" + std::to_string(getpid()) + kExt[f];
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) return 0;
  if (long_line) {
    const std::string line(2 << 20, 'x');
    std::fwrite(line.data(), 1, line.size(), file);
  }
  std::fwrite(data + 1, 1, size - 1, file);
  std::fclose(file);
  stgcn::SourceOptions opt;
  opt.format = kFormats[f];
  static const char* kTargets[] = {"", "openpose", "coco"};  // mapped or not
  opt.layout = kTargets[((data[0] & 0x7f) / 7) % 3];
  if (long_line) opt.max_line_bytes = 256;
  auto src = stgcn::FrameSource::open(path, opt);
  if (src.is_ok()) {
    stgcn::Frame frame;
    double last = -INFINITY;
    for (int n = 0; n < 10000; ++n) {
      auto more = (*src)->next(frame);
      if (!more.is_ok() || !*more) break;
      const size_t V = static_cast<size_t>((*src)->joints());
      if (!(frame.timestamp > last) || !std::isfinite(frame.timestamp)) __builtin_trap();
      last = frame.timestamp;
      for (const auto& p : frame.persons) {
        if (p.xyz.size() != V * 3) __builtin_trap();
        if (!p.confidence.empty() && p.confidence.size() != V) __builtin_trap();
        for (float v : p.xyz)
          if (!std::isfinite(v)) __builtin_trap();
      }
    }
  }
  std::remove(path.c_str());
  return 0;
}
