#include "onnx/export_builder.h"

#include <bit>
#include <cstring>

namespace stgcn::onnx_export {
namespace {

static_assert(std::endian::native == std::endian::little,
              "ONNX raw_data is little-endian; this writer assumes a little-endian host");

template <typename T>
std::string raw_bytes(std::span<const T> values) {
  std::string raw(values.size_bytes(), '\0');
  if (!values.empty()) std::memcpy(raw.data(), values.data(), values.size_bytes());
  return raw;
}

}  // namespace

Status check_onnx_size(uint64_t bytes) {
  if (bytes <= kMaxOnnxBytes) return Status::ok();
  return unsupported("the model needs " + std::to_string(bytes / (1 << 20)) +
                     " MiB of weights; an ONNX file is a single protobuf message, limited to "
                     "2 GiB (external-data ONNX files are not written)");
}

void GraphBuilder::claim(const std::string& name) {
  if (!names_.insert(name).second && duplicate_.empty()) duplicate_ = name;
}

std::string GraphBuilder::constant(const std::string& name, const std::vector<int64_t>& dims,
                                   std::span<const float> values) {
  claim(name);
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(raw_bytes(values));
  initializer_bytes_ += values.size_bytes();
  return name;
}

std::string GraphBuilder::constant_i8(const std::string& name, const std::vector<int64_t>& dims,
                                      std::span<const int8_t> values) {
  claim(name);
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT8);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(raw_bytes(values));
  initializer_bytes_ += values.size_bytes();
  return name;
}

std::string GraphBuilder::ints(const std::vector<int64_t>& values) {
  auto it = int_constants_.find(values);
  if (it != int_constants_.end()) return it->second;
  std::string name = "const_i64";
  for (int64_t v : values) {
    name += v < 0 ? "_m" : "_";
    name += std::to_string(v < 0 ? -v : v);
  }
  claim(name);
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  t->set_raw_data(raw_bytes(std::span<const int64_t>(values)));
  initializer_bytes_ += values.size() * sizeof(int64_t);
  int_constants_.emplace(values, name);
  return name;
}

std::string GraphBuilder::node(const std::string& op, const std::vector<std::string>& inputs,
                               const std::string& output, const std::vector<Attr>& attrs) {
  claim(output);
  onnx::NodeProto* n = graph_->add_node();
  n->set_op_type(op);
  n->set_name(output);
  for (const std::string& in : inputs) n->add_input(in);
  n->add_output(output);
  for (const Attr& a : attrs) {
    onnx::AttributeProto* p = n->add_attribute();
    p->set_name(a.name);
    if (const auto* i = std::get_if<int64_t>(&a.value)) {
      p->set_type(onnx::AttributeProto::INT);
      p->set_i(*i);
    } else if (const auto* f = std::get_if<float>(&a.value)) {
      p->set_type(onnx::AttributeProto::FLOAT);
      p->set_f(*f);
    } else if (const auto* v = std::get_if<std::vector<int64_t>>(&a.value)) {
      p->set_type(onnx::AttributeProto::INTS);
      for (int64_t x : *v) p->add_ints(x);
    } else {
      p->set_type(onnx::AttributeProto::STRING);
      p->set_s(std::get<std::string>(a.value));
    }
  }
  return output;
}

void set_tensor_type(onnx::ValueInfoProto* info, const std::string& name,
                     const std::vector<int64_t>& dims, const std::string& symbol) {
  info->set_name(name);
  onnx::TypeProto_Tensor* t = info->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* shape = t->mutable_shape();
  for (int64_t d : dims) {
    if (d < 0)
      shape->add_dim()->set_dim_param(symbol);
    else
      shape->add_dim()->set_dim_value(d);
  }
}

}  // namespace stgcn::onnx_export
