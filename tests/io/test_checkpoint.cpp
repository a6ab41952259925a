// The checkpoint reader: hand-assembled legacy files and in-memory zip
// archives, then the PyTorch-made fixtures (python/gen_fixtures.py) when present.
#include <gtest/gtest.h>
#include <zip.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/pickle_bytes.h"
#include "stgcn/checkpoint.h"
#include "test_util.h"

namespace stgcn {
namespace {

// ---------------------------------------------------------------------------
// Building checkpoints by hand.

using Bytes = ::stgcn::testing::PickleBytes;

struct StorageBlob {
  std::string key;
  int64_t numel;
  std::vector<uint8_t> bytes;
};

template <typename T>
StorageBlob blob(std::string key, const std::vector<T>& values) {
  StorageBlob b{std::move(key), static_cast<int64_t>(values.size()), {}};
  b.bytes.resize(values.size() * sizeof(T));
  std::memcpy(b.bytes.data(), values.data(), b.bytes.size());  // the test host is little-endian
  return b;
}

std::vector<float> iota(int n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return v;
}

// Legacy layout: magic, protocol version, sys_info, object, key list, storages.
std::vector<uint8_t> legacy_file(const Bytes& object, const std::vector<StorageBlob>& storages) {
  Bytes b;
  b.proto().op(uint8_t{0x8a}).le(10, 1).raw("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19").stop();
  b.proto().op('M').le(1001, 2).stop();
  b.proto().op('}').op('(').str("protocol_version").op('M').le(1001, 2);
  b.str("little_endian").op(uint8_t{0x88}).op('u').stop();
  b.raw(object.bytes());
  b.proto().op(']').op('(');
  for (const auto& s : storages) b.str(s.key);
  b.op('e').stop();
  for (const auto& s : storages) b.le(static_cast<uint64_t>(s.numel), 8).raw(s.bytes);
  return b.bytes();
}

// A zip archive built in memory with libzip (entries stored unless `deflate`).
std::vector<uint8_t> zip_file(
    const std::vector<std::pair<std::string, std::vector<uint8_t>>>& entries,
    bool deflate = false) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err);
  EXPECT_NE(src, nullptr);
  zip_source_keep(src);
  zip_t* za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
  EXPECT_NE(za, nullptr);
  for (const auto& [name, data] : entries) {
    zip_source_t* s = zip_source_buffer(za, data.data(), data.size(), 0);
    const zip_int64_t index = zip_file_add(za, name.c_str(), s, ZIP_FL_OVERWRITE);
    EXPECT_GE(index, 0);
    zip_set_file_compression(za, static_cast<zip_uint64_t>(index),
                             deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  EXPECT_EQ(zip_close(za), 0);
  std::vector<uint8_t> out;
  EXPECT_EQ(zip_source_open(src), 0);
  zip_source_seek(src, 0, SEEK_END);
  out.resize(static_cast<size_t>(zip_source_tell(src)));
  zip_source_seek(src, 0, SEEK_SET);
  EXPECT_EQ(zip_source_read(src, out.data(), out.size()), static_cast<zip_int64_t>(out.size()));
  zip_source_close(src);
  zip_source_free(src);
  zip_error_fini(&err);
  return out;
}

std::vector<uint8_t> torch_zip(const Bytes& object, const std::vector<StorageBlob>& storages,
                               std::string byteorder = "little", bool deflate = false) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> entries;
  entries.emplace_back("archive/data.pkl", object.bytes());
  if (!byteorder.empty())
    entries.emplace_back("archive/byteorder",
                         std::vector<uint8_t>(byteorder.begin(), byteorder.end()));
  for (const auto& s : storages) entries.emplace_back("archive/data/" + s.key, s.bytes);
  entries.emplace_back("archive/version", std::vector<uint8_t>{'3', '\n'});
  return zip_file(entries, deflate);
}

// The opcodes of a whole pickle without its PROTO and STOP, to nest it in another.
std::string body(const Bytes& pickle) {
  const auto& b = pickle.bytes();
  return std::string(b.begin() + 2, b.end() - 1);
}

Result<StateDict> read(const std::vector<uint8_t>& bytes) {
  return read_checkpoint_bytes(bytes, "x.pt");
}

// A state dict {'w': [2, 3] float32 0..5, 'n': 0-d int64 5}.
Bytes simple_state_dict(std::string_view prefix = "") {
  Bytes o;
  o.proto().ordered_dict().op('(');
  o.str(std::string(prefix) + "w").tensor("0", "FloatStorage", 6, 0, {2, 3}, {3, 1});
  o.str(std::string(prefix) + "n").tensor("1", "LongStorage", 1, 0, {}, {});
  return o.op('u').stop();
}
std::vector<StorageBlob> simple_storages() {
  return {blob("0", iota(6)), blob("1", std::vector<int64_t>{5})};
}

void expect_simple(const Result<StateDict>& r) {
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].first, "w");
  EXPECT_EQ((*r)[0].second.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ((*r)[0].second.data, iota(6));
  EXPECT_EQ((*r)[0].second.source_dtype, DType::kF32);
  EXPECT_EQ((*r)[1].first, "n");
  EXPECT_TRUE((*r)[1].second.shape.empty());
  EXPECT_EQ((*r)[1].second.data, std::vector<float>{5.0f});
  EXPECT_EQ((*r)[1].second.source_dtype, DType::kI64);
}

