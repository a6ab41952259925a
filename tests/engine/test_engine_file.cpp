// The engine-file container (src/engine/engine_file.h): round trips through the file system and
// memory, determinism, the documented byte layout, and every class of corruption refused with a
// one-line message. Structural corruptions are re-signed (the SHA-256 recomputed as documented)
// so that the structural checks, not the checksum, must catch them.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/engine_file.h"
#include "io/sha256.h"

namespace stgcn::engine {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// ---------------------------------------------------------------------------
// Helpers.

uint64_t get_le(const Bytes& b, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{b.at(at + i)} << (8 * i);
  return v;
}

void put_le(Bytes& b, size_t at, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) b.at(at + i) = static_cast<uint8_t>(v >> (8 * i));
}

// Recomputes the documented checksum: SHA-256 of bytes [48, end) stored at [16, 48).
void resign(Bytes& b) {
  ASSERT_GE(b.size(), 48u);
  auto hex = io::sha256_hex(
      std::string_view(reinterpret_cast<const char*>(b.data() + 48), b.size() - 48));
  ASSERT_TRUE(hex.is_ok());
  for (size_t i = 0; i < 32; ++i)
    b[16 + i] = static_cast<uint8_t>(std::stoi(hex->substr(2 * i, 2), nullptr, 16));
}

// Field offsets of one tensor-table entry, found by walking the documented layout.
struct EntryAt {
  size_t name_len, name, dtype, rank, dims, layout_len, layout, data_off, data_len, end;
};

std::vector<EntryAt> walk_table(const Bytes& b) {
  std::vector<EntryAt> out;
  size_t p = get_le(b, 72, 8);
  const uint64_t count = get_le(b, 88, 8);
  for (uint64_t i = 0; i < count; ++i) {
    EntryAt e{};
    e.name_len = p;
    e.name = p + 2;
    e.dtype = e.name + get_le(b, p, 2);
    e.rank = e.dtype + 1;
    e.dims = e.rank + 1;
    e.layout_len = e.dims + 8 * b.at(e.rank);
    e.layout = e.layout_len + 4;
    e.data_off = e.layout + get_le(b, e.layout_len, 4);
    e.data_len = e.data_off + 8;
    e.end = e.data_len + 8;
    out.push_back(e);
    p = e.end;
  }
  return out;
}

template <typename T>
std::span<const uint8_t> as_bytes(const std::vector<T>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(T)};
}

// Owns the data the spans of a test EngineFileContents point to.
struct Sample {
  std::vector<float> w0 = std::vector<float>(2 * 3 * 5);
  std::vector<uint16_t> w1 = std::vector<uint16_t>(7);
  std::vector<int8_t> w2 = std::vector<int8_t>(3);
  Bytes w3 = Bytes(100);
  std::vector<int32_t> w4 = {42};
  EngineFileContents contents;

  Sample() {
    for (size_t i = 0; i < w0.size(); ++i) w0[i] = 0.25f * static_cast<float>(i) - 1.0f;
    for (size_t i = 0; i < w1.size(); ++i) w1[i] = static_cast<uint16_t>(0x3c00 + i);
    for (size_t i = 0; i < w2.size(); ++i)
      w2[i] = static_cast<int8_t>(-5 + 4 * static_cast<int>(i));
    for (size_t i = 0; i < w3.size(); ++i) w3[i] = static_cast<uint8_t>(i * 7 + 1);
    contents.metadata_json = R"({"model":"st-gcn","note":"caf\u00e9 – ünïcode"})";
    contents.tensors = {
        {"block0.gcn.weight", FileDType::kF32, {2, 3, 5}, {1, 2, 3, 4}, as_bytes(w0)},
        {"block0.tcn.weight", FileDType::kF16, {7}, {}, as_bytes(w1)},
        {"block1.q", FileDType::kS8, {3, 1}, {}, as_bytes(w2)},
        {"block2.blob", FileDType::kBytes, {10, 8}, Bytes(300, 0xab), as_bytes(w3)},
        {"scalar", FileDType::kS32, {}, {}, as_bytes(w4)},
        {"empty", FileDType::kBF16, {4, 0, 3}, {}, {}},
    };
  }
};

