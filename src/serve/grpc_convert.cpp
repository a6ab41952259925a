#include "serve/grpc_convert.h"

#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "stgcn/status.h"

namespace stgcn::serve {
namespace {

// More elements than any tensor that fits in a message we accept; also bounds each dimension
// so that later products cannot overflow.
constexpr int64_t kMaxElements = int64_t{1} << 40;
constexpr size_t kMaxQuoted = 128;

struct TypeInfo {
  std::string_view name;
  int size;
  inference::DataType config;
};

constexpr TypeInfo kTypes[] = {
    {"BOOL", 1, inference::TYPE_BOOL},     {"UINT8", 1, inference::TYPE_UINT8},
    {"UINT16", 2, inference::TYPE_UINT16}, {"UINT32", 4, inference::TYPE_UINT32},
    {"UINT64", 8, inference::TYPE_UINT64}, {"INT8", 1, inference::TYPE_INT8},
    {"INT16", 2, inference::TYPE_INT16},   {"INT32", 4, inference::TYPE_INT32},
    {"INT64", 8, inference::TYPE_INT64},   {"FP16", 2, inference::TYPE_FP16},
    {"FP32", 4, inference::TYPE_FP32},     {"FP64", 8, inference::TYPE_FP64},
    {"BYTES", 0, inference::TYPE_STRING},  {"BF16", 2, inference::TYPE_BF16},
};

const TypeInfo* find_type(std::string_view name) {
  for (const TypeInfo& t : kTypes) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Error invalid(std::string message) {
  return make_error(Code::kInvalidArgument, std::move(message));
}

// Quoted, control characters escaped, cut after kMaxQuoted bytes: safe in a one-line message.
std::string quote(std::string_view text) {
  // Appended piece by piece: GCC 12's -Wrestrict misfires on "'" + std::string&& at -O3.
  std::string q(1, '\'');
  q.append(escape_control(text.substr(0, kMaxQuoted)));
  if (text.size() > kMaxQuoted) q.append("...");
  q.push_back('\'');
  return q;
}

template <typename Shape>
std::string shape_text(const Shape& shape) {
  std::string s = "[";
  int n = 0;
  for (int64_t d : shape) {
    if (n > 0) s += ", ";
    if (++n > 16) {
      s += "...";
      break;
    }
    s += std::to_string(d);
  }
  return s + "]";
}

// The number of elements of `shape`; refuses negative dimensions and more than kMaxElements.
template <typename Shape>
Error element_count(const Shape& shape, const std::string& what, int64_t& count) {
  count = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return invalid(what + ": shape " + shape_text(shape) + " has a negative dimension");
    }
    if (d > kMaxElements || __builtin_mul_overflow(count, d, &count) || count > kMaxElements) {
      return invalid(what + ": shape " + shape_text(shape) + " has too many elements");
    }
  }
  return Error::none();
}

template <typename U>
void put_le(std::string& out, U value) {
  static_assert(std::is_unsigned_v<U>);
  for (size_t i = 0; i < sizeof(U); ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xffu));
  }
}

uint32_t get_le32(const std::string& s, size_t pos) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<unsigned char>(s[pos + i])) << (8 * i);
  }
  return v;
}

// Writes each value as a T, little-endian; false when one does not fit in T.
template <typename T, typename Values>
bool append_ints(const Values& values, std::string& raw) {
  for (auto v : values) {
    if (!std::in_range<T>(v)) return false;
    put_le(raw, static_cast<std::make_unsigned_t<T>>(static_cast<T>(v)));
  }
  return true;
}

// BYTES data: exactly `count` elements of a 4-byte length and that many bytes.
Error check_bytes_elements(const std::string& raw, int64_t count, const std::string& what) {
  size_t pos = 0;
  int64_t n = 0;
  while (pos < raw.size()) {
    if (raw.size() - pos < 4) return invalid(what + ": BYTES data ends inside an element length");
    const uint32_t len = get_le32(raw, pos);
    pos += 4;
    if (len > raw.size() - pos) return invalid(what + ": BYTES element runs past the data");
    pos += len;
    if (++n > count) break;
  }
  if (n > count) {
    return invalid(what + ": BYTES data holds more than the " + std::to_string(count) +
                   " elements of the shape");
  }
  if (n < count) {
    return invalid(what + ": BYTES data holds " + std::to_string(n) +
                   " elements, the shape needs " + std::to_string(count));
  }
  return Error::none();
}

