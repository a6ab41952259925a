#include "io/zip_archive.h"

#include <zip.h>

#include <algorithm>

namespace stgcn::io {

namespace {

std::string error_text(zip_error_t* err) {
  const char* s = zip_error_strerror(err);
  return s ? s : "unknown libzip error";
}

// Deflate expands at most ~1032:1; anything beyond is a lie in the directory.
constexpr uint64_t kMaxDeflateRatio = 1100;

}  // namespace

bool looks_like_zip(std::span<const uint8_t> b) {
  // "PK" is enough: a truncated archive should be reported as one.
  return b.size() >= 2 && b[0] == 'P' && b[1] == 'K';
}

void ZipArchive::Closer::operator()(zip* z) const { zip_discard(z); }

ZipArchive::ZipArchive(ZipArchive&&) noexcept = default;
ZipArchive& ZipArchive::operator=(ZipArchive&&) noexcept = default;
ZipArchive::~ZipArchive() = default;

Result<ZipArchive> ZipArchive::open(std::span<const uint8_t> bytes) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
  if (!src) {
    Status st = corrupt("cannot read zip archive: " + error_text(&err));
    zip_error_fini(&err);
    return st;
  }
  zip_t* za = zip_open_from_source(src, ZIP_RDONLY, &err);
  if (!za) {
    zip_source_free(src);
    Status st = corrupt("truncated or corrupt zip archive: " + error_text(&err));
    zip_error_fini(&err);
    return st;
  }
  zip_error_fini(&err);
  ZipArchive archive;
  archive.zip_.reset(za);
  archive.archive_size_ = bytes.size();
  const zip_int64_t n = zip_get_num_entries(za, 0);
  if (n < 0) return corrupt("corrupt zip archive: bad entry count");
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    const auto index = static_cast<zip_uint64_t>(i);
    if (zip_stat_index(za, index, ZIP_FL_ENC_RAW, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
        !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE) ||
        !(st.valid & ZIP_STAT_COMP_METHOD))
      return corrupt("corrupt zip archive: cannot stat entry " + std::to_string(i));
    archive.names_.emplace_back(st.name);
    archive.sizes_.push_back(st.size);
    archive.compressed_sizes_.push_back(st.comp_size);
    archive.stored_.push_back(st.comp_method == ZIP_CM_STORE);
  }
  return archive;
}

std::optional<size_t> ZipArchive::find(std::string_view name) const {
  auto it = std::find(names_.begin(), names_.end(), name);
  if (it == names_.end()) return std::nullopt;
  return static_cast<size_t>(it - names_.begin());
}

Result<std::vector<uint8_t>> ZipArchive::read(size_t index, uint64_t max_bytes) const {
  const std::string& name = names_[index];
  const uint64_t size = sizes_[index];
  const uint64_t comp = compressed_sizes_[index];
  if (size > max_bytes)
    return corrupt("zip entry '" + name + "' is " + std::to_string(size) +
                   " bytes, more than the limit of " + std::to_string(max_bytes));
  const bool plausible =
      comp <= archive_size_ &&
      (stored_[index] ? size <= archive_size_ : size <= comp * kMaxDeflateRatio + 1024);
  if (!plausible)
    return corrupt("corrupt zip archive: entry '" + name + "' claims " + std::to_string(size) +
                   " bytes from " + std::to_string(comp) + " stored bytes");
  zip_file_t* f = zip_fopen_index(zip_.get(), index, 0);
  if (!f)
    return corrupt("cannot open zip entry '" + name +
                   "': " + error_text(zip_get_error(zip_.get())));
  std::vector<uint8_t> out(static_cast<size_t>(size));
  uint64_t done = 0;
  Status status;
  while (done < size) {
    const zip_int64_t got = zip_fread(f, out.data() + done, size - done);
    if (got < 0) {
      status =
          corrupt("cannot read zip entry '" + name + "': " + error_text(zip_file_get_error(f)));
      break;
    }
    if (got == 0) break;
    done += static_cast<uint64_t>(got);
  }
  if (status.is_ok() && done != size)
    status = corrupt("truncated zip entry '" + name + "': " + std::to_string(done) + " of " +
                     std::to_string(size) + " bytes");
  if (status.is_ok()) {
    // Reading to the end makes libzip verify the CRC.
    uint8_t extra = 0;
    const zip_int64_t got = zip_fread(f, &extra, 1);
    if (got != 0)
      status = corrupt("corrupt zip entry '" + name + "': " +
                       (got < 0 ? error_text(zip_file_get_error(f)) : "longer than recorded"));
  }
  zip_fclose(f);
  if (!status.is_ok()) return status;
  return out;
}

}  // namespace stgcn::io