Bytes serialized(const EngineFileContents& c) {
  auto r = serialize_engine_file(c);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r.is_ok() ? *r : Bytes();
}

std::string temp_dir() {
  const fs::path d = fs::path(::testing::TempDir()) /
                     ("stgcn_engine_file_" + std::to_string(::getpid()) + "_" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

void expect_same(const EngineFileContents& want, const MappedEngineFile& got) {
  EXPECT_EQ(got.format_version(), kEngineFormatVersion);
  EXPECT_EQ(got.metadata_json(), want.metadata_json);
  ASSERT_EQ(got.tensors().size(), want.tensors.size());
  for (size_t i = 0; i < want.tensors.size(); ++i) {
    const FileTensor& a = want.tensors[i];
    const FileTensor& b = got.tensors()[i];
    SCOPED_TRACE(a.name);
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.dtype, a.dtype);
    EXPECT_EQ(b.dims, a.dims);
    EXPECT_EQ(b.layout, a.layout);
    ASSERT_EQ(b.data.size(), a.data.size());
    if (!a.data.empty()) {
      EXPECT_EQ(std::memcmp(b.data.data(), a.data.data(), a.data.size()), 0);
    }
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data.data()) % kBlobAlignment, 0u);
    EXPECT_EQ(static_cast<size_t>(b.data.data() - got.bytes().data()) % kBlobAlignment, 0u);
    EXPECT_EQ(got.find(a.name), &b);
  }
  EXPECT_EQ(got.find("absent"), nullptr);
  EXPECT_EQ(got.find(""), nullptr);
}