struct TypedField {
  const char* name = nullptr;  // nullptr: the datatype has no typed field (FP16, BF16)
  int64_t size = 0;
};

TypedField typed_field(const inference::InferTensorContents& c, std::string_view type) {
  if (type == "BOOL") return {"bool_contents", c.bool_contents_size()};
  if (type == "INT8" || type == "INT16" || type == "INT32") {
    return {"int_contents", c.int_contents_size()};
  }
  if (type == "UINT8" || type == "UINT16" || type == "UINT32") {
    return {"uint_contents", c.uint_contents_size()};
  }
  if (type == "INT64") return {"int64_contents", c.int64_contents_size()};
  if (type == "UINT64") return {"uint64_contents", c.uint64_contents_size()};
  if (type == "FP32") return {"fp32_contents", c.fp32_contents_size()};
  if (type == "FP64") return {"fp64_contents", c.fp64_contents_size()};
  if (type == "BYTES") return {"bytes_contents", c.bytes_contents_size()};
  return {};
}

int64_t typed_elements(const inference::InferTensorContents& c) {
  return int64_t{c.bool_contents_size()} + c.int_contents_size() + c.int64_contents_size() +
         c.uint_contents_size() + c.uint64_contents_size() + c.fp32_contents_size() +
         c.fp64_contents_size() + c.bytes_contents_size();
}

// The typed `contents` of a tensor of `count` elements as raw little-endian bytes.
Error typed_to_raw(const inference::InferTensorContents& c, const TypeInfo& type, int64_t count,
                   const std::string& what, std::string& raw) {
  const TypedField field = typed_field(c, type.name);
  const int64_t total = typed_elements(c);
  if (field.name == nullptr) {
    if (total == 0 && count == 0) return Error::none();
    return invalid(what + ": " + std::string(type.name) +
                   " has no typed contents field; send the data in raw_input_contents");
  }
  if (total != field.size) {
    return invalid(what + ": " + std::string(type.name) + " data goes in " + field.name +
                   ", the request sets another contents field");
  }
  if (field.size != count) {
    return invalid(what + ": " + field.name + " has " + std::to_string(field.size) +
                   " elements, the shape needs " + std::to_string(count));
  }
  raw.clear();
  if (type.size > 0) raw.reserve(static_cast<size_t>(count * type.size));
  bool fits = true;
  const std::string_view t = type.name;
  if (t == "BOOL") {
    for (bool v : c.bool_contents()) raw.push_back(v ? 1 : 0);
  } else if (t == "INT8") {
    fits = append_ints<int8_t>(c.int_contents(), raw);
  } else if (t == "INT16") {
    fits = append_ints<int16_t>(c.int_contents(), raw);
  } else if (t == "INT32") {
    fits = append_ints<int32_t>(c.int_contents(), raw);
  } else if (t == "UINT8") {
    fits = append_ints<uint8_t>(c.uint_contents(), raw);
  } else if (t == "UINT16") {
    fits = append_ints<uint16_t>(c.uint_contents(), raw);
  } else if (t == "UINT32") {
    fits = append_ints<uint32_t>(c.uint_contents(), raw);
  } else if (t == "INT64") {
    fits = append_ints<int64_t>(c.int64_contents(), raw);
  } else if (t == "UINT64") {
    fits = append_ints<uint64_t>(c.uint64_contents(), raw);
  } else if (t == "FP32") {
    for (float v : c.fp32_contents()) put_le(raw, std::bit_cast<uint32_t>(v));
  } else if (t == "FP64") {
    for (double v : c.fp64_contents()) put_le(raw, std::bit_cast<uint64_t>(v));
  } else if (t == "BYTES") {
    for (const std::string& v : c.bytes_contents()) {
      if (v.size() > std::numeric_limits<uint32_t>::max()) {
        return invalid(what + ": a BYTES element is longer than 4 GiB");
      }
      put_le(raw, static_cast<uint32_t>(v.size()));
      raw += v;
    }
  }
  if (!fits) return invalid(what + ": a value is out of range for " + std::string(t));
  return Error::none();
}