bool contains(const Status& s, std::string_view what) {
  return s.message().find(what) != std::string::npos;
}

// ---------------------------------------------------------------------------

TEST(Checkpoint, LegacyStateDict) {
  expect_simple(read(legacy_file(simple_state_dict(), simple_storages())));
}

TEST(Checkpoint, ZipStateDict) {
  expect_simple(read(torch_zip(simple_state_dict(), simple_storages())));
  expect_simple(read(torch_zip(simple_state_dict(), simple_storages(), "")));  // no byteorder
  expect_simple(read(torch_zip(simple_state_dict(), simple_storages(), "little", true)));
}

TEST(Checkpoint, BigEndianZipIsUnsupported) {
  auto r = read(torch_zip(simple_state_dict(), simple_storages(), "big"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
  EXPECT_TRUE(contains(r.status(), "byte order 'big'")) << r.status().message();
}

TEST(Checkpoint, StridedAndSharedViews) {
  Bytes o;
  o.proto().ordered_dict().op('(');
  o.str("t").tensor("s", "FloatStorage", 12, 1, {3, 2}, {1, 3});  // transposed view, offset 1
  o.str("all").tensor("s", "FloatStorage", 12, 0, {12}, {1});
  o.str("e").tensor("s", "FloatStorage", 12, 5, {}, {});          // 0-d
  o.str("x").tensor("s", "FloatStorage", 12, 2, {2, 3}, {0, 4});  // broadcast rows
  o.str("empty").tensor("s", "FloatStorage", 12, 99, {0, 4}, {4, 1});
  o.op('u').stop();
  for (bool zip : {false, true}) {
    auto r =
        read(zip ? torch_zip(o, {blob("s", iota(12))}) : legacy_file(o, {blob("s", iota(12))}));
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    ASSERT_EQ(r->size(), 5u);
    EXPECT_EQ(find_tensor(*r, "t")->data, (std::vector<float>{1, 4, 2, 5, 3, 6}));
    EXPECT_EQ(find_tensor(*r, "all")->data, iota(12));
    EXPECT_EQ(find_tensor(*r, "e")->data, std::vector<float>{5});
    EXPECT_EQ(find_tensor(*r, "x")->data, (std::vector<float>{2, 6, 10, 2, 6, 10}));
    EXPECT_EQ(find_tensor(*r, "empty")->shape, (std::vector<int64_t>{0, 4}));
    EXPECT_TRUE(find_tensor(*r, "empty")->data.empty());
  }
}

uint16_t f16(float f) {  // exact for the values used below
  const uint32_t b = std::bit_cast<uint32_t>(f);
  const uint32_t exp = (b >> 23) & 0xff;
  if (exp == 0) return static_cast<uint16_t>((b >> 16) & 0x8000);
  return static_cast<uint16_t>(((b >> 16) & 0x8000) | ((exp - 112) << 10) | ((b >> 13) & 0x3ff));
}

TEST(Checkpoint, DtypeConversions) {
  const std::vector<float> want = {1.0f, -2.5f, 0.0f, 100.0f};
  std::vector<uint16_t> half, bf16;
  for (float f : want) {
    half.push_back(f16(f));
    bf16.push_back(static_cast<uint16_t>(std::bit_cast<uint32_t>(f) >> 16));
  }
  half.push_back(0x0001);  // smallest subnormal, 2^-24
  half.push_back(0x7c00);  // inf
  std::vector<StorageBlob> storages = {
      blob("f64", std::vector<double>{1.0, -2.5, 0.0, 100.0, 1e300}),
      blob("f16", half),
      blob("bf16", bf16),
      blob("i64", std::vector<int64_t>{1, -2, 0, 100}),
      blob("i32", std::vector<int32_t>{1, -2, 0, 100}),
      blob("i16", std::vector<int16_t>{1, -2, 0, 100}),
      blob("i8", std::vector<int8_t>{1, -2, 0, 100}),
      blob("u8", std::vector<uint8_t>{1, 254, 0, 100}),
      blob("b", std::vector<uint8_t>{1, 0, 0, 1}),
  };
  Bytes o;
  o.proto().ordered_dict().op('(');
  o.str("f64").tensor("f64", "DoubleStorage", 5, 0, {5}, {1});
  o.str("f16").tensor("f16", "HalfStorage", 6, 0, {6}, {1});
  o.str("bf16").tensor("bf16", "BFloat16Storage", 4, 0, {4}, {1});
  o.str("i64").tensor("i64", "LongStorage", 4, 0, {4}, {1});
  o.str("i32").tensor("i32", "IntStorage", 4, 0, {4}, {1});
  o.str("i16").tensor("i16", "ShortStorage", 4, 0, {4}, {1});
  o.str("i8").tensor("i8", "CharStorage", 4, 0, {4}, {1});
  o.str("u8").tensor("u8", "ByteStorage", 4, 0, {4}, {1});
  o.str("b").tensor("b", "BoolStorage", 4, 0, {4}, {1});
  o.op('u').stop();
  auto r = read(torch_zip(o, storages));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(find_tensor(*r, "f64")->data,
            (std::vector<float>{1.0f, -2.5f, 0.0f, 100.0f, INFINITY}));
  EXPECT_EQ(find_tensor(*r, "f64")->source_dtype, DType::kF64);
  EXPECT_EQ(find_tensor(*r, "f16")->data,
            (std::vector<float>{1.0f, -2.5f, 0.0f, 100.0f, std::ldexp(1.0f, -24), INFINITY}));
  EXPECT_EQ(find_tensor(*r, "f16")->source_dtype, DType::kF16);
  EXPECT_EQ(find_tensor(*r, "bf16")->data, want);
  EXPECT_EQ(find_tensor(*r, "bf16")->source_dtype, DType::kBF16);
  const std::vector<float> ints = {1, -2, 0, 100};
  EXPECT_EQ(find_tensor(*r, "i64")->data, ints);
  EXPECT_EQ(find_tensor(*r, "i32")->data, ints);
  EXPECT_EQ(find_tensor(*r, "i16")->data, ints);
  EXPECT_EQ(find_tensor(*r, "i8")->data, ints);
  EXPECT_EQ(find_tensor(*r, "u8")->data, (std::vector<float>{1, 254, 0, 100}));
  EXPECT_EQ(find_tensor(*r, "b")->data, (std::vector<float>{1, 0, 0, 1}));
  EXPECT_EQ(find_tensor(*r, "b")->source_dtype, DType::kBool);
}

TEST(Checkpoint, TensorPastItsStorage) {
  Bytes o;
  o.proto().ordered_dict().op('(');
  o.str("st_gcn_networks.0.gcn.conv.weight")
      .tensor("3", "FloatStorage", 100, 0, {48, 3, 1, 1}, {3, 1, 1, 1});
  o.op('u').stop();
  for (bool zip : {false, true}) {
    std::vector<StorageBlob> s = {blob("3", iota(100))};
    auto r = read(zip ? torch_zip(o, s) : legacy_file(o, s));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kCorrupt);
    EXPECT_EQ(r.status().message(),
              "cannot load 'x.pt': tensor 'st_gcn_networks.0.gcn.conv.weight': shape [48, 3, 1, "
              "1] stride [3, 1, 1, 1] offset 0 needs 144 elements but storage '3' has 100");
  }
}

TEST(Checkpoint, StorageMissingOrShortInZip) {
  auto missing = read(torch_zip(simple_state_dict(), {blob("0", iota(6))}));
  ASSERT_FALSE(missing.is_ok());
  EXPECT_TRUE(contains(missing.status(), "storage '1' is missing")) << missing.status().message();
  auto shorter = read(
      torch_zip(simple_state_dict(), {blob("0", iota(5)), blob("1", std::vector<int64_t>{5})}));
  ASSERT_FALSE(shorter.is_ok());
  EXPECT_TRUE(contains(shorter.status(), "storage '0' is truncated")) << shorter.status().message();
}

TEST(Checkpoint, TruncatedFiles) {
  for (bool zip : {false, true}) {
    const std::vector<uint8_t> full = zip ? torch_zip(simple_state_dict(), simple_storages())
                                          : legacy_file(simple_state_dict(), simple_storages());
    for (size_t cut : {full.size() - 1, full.size() - 9, full.size() / 2, size_t{3}}) {
      auto r =
          read(std::vector<uint8_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut)));
      ASSERT_FALSE(r.is_ok()) << "zip " << zip << " cut " << cut;
      EXPECT_TRUE(contains(r.status(), "truncated")) << r.status().message();
      EXPECT_TRUE(r.status().message().starts_with("cannot load 'x.pt': "));
    }
  }
}