// Opens `b` from memory as 'x.engine' and expects a refusal whose message contains `what`.
void expect_refused(const Bytes& b, const std::string& what, ErrorCode code = ErrorCode::kCorrupt) {
  auto r = MappedEngineFile::from_bytes(b, "x.engine");
  ASSERT_FALSE(r.is_ok()) << "accepted; expected: " << what;
  EXPECT_EQ(r.status().code(), code) << r.status().message();
  const std::string& msg = r.status().message();
  EXPECT_EQ(msg.rfind("cannot load 'x.engine': ", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_NE(msg.find(what), std::string::npos) << "message: " << msg << "\nexpected: " << what;
}

// ---------------------------------------------------------------------------
// Round trips.

TEST(EngineFile, RoundTripThroughMmap) {
  Sample s;
  const std::string path = temp_dir() + "/model.engine";
  ASSERT_TRUE(write_engine_file(path, s.contents).is_ok());
  auto f = MappedEngineFile::open(path);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  EXPECT_EQ((*f)->path(), path);
  EXPECT_EQ((*f)->file_size(), fs::file_size(path));
  expect_same(s.contents, **f);
  const Bytes want = serialized(s.contents);
  ASSERT_EQ((*f)->bytes().size(), want.size());
  EXPECT_EQ(std::memcmp((*f)->bytes().data(), want.data(), want.size()), 0);
  auto v = peek_engine_format_version((*f)->bytes(), path);
  ASSERT_TRUE(v.is_ok());
  EXPECT_EQ(*v, kEngineFormatVersion);
}

TEST(EngineFile, RoundTripFromBytes) {
  Sample s;
  auto f = MappedEngineFile::from_bytes(serialized(s.contents), "mem.engine");
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  EXPECT_EQ((*f)->path(), "mem.engine");
  expect_same(s.contents, **f);
  // Re-serializing what was read gives the same bytes (the layout is canonical).
  EngineFileContents again{(*f)->metadata_json(), (*f)->tensors()};
  EXPECT_EQ(serialized(again), serialized(s.contents));
}

TEST(EngineFile, MetadataOnlyAndManyTensors) {
  EngineFileContents c;
  c.metadata_json = "{}";
  auto f = MappedEngineFile::from_bytes(serialized(c));
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  EXPECT_EQ((*f)->path(), "<memory>");
  EXPECT_TRUE((*f)->tensors().empty());
  EXPECT_EQ((*f)->metadata_json(), "{}");

  std::vector<float> data(5, 1.5f);
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) {
    // (Built with append: GCC 12 warns falsely on operator+ chains at -O3.)
    std::string name = std::to_string(rng());
    name.append("_").append(std::to_string(i));
    c.tensors.push_back({name,
                         FileDType::kF32,
                         {static_cast<int64_t>(i % 6)},
                         {},
                         as_bytes(data).subspan(0, 4 * (i % 6))});
  }
  auto g = MappedEngineFile::from_bytes(serialized(c));
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  expect_same(c, **g);
}

TEST(EngineFile, Deterministic) {
  Sample a, b;  // same contents, different data addresses
  const Bytes x = serialized(a.contents);
  EXPECT_EQ(x, serialized(a.contents));
  EXPECT_EQ(x, serialized(b.contents));
  const std::string dir = temp_dir();
  ASSERT_TRUE(write_engine_file(dir + "/1.engine", a.contents).is_ok());
  ASSERT_TRUE(write_engine_file(dir + "/2.engine", b.contents).is_ok());
  std::ifstream f1(dir + "/1.engine", std::ios::binary), f2(dir + "/2.engine", std::ios::binary);
  const Bytes y((std::istreambuf_iterator<char>(f1)), {}),
      z((std::istreambuf_iterator<char>(f2)), {});
  EXPECT_EQ(x, y);
  EXPECT_EQ(x, z);
}

// The bytes at the offsets engine_file.h and docs/engine_format.md document.
TEST(EngineFile, DocumentedLayout) {
  Sample s;
  const Bytes b = serialized(s.contents);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 8), "STGCNENG");
  EXPECT_EQ(get_le(b, 8, 4), 1u);
  EXPECT_EQ(get_le(b, 12, 4), 128u);
  EXPECT_EQ(get_le(b, 48, 8), b.size());
  EXPECT_EQ(get_le(b, 56, 8), 128u);
  const uint64_t meta_len = get_le(b, 64, 8);
  EXPECT_EQ(meta_len, s.contents.metadata_json.size());
  EXPECT_EQ(std::string(b.begin() + 128, b.begin() + 128 + meta_len), s.contents.metadata_json);
  EXPECT_EQ(get_le(b, 72, 8), 128 + meta_len);
  EXPECT_EQ(get_le(b, 88, 8), s.contents.tensors.size());
  const auto entries = walk_table(b);
  const uint64_t table_end = get_le(b, 72, 8) + get_le(b, 80, 8);
  EXPECT_EQ(entries.back().end, table_end);
  const uint64_t blob = get_le(b, 96, 8);
  EXPECT_EQ(blob % 64, 0u);
  EXPECT_EQ(blob, (table_end + 63) / 64 * 64);
  EXPECT_EQ(blob + get_le(b, 104, 8), b.size());
  for (size_t i = 112; i < 128; ++i) EXPECT_EQ(b[i], 0) << i;
  for (size_t i = table_end; i < blob; ++i) EXPECT_EQ(b[i], 0) << i;
  // Entry 0: name, dtype, rank, dims, layout, data.
  const EntryAt& e = entries[0];
  EXPECT_EQ(get_le(b, e.name_len, 2), 17u);
  EXPECT_EQ(std::string(b.begin() + e.name, b.begin() + e.name + 17), "block0.gcn.weight");
  EXPECT_EQ(b[e.dtype], 0);
  EXPECT_EQ(b[e.rank], 3);
  EXPECT_EQ(get_le(b, e.dims + 16, 8), 5u);
  EXPECT_EQ(get_le(b, e.layout_len, 4), 4u);
  EXPECT_EQ(b[e.layout + 3], 4);
  EXPECT_EQ(get_le(b, e.data_off, 8), 0u);
  EXPECT_EQ(get_le(b, e.data_len, 8), 120u);
  EXPECT_EQ(get_le(b, entries[1].data_off, 8), 128u);  // 120 rounded up to 64
  // The checksum is the SHA-256 of bytes [48, end).
  Bytes copy = b;
  resign(copy);
  EXPECT_EQ(copy, b);
}

