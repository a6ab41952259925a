// ONNX TensorProto -> Const, and the small helpers shared by the importer.
// Every size read from the file is checked against the data actually present
// before anything is allocated.
#include <cstring>

#include "core/float16.h"
#include "onnx/import_ir.h"

namespace stgcn::onnx_import {
namespace {

// Element size in raw_data, 0 for types we do not read.
int raw_size(int dtype) {
  using T = ::onnx::TensorProto;
  switch (dtype) {
    case T::FLOAT:
    case T::INT32:
    case T::UINT32: return 4;
    case T::DOUBLE:
    case T::INT64:
    case T::UINT64: return 8;
    case T::FLOAT16:
    case T::BFLOAT16:
    case T::INT16:
    case T::UINT16: return 2;
    case T::INT8:
    case T::UINT8:
    case T::BOOL: return 1;
    default: return 0;
  }
}

bool is_float_type(int dtype) {
  using T = ::onnx::TensorProto;
  return dtype == T::FLOAT || dtype == T::DOUBLE || dtype == T::FLOAT16 || dtype == T::BFLOAT16;
}

// Value of element k of raw little-endian data of type dtype, as double.
double raw_at(const char* p, int dtype, size_t k) {
  using T = ::onnx::TensorProto;
  auto load = [&](auto v) {
    std::memcpy(&v, p + k * sizeof v, sizeof v);
    return v;
  };
  switch (dtype) {
    case T::FLOAT: return load(float{});
    case T::DOUBLE: return load(double{});
    case T::FLOAT16: return half_to_float(load(uint16_t{}));
    case T::BFLOAT16: return bfloat16_to_float(load(uint16_t{}));
    case T::INT32: return load(int32_t{});
    case T::UINT32: return load(uint32_t{});
    case T::INT64: return static_cast<double>(load(int64_t{}));
    case T::UINT64: return static_cast<double>(load(uint64_t{}));
    case T::INT16: return load(int16_t{});
    case T::UINT16: return load(uint16_t{});
    case T::INT8: return load(int8_t{});
    case T::UINT8:
    case T::BOOL: return load(uint8_t{});
    default: return 0;
  }
}

int64_t raw_int_at(const char* p, int dtype, size_t k) {
  using T = ::onnx::TensorProto;
  if (dtype == T::INT64) {
    int64_t v;
    std::memcpy(&v, p + k * sizeof v, sizeof v);
    return v;
  }
  if (dtype == T::UINT64) {
    uint64_t v;
    std::memcpy(&v, p + k * sizeof v, sizeof v);
    return v > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v);
  }
  return static_cast<int64_t>(raw_at(p, dtype, k));
}

}  // namespace

int64_t checked_numel(const std::vector<int64_t>& shape, int64_t limit) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || d > kMaxDim) return -1;
    if (d != 0 && n > limit / d) return -1;
    n *= d;
  }
  return n;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out.push_back(',');
    out.append(std::to_string(s[i]));
  }
  out.push_back(']');
  return out;
}

std::string printable(std::string_view s) {
  std::string out;
  for (char ch : s.substr(0, 160)) {
    const auto u = static_cast<unsigned char>(ch);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : ch);
  }
  if (s.size() > 160) out.append("...");
  return out;
}

std::string node_label(const Node& n) {
  return "node '" + printable(n.name) + "' (" + printable(n.onnx_op) + ")";
}

std::string node_label(const ::onnx::NodeProto& n) {
  std::string name = n.name();
  if (name.empty() && n.output_size() > 0) name = n.output(0);
  return "node '" + printable(name) + "' (" + printable(n.op_type()) + ")";
}

Status not_understood(const std::string& label, const std::string& why) {
  return unsupported(label + " is not part of an ST-GCN graph we understand" +
                     (why.empty() ? "" : ": " + why));
}