template <typename ProtoMap>
Error params_from_proto(const ProtoMap& in, Params& out) {
  for (const auto& kv : in) {
    Param p;
    if (Error e = from_proto(kv.first, kv.second, p); !e.ok()) return e;
    out[kv.first] = std::move(p);
  }
  return Error::none();
}

template <typename ProtoMap>
void params_to_proto(const Params& in, ProtoMap& out) {
  for (const auto& [key, value] : in) to_proto(value, out[key]);
}

void tensor_to_proto(const TensorMetadata& in,
                     inference::ModelMetadataResponse::TensorMetadata& out) {
  out.set_name(in.name);
  out.set_datatype(in.datatype);
  for (int64_t d : in.shape) out.add_shape(d);
}

}  // namespace

int element_size(std::string_view datatype) {
  const TypeInfo* t = find_type(datatype);
  return t == nullptr ? -1 : t->size;
}

inference::DataType config_data_type(std::string_view datatype) {
  const TypeInfo* t = find_type(datatype);
  return t == nullptr ? inference::TYPE_INVALID : t->config;
}

grpc::StatusCode to_grpc_status(Code code) {
  switch (code) {
    case Code::kOk: return grpc::StatusCode::OK;
    case Code::kInvalidArgument: return grpc::StatusCode::INVALID_ARGUMENT;
    case Code::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case Code::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case Code::kResourceExhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case Code::kUnauthenticated: return grpc::StatusCode::UNAUTHENTICATED;
    case Code::kDeadlineExceeded: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case Code::kInternal: return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::UNKNOWN;
}

Error from_proto(const std::string& key, const inference::InferParameter& in, Param& out) {
  switch (in.parameter_choice_case()) {
    case inference::InferParameter::kBoolParam: out = Param::of_bool(in.bool_param()); break;
    case inference::InferParameter::kInt64Param: out = Param::of_int64(in.int64_param()); break;
    case inference::InferParameter::kStringParam: out = Param::of_string(in.string_param()); break;
    case inference::InferParameter::kDoubleParam: out = Param::of_double(in.double_param()); break;
    case inference::InferParameter::kUint64Param: out = Param::of_uint64(in.uint64_param()); break;
    default: return invalid("parameter " + quote(key) + " has no value");
  }
  return Error::none();
}

void to_proto(const Param& in, inference::InferParameter& out) {
  switch (in.kind) {
    case Param::kBool: out.set_bool_param(in.b); break;
    case Param::kInt64: out.set_int64_param(in.i); break;
    case Param::kUint64: out.set_uint64_param(in.u); break;
    case Param::kDouble: out.set_double_param(in.d); break;
    case Param::kString: out.set_string_param(in.s); break;
  }
}

Error from_proto(const inference::ModelInferRequest& in, InferRequest& out) {
  out = InferRequest{};
  out.model = in.model_name();
  out.version = in.model_version();
  out.id = in.id();
  if (Error e = params_from_proto(in.parameters(), out.parameters); !e.ok()) return e;

  const int raw_count = in.raw_input_contents_size();
  if (raw_count != 0 && raw_count != in.inputs_size()) {
    return invalid("raw_input_contents has " + std::to_string(raw_count) + " entries for " +
                   std::to_string(in.inputs_size()) + " inputs");
  }
  out.inputs.reserve(static_cast<size_t>(in.inputs_size()));
  for (int i = 0; i < in.inputs_size(); ++i) {
    const auto& t = in.inputs(i);
    const std::string what = "input " + quote(t.name());
    Tensor x;
    x.name = t.name();
    x.datatype = t.datatype();
    x.shape.assign(t.shape().begin(), t.shape().end());
    if (Error e = params_from_proto(t.parameters(), x.parameters); !e.ok()) {
      return invalid(what + ": " + e.message);
    }
    const TypeInfo* type = find_type(t.datatype());
    if (type == nullptr) return invalid(what + ": unknown datatype " + quote(t.datatype()));
    int64_t count = 0;
    if (Error e = element_count(t.shape(), what, count); !e.ok()) return e;

    if (raw_count == 0) {
      if (Error e = typed_to_raw(t.contents(), *type, count, what, x.raw); !e.ok()) return e;
    } else {
      if (t.has_contents() && typed_elements(t.contents()) > 0) {
        return invalid(what + ": has both contents and raw_input_contents");
      }
      x.raw = in.raw_input_contents(i);
      if (type->size == 0) {
        if (Error e = check_bytes_elements(x.raw, count, what); !e.ok()) return e;
      } else if (static_cast<int64_t>(x.raw.size()) != count * type->size) {
        return invalid(what + ": raw_input_contents has " + std::to_string(x.raw.size()) +
                       " bytes, shape " + shape_text(t.shape()) + " of " + t.datatype() +
                       " needs " + std::to_string(count * type->size));
      }
    }
    out.inputs.push_back(std::move(x));
  }

  out.outputs.reserve(static_cast<size_t>(in.outputs_size()));
  for (const auto& o : in.outputs()) {
    RequestedOutput r;
    r.name = o.name();
    if (Error e = params_from_proto(o.parameters(), r.parameters); !e.ok()) {
      return invalid("output " + quote(o.name()) + ": " + e.message);
    }
    out.outputs.push_back(std::move(r));
  }
  return Error::none();
}

void to_proto(const InferResponse& in, inference::ModelInferResponse& out) {
  out.Clear();
  out.set_model_name(in.model);
  out.set_model_version(in.version);
  out.set_id(in.id);
  params_to_proto(in.parameters, *out.mutable_parameters());
  for (const Tensor& t : in.outputs) {
    auto* o = out.add_outputs();
    o->set_name(t.name);
    o->set_datatype(t.datatype);
    for (int64_t d : t.shape) o->add_shape(d);
    params_to_proto(t.parameters, *o->mutable_parameters());
    out.add_raw_output_contents(t.raw);
  }
}

void to_proto(const ModelConfig& in, inference::ModelConfig& out) {
  out.Clear();
  out.set_name(in.name);
  out.set_platform(in.platform);
  out.set_backend(in.backend);
  out.set_max_batch_size(in.max_batch_size);
  for (const TensorMetadata& t : in.inputs) {
    auto* i = out.add_input();
    i->set_name(t.name);
    i->set_data_type(config_data_type(t.datatype));
    for (int64_t d : t.shape) i->add_dims(d);
  }
  for (const TensorMetadata& t : in.outputs) {
    auto* o = out.add_output();
    o->set_name(t.name);
    o->set_data_type(config_data_type(t.datatype));
    for (int64_t d : t.shape) o->add_dims(d);
  }
  // Triton's scheduling_choice is a oneof: a sequence model that also batches across
  // sequences reports its batching as the sequence batcher's "oldest" strategy.
  if (in.sequence_batching) {
    auto* s = out.mutable_sequence_batching();
    s->set_max_sequence_idle_microseconds(in.max_sequence_idle_us);
    if (in.dynamic_batching) {
      auto* oldest = s->mutable_oldest();
      for (int b : in.preferred_batch_size) oldest->add_preferred_batch_size(b);
      oldest->set_max_queue_delay_microseconds(in.max_queue_delay_us);
    }
  } else if (in.dynamic_batching) {
    auto* d = out.mutable_dynamic_batching();
    for (int b : in.preferred_batch_size) d->add_preferred_batch_size(b);
    d->set_max_queue_delay_microseconds(in.max_queue_delay_us);
  }
  auto* group = out.add_instance_group();
  group->set_name(in.name);
  group->set_kind(inference::ModelInstanceGroup::KIND_CPU);
  group->set_count(in.instance_count);
  for (const auto& [key, value] : in.parameters) {
    (*out.mutable_parameters())[key].set_string_value(value);
  }
}

void to_proto(const ModelMetadata& in, inference::ModelMetadataResponse& out) {
  out.Clear();
  out.set_name(in.name);
  for (const std::string& v : in.versions) out.add_versions(v);
  out.set_platform(in.platform);
  for (const TensorMetadata& t : in.inputs) tensor_to_proto(t, *out.add_inputs());
  for (const TensorMetadata& t : in.outputs) tensor_to_proto(t, *out.add_outputs());
}

void to_proto(const ServerMetadata& in, inference::ServerMetadataResponse& out) {
  out.Clear();
  out.set_name(in.name);
  out.set_version(in.version);
  for (const std::string& e : in.extensions) out.add_extensions(e);
}

}  // namespace stgcn::serve