TEST(Checkpoint, NeitherZipNorPickle) {
  auto r = read(std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'});
  ASSERT_FALSE(r.is_ok());
  EXPECT_TRUE(contains(r.status(), "zip")) << r.status().message();
  EXPECT_TRUE(contains(r.status(), "pickle")) << r.status().message();
  auto empty = read({});
  EXPECT_TRUE(contains(empty.status(), "empty"));
  // A pickle that is not a torch checkpoint (no magic number).
  auto plain = read(Bytes().proto().op('}').stop().bytes());
  EXPECT_EQ(plain.status().code(), ErrorCode::kUnsupported);
  // A zip that is not a torch checkpoint.
  auto other_zip = read(zip_file({{"readme.txt", {'h', 'i'}}}));
  EXPECT_TRUE(contains(other_zip.status(), "data.pkl")) << other_zip.status().message();
}

TEST(Checkpoint, MissingFile) {
  auto r = read_checkpoint("/nonexistent/dir/x.pt");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(r.status().message(), "cannot load '/nonexistent/dir/x.pt': file not found");
}

TEST(Checkpoint, ReadsFromDisk) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("stgcn_ckpt_test_" +
                     std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + ".pt");
  {
    const auto bytes = torch_zip(simple_state_dict(), simple_storages());
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  expect_simple(read_checkpoint(path.string()));
  std::filesystem::remove(path);
}

TEST(Checkpoint, UnsafePickleIsRefused) {
  Bytes o;
  o.proto().ordered_dict().op('(').str("w").global("posix", "system").str("touch /tmp/pwned");
  o.op(uint8_t{0x85}).op('R').op('u').stop();
  for (bool zip : {false, true}) {
    auto r = read(zip ? torch_zip(o, {}) : legacy_file(o, {}));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kUnsafe);
    EXPECT_TRUE(r.status().message().starts_with(
        "cannot load 'x.pt': refusing to call 'posix.system' in pickle (offset "))
        << r.status().message();
  }
}