TEST(EngineFile, DtypeHelpers) {
  EXPECT_STREQ(file_dtype_name(FileDType::kF32), "f32");
  EXPECT_STREQ(file_dtype_name(FileDType::kBytes), "bytes");
  EXPECT_STREQ(file_dtype_name(static_cast<FileDType>(9)), "invalid");
  EXPECT_EQ(file_dtype_size(FileDType::kF32), 4u);
  EXPECT_EQ(file_dtype_size(FileDType::kF16), 2u);
  EXPECT_EQ(file_dtype_size(FileDType::kBF16), 2u);
  EXPECT_EQ(file_dtype_size(FileDType::kS8), 1u);
  EXPECT_EQ(file_dtype_size(FileDType::kU8), 1u);
  EXPECT_EQ(file_dtype_size(FileDType::kS32), 4u);
  EXPECT_EQ(file_dtype_size(FileDType::kBytes), 1u);
  EXPECT_EQ(file_dtype_size(static_cast<FileDType>(7)), 0u);
}

// ---------------------------------------------------------------------------
// The writer refuses what the reader would refuse.

TEST(EngineFile, WriterRefusesInvalidContents) {
  const Bytes big_layout(4097);
  struct Case {
    std::function<void(EngineFileContents&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& c) { c.metadata_json.clear(); }, "has no metadata"},
      {[](auto& c) { c.metadata_json = "\xff{}"; }, "metadata is not UTF-8 (byte 0)"},
      {[](auto& c) { c.metadata_json = "{\"a\":\"\xed\xa0\x80\"}"; }, "metadata is not UTF-8"},
      {[](auto& c) { c.metadata_json.assign((16u << 20) + 1, ' '); }, "the limit is 16777216"},
      {[](auto& c) { c.tensors[0].name.clear(); }, "tensor 0 has an empty name"},
      {[](auto& c) { c.tensors[1].name.assign(257, 'n'); }, "tensor 1 has a 257-byte name"},
      {[](auto& c) { c.tensors[0].name = "a\nb"; }, "control character 0a at byte 1"},
      {[](auto& c) { c.tensors[0].name = "a\xc3"; }, "tensor 0 has a name that is not UTF-8"},
      {[](auto& c) { c.tensors[1].name = c.tensors[0].name; },
       "tensor 1 'block0.gcn.weight' has the same name as tensor 0"},
      {[](auto& c) { c.tensors[2].dims.assign(9, 1); }, "has rank 9, the limit is 8"},
      {[](auto& c) {
         c.tensors[2].dims = {-3, -1};
       },
       "has a negative dimension in [-3, -1]"},
      {[](auto& c) {
         c.tensors[0].dims = {2, 3, 4};
       },
       "tensor 0 'block0.gcn.weight' (f32 [2, 3, 4]) needs 96 bytes of data, it has 120"},
      {[](auto& c) { c.tensors[3].dims = {101}; }, "(bytes [101]) needs at least 101 bytes"},
      {[](auto& c) {
         c.tensors[0].dims = {INT64_MAX, 4};
       },
       "overflows 64 bits"},
      {[&](auto& c) { c.tensors[4].layout = big_layout; }, "4097-byte layout descriptor"},
      {[](auto& c) { c.tensors[4].dtype = static_cast<FileDType>(7); }, "unknown dtype code 7"},
  };
  for (const Case& k : cases) {
    Sample s;
    k.edit(s.contents);
    auto r = serialize_engine_file(s.contents);
    ASSERT_FALSE(r.is_ok()) << k.message;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind("cannot serialize engine file: ", 0), 0u);
    EXPECT_NE(r.status().message().find(k.message), std::string::npos)
        << r.status().message() << "\nexpected: " << k.message;
  }
}

