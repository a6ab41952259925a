// The engine-file container: one file holding a built engine's metadata (opaque UTF-8 text, JSON
// in practice) and its tensors (weights in backend layouts), laid out so that the tensors can be
// used straight from a read-only memory mapping. This layer knows nothing about graphs or
// backends; it only guarantees that a file it opens is exactly what the writer produced.
//
// Byte format, version 1 (docs/engine_format.md has the same with examples). All integers are
// little-endian; "u64" etc. are unsigned, "i64" signed two's complement; no field is aligned
// unless said so (read them byte by byte).
//
//   HEADER, 128 bytes at file offset 0
//     off  size  field
//       0     8  magic, the ASCII bytes "STGCNENG"
//       8     4  u32 format version (kEngineFormatVersion = 1)
//      12     4  u32 header size, 128
//      16    32  SHA-256 of file bytes [48, file size): everything after this field. The 48 bytes
//                before it are magic, version, header size and the digest itself; the first three
//                are checked for exact values, so every byte of the file is verified.
//      48     8  u64 file size in bytes
//      56     8  u64 metadata offset, 128 (right after the header)
//      64     8  u64 metadata length, 1 .. 16 MiB
//      72     8  u64 tensor-table offset, = metadata offset + metadata length
//      80     8  u64 tensor-table length in bytes (exactly the entries below, no padding)
//      88     8  u64 tensor count
//      96     8  u64 blob offset, = tensor-table end rounded up to a multiple of 64
//     104     8  u64 blob length, = end of the last tensor's data (0 without tensors)
//     112    16  reserved, zero
//   METADATA at 128: `metadata length` bytes of valid UTF-8, no terminator.
//   TENSOR TABLE: `tensor count` packed entries, in order; entry i is:
//       u16 name length n (1 .. 256)
//       n   name bytes: UTF-8, no control characters (< 0x20, 0x7f), unique in the file
//       u8  dtype (FileDType: 0 f32, 1 f16, 2 bf16, 3 s8, 4 u8, 5 s32, 6 bytes)
//       u8  rank r (0 .. 8)
//       r x i64 dims, each >= 0
//       u32 layout length l (0 .. 4096)
//       l   layout bytes (opaque backend layout descriptor)
//       u64 data offset, relative to the blob start
//       u64 data length in bytes: product(dims) x dtype size; for dtype `bytes` it may be more
//   PADDING: zero bytes up to the blob offset (0 .. 63 bytes).
//   BLOB at `blob offset` (a multiple of 64) to the end of the file: tensor data in table order.
//       Tensor 0 starts at blob offset 0; tensor i + 1 starts at the end of tensor i rounded up to
//       a multiple of 64; the gaps are zero bytes. The file ends with the last tensor's data.
//
// The layout is canonical: every offset is determined by the contents, so a reader accepts
// exactly the files the writer produces (same contents -> byte-identical files), and refuses any
// other byte string with kCorrupt (kUnsupported for another format version) and a one-line
// message "cannot load '<path>': <the rule broken>".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stgcn/status.h"

namespace stgcn::engine {

inline constexpr uint32_t kEngineFormatVersion = 1;
inline constexpr size_t kBlobAlignment = 64;  // every tensor's data starts 64-byte aligned

enum class FileDType : uint8_t {
  kF32 = 0,
  kF16 = 1,
  kBF16 = 2,
  kS8 = 3,
  kU8 = 4,
  kS32 = 5,
  kBytes = 6
};
const char* file_dtype_name(FileDType t);  // "f32", ..., "bytes"; "invalid" outside the enum
size_t file_dtype_size(FileDType t);       // kBytes -> 1; 0 outside the enum

struct FileTensor {
  std::string name;  // unique, non-empty, <= 256 bytes, UTF-8 without control characters
  FileDType dtype = FileDType::kF32;
  std::vector<int64_t> dims;  // rank <= 8, each >= 0; product*dtype_size <= data.size() (== unless
                              // kBytes)
  std::vector<uint8_t> layout;    // opaque backend layout descriptor, <= 4096 bytes, may be empty
  std::span<const uint8_t> data;  // writing: caller memory; reading: points into the mapping
};

struct EngineFileContents {
  std::string metadata_json;  // opaque UTF-8 text, 1 byte .. 16 MiB
  std::vector<FileTensor> tensors;
};

// Deterministic: the same contents give byte-identical output (no timestamps, padding zero).
// Contents the reader would refuse are refused here with kInvalidArgument.
Result<std::vector<uint8_t>> serialize_engine_file(const EngineFileContents& contents);

// serialize + write_file_atomic; on error no file is left behind.
Status write_engine_file(const std::string& path, const EngineFileContents& contents);

// A validated, read-only view of an engine file: memory-mapped from disk (mmap, MAP_PRIVATE,
// PROT_READ), or owning a 64-byte aligned copy of a byte buffer (from_bytes, for tests and
// fuzzing). Opening checks magic, format version, header fields, file size, the SHA-256
// checksum, section placement, every tensor-table entry and the padding. Tensor data spans point
// into the file's bytes and stay valid for the lifetime of the MappedEngineFile. open() reads
// the file into private memory, so changing it on disk later has no effect; with
// STGCN_ENGINE_MMAP=1 it is mapped instead, and truncating it while open makes later reads of
// the lost pages fault (docs/safety.md).
class MappedEngineFile {
 public:
  static Result<std::unique_ptr<MappedEngineFile>> open(const std::string& path);
  static Result<std::unique_ptr<MappedEngineFile>> from_bytes(std::vector<uint8_t> bytes,
                                                              const std::string& name = "<memory>");
  ~MappedEngineFile();
  MappedEngineFile(const MappedEngineFile&) = delete;
  MappedEngineFile& operator=(const MappedEngineFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t format_version() const { return version_; }
  const std::string& metadata_json() const { return metadata_; }
  const std::vector<FileTensor>& tensors() const { return tensors_; }
  const FileTensor* find(std::string_view name) const;  // nullptr when absent
  size_t file_size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }  // the whole file

 private:
  explicit MappedEngineFile(std::string path) : path_(std::move(path)) {}
  Status parse();  // fills the fields below from data_/size_; messages without the path prefix

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* map_ = nullptr;    // the mmap base when mapped from disk
  size_t map_size_ = 0;    // its length
  void* owned_ = nullptr;  // the aligned copy when made by from_bytes
  uint32_t version_ = 0;
  std::string metadata_;
  std::vector<FileTensor> tensors_;
  std::vector<uint32_t> by_name_;  // tensor indices sorted by name, for find()
};

// Reads only the fixed header's first 12 bytes (magic and version; no checksum verification), to
// tell a user which format version a file has. kCorrupt for a short file or a bad magic.
Result<uint32_t> peek_engine_format_version(std::span<const uint8_t> bytes,
                                            const std::string& name);

}  // namespace stgcn::engine
