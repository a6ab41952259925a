// Reading inputs and writing outputs safely (docs/safety.md):
// - inputs that need a size (whole-file reads) must be regular files under a size cap;
// - outputs are written atomically (temporary file + rename) over regular files or new
//   paths, and written through to devices, FIFOs and sockets (never replaced); a symlink is
//   followed and its target written, the link kept.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "stgcn/status.h"

namespace stgcn {

// The largest file read whole (checkpoints, .npy, tables, JSON sources): 16 GiB.
constexpr uint64_t kMaxInputFileBytes = uint64_t{16} << 30;

// MemAvailable of /proc/meminfo, bounded by STGCN_MEMORY_LIMIT_MB and the process's
// ulimit -v / -d (INT64_MAX when unknown).
int64_t available_memory_bytes();

// The size of a regular file, or an error naming `path` (not found, a directory, a device or
// FIFO, larger than `max_bytes` or than the memory available).
Result<uint64_t> regular_file_size(const std::string& path,
                                   uint64_t max_bytes = kMaxInputFileBytes);

// Reads at most `max_bytes` from the start of a regular file.
Result<std::string> read_file_prefix(const std::string& path, uint64_t max_bytes);

// An output being written: atomic over a regular file (commit renames the temporary file
// into place; destruction without commit removes it), or written through to a device, FIFO
// or socket. Every write is checked.
class OutputFile {
 public:
  static Result<OutputFile> open(const std::string& path);
  OutputFile(OutputFile&& o) noexcept;
  OutputFile& operator=(OutputFile&& o) noexcept;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile();

  Status write(std::string_view bytes);
  Status flush();
  // Closes the file and, for an atomic output, moves it into place.
  Status commit();
  // Closes and removes what was written (a write-through output keeps what it got).
  void discard();
  bool through() const { return through_; }
  const std::string& path() const { return path_; }

 private:
  OutputFile() = default;
  Status error(const std::string& what, int err) const;
  std::string path_;    // as the user named it
  std::string target_;  // the file that is replaced (a symlink's target)
  std::string tmp_;     // atomic: the temporary file beside target_
  std::FILE* file_ = nullptr;
  bool through_ = false;
  bool failed_ = false;
};

}  // namespace stgcn