TEST(Checkpoint, WrappedAndPrefixed) {
  Bytes o;
  o.proto().op('}').op('(').str("epoch").integer(3).str("optimizer").op('}');
  o.str("model").raw(body(simple_state_dict("module.")));
  o.op('u').stop();
  expect_simple(read(torch_zip(o, simple_storages())));

  // A partial "module." prefix is kept.
  Bytes p;
  p.proto().ordered_dict().op('(');
  p.str("module.a").tensor("0", "FloatStorage", 6, 0, {6}, {1});
  p.str("b").tensor("0", "FloatStorage", 6, 0, {6}, {1});
  p.op('u').stop();
  auto r = read(torch_zip(p, {blob("0", iota(6))}));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)[0].first, "module.a");
}

// NEWOBJ cls; BUILD {_parameters, _buffers, _non_persistent_buffers_set, _modules}.
Bytes& module(Bytes& b, std::string_view cls, const std::function<void(Bytes&)>& params,
              const std::function<void(Bytes&)>& buffers,
              const std::function<void(Bytes&)>& children) {
  b.global("my.net", cls).op(')').op(uint8_t{0x81}).op('}').op('(');
  b.str("training").op(uint8_t{0x88});
  b.str("_parameters").ordered_dict().op('(');
  params(b);
  b.op('u').str("_buffers").ordered_dict().op('(');
  buffers(b);
  b.op('u')
      .str("_non_persistent_buffers_set")
      .global("__builtin__", "set")
      .op(']')
      .op('(')
      .str("tmp");
  b.op('e').op(uint8_t{0x85}).op('R');
  b.str("_modules").ordered_dict().op('(');
  children(b);
  return b.op('u').op('u').op('b');
}

