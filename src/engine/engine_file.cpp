#include "engine/engine_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "io/sha256.h"
#include "stgcn/npy.h"

namespace stgcn::engine {
namespace {

// The header layout (engine_file.h documents it byte by byte).
constexpr uint8_t kMagic[8] = {'S', 'T', 'G', 'C', 'N', 'E', 'N', 'G'};
constexpr size_t kHeaderSize = 128;
constexpr size_t kOffVersion = 8;
constexpr size_t kOffHeaderSize = 12;
constexpr size_t kOffChecksum = 16;
constexpr size_t kChecksumSize = 32;
constexpr size_t kHashedFrom = kOffChecksum + kChecksumSize;  // 48
constexpr size_t kOffFileSize = 48;
constexpr size_t kOffMetaOffset = 56;
constexpr size_t kOffMetaLength = 64;
constexpr size_t kOffTableOffset = 72;
constexpr size_t kOffTableLength = 80;
constexpr size_t kOffTensorCount = 88;
constexpr size_t kOffBlobOffset = 96;
constexpr size_t kOffBlobLength = 104;
constexpr size_t kOffReserved = 112;

// Limits.
constexpr size_t kMaxNameBytes = 256;
constexpr size_t kMaxRank = 8;
constexpr size_t kMaxLayoutBytes = 4096;
constexpr size_t kMaxMetadataBytes = size_t{16} << 20;
// Smallest table entry: u16 name length, 1 name byte, u8 dtype, u8 rank, u32 layout length,
// u64 data offset, u64 data length.
constexpr uint64_t kMinEntryBytes = 2 + 1 + 1 + 1 + 4 + 8 + 8;

static_assert(kBlobAlignment == 64, "the format documents 64-byte alignment");

// ---------------------------------------------------------------------------
// Little-endian helpers (byte by byte: no alignment or host-endianness assumptions).

uint64_t get_le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}
uint32_t get32(const uint8_t* p) { return static_cast<uint32_t>(get_le(p, 4)); }
uint64_t get64(const uint8_t* p) { return get_le(p, 8); }

void put_le(uint8_t* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void append_le(std::vector<uint8_t>& out, uint64_t v, size_t n) {
  const size_t at = out.size();
  out.resize(at + n);
  put_le(out.data() + at, v, n);
}

// x rounded up to a multiple of 64; false on overflow.
bool align_up(uint64_t x, uint64_t* out) {
  if (x > UINT64_MAX - (kBlobAlignment - 1)) return false;
  *out = (x + kBlobAlignment - 1) & ~uint64_t{kBlobAlignment - 1};
  return true;
}

std::string num(uint64_t v) { return std::to_string(v); }

// ---------------------------------------------------------------------------
// Checksum: SHA-256 through the shared OpenSSL helper (hex), compared / stored as raw bytes.

Result<std::string> digest_hex(const uint8_t* p, size_t n) {
  return io::sha256_hex(std::string_view(reinterpret_cast<const char*>(p), n));
}

std::string to_hex(const uint8_t* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 15];
  }
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// ---------------------------------------------------------------------------
// Validation rules shared by the writer and the reader (so that neither accepts what the other
// refuses). Each returns "" when fine, else the rule broken.

// Offset of the first invalid UTF-8 sequence, or npos.
size_t invalid_utf8_at(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07u;
    } else {
      return i;
    }
    if (s.size() - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    const bool overlong =
        (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string check_name(std::string_view name) {
  if (name.empty()) return "has an empty name";
  if (name.size() > kMaxNameBytes)
    return "has a " + num(name.size()) + "-byte name, the limit is " + num(kMaxNameBytes);
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<uint8_t>(name[i]);
    if (c < 0x20 || c == 0x7f)
      return "has a name with control character " + to_hex(&c, 1) + " at byte " + num(i);
  }
  const size_t bad = invalid_utf8_at(name);
  if (bad != std::string_view::npos) return "has a name that is not UTF-8 (byte " + num(bad) + ")";
  return "";
}

std::string check_metadata(std::string_view text) {
  if (text.empty()) return "has no metadata (the metadata section is empty)";
  if (text.size() > kMaxMetadataBytes)
    return "metadata is " + num(text.size()) + " bytes, the limit is " + num(kMaxMetadataBytes);
  const size_t bad = invalid_utf8_at(text);
  if (bad != std::string_view::npos) return "metadata is not UTF-8 (byte " + num(bad) + ")";
  return "";
}

std::string dims_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string tensor_label(size_t index, const std::string& name) {
  return "tensor " + num(index) + " '" + name + "'";
}

// Dims, dtype and layout of a tensor whose name already passed check_name; data_len is the
// length of its data.
std::string check_tensor_shape(uint8_t dtype_code, const std::vector<int64_t>& dims,
                               size_t layout_len, uint64_t data_len) {
  const auto dtype = static_cast<FileDType>(dtype_code);
  const size_t esize = file_dtype_size(dtype);
  if (esize == 0) return "has unknown dtype code " + num(dtype_code);
  if (dims.size() > kMaxRank)
    return "has rank " + num(dims.size()) + ", the limit is " + num(kMaxRank);
  bool zero = false;
  for (int64_t d : dims) {
    if (d < 0) return "has a negative dimension in " + dims_string(dims);
    zero = zero || d == 0;
  }
  uint64_t need = 0;
  if (!zero) {
    need = esize;
    for (int64_t d : dims)
      if (__builtin_mul_overflow(need, static_cast<uint64_t>(d), &need))
        return "has dims " + dims_string(dims) + " whose byte size overflows 64 bits";
  }
  const std::string what = std::string(file_dtype_name(dtype)) + " " + dims_string(dims);
  if (dtype == FileDType::kBytes) {
    if (data_len < need)
      return "(" + what + ") needs at least " + num(need) + " bytes of data, it has " +
             num(data_len);
  } else if (data_len != need) {
    return "(" + what + ") needs " + num(need) + " bytes of data, it has " + num(data_len);
  }
  if (layout_len > kMaxLayoutBytes)
    return "has a " + num(layout_len) + "-byte layout descriptor, the limit is " +
           num(kMaxLayoutBytes);
  return "";
}

// Indices sorted by name (ties by index); reports the first duplicate.
template <typename NameOf>
std::vector<uint32_t> sort_by_name(size_t count, NameOf name_of, std::string* duplicate) {
  std::vector<uint32_t> order(count);
  for (size_t i = 0; i < count; ++i) order[i] = static_cast<uint32_t>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return name_of(a) < name_of(b); });
  size_t best = count;  // the lowest index that repeats an earlier name
  uint32_t first = 0;
  size_t group = 0;  // where the run of equal names containing order[k] starts
  for (size_t k = 1; k < order.size(); ++k) {
    if (name_of(order[k]) != name_of(order[k - 1])) {
      group = k;
    } else if (order[k] < best) {
      best = order[k];
      first = order[group];
    }
  }
  if (best < count)
    *duplicate = tensor_label(best, std::string(name_of(best))) + " has the same name as tensor " +
                 num(first);
  return order;
}

