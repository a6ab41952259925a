#include <gtest/gtest.h>

#include <filesystem>

#include "stgcn/npy.h"
#include "test_util.h"

namespace stgcn {
namespace {

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string npy(const std::string& header_dict, size_t payload_bytes) {
  std::string h = header_dict;
  const size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  return out + h + std::string(payload_bytes, '\0');
}

TEST(Npy, RoundTrip) {
  const auto dir = std::filesystem::temp_directory_path() / "stgcn_npy_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "x.npy").string();
  Tensor t({2, 3, 1});
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = 0.5f * static_cast<float>(i) - 1.0f;
  ASSERT_TRUE(write_npy(path, t).is_ok());
  auto back = read_npy(path);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->shape, t.shape);
  EXPECT_EQ(back->data, t.data);
  Tensor v({4});
  ASSERT_TRUE(write_npy(path, v).is_ok());
  EXPECT_EQ(read_npy(path)->shape, (std::vector<int64_t>{4}));
  std::filesystem::remove_all(dir);
}

TEST(Npy, AcceptsFloat64) {
  std::string f = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16);
  const double vals[2] = {1.5, -2.25};
  std::memcpy(f.data() + f.size() - 16, vals, 16);
  auto t = read_npy_bytes(as_bytes(f), "x.npy");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->data, (std::vector<float>{1.5f, -2.25f}));
}

TEST(Npy, RejectsWithAMessage) {
  const struct {
    std::string bytes;
    const char* expect;
  } cases[] = {
      {"hello", "npy"},
      {npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 8), "dtype"},
      {npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8), "big-endian"},
      {npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16), "fortran"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20), "truncated"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 12), "beyond"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", 0),
       "too large"},
      {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 0), "shape"},
      {npy("{'descr': '<f4'}", 0), "malformed"},
      {std::string("\x93NUMPY\x01\x00\xff\x00{", 11), "truncated"},
  };
  for (const auto& c : cases) {
    auto t = read_npy_bytes(as_bytes(c.bytes), "bad.npy");
    ASSERT_FALSE(t.is_ok()) << c.expect;
    EXPECT_NE(testing::lower(t.status().message()).find(c.expect), std::string::npos)
        << t.status().message();
    EXPECT_NE(t.status().message().find("bad.npy"), std::string::npos);
  }
  EXPECT_EQ(read_npy("/nonexistent/x.npy").status().code(), ErrorCode::kNotFound);
}

TEST(Npy, WriteFailureLeavesNoFile) {
  Tensor t({1});
  auto st = write_npy("/nonexistent-dir/out.npy", t);
  EXPECT_FALSE(st.is_ok());
  EXPECT_FALSE(std::filesystem::exists("/nonexistent-dir/out.npy"));
}

}  // namespace
}  // namespace stgcn
