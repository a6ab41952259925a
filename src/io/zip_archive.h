// Read-only access to a zip archive held in memory (libzip), as written by
// torch.save (stored entries) or by any zip tool (deflated entries).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stgcn/status.h"

struct zip;  // libzip's zip_t

namespace stgcn::io {

// True when `bytes` start like a zip archive ("PK", the signature of every zip record).
bool looks_like_zip(std::span<const uint8_t> bytes);

class ZipArchive {
 public:
  // Opens the archive in `bytes`, which must outlive the ZipArchive (no copy
  // is made). Messages contain the word "zip".
  static Result<ZipArchive> open(std::span<const uint8_t> bytes);

  ZipArchive(ZipArchive&&) noexcept;
  ZipArchive& operator=(ZipArchive&&) noexcept;
  ~ZipArchive();

  // Entry names in central-directory order.
  const std::vector<std::string>& names() const { return names_; }
  std::optional<size_t> find(std::string_view name) const;
  // Uncompressed size as recorded in the central directory.
  uint64_t size(size_t index) const { return sizes_[index]; }

  // Reads entry `index` whole. Refuses, before allocating, an entry larger
  // than `max_bytes` or larger than its compressed data could expand to.
  Result<std::vector<uint8_t>> read(size_t index, uint64_t max_bytes) const;

 private:
  struct Closer {
    void operator()(zip* z) const;
  };
  ZipArchive() = default;

  std::unique_ptr<zip, Closer> zip_;
  uint64_t archive_size_ = 0;
  std::vector<std::string> names_;
  std::vector<uint64_t> sizes_;
  std::vector<uint64_t> compressed_sizes_;
  std::vector<bool> stored_;  // compression method "store"
};

}  // namespace stgcn::io