// ---------------------------------------------------------------------------
// Reading the tensor table.

class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t begin, uint64_t end) : base_(base), pos_(begin), end_(end) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return end_ - pos_; }
  bool take(uint64_t n, const uint8_t** out) {
    if (n > left()) return false;
    *out = base_ + pos_;
    pos_ += n;
    return true;
  }
  bool uint(size_t n, uint64_t* v) {
    const uint8_t* p;
    if (!take(n, &p)) return false;
    *v = get_le(p, n);
    return true;
  }

 private:
  const uint8_t* base_;
  uint64_t pos_, end_;
};

struct AlignedDelete {
  void operator()(void* p) const { ::operator delete (p, std::align_val_t{kBlobAlignment}); }
};

}  // namespace

const char* file_dtype_name(FileDType t) {
  switch (t) {
    case FileDType::kF32: return "f32";
    case FileDType::kF16: return "f16";
    case FileDType::kBF16: return "bf16";
    case FileDType::kS8: return "s8";
    case FileDType::kU8: return "u8";
    case FileDType::kS32: return "s32";
    case FileDType::kBytes: return "bytes";
  }
  return "invalid";
}

size_t file_dtype_size(FileDType t) {
  switch (t) {
    case FileDType::kF32: return 4;
    case FileDType::kF16: return 2;
    case FileDType::kBF16: return 2;
    case FileDType::kS8: return 1;
    case FileDType::kU8: return 1;
    case FileDType::kS32: return 4;
    case FileDType::kBytes: return 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Writing.

namespace {

Result<std::vector<uint8_t>> serialize(const EngineFileContents& c) {
  std::string why = check_metadata(c.metadata_json);
  if (!why.empty()) return invalid_argument(why);
  const size_t n = c.tensors.size();
  if (n > UINT32_MAX) return invalid_argument("has " + num(n) + " tensors, too many");
  for (size_t i = 0; i < n; ++i) {
    const FileTensor& t = c.tensors[i];
    why = check_name(t.name);
    if (!why.empty()) return invalid_argument("tensor " + num(i) + " " + why);
    why = check_tensor_shape(static_cast<uint8_t>(t.dtype), t.dims, t.layout.size(), t.data.size());
    if (!why.empty()) return invalid_argument(tensor_label(i, t.name) + " " + why);
  }
  std::string dup;
  sort_by_name(
      n, [&](uint32_t i) -> std::string_view { return c.tensors[i].name; }, &dup);
  if (!dup.empty()) return invalid_argument(dup);

  // The table, with the canonical data offsets.
  std::vector<uint8_t> table;
  std::vector<uint64_t> offsets(n);
  uint64_t blob_len = 0;
  for (size_t i = 0; i < n; ++i) {
    const FileTensor& t = c.tensors[i];
    uint64_t off = 0;
    if (i > 0 && !align_up(blob_len, &off)) return invalid_argument("the blob is too large");
    offsets[i] = off;
    if (__builtin_add_overflow(off, uint64_t{t.data.size()}, &blob_len))
      return invalid_argument("the blob is too large");
    append_le(table, t.name.size(), 2);
    table.insert(table.end(), t.name.begin(), t.name.end());
    append_le(table, static_cast<uint8_t>(t.dtype), 1);
    append_le(table, t.dims.size(), 1);
    for (int64_t d : t.dims) append_le(table, static_cast<uint64_t>(d), 8);
    append_le(table, t.layout.size(), 4);
    table.insert(table.end(), t.layout.begin(), t.layout.end());
    append_le(table, off, 8);
    append_le(table, t.data.size(), 8);
  }
  const uint64_t meta_off = kHeaderSize;
  const uint64_t table_off = meta_off + c.metadata_json.size();
  uint64_t blob_off = 0, file_size = 0;
  if (!align_up(table_off + table.size(), &blob_off) ||
      __builtin_add_overflow(blob_off, blob_len, &file_size) || file_size > SIZE_MAX / 2)
    return invalid_argument("the file would be too large (" + num(blob_len) + "-byte blob)");

  std::vector<uint8_t> out(static_cast<size_t>(file_size), 0);
  uint8_t* h = out.data();
  std::memcpy(h, kMagic, sizeof kMagic);
  put_le(h + kOffVersion, kEngineFormatVersion, 4);
  put_le(h + kOffHeaderSize, kHeaderSize, 4);
  put_le(h + kOffFileSize, file_size, 8);
  put_le(h + kOffMetaOffset, meta_off, 8);
  put_le(h + kOffMetaLength, c.metadata_json.size(), 8);
  put_le(h + kOffTableOffset, table_off, 8);
  put_le(h + kOffTableLength, table.size(), 8);
  put_le(h + kOffTensorCount, n, 8);
  put_le(h + kOffBlobOffset, blob_off, 8);
  put_le(h + kOffBlobLength, blob_len, 8);
  std::memcpy(h + meta_off, c.metadata_json.data(), c.metadata_json.size());
  if (!table.empty()) std::memcpy(h + table_off, table.data(), table.size());
  for (size_t i = 0; i < n; ++i)
    if (!c.tensors[i].data.empty())
      std::memcpy(h + blob_off + offsets[i], c.tensors[i].data.data(), c.tensors[i].data.size());

  STGCN_ASSIGN_OR_RETURN(std::string hex, digest_hex(h + kHashedFrom, out.size() - kHashedFrom));
  if (hex.size() != 2 * kChecksumSize) return internal_error("SHA-256: unexpected digest length");
  for (size_t i = 0; i < kChecksumSize; ++i) {
    const int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return internal_error("SHA-256: malformed hex digest");
    h[kOffChecksum + i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

Result<std::vector<uint8_t>> serialize_engine_file(const EngineFileContents& contents) {
  auto r = serialize(contents);
  if (!r.is_ok()) return r.status().with_context("cannot serialize engine file: ");
  return r;
}

Status write_engine_file(const std::string& path, const EngineFileContents& contents) {
  auto bytes = serialize(contents);
  if (!bytes.is_ok()) return bytes.status().with_context("cannot write '" + path + "': ");
  return write_file_atomic(
      path, std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
}

// ---------------------------------------------------------------------------
// Reading.

namespace {

std::string truncated_header(size_t size) {
  return "truncated: the file is " + num(size) + " bytes, shorter than the " + num(kHeaderSize) +
         "-byte header";
}

// Magic and version, from the first 12 bytes. The message has no path prefix.
Result<uint32_t> read_version(std::span<const uint8_t> b) {
  const size_t m = std::min(b.size(), sizeof kMagic);
  if (m > 0 && std::memcmp(b.data(), kMagic, m) != 0)
    return corrupt("not an stgcn engine file (bad magic)");
  if (b.size() < kOffVersion + 4) return corrupt(truncated_header(b.size()));
  return get32(b.data() + kOffVersion);
}

}  // namespace

Result<uint32_t> peek_engine_format_version(std::span<const uint8_t> bytes,
                                            const std::string& name) {
  auto v = read_version(bytes);
  if (!v.is_ok()) return v.status().with_context("cannot load '" + name + "': ");
  return v;
}

Status MappedEngineFile::parse() {
  const uint8_t* b = data_;
  const uint64_t size = size_;
  STGCN_ASSIGN_OR_RETURN(version_, read_version(bytes()));
  if (version_ != kEngineFormatVersion)
    return unsupported("engine format version " + num(version_) + ", this build reads version " +
                       num(kEngineFormatVersion) + ": rebuild the engine with `stgcn build`");
  if (size < kHeaderSize) return corrupt(truncated_header(size));
  const uint32_t header_size = get32(b + kOffHeaderSize);
  if (header_size != kHeaderSize)
    return corrupt("header size " + num(header_size) + ", format version 1 has a " +
                   num(kHeaderSize) + "-byte header");
  const uint64_t recorded = get64(b + kOffFileSize);
  if (recorded > size)
    return corrupt("truncated: the header records " + num(recorded) + " bytes, the file has " +
                   num(size));
  if (recorded < size)
    return corrupt("has " + num(size - recorded) + " bytes after the end recorded in the header (" +
                   num(recorded) + " bytes)");
  STGCN_ASSIGN_OR_RETURN(std::string actual, digest_hex(b + kHashedFrom, size - kHashedFrom));
  const std::string stored = to_hex(b + kOffChecksum, kChecksumSize);
  if (actual != stored)
    return corrupt("checksum mismatch: the file is corrupted (SHA-256 " + actual.substr(0, 16) +
                   "..., the header records " + stored.substr(0, 16) + "...)");

  // Header fields and section placement (all canonical: see engine_file.h).
  for (size_t i = kOffReserved; i < kHeaderSize; ++i)
    if (b[i] != 0) return corrupt("reserved header byte " + num(i) + " is not zero");
  const uint64_t meta_off = get64(b + kOffMetaOffset), meta_len = get64(b + kOffMetaLength);
  const uint64_t table_off = get64(b + kOffTableOffset), table_len = get64(b + kOffTableLength);
  const uint64_t count = get64(b + kOffTensorCount);
  const uint64_t blob_off = get64(b + kOffBlobOffset), blob_len = get64(b + kOffBlobLength);
  auto section = [&](const char* what, uint64_t off, uint64_t len, uint64_t expect) -> Status {
    if (off != expect)
      return corrupt(std::string(what) + " offset " + num(off) + " is not " + num(expect) +
                     " (where the format places it)");
    if (len > size - off)
      return corrupt(std::string(what) + " extends past the end of the file (offset " + num(off) +
                     " + " + num(len) + " > " + num(size) + ")");
    return Status::ok();
  };
  STGCN_RETURN_IF_ERROR(section("metadata", meta_off, meta_len, kHeaderSize));
  STGCN_RETURN_IF_ERROR(section("tensor table", table_off, table_len, meta_off + meta_len));
  uint64_t expect_blob = 0;
  if (!align_up(table_off + table_len, &expect_blob) || expect_blob > size)
    return corrupt("blob offset " + num(blob_off) + " is past the end of the file (" + num(size) +
                   " bytes)");
  STGCN_RETURN_IF_ERROR(section("blob", blob_off, blob_len, expect_blob));
  if (blob_off + blob_len != size)
    return corrupt("has " + num(size - blob_off - blob_len) + " bytes after the blob (offset " +
                   num(blob_off) + " + " + num(blob_len) + " < " + num(size) + ")");
  for (uint64_t i = table_off + table_len; i < blob_off; ++i)
    if (b[i] != 0) return corrupt("padding byte at file offset " + num(i) + " is not zero");

  const std::string_view meta(reinterpret_cast<const char*>(b + meta_off), meta_len);
  std::string why = check_metadata(meta);
  if (!why.empty()) return corrupt(why);
  metadata_.assign(meta);

  // The tensor table.
  if (count > table_len / kMinEntryBytes || count > UINT32_MAX)
    return corrupt("tensor count " + num(count) + " cannot fit in the " + num(table_len) +
                   "-byte tensor table (an entry is at least " + num(kMinEntryBytes) + " bytes)");
  tensors_.reserve(count);
  Cursor cur(b, table_off, table_off + table_len);
  const uint8_t* blob = b + blob_off;
  uint64_t prev_end = 0;
  for (uint64_t i = 0; i < count; ++i) {
    auto short_entry = [&](const std::string& label) {
      return corrupt("the tensor table ends inside the entry of " + label + " (table offset " +
                     num(cur.pos() - table_off) + " of " + num(table_len) + ")");
    };
    std::string label = "tensor " + num(i);
    uint64_t name_len = 0, dtype = 0, rank = 0, layout_len = 0, off = 0, len = 0;
    const uint8_t* p = nullptr;
    if (!cur.uint(2, &name_len)) return short_entry(label);
    if (name_len > kMaxNameBytes)
      return corrupt(label + " has a " + num(name_len) + "-byte name, the limit is " +
                     num(kMaxNameBytes));
    if (!cur.take(name_len, &p)) return short_entry(label);
    FileTensor t;
    t.name.assign(reinterpret_cast<const char*>(p), name_len);
    why = check_name(t.name);
    if (!why.empty()) return corrupt(label + " " + why);
    label = tensor_label(i, t.name);
    if (!cur.uint(1, &dtype) || !cur.uint(1, &rank)) return short_entry(label);
    if (file_dtype_size(static_cast<FileDType>(dtype)) == 0)
      return corrupt(label + " has unknown dtype code " + num(dtype));
    if (rank > kMaxRank)
      return corrupt(label + " has rank " + num(rank) + ", the limit is " + num(kMaxRank));
    t.dtype = static_cast<FileDType>(dtype);
    t.dims.resize(rank);
    for (uint64_t k = 0; k < rank; ++k) {
      uint64_t d = 0;
      if (!cur.uint(8, &d)) return short_entry(label);
      t.dims[k] = static_cast<int64_t>(d);
    }
    if (!cur.uint(4, &layout_len)) return short_entry(label);
    if (layout_len > kMaxLayoutBytes)
      return corrupt(label + " has a " + num(layout_len) +
                     "-byte layout descriptor, the limit is " + num(kMaxLayoutBytes));
    if (!cur.take(layout_len, &p)) return short_entry(label);
    t.layout.assign(p, p + layout_len);
    if (!cur.uint(8, &off) || !cur.uint(8, &len)) return short_entry(label);
    why = check_tensor_shape(static_cast<uint8_t>(dtype), t.dims, layout_len, len);
    if (!why.empty()) return corrupt(label + " " + why);
    if (off > blob_len || len > blob_len - off)
      return corrupt(label + " extends past the end of the blob (offset " + num(off) + " + " +
                     num(len) + " > " + num(blob_len) + ")");
    if (off % kBlobAlignment != 0)
      return corrupt(label + " data offset " + num(off) + " is not a multiple of " +
                     num(kBlobAlignment));
    uint64_t expect = 0;
    if (i > 0 && !align_up(prev_end, &expect)) return corrupt(label + " data offset overflows");
    if (off != expect)
      return corrupt(label + " data offset " + num(off) + " is not " + num(expect) +
                     (i == 0 ? " (the first tensor starts the blob)"
                             : " (the previous tensor's end rounded up to 64)"));
    for (uint64_t k = prev_end; k < off; ++k)
      if (blob[k] != 0)
        return corrupt("padding byte at file offset " + num(blob_off + k) + " is not zero");
    t.data = std::span<const uint8_t>(blob + off, len);
    prev_end = off + len;
    tensors_.push_back(std::move(t));
  }
  if (cur.left() != 0)
    return corrupt("the tensor table has " + num(cur.left()) + " bytes after the last of its " +
                   num(count) + " entries");
  if (prev_end != blob_len)
    return corrupt("the blob has " + num(blob_len - prev_end) +
                   " bytes after the last tensor's data");

  std::string dup;
  by_name_ = sort_by_name(
      tensors_.size(), [&](uint32_t i) -> std::string_view { return tensors_[i].name; }, &dup);
  if (!dup.empty()) return corrupt(dup);
  return Status::ok();
}

const FileTensor* MappedEngineFile::find(std::string_view name) const {
  auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                             [&](uint32_t i, std::string_view n) { return tensors_[i].name < n; });
  if (it == by_name_.end() || tensors_[*it].name != name) return nullptr;
  return &tensors_[*it];
}

MappedEngineFile::~MappedEngineFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
  if (owned_ != nullptr) AlignedDelete()(owned_);
}

Result<std::unique_ptr<MappedEngineFile>> MappedEngineFile::from_bytes(std::vector<uint8_t> bytes,
                                                                       const std::string& name) {
  std::unique_ptr<MappedEngineFile> f(new MappedEngineFile(name));
  // A copy at a 64-byte aligned address, so tensor data is aligned in memory as in the file.
  f->owned_ = ::operator new (std::max<size_t>(bytes.size(), 1), std::align_val_t{kBlobAlignment});
  if (!bytes.empty()) std::memcpy(f->owned_, bytes.data(), bytes.size());
  f->data_ = static_cast<const uint8_t*>(f->owned_);
  f->size_ = bytes.size();
  bytes = std::vector<uint8_t>();  // release the original now
  STGCN_RETURN_IF_ERROR(f->parse().with_context("cannot load '" + name + "': "));
  return f;
}

Result<std::unique_ptr<MappedEngineFile>> MappedEngineFile::open(const std::string& path) {
  const std::string prefix = "cannot load '" + path + "': ";
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return not_found(prefix + "no such file");
    return io_error(prefix + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return io_error(prefix + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error(prefix + "not a regular file");
  }
  std::unique_ptr<MappedEngineFile> f(new MappedEngineFile(path));
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > SIZE_MAX / 2) {
    ::close(fd);
    return io_error(prefix + "the file is too large to map (" + num(size) + " bytes)");
  }
  // By default the file is read into private memory: an engine file changed in place while
  // in use (a rebuild over it, a truncation) cannot change the logits or raise SIGBUS.
  // STGCN_ENGINE_MMAP=1 maps it instead (shared page cache; the file must then not change).
  const char* want_map = std::getenv("STGCN_ENGINE_MMAP");
  if (size > 0 && !(want_map != nullptr && std::string_view(want_map) == "1")) {
    std::vector<uint8_t> bytes;
    try {
      bytes.resize(static_cast<size_t>(size));
    } catch (const std::bad_alloc&) {
      ::close(fd);
      return io_error(prefix + "out of memory for " + num(size) + " bytes");
    }
    size_t got = 0;
    while (got < bytes.size()) {
      const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        const int err = n < 0 ? errno : 0;
        ::close(fd);
        return io_error(prefix + (err ? std::strerror(err) : "the file shrank while read"));
      }
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    return from_bytes(std::move(bytes), path);
  }
  if (size > 0) {
    void* m = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return io_error(prefix + "mmap failed: " + std::strerror(err));
    }
    f->map_ = m;
    f->map_size_ = static_cast<size_t>(size);
    f->data_ = static_cast<const uint8_t*>(m);
    f->size_ = static_cast<size_t>(size);
  }
  ::close(fd);
  STGCN_RETURN_IF_ERROR(f->parse().with_context(prefix));
  return f;
}

}  // namespace stgcn::engine