TEST(Checkpoint, WholePickledModule) {
  auto none = [](Bytes&) {};
  Bytes o;
  o.proto();
  module(
      o, "Net",
      [](Bytes& b) {
        b.str("w").global("torch._utils", "_rebuild_parameter");
        b.tensor("0", "FloatStorage", 6, 0, {2, 3}, {3, 1})
            .op(uint8_t{0x88})
            .ordered_dict()
            .op(uint8_t{0x87})
            .op('R');
        b.str("unused").op('N');
      },
      [](Bytes& b) {
        b.str("running").tensor("1", "LongStorage", 1, 0, {}, {});
        b.str("tmp").tensor("1", "LongStorage", 1, 0, {}, {});
      },
      [&](Bytes& b) {
        b.str("child");
        module(
            b, "Linear",
            [](Bytes& c) { c.str("weight").tensor("0", "FloatStorage", 6, 1, {2}, {2}); }, none,
            none);
        b.str("gone").op('N');
      });
  o.stop();
  auto r = read(torch_zip(o, simple_storages()));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].first, "w");
  EXPECT_EQ((*r)[1].first, "running");
  EXPECT_EQ((*r)[2].first, "child.weight");
  EXPECT_EQ((*r)[2].second.data, (std::vector<float>{1, 3}));

  // The same module inside {"model": module}.
  Bytes w;
  w.proto().op('}').str("model").raw(body(o));
  w.op('s').stop();
  auto wrapped = read(torch_zip(w, simple_storages()));
  ASSERT_TRUE(wrapped.is_ok()) << wrapped.status().message();
  EXPECT_EQ(wrapped->size(), 3u);
}

TEST(Checkpoint, SharedSubmodulesCannotExplode) {
  // m[i+1]._modules = {'a': m[i], 'b': m[i]} through the memo: 2^40 paths in a tiny file.
  auto none = [](Bytes&) {};
  Bytes o;
  o.proto().op(']');
  module(
      o, "Leaf", [](Bytes& b) { b.str("w").tensor("0", "FloatStorage", 6, 0, {6}, {1}); }, none,
      none);
  o.op('q').le(0, 1).op('a');
  for (int i = 0; i < 40; ++i) {
    module(o, "Node", none, none, [i](Bytes& b) {
      b.str("a").op('h').le(static_cast<uint64_t>(i), 1);
      b.str("b").op('h').le(static_cast<uint64_t>(i), 1);
    });
    o.op('q').le(static_cast<uint64_t>(i + 1), 1).op('a');
  }
  o.op('0').op('h').le(40, 1).stop();
  auto r = read(torch_zip(o, {blob("0", iota(6))}));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
  EXPECT_TRUE(contains(r.status(), "modules")) << r.status().message();
}

TEST(Checkpoint, NoStateDict) {
  auto list = read(torch_zip(Bytes().proto().op(']').stop(), {}));
  ASSERT_FALSE(list.is_ok());
  EXPECT_EQ(list.status().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(list.status().message(),
            "cannot load 'x.pt': no state_dict found (top-level object is a list of 0)");
  auto empty = read(torch_zip(Bytes().proto().op('}').stop(), {}));
  EXPECT_TRUE(contains(empty.status(), "(top-level object is an empty dict)"))
      << empty.status().message();
  auto meta = read(torch_zip(Bytes().proto().op('}').str("epoch").integer(1).op('s').stop(), {}));
  EXPECT_TRUE(contains(meta.status(), "dict with keys 'epoch'")) << meta.status().message();
}

TEST(Checkpoint, LegacyStorageViews) {
  // Pre-1.0 torch: ('storage', type, root_key, location, numel, (view_key, offset, size)).
  Bytes o;
  o.proto().ordered_dict().op('(').str("v").global("torch._utils", "_rebuild_tensor_v2").op('(');
  o.op('(').str("storage").global("torch", "FloatStorage").str("root").str("cpu").integer(10);
  o.str("view").integer(4).integer(3).op(uint8_t{0x87}).op('t').op('Q');
  o.integer(1)
      .tuple_of({2})
      .tuple_of({1})
      .op(uint8_t{0x89})
      .ordered_dict()
      .op('t')
      .op('R')
      .op('u')
      .stop();
  auto r = read(legacy_file(o, {blob("root", iota(10))}));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)[0].second.data, (std::vector<float>{5, 6}));
}