TEST(EngineFile, FailedWritesLeaveNoFile) {
  Sample s;
  const std::string dir = temp_dir();
  // A directory that does not exist.
  const std::string missing = dir + "/no/such/dir/m.engine";
  Status st = write_engine_file(missing, s.contents);
  EXPECT_EQ(st.code(), ErrorCode::kIo);
  EXPECT_NE(st.message().find("cannot write '" + missing + "'"), std::string::npos);
  EXPECT_FALSE(fs::exists(missing));
  // The target is a directory: the rename fails and the temporary file is removed.
  fs::create_directories(dir + "/target.engine");
  st = write_engine_file(dir + "/target.engine", s.contents);
  EXPECT_FALSE(st.is_ok());
  EXPECT_TRUE(fs::is_directory(dir + "/target.engine"));
  // Invalid contents: nothing written.
  s.contents.metadata_json.clear();
  st = write_engine_file(dir + "/bad.engine", s.contents);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "cannot write '" + dir +
                              "/bad.engine': has no metadata (the metadata section is empty)");
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir))
    entries += e.path().filename() != "target.engine";
  EXPECT_EQ(entries, 0u) << "a temporary or partial file was left behind";
  // An existing file is replaced whole.
  Sample ok;
  ASSERT_TRUE(write_engine_file(dir + "/m.engine", ok.contents).is_ok());
  ok.contents.tensors.pop_back();
  ASSERT_TRUE(write_engine_file(dir + "/m.engine", ok.contents).is_ok());
  auto f = MappedEngineFile::open(dir + "/m.engine");
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  expect_same(ok.contents, **f);
}

// ---------------------------------------------------------------------------
// Refusals: files and framing.

TEST(EngineFile, OpenErrors) {
  const std::string dir = temp_dir();
  auto r = MappedEngineFile::open(dir + "/absent.engine");
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(r.status().message(), "cannot load '" + dir + "/absent.engine': no such file");
  r = MappedEngineFile::open(dir);
  EXPECT_EQ(r.status().code(), ErrorCode::kIo);
  EXPECT_EQ(r.status().message(), "cannot load '" + dir + "': not a regular file");
  ASSERT_EQ(::mkfifo((dir + "/fifo.engine").c_str(), 0600), 0);  // must not block
  r = MappedEngineFile::open(dir + "/fifo.engine");
  EXPECT_EQ(r.status().message(), "cannot load '" + dir + "/fifo.engine': not a regular file");
  std::ofstream(dir + "/empty.engine").close();
  r = MappedEngineFile::open(dir + "/empty.engine");
  EXPECT_EQ(r.status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(r.status().message(), "cannot load '" + dir +
                                      "/empty.engine': truncated: the file is 0 bytes, shorter "
                                      "than the 128-byte header");
}

TEST(EngineFile, TruncatedAtEveryLength) {
  Sample s;
  const Bytes b = serialized(s.contents);
  ASSERT_GT(b.size(), 1000u);
  for (size_t len = 0; len < b.size(); ++len) {
    SCOPED_TRACE(len);
    const Bytes cut(b.begin(), b.begin() + len);
    expect_refused(cut, len < 128 ? "truncated: the file is " + std::to_string(len) +
                                        " bytes, shorter than the 128-byte header"
                                  : "truncated: the header records " + std::to_string(b.size()) +
                                        " bytes, the file has " + std::to_string(len));
    if (len < 12) {
      EXPECT_FALSE(peek_engine_format_version(cut, "x.engine").is_ok());
    } else {
      auto v = peek_engine_format_version(cut, "x.engine");
      ASSERT_TRUE(v.is_ok());
      EXPECT_EQ(*v, 1u);
    }
  }
  Bytes longer = b;
  longer.push_back(0);
  expect_refused(longer, "has 1 bytes after the end recorded in the header");
}

TEST(EngineFile, FlippedByteIsACorruption) {
  Sample s;
  const Bytes b = serialized(s.contents);
  std::mt19937 rng(1);
  for (size_t pos = 0; pos < b.size(); pos += (pos < 160 ? 1 : 1 + rng() % 5)) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      SCOPED_TRACE(std::to_string(pos) + " ^ " + std::to_string(mask));
      Bytes x = b;
      x[pos] ^= mask;
      if (pos < 8) {
        expect_refused(x, "not an stgcn engine file (bad magic)");
      } else if (pos < 12) {
        expect_refused(x, "engine format version", ErrorCode::kUnsupported);
      } else if (pos < 16) {
        expect_refused(x, "header size");
      } else if (pos >= 48 && pos < 56) {  // the file size: too large or too small
        expect_refused(x, get_le(x, 48, 8) > b.size() ? "truncated: the header records"
                                                      : "bytes after the end recorded");
      } else {
        expect_refused(x, "checksum mismatch: the file is corrupted");
      }
    }
  }
}

