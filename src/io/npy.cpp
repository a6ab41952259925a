#include "stgcn/npy.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "io/files.h"

namespace stgcn {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 31;
constexpr uint64_t kHeaderProbeBytes = 65536 + 12;  // magic, version, length, header

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

// Value text following 'key': in a Python dict literal, up to the next
// top-level comma or closing brace.
bool dict_value(std::string_view header, std::string_view key, std::string* out) {
  // (Built with append: GCC 12 warns falsely on operator+ chains at -O3.)
  std::string q1(1, '\''), q2(1, '"');
  q1.append(key).push_back('\'');
  q2.append(key).push_back('"');
  size_t p = header.find(q1);
  size_t qlen = q1.size();
  if (p == std::string_view::npos) p = header.find(q2);
  if (p == std::string_view::npos) return false;
  p = header.find(':', p + qlen);
  if (p == std::string_view::npos) return false;
  ++p;
  int depth = 0;
  size_t e = p;
  for (; e < header.size(); ++e) {
    const char c = header[e];
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if (depth < 0 || (depth == 0 && (c == ',' || c == '}'))) break;
  }
  *out = trim(header.substr(p, e - p));
  return true;
}

}  // namespace

namespace {
// The bytes read so far; header only when `file_size` (the whole file's) is larger than them:
// then the header and the declared size are checked and an empty tensor is returned.
Result<Tensor> parse_npy(std::span<const uint8_t> bytes, std::string_view name_view, bool integers,
                         uint64_t file_size = 0) {
  const bool header_only = file_size > bytes.size();
  const std::string name(name_view);
  auto fail = [&](const std::string& why) {
    return invalid_argument("cannot read '" + name + "': " + why);
  };
  static const uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0)
    return fail("not an .npy file (bad magic)");
  const int major = bytes[6];
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = bytes[8] | (size_t{bytes[9]} << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return fail("truncated .npy header");
    header_len =
        bytes[8] | (size_t{bytes[9]} << 8) | (size_t{bytes[10]} << 16) | (size_t{bytes[11]} << 24);
    offset = 12;
  } else {
    return fail("unsupported .npy format version " + std::to_string(major));
  }
  if (header_len > bytes.size() - offset) return fail("truncated .npy header");
  const std::string header(reinterpret_cast<const char*>(bytes.data() + offset), header_len);
  offset += header_len;

  std::string descr, fortran, shape_text;
  if (!dict_value(header, "descr", &descr) || !dict_value(header, "fortran_order", &fortran) ||
      !dict_value(header, "shape", &shape_text))
    return fail("malformed .npy header (need descr, fortran_order, shape)");
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"'))
    descr = descr.substr(1, descr.size() - 2);
  DType dtype;
  if (descr == "<f4") {
    dtype = DType::kF32;
  } else if (descr == "<f8") {
    dtype = DType::kF64;
  } else if (integers && descr == "<i8") {
    dtype = DType::kI64;  // labels: class indices, read as float
  } else if (integers && descr == "<i4") {
    dtype = DType::kI32;
  } else if (descr == ">f4" || descr == ">f8") {
    return fail("big-endian dtype '" + descr +
                "'; only little-endian float32/float64 are accepted");
  } else {
    return fail("dtype '" + descr + "' is not supported; expected float32 '<f4' or float64 '<f8'" +
                (integers ? " (or int64 '<i8' / int32 '<i4')" : ""));
  }
  if (fortran == "True") return fail("Fortran order is not supported; save with C order");
  if (fortran != "False") return fail("malformed fortran_order in .npy header");

  if (shape_text.size() < 2 || shape_text.front() != '(' || shape_text.back() != ')')
    return fail("malformed shape in .npy header");
  std::vector<int64_t> shape;
  std::stringstream ss(shape_text.substr(1, shape_text.size() - 2));
  std::string item;
  int64_t count = 1;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    if (item.size() > 12 || item.find_first_not_of("0123456789") != std::string::npos)
      return fail("malformed shape " + shape_text + " in .npy header");
    const int64_t d = std::stoll(item);
    if (d != 0 && count > kMaxElements / d) return fail("shape " + shape_text + " is too large");
    count *= d;
    shape.push_back(d);
  }
  if (count > kMaxElements) return fail("shape " + shape_text + " is too large");
  const size_t need = static_cast<size_t>(count) * dtype_size(dtype);
  const size_t have = (header_only ? file_size : bytes.size()) - offset;
  if (have < need)
    return fail("truncated data: shape " + shape_string(shape) + " needs " + std::to_string(need) +
                " bytes, file has " + std::to_string(have));
  if (have > need)
    return fail("has " + std::to_string(have - need) + " bytes beyond shape " +
                shape_string(shape));

  if (header_only) return Tensor();
  Tensor t(shape);
  t.source_dtype = dtype;
  const uint8_t* src = bytes.data() + offset;
  if (dtype == DType::kF32) {
    std::memcpy(t.data.data(), src, need);
  } else if (dtype == DType::kI64) {
    for (int64_t i = 0; i < count; ++i) {
      int64_t v;
      std::memcpy(&v, src + i * 8, 8);
      t.data[i] = static_cast<float>(v);
    }
  } else if (dtype == DType::kI32) {
    for (int64_t i = 0; i < count; ++i) {
      int32_t v;
      std::memcpy(&v, src + i * 4, 4);
      t.data[i] = static_cast<float>(v);
    }
  } else {
    for (int64_t i = 0; i < count; ++i) {
      double d;
      std::memcpy(&d, src + i * 8, 8);
      t.data[i] = static_cast<float>(d);
    }
  }
  return t;
}

}  // namespace

Result<Tensor> read_npy_bytes(std::span<const uint8_t> bytes, std::string_view name) {
  return parse_npy(bytes, name, false);
}

Result<Tensor> read_labels_npy(const std::string& path) {
  STGCN_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_npy(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()), path,
      true);
}

Result<Tensor> read_npy(const std::string& path) {
  // The header first: a file whose data does not match its declared shape is refused
  // before the data is read (and before anything of its declared size is allocated).
  STGCN_ASSIGN_OR_RETURN(uint64_t size, regular_file_size(path));
  if (size > kHeaderProbeBytes) {
    STGCN_ASSIGN_OR_RETURN(std::string head, read_file_prefix(path, kHeaderProbeBytes));
    STGCN_RETURN_IF_ERROR(parse_npy(std::span<const uint8_t>(
                                        reinterpret_cast<const uint8_t*>(head.data()), head.size()),
                                    path, false, size)
                              .status());
  }
  STGCN_ASSIGN_OR_RETURN(std::string bytes, read_file_prefix(path, size));
  return read_npy_bytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), path);
}

Status write_npy(const std::string& path, const Tensor& t) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape.size(); ++i)
    header +=
        std::to_string(t.shape[i]) + (t.shape.size() == 1 || i + 1 < t.shape.size() ? "," : "");
  header += "), }";
  // Pad so that magic(6) + version(2) + len(2) + header is a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
  return write_file_atomic(path, out);
}

}  // namespace stgcn
