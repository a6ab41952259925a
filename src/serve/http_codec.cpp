// KServe v2 JSON bodies and Triton's binary tensor data extension (see http_codec.h).
#include "serve/http_codec.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/float16.h"

namespace stgcn::serve {
namespace {

using nlohmann::json;

// Nesting deeper than this is refused before parsing (each level costs a heap node).
constexpr int kMaxJsonDepth = 64;

enum class DType {
  kBool,
  kU8,
  kU16,
  kU32,
  kU64,
  kI8,
  kI16,
  kI32,
  kI64,
  kF16,
  kBF16,
  kF32,
  kF64,
  kBytes
};

struct DTypeInfo {
  const char* name;
  DType type;
  size_t size;              // bytes per element; 0 for BYTES
  const char* config_type;  // Triton's model_config.proto DataType
};

constexpr DTypeInfo kDTypes[] = {
    {"BOOL", DType::kBool, 1, "TYPE_BOOL"},    {"UINT8", DType::kU8, 1, "TYPE_UINT8"},
    {"UINT16", DType::kU16, 2, "TYPE_UINT16"}, {"UINT32", DType::kU32, 4, "TYPE_UINT32"},
    {"UINT64", DType::kU64, 8, "TYPE_UINT64"}, {"INT8", DType::kI8, 1, "TYPE_INT8"},
    {"INT16", DType::kI16, 2, "TYPE_INT16"},   {"INT32", DType::kI32, 4, "TYPE_INT32"},
    {"INT64", DType::kI64, 8, "TYPE_INT64"},   {"FP16", DType::kF16, 2, "TYPE_FP16"},
    {"BF16", DType::kBF16, 2, "TYPE_BF16"},    {"FP32", DType::kF32, 4, "TYPE_FP32"},
    {"FP64", DType::kF64, 8, "TYPE_FP64"},     {"BYTES", DType::kBytes, 0, "TYPE_STRING"},
};

const DTypeInfo* find_dtype(std::string_view name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

Error bad(std::string message) { return make_error(Code::kInvalidArgument, std::move(message)); }

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void put_le(std::string& out, uint64_t v, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

uint64_t get_le(const char* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// Deepest [ / { nesting of a JSON text (strings skipped); stops counting past `limit`.
int json_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

Error parse_param(const std::string& where, const std::string& key, const json& v, Param& out) {
  if (v.is_boolean())
    out = Param::of_bool(v.get<bool>());
  else if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    out = u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
              ? Param::of_int64(static_cast<int64_t>(u))
              : Param::of_uint64(u);
  } else if (v.is_number_integer())
    out = Param::of_int64(v.get<int64_t>());
  else if (v.is_number_float())
    out = Param::of_double(v.get<double>());
  else if (v.is_string())
    out = Param::of_string(v.get<std::string>());
  else
    return bad(where + " parameter '" + key + "' must be a bool, a number or a string");
  return Error::none();
}

Error parse_params(const std::string& where, const json& j, Params& out) {
  if (!j.is_object()) return bad(where + " \"parameters\" must be an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    Param p;
    if (Error e = parse_param(where, it.key(), it.value(), p); !e.ok()) return e;
    out[it.key()] = std::move(p);
  }
  return Error::none();
}

// Shape -> element count, refused when it exceeds `limit` (every element costs at least a byte
// of the body, so no valid request has more elements than body bytes).
Error parse_shape(const std::string& where, const json& j, uint64_t limit,
                  std::vector<int64_t>& shape, uint64_t& count) {
  if (!j.is_array()) return bad(where + ": \"shape\" must be an array of integers");
  bool zero = false;
  for (const auto& d : j) {
    if (!d.is_number_integer()) return bad(where + ": \"shape\" must be an array of integers");
    if (d.is_number_unsigned() &&
        d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return bad(where + ": a dimension of \"shape\" is too large");
    const int64_t v = d.get<int64_t>();
    if (v < 0)
      return bad(where + ": \"shape\" has a negative dimension (" + std::to_string(v) + ")");
    shape.push_back(v);
    zero = zero || v == 0;
  }
  count = 1;
  if (zero) {
    count = 0;
    return Error::none();
  }
  for (int64_t d : shape) {
    if (static_cast<uint64_t>(d) > limit || count > limit / static_cast<uint64_t>(d))
      return bad(where + ": shape " + shape_text(shape) +
                 " has more elements than the request has bytes");
    count *= static_cast<uint64_t>(d);
  }
  return Error::none();
}

// One JSON value -> little-endian element bytes.
Error put_element(const std::string& where, const DTypeInfo& dt, const json& v, std::string& raw) {
  auto type_error = [&](const char* want) {
    return bad(where + ": " + dt.name + " data must hold " + want + ", not a JSON " +
               v.type_name());
  };
  switch (dt.type) {
    case DType::kBool:
      if (!v.is_boolean()) return type_error("true / false");
      raw.push_back(v.get<bool>() ? 1 : 0);
      return Error::none();
    case DType::kU8:
    case DType::kU16:
    case DType::kU32:
    case DType::kU64: {
      if (!v.is_number_integer()) return type_error("integers");
      if (!v.is_number_unsigned())
        return bad(where + ": " + dt.name + " data has a negative value");
      const uint64_t u = v.get<uint64_t>();
      if (dt.size < 8 && u >> (8 * dt.size))
        return bad(where + ": value " + std::to_string(u) + " is out of range for " + dt.name);
      put_le(raw, u, dt.size);
      return Error::none();
    }
    case DType::kI8:
    case DType::kI16:
    case DType::kI32:
    case DType::kI64: {
      if (!v.is_number_integer()) return type_error("integers");
      if (v.is_number_unsigned() &&
          v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return bad(where + ": a value is out of range for " + dt.name);
      const int64_t i = v.get<int64_t>();
      const int bits = static_cast<int>(8 * dt.size);
      if (bits < 64 && (i < -(int64_t{1} << (bits - 1)) || i >= (int64_t{1} << (bits - 1))))
        return bad(where + ": value " + std::to_string(i) + " is out of range for " + dt.name);
      put_le(raw, static_cast<uint64_t>(i), dt.size);
      return Error::none();
    }
    case DType::kF16:
    case DType::kBF16:
    case DType::kF32:
    case DType::kF64: {
      if (!v.is_number()) return type_error("numbers");
      const double d = v.get<double>();
      if (dt.type == DType::kF64) {
        put_le(raw, std::bit_cast<uint64_t>(d), 8);
        return Error::none();
      }
      const float f = static_cast<float>(d);
      uint64_t bits = std::bit_cast<uint32_t>(f);
      bool overflow = std::isinf(f);
      if (dt.type == DType::kF16) {
        bits = float_to_half(f);
        overflow = overflow || (bits & 0x7fffu) == 0x7c00u;
      } else if (dt.type == DType::kBF16) {
        bits = float_to_bfloat16(f);
        overflow = overflow || (bits & 0x7fffu) == 0x7f80u;
      }
      if (overflow && std::isfinite(d))
        return bad(where + ": value " + v.dump() + " is out of range for " + dt.name);
      put_le(raw, bits, dt.size);
      return Error::none();
    }
    case DType::kBytes: {
      if (!v.is_string()) return type_error("strings");
      const auto& s = v.get_ref<const std::string&>();
      if (s.size() > std::numeric_limits<uint32_t>::max())
        return bad(where + ": a BYTES element is over 4 GiB");
      put_le(raw, s.size(), 4);
      raw += s;
      return Error::none();
    }
  }
  return bad(where + ": unsupported datatype");
}

// "data" (flat or nested row-major arrays, or one scalar) -> raw bytes; exactly `count` values.
Error json_data_to_raw(const std::string& where, const DTypeInfo& dt, const json& data,
                       const std::vector<int64_t>& shape, uint64_t count, std::string& raw) {
  uint64_t seen = 0;
  auto mismatch = [&] {
    return bad(where + ": \"data\" has " +
               (seen > count ? "more than " + std::to_string(count) : std::to_string(seen)) +
               " elements but shape " + shape_text(shape) + " needs " + std::to_string(count));
  };
  // Depth-first over nested arrays without recursion.
  std::vector<std::pair<const json*, size_t>> stack;
  auto visit = [&](const json& v) -> Error {
    if (v.is_array()) {
      stack.emplace_back(&v, 0);
      return Error::none();
    }
    if (++seen > count) return mismatch();
    return put_element(where, dt, v, raw);
  };
  if (Error e = visit(data); !e.ok()) return e;
  while (!stack.empty()) {
    auto& [arr, i] = stack.back();
    if (i == arr->size()) {
      stack.pop_back();
      continue;
    }
    const json& v = (*arr)[i++];
    if (Error e = visit(v); !e.ok()) return e;
  }
  if (seen != count) return mismatch();
  return Error::none();
}

// Checks a binary tensor's size (and BYTES framing / BOOL values) against its shape.
Error check_binary(const std::string& where, const DTypeInfo& dt, uint64_t count,
                   std::string_view bytes) {
  if (dt.size) {
    if (bytes.size() != count * dt.size)
      return bad(where + ": binary_data_size is " + std::to_string(bytes.size()) + " but " +
                 std::to_string(count) + " " + dt.name + " elements take " +
                 std::to_string(count * dt.size) + " bytes");
    if (dt.type == DType::kBool)
      for (char c : bytes)
        if (c != 0 && c != 1) return bad(where + ": BOOL binary data must hold bytes 0 or 1");
    return Error::none();
  }
  size_t off = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (bytes.size() - off < 4)
      return bad(where + ": BYTES binary data ends inside element " + std::to_string(i) +
                 "'s length");
    const uint64_t n = get_le(bytes.data() + off, 4);
    off += 4;
    if (bytes.size() - off < n)
      return bad(where + ": BYTES binary element " + std::to_string(i) +
                 " runs past binary_data_size");
    off += static_cast<size_t>(n);
  }
  if (off != bytes.size())
    return bad(where + ": BYTES binary data has " + std::to_string(bytes.size() - off) +
               " bytes after its " + std::to_string(count) + " elements");
  return Error::none();
}

struct PendingBinary {
  size_t input;  // index into out.inputs
  const DTypeInfo* dt;
  uint64_t count;
  uint64_t size;
};

Error parse_input(const json& j, size_t index, uint64_t limit, bool have_binary_section, Tensor& t,
                  std::optional<PendingBinary>& binary) {
  std::string where = "input " + std::to_string(index);
  if (!j.is_object()) return bad(where + " must be an object");
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
    return bad(where + " needs a non-empty string \"name\"");
  t.name = name->get<std::string>();
  where = "input '" + t.name + "'";
  auto datatype = j.find("datatype");
  if (datatype == j.end() || !datatype->is_string())
    return bad(where + " needs a string \"datatype\"");
  t.datatype = datatype->get<std::string>();
  const DTypeInfo* dt = find_dtype(t.datatype);
  if (!dt) return bad(where + ": unknown datatype '" + t.datatype.substr(0, 32) + "'");
  auto shape = j.find("shape");
  if (shape == j.end()) return bad(where + " needs a \"shape\"");
  uint64_t count = 0;
  if (Error e = parse_shape(where, *shape, limit, t.shape, count); !e.ok()) return e;
  if (auto p = j.find("parameters"); p != j.end())
    if (Error e = parse_params(where, *p, t.parameters); !e.ok()) return e;

  auto data = j.find("data");
  auto size_param = t.parameters.find("binary_data_size");
  if (size_param != t.parameters.end()) {
    if (data != j.end()) return bad(where + " has both \"data\" and binary_data_size");
    if (!have_binary_section)
      return bad(
          where +
          " has binary_data_size but the request has no Inference-Header-Content-Length header");
    if (size_param->second.kind != Param::kInt64 || size_param->second.i < 0)
      return bad(where + ": binary_data_size must be a non-negative integer");
    binary = PendingBinary{0, dt, count, static_cast<uint64_t>(size_param->second.i)};
    t.parameters.erase(size_param);
    return Error::none();
  }
  if (data == j.end()) return bad(where + " has neither \"data\" nor binary_data_size");
  return json_data_to_raw(where, *dt, *data, t.shape, count, t.raw);
}

Error parse_output(const json& j, size_t index, RequestedOutput& o) {
  std::string where = "output " + std::to_string(index);
  if (!j.is_object()) return bad(where + " must be an object");
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
    return bad(where + " needs a non-empty string \"name\"");
  o.name = name->get<std::string>();
  where = "output '" + o.name + "'";
  if (auto p = j.find("parameters"); p != j.end())
    if (Error e = parse_params(where, *p, o.parameters); !e.ok()) return e;
  if (auto b = o.parameters.find("binary_data");
      b != o.parameters.end() && b->second.kind != Param::kBool)
    return bad(where + ": binary_data must be true or false");
  return Error::none();
}

Error parse_request_json(std::string_view body, std::optional<size_t> json_header_length,
                         InferRequest& out) {
  if (json_header_length && *json_header_length > body.size())
    return bad("Inference-Header-Content-Length is " + std::to_string(*json_header_length) +
               " but the body has only " + std::to_string(body.size()) + " bytes");
  const std::string_view text = json_header_length ? body.substr(0, *json_header_length) : body;
  if (json_depth(text, kMaxJsonDepth) > kMaxJsonDepth)
    return bad("the request JSON nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return bad(std::string("the request is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return bad("the request must be a JSON object");

  if (auto id = j.find("id"); id != j.end()) {
    if (!id->is_string()) return bad("\"id\" must be a string");
    out.id = id->get<std::string>();
  }
  if (auto p = j.find("parameters"); p != j.end())
    if (Error e = parse_params("request", *p, out.parameters); !e.ok()) return e;
  if (auto b = out.parameters.find("binary_data_output");
      b != out.parameters.end() && b->second.kind != Param::kBool)
    return bad("request parameter binary_data_output must be true or false");

  auto inputs = j.find("inputs");
  if (inputs == j.end() || !inputs->is_array()) return bad("the request needs an \"inputs\" array");
  std::vector<PendingBinary> binaries;
  std::set<std::string> names;
  out.inputs.reserve(inputs->size());
  for (size_t i = 0; i < inputs->size(); ++i) {
    Tensor t;
    std::optional<PendingBinary> binary;
    if (Error e =
            parse_input((*inputs)[i], i, body.size(), json_header_length.has_value(), t, binary);
        !e.ok())
      return e;
    if (!names.insert(t.name).second) return bad("input '" + t.name + "' is given twice");
    if (binary) {
      binary->input = out.inputs.size();
      binaries.push_back(*binary);
    }
    out.inputs.push_back(std::move(t));
  }

  if (auto outputs = j.find("outputs"); outputs != j.end()) {
    if (!outputs->is_array()) return bad("\"outputs\" must be an array");
    std::set<std::string> out_names;
    for (size_t i = 0; i < outputs->size(); ++i) {
      RequestedOutput o;
      if (Error e = parse_output((*outputs)[i], i, o); !e.ok()) return e;
      if (!out_names.insert(o.name).second)
        return bad("output '" + o.name + "' is requested twice");
      out.outputs.push_back(std::move(o));
    }
  }

  // The binary section: the tensors back to back, in input order, filling the rest of the body.
  size_t offset = json_header_length.value_or(body.size());
  for (const auto& b : binaries) {
    Tensor& t = out.inputs[b.input];
    const std::string where = "input '" + t.name + "'";
    if (b.size > body.size() - offset)
      return bad(where + ": binary_data_size " + std::to_string(b.size) +
                 " runs past the end of the body (" + std::to_string(body.size() - offset) +
                 " bytes left)");
    const std::string_view bytes = body.substr(offset, static_cast<size_t>(b.size));
    if (Error e = check_binary(where, *b.dt, b.count, bytes); !e.ok()) return e;
    t.raw.assign(bytes);
    offset += bytes.size();
  }
  if (offset != body.size())
    return bad("the body has " + std::to_string(body.size() - offset) +
               " bytes after the JSON header that no input's binary_data_size accounts for");
  return Error::none();
}

// ---- encoding ----

void append_string(std::string& out, const std::string& s) {
  out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

template <typename T>
void append_number(std::string& out, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(v)) {  // JSON has no NaN / Inf
      out += "null";
      return;
    }
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip form for floats
  out.append(buf, r.ptr);
}

void append_param(std::string& out, const Param& p) {
  switch (p.kind) {
    case Param::kBool: out += p.b ? "true" : "false"; break;
    case Param::kInt64: append_number(out, p.i); break;
    case Param::kUint64: append_number(out, p.u); break;
    case Param::kDouble: append_number(out, p.d); break;
    case Param::kString: append_string(out, p.s); break;
  }
}

void append_params(std::string& out, const Params& params, const std::string* extra_key,
                   uint64_t extra_value) {
  out += '{';
  bool first = true;
  for (const auto& [k, v] : params) {
    if (extra_key && k == *extra_key) continue;
    if (!first) out += ',';
    first = false;
    append_string(out, k);
    out += ':';
    append_param(out, v);
  }
  if (extra_key) {
    if (!first) out += ',';
    append_string(out, *extra_key);
    out += ':';
    append_number(out, extra_value);
  }
  out += '}';
}

// Raw little-endian elements -> a flat JSON array.
void append_data(std::string& out, const Tensor& t) {
  out += '[';
  const DTypeInfo* dt = find_dtype(t.datatype);
  const char* p = t.raw.data();
  const size_t n = t.raw.size();
  if (dt && dt->type == DType::kBytes) {
    size_t off = 0;
    for (bool first = true; n - off >= 4; first = false) {
      const size_t len = static_cast<size_t>(get_le(p + off, 4));
      if (n - off - 4 < len) break;
      if (!first) out += ',';
      append_string(out, t.raw.substr(off + 4, len));
      off += 4 + len;
    }
  } else if (dt) {
    for (size_t off = 0; off + dt->size <= n; off += dt->size) {
      if (off) out += ',';
      const uint64_t v = get_le(p + off, dt->size);
      const int bits = static_cast<int>(8 * dt->size);
      switch (dt->type) {
        case DType::kBool: out += v ? "true" : "false"; break;
        case DType::kU8:
        case DType::kU16:
        case DType::kU32:
        case DType::kU64: append_number(out, v); break;
        case DType::kI8:
        case DType::kI16:
        case DType::kI32:
        case DType::kI64: {
          const int64_t i = bits == 64 ? static_cast<int64_t>(v)
                                       : static_cast<int64_t>(v << (64 - bits)) >> (64 - bits);
          append_number(out, i);
          break;
        }
        case DType::kF16: append_number(out, half_to_float(static_cast<uint16_t>(v))); break;
        case DType::kBF16: append_number(out, bfloat16_to_float(static_cast<uint16_t>(v))); break;
        case DType::kF32: append_number(out, std::bit_cast<float>(static_cast<uint32_t>(v))); break;
        case DType::kF64: append_number(out, std::bit_cast<double>(v)); break;
        case DType::kBytes: break;
      }
    }
  }
  out += ']';
}

bool wants_binary(const std::string& output, const InferRequest& req, bool binary_default) {
  for (const auto& o : req.outputs) {
    if (o.name != output) continue;
    if (auto b = o.parameters.find("binary_data");
        b != o.parameters.end() && b->second.kind == Param::kBool)
      return b->second.b;
  }
  if (auto b = req.parameters.find("binary_data_output");
      b != req.parameters.end() && b->second.kind == Param::kBool)
    return b->second.b;
  return binary_default;
}

// Builds and writes a JSON document; invalid UTF-8 is replaced, nothing escapes as an exception.
template <typename Build>
std::string dump(Build build) {
  try {
    return build().dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const std::exception&) {
    return "{\"error\":\"internal error: the answer could not be written as JSON\"}";
  }
}

json tensor_metadata(const TensorMetadata& t, const char* shape_key, bool config) {
  json j = json::object();
  j["name"] = t.name;
  if (config) {
    const DTypeInfo* dt = find_dtype(t.datatype);
    j["data_type"] = dt ? dt->config_type : "TYPE_INVALID";
  } else {
    j["datatype"] = t.datatype;
  }
  j[shape_key] = t.shape;
  return j;
}

}  // namespace

Error parse_infer_request(std::string_view body, std::optional<size_t> json_header_length,
                          InferRequest& out) {
  try {
    return parse_request_json(body, json_header_length, out);
  } catch (const json::exception& e) {
    return bad(std::string("malformed request: ") + e.what());
  } catch (const std::bad_alloc&) {
    return make_error(Code::kResourceExhausted, "out of memory while decoding the request");
  } catch (const std::exception& e) {
    return make_error(Code::kInternal, std::string("decoding the request failed: ") + e.what());
  }
}

std::string encode_infer_response(const InferResponse& r, const InferRequest& req,
                                  bool binary_default, size_t& json_header_length) {
  static const std::string kBinarySize = "binary_data_size";
  std::string out = "{\"model_name\":";
  append_string(out, r.model);
  out += ",\"model_version\":";
  append_string(out, r.version);
  if (!r.id.empty()) {
    out += ",\"id\":";
    append_string(out, r.id);
  }
  if (!r.parameters.empty()) {
    out += ",\"parameters\":";
    append_params(out, r.parameters, nullptr, 0);
  }
  out += ",\"outputs\":[";
  std::vector<const Tensor*> binary;
  for (size_t k = 0; k < r.outputs.size(); ++k) {
    const Tensor& t = r.outputs[k];
    const bool is_binary = wants_binary(t.name, req, binary_default);
    if (k) out += ',';
    out += "{\"name\":";
    append_string(out, t.name);
    out += ",\"datatype\":";
    append_string(out, t.datatype);
    out += ",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i) out += ',';
      append_number(out, t.shape[i]);
    }
    out += ']';
    if (is_binary || !t.parameters.empty()) {
      out += ",\"parameters\":";
      append_params(out, t.parameters, is_binary ? &kBinarySize : nullptr, t.raw.size());
    }
    if (is_binary) {
      binary.push_back(&t);
    } else {
      out += ",\"data\":";
      append_data(out, t);
    }
    out += '}';
  }
  out += "]}";
  json_header_length = binary.empty() ? 0 : out.size();
  for (const Tensor* t : binary) out += t->raw;
  return out;
}

std::string server_metadata_json(const ServerMetadata& m) {
  return dump([&] {
    return json{{"name", m.name}, {"version", m.version}, {"extensions", m.extensions}};
  });
}

std::string model_metadata_json(const ModelMetadata& m) {
  return dump([&] {
    json j = {{"name", m.name}, {"versions", m.versions}, {"platform", m.platform}};
    j["inputs"] = json::array();
    j["outputs"] = json::array();
    for (const auto& t : m.inputs) j["inputs"].push_back(tensor_metadata(t, "shape", false));
    for (const auto& t : m.outputs) j["outputs"].push_back(tensor_metadata(t, "shape", false));
    return j;
  });
}

std::string model_config_json(const ModelConfig& c) {
  return dump([&] {
    json j = {{"name", c.name},
              {"platform", c.platform},
              {"backend", c.backend},
              {"max_batch_size", c.max_batch_size}};
    j["input"] = json::array();
    j["output"] = json::array();
    for (const auto& t : c.inputs) j["input"].push_back(tensor_metadata(t, "dims", true));
    for (const auto& t : c.outputs) j["output"].push_back(tensor_metadata(t, "dims", true));
    if (c.dynamic_batching)
      j["dynamic_batching"] = {{"preferred_batch_size", c.preferred_batch_size},
                               {"max_queue_delay_microseconds", c.max_queue_delay_us}};
    if (c.sequence_batching)
      j["sequence_batching"] = {{"max_sequence_idle_microseconds", c.max_sequence_idle_us}};
    json group = {{"count", c.instance_count}, {"kind", "KIND_CPU"}};
    j["instance_group"] = json::array();
    j["instance_group"].push_back(std::move(group));
    json params = json::object();
    for (const auto& [k, v] : c.parameters) params[k] = {{"string_value", v}};
    j["parameters"] = std::move(params);
    return j;
  });
}

std::string error_json(const std::string& message) {
  return dump([&] { return json{{"error", message}}; });
}

int http_status(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kUnauthenticated: return 401;
    case Code::kNotFound: return 404;
    case Code::kUnavailable: return 503;
    case Code::kResourceExhausted: return 503;  // bounded queues shed load with 503
    case Code::kDeadlineExceeded: return 504;
    case Code::kInternal: return 500;
  }
  return 500;
}

}  // namespace stgcn::serve