TEST(EngineFile, WrongMagic) {
  Sample s;
  Bytes b = serialized(s.contents);
  std::memcpy(b.data(), "GGUF\0\0\0\0", 8);
  expect_refused(b, "not an stgcn engine file (bad magic)");
  EXPECT_EQ(peek_engine_format_version(b, "x.engine").status().message(),
            "cannot load 'x.engine': not an stgcn engine file (bad magic)");
  expect_refused(Bytes{0x93, 'N', 'U', 'M', 'P', 'Y'}, "not an stgcn engine file");
  expect_refused(Bytes{'S', 'T', 'G'}, "truncated: the file is 3 bytes");
}

TEST(EngineFile, OtherFormatVersion) {
  Sample s;
  Bytes b = serialized(s.contents);
  put_le(b, 8, 7, 4);
  resign(b);
  auto r = MappedEngineFile::from_bytes(b, "x.engine");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(r.status().message(),
            "cannot load 'x.engine': engine format version 7, this build reads version 1: rebuild "
            "the engine with `stgcn build`");
  auto v = peek_engine_format_version(b, "x.engine");
  ASSERT_TRUE(v.is_ok());
  EXPECT_EQ(*v, 7u);
  // A future file may differ after the version field: the version is still reported.
  b.resize(20);
  expect_refused(b, "engine format version 7", ErrorCode::kUnsupported);
}

// ---------------------------------------------------------------------------
// Refusals: structure (re-signed, so only the structural checks can catch them).

struct Corruption {
  const char* name;
  std::function<void(Bytes&, const std::vector<EntryAt>&)> edit;
  std::string message;
};