TEST(Checkpoint, TotalElementLimit) {
  // Broadcasting one element to 2^29 must fail before allocating 2 GiB.
  Bytes o;
  o.proto().ordered_dict().op('(').str("big").tensor("0", "FloatStorage", 1, 0, {1 << 29}, {0});
  o.op('u').stop();
  auto r = read(torch_zip(o, {blob("0", iota(1))}));
  ASSERT_FALSE(r.is_ok());
  EXPECT_TRUE(contains(r.status(), "elements")) << r.status().message();
}

// ---------------------------------------------------------------------------
// PyTorch-made fixtures.

std::string fixtures_dir_or_empty() {
  const std::string dir = testing::fixtures_dir();
  return std::filesystem::exists(dir + "/manifest.json") ? dir : std::string();
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape == b.shape && a.data.size() == b.data.size() &&
         std::memcmp(a.data.data(), b.data.data(), a.data.size() * sizeof(float)) == 0;
}

TEST(CheckpointFixtures, EveryVariantLoads) {
  const std::string dir = fixtures_dir_or_empty();
  if (dir.empty()) GTEST_SKIP() << "no fixtures in " << testing::fixtures_dir();
  const auto& variants = testing::manifest()["formats"]["variants"];
  ASSERT_TRUE(variants.is_array());
  std::map<std::string, StateDict> loaded;
  for (const auto& v : variants) {
    const std::string name = v["name"].get<std::string>();
    auto r = read_checkpoint(dir + "/" + v["file"].get<std::string>());
    ASSERT_TRUE(r.is_ok()) << name << ": " << r.status().message();
    EXPECT_FALSE(r->empty()) << name;
    if (v.contains("float_dtype") && v["float_dtype"].is_string()) {
      const std::string want = v["float_dtype"].get<std::string>();
      for (const auto& [key, t] : *r) {
        if (t.source_dtype != DType::kI64) {
          EXPECT_EQ(dtype_name(t.source_dtype), want) << name << ": " << key;
        }
      }
    }
    loaded.emplace(name, std::move(r).value());
  }
  ASSERT_TRUE(loaded.count("plain"));
  const StateDict& plain = loaded.at("plain");
  for (const auto& v : variants) {
    if (!v["same_tensors_as"].is_string() || v["same_tensors_as"].get<std::string>() != "plain")
      continue;
    const std::string name = v["name"].get<std::string>();
    const StateDict& sd = loaded.at(name);
    ASSERT_EQ(sd.size(), plain.size()) << name;
    for (size_t i = 0; i < sd.size(); ++i) {
      EXPECT_EQ(sd[i].first, plain[i].first) << name;
      EXPECT_TRUE(bit_equal(sd[i].second, plain[i].second)) << name << ": " << sd[i].first;
    }
  }
}

TEST(CheckpointFixtures, BadCheckpointsFail) {
  const std::string dir = fixtures_dir_or_empty();
  if (dir.empty()) GTEST_SKIP() << "no fixtures in " << testing::fixtures_dir();
  for (const auto& b : testing::manifest()["bad_checkpoints"]) {
    const std::string name = b["name"].get<std::string>();
    const std::string expect = b["expect"].get<std::string>();
    if (expect == "st-gcn") continue;  // well-formed checkpoints the model builder rejects
    auto r = read_checkpoint(dir + "/" + b["file"].get<std::string>());
    ASSERT_FALSE(r.is_ok()) << name << " loaded";
    const std::string message = testing::lower(r.status().message());
    EXPECT_NE(message.find(expect), std::string::npos) << name << ": " << r.status().message();
    EXPECT_TRUE(r.status().message().starts_with("cannot load '")) << r.status().message();
  }
}

}  // namespace
}  // namespace stgcn