Result<ConstPtr> decode_tensor(const ::onnx::TensorProto& t, const std::string& what) {
  using T = ::onnx::TensorProto;
  if (t.data_location() == T::EXTERNAL || t.external_data_size() > 0)
    return unsupported(what +
                       " keeps its data in an external file, which is not supported "
                       "(re-export with the weights inside the .onnx)");
  if (t.has_segment()) return unsupported(what + " is a segmented tensor, which is not supported");
  if (t.dims_size() > kMaxRank) return corrupt(what + " has rank " + std::to_string(t.dims_size()));
  auto c = std::make_shared<Const>();
  c->shape.assign(t.dims().begin(), t.dims().end());
  const int64_t n = checked_numel(c->shape, int64_t{1} << 32);
  if (n < 0) return corrupt(what + " has an invalid shape " + shape_str(c->shape));
  const int dtype = t.data_type();
  const int esize = raw_size(dtype);
  if (esize == 0)
    return unsupported(what + " has data type " + std::to_string(dtype) +
                       ", which is not supported (float32/16/64, bfloat16 and integers are)");
  c->is_float = is_float_type(dtype);
  const size_t count = static_cast<size_t>(n);
  auto fill = [&](auto&& get) {
    if (c->is_float) {
      c->f.resize(count);
      for (size_t k = 0; k < count; ++k) c->f[k] = static_cast<float>(get(k));
    } else {
      c->i.resize(count);
      for (size_t k = 0; k < count; ++k) c->i[k] = static_cast<int64_t>(get(k));
    }
  };
  auto mismatch = [&](size_t have, const char* unit) {
    return corrupt(what + " has shape " + shape_str(c->shape) + " (" + std::to_string(count) +
                   " elements) but holds " + std::to_string(have) + " " + unit + " of data");
  };
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    if (raw.size() / static_cast<size_t>(esize) != count ||
        raw.size() % static_cast<size_t>(esize) != 0)
      return mismatch(raw.size(), "bytes");
    const char* p = raw.data();
    if (c->is_float) {
      fill([&](size_t k) { return raw_at(p, dtype, k); });
    } else {
      c->i.resize(count);
      for (size_t k = 0; k < count; ++k) c->i[k] = raw_int_at(p, dtype, k);
    }
    return ConstPtr(c);
  }
  switch (dtype) {
    case T::FLOAT:
      if (static_cast<size_t>(t.float_data_size()) != count)
        return mismatch(t.float_data_size(), "floats");
      fill([&](size_t k) { return t.float_data(static_cast<int>(k)); });
      break;
    case T::DOUBLE:
      if (static_cast<size_t>(t.double_data_size()) != count)
        return mismatch(t.double_data_size(), "doubles");
      fill([&](size_t k) { return t.double_data(static_cast<int>(k)); });
      break;
    case T::INT64:
      if (static_cast<size_t>(t.int64_data_size()) != count)
        return mismatch(t.int64_data_size(), "int64s");
      c->i.assign(t.int64_data().begin(), t.int64_data().end());
      break;
    case T::UINT32:
    case T::UINT64:
      if (static_cast<size_t>(t.uint64_data_size()) != count)
        return mismatch(t.uint64_data_size(), "uint64s");
      fill([&](size_t k) {
        const uint64_t v = t.uint64_data(static_cast<int>(k));
        return v > static_cast<uint64_t>(INT64_MAX) ? static_cast<double>(INT64_MAX)
                                                    : static_cast<double>(v);
      });
      break;
    default:  // int32_data holds int32 / int16 / int8 / uint16 / uint8 / bool / float16 / bfloat16
      if (static_cast<size_t>(t.int32_data_size()) != count)
        return mismatch(t.int32_data_size(), "int32s");
      fill([&](size_t k) -> double {
        const int32_t v = t.int32_data(static_cast<int>(k));
        if (dtype == T::FLOAT16) return half_to_float(static_cast<uint16_t>(v));
        if (dtype == T::BFLOAT16) return bfloat16_to_float(static_cast<uint16_t>(v));
        return v;
      });
      break;
  }
  return ConstPtr(c);
}

}  // namespace stgcn::onnx_import