TEST(EngineFile, StructuralCorruptionsAreRefused) {
  Sample s;
  const Bytes good = serialized(s.contents);
  const auto e = walk_table(good);
  const uint64_t blob_len = get_le(good, 104, 8);
  const uint64_t size = good.size();
  ASSERT_NE(e.back().end % 64, 0u) << "the table padding case needs padding";
  const std::vector<Corruption> cases = {
      {"header size", [](Bytes& b, auto&) { put_le(b, 12, 64, 4); },
       "header size 64, format version 1 has a 128-byte header"},
      {"reserved", [](Bytes& b, auto&) { b[120] = 1; }, "reserved header byte 120 is not zero"},
      {"meta offset", [](Bytes& b, auto&) { put_le(b, 56, 0, 8); }, "metadata offset 0 is not 128"},
      {"meta length huge", [](Bytes& b, auto&) { put_le(b, 64, UINT64_MAX, 8); },
       "metadata extends past the end of the file (offset 128 + 18446744073709551615 > " +
           std::to_string(size) + ")"},
      {"meta length short", [](Bytes& b, auto&) { put_le(b, 64, get_le(b, 64, 8) - 1, 8); },
       "tensor table offset"},
      {"table offset huge", [](Bytes& b, auto&) { put_le(b, 72, UINT64_MAX - 3, 8); },
       "tensor table offset 18446744073709551612 is not"},
      {"table length huge", [](Bytes& b, auto&) { put_le(b, 80, UINT64_MAX, 8); },
       "tensor table extends past the end of the file"},
      {"table length long", [](Bytes& b, auto&) { put_le(b, 80, get_le(b, 80, 8) + 200, 8); },
       "blob offset"},
      {"count huge", [](Bytes& b, auto&) { put_le(b, 88, UINT64_MAX, 8); },
       "tensor count 18446744073709551615 cannot fit in the"},
      {"count + 1", [](Bytes& b, auto&) { put_le(b, 88, 7, 8); },
       "the tensor table ends inside the entry of tensor 6"},
      {"count - 1", [](Bytes& b, auto&) { put_le(b, 88, 5, 8); },
       "the tensor table has " + std::to_string(e[5].end - e[5].name_len) +
           " bytes after the last of its 5 entries"},
      {"blob offset", [](Bytes& b, auto&) { put_le(b, 96, get_le(b, 96, 8) + 64, 8); },
       "blob offset"},
      {"blob length huge", [](Bytes& b, auto&) { put_le(b, 104, UINT64_MAX, 8); },
       "blob extends past the end of the file"},
      {"blob length short", [](Bytes& b, auto&) { put_le(b, 104, get_le(b, 104, 8) - 1, 8); },
       "has 1 bytes after the blob"},
      {"trailing bytes",
       [](Bytes& b, auto&) {
         b.resize(b.size() + 64);
         put_le(b, 48, b.size(), 8);
       },
       "has 64 bytes after the blob"},
      {"table padding", [](Bytes& b, auto& t) { b[t.back().end] = 9; },
       "padding byte at file offset"},
      {"blob padding", [](Bytes& b, auto&) { b[get_le(b, 96, 8) + 121] = 9; },
       "padding byte at file offset"},
      {"metadata utf8", [](Bytes& b, auto&) { b[130] = 0xc0; }, "metadata is not UTF-8 (byte 2)"},
      {"name length 0", [](Bytes& b, auto& t) { put_le(b, t[0].name_len, 0, 2); },
       "tensor 0 has an empty name"},
      {"name length 257", [](Bytes& b, auto& t) { put_le(b, t[0].name_len, 257, 2); },
       "tensor 0 has a 257-byte name, the limit is 256"},
      {"name length long", [](Bytes& b, auto& t) { put_le(b, t[5].name_len, 255, 2); },
       "the tensor table ends inside the entry of tensor 5"},
      {"name control", [](Bytes& b, auto& t) { b[t[1].name] = '\n'; },
       "tensor 1 has a name with control character 0a at byte 0"},
      {"duplicate name", [](Bytes& b, auto& t) { b[t[1].name + 7] = 'g'; },
       "tensor 1 'block0.gcn.weight' has the same name as tensor 0"},
      {"dtype", [](Bytes& b, auto& t) { b[t[2].dtype] = 7; },
       "tensor 2 'block1.q' has unknown dtype code 7"},
      {"dtype size", [](Bytes& b, auto& t) { b[t[0].dtype] = 1; },
       "tensor 0 'block0.gcn.weight' (f16 [2, 3, 5]) needs 60 bytes of data, it has 120"},
      {"rank", [](Bytes& b, auto& t) { b[t[2].rank] = 9; },
       "tensor 2 'block1.q' has rank 9, the limit is 8"},
      {"negative dim", [](Bytes& b, auto& t) { put_le(b, t[0].dims + 8, uint64_t(-1), 8); },
       "has a negative dimension in [2, -1, 5]"},
      {"huge dims",
       [](Bytes& b, auto& t) {
         put_le(b, t[0].dims, INT64_MAX, 8);
         put_le(b, t[0].dims + 8, INT64_MAX, 8);
       },
       "overflows 64 bits"},
      {"huge dim", [](Bytes& b, auto& t) { put_le(b, t[0].dims, uint64_t{1} << 50, 8); },
       "needs 67553994410557440 bytes of data, it has 120"},
      {"layout length", [](Bytes& b, auto& t) { put_le(b, t[0].layout_len, 5000, 4); },
       "tensor 0 'block0.gcn.weight' has a 5000-byte layout descriptor, the limit is 4096"},
      {"layout length long", [](Bytes& b, auto& t) { put_le(b, t[4].layout_len, 4000, 4); },
       "the tensor table ends inside the entry of tensor 4 'scalar'"},
      {"data length", [](Bytes& b, auto& t) { put_le(b, t[1].data_len, UINT64_MAX, 8); },
       "needs 14 bytes of data, it has 18446744073709551615"},
      {"data offset huge", [](Bytes& b, auto& t) { put_le(b, t[3].data_off, UINT64_MAX - 63, 8); },
       "tensor 3 'block2.blob' extends past the end of the blob (offset 18446744073709551552 + 100 "
       "> " +
           std::to_string(blob_len) + ")"},
      {"data offset misaligned", [](Bytes& b, auto& t) { put_le(b, t[0].data_off, 1, 8); },
       "tensor 0 'block0.gcn.weight' data offset 1 is not a multiple of 64"},
      {"data offset moved", [](Bytes& b, auto& t) { put_le(b, t[2].data_off, 192 + 64, 8); },
       "tensor 2 'block1.q' data offset 256 is not 192"},
      {"overlap", [](Bytes& b, auto& t) { put_le(b, t[1].data_off, 0, 8); },
       "tensor 1 'block0.tcn.weight' data offset 0 is not 128"},
      {"trailing blob",
       [](Bytes& b, auto& t) { put_le(b, t[5].data_off, get_le(b, t[5].data_off, 8) - 64, 8); },
       "data offset"},
  };
  for (const Corruption& c : cases) {
    SCOPED_TRACE(c.name);
    Bytes b = good;
    c.edit(b, e);
    resign(b);
    expect_refused(b, c.message);
  }
}

// The brief's example message, exactly.
TEST(EngineFile, OutOfBlobMessage) {
  std::vector<float> a(256), w(1024);
  EngineFileContents c;
  c.metadata_json = "{}";
  c.tensors = {{"a", FileDType::kF32, {256}, {}, as_bytes(a)},
               {"b", FileDType::kF32, {0}, {}, {}},
               {"c", FileDType::kF32, {0}, {}, {}},
               {"block2.tcn.weight", FileDType::kF32, {1024}, {}, as_bytes(w)}};
  Bytes b = serialized(c);
  const auto e = walk_table(b);
  EXPECT_EQ(get_le(b, e[3].data_off, 8), 1024u);
  put_le(b, 104, 2048, 8);            // blob length
  b.resize(get_le(b, 96, 8) + 2048);  // the file shrinks with it
  put_le(b, 48, b.size(), 8);
  resign(b);
  auto r = MappedEngineFile::from_bytes(b, "x.engine");
  EXPECT_EQ(r.status().message(),
            "cannot load 'x.engine': tensor 3 'block2.tcn.weight' extends past the end of the "
            "blob (offset 1024 + 4096 > 2048)");
}

}  // namespace
}  // namespace stgcn::engine
