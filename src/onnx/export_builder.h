// A small helper for writing an ONNX GraphProto by hand: initializers
// (float and int64, stored as little-endian raw_data), nodes with typed
// attributes, unique names. Internal to the exporter (onnx_export.cpp).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "stgcn/status.h"

namespace stgcn::onnx_export {

// An ONNX file is one protobuf message: at most 2 GiB - 1 bytes.
constexpr uint64_t kMaxOnnxBytes = 2147483647;

// Refuses `bytes` over kMaxOnnxBytes with a message saying why.
Status check_onnx_size(uint64_t bytes);

struct Attr {
  std::string name;
  std::variant<int64_t, float, std::vector<int64_t>, std::string> value;
};

class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* graph) : graph_(graph) {}

  // Reserves a name (the graph input).
  void reserve(const std::string& name) { claim(name); }

  // A float32 initializer named `name` (must be new); returns the name.
  std::string constant(const std::string& name, const std::vector<int64_t>& dims,
                       std::span<const float> values);
  // An int8 initializer (explicitly quantised weights, zero points).
  std::string constant_i8(const std::string& name, const std::vector<int64_t>& dims,
                          std::span<const int8_t> values);
  // A 1-D int64 initializer (shapes, axes, slice bounds), shared between all
  // users of the same values; returns its name.
  std::string ints(const std::vector<int64_t>& values);

  // Appends a node with one output named `output`; returns `output`.
  std::string node(const std::string& op, const std::vector<std::string>& inputs,
                   const std::string& output, const std::vector<Attr>& attrs = {});

  // Every tensor name used so far (initializers, node outputs).
  const std::set<std::string>& names() const { return names_; }
  // The first name given twice (empty when none): the caller turns it into
  // an error, as a user-chosen input name may clash with a generated one.
  const std::string& duplicate() const { return duplicate_; }
  // Bytes of tensor data held by the initializers.
  uint64_t initializer_bytes() const { return initializer_bytes_; }

 private:
  void claim(const std::string& name);

  onnx::GraphProto* graph_;
  std::set<std::string> names_;
  std::map<std::vector<int64_t>, std::string> int_constants_;
  std::string duplicate_;
  uint64_t initializer_bytes_ = 0;
};

// Adds a tensor value_info (float32) with dimensions that are either fixed
// (>= 0) or, where `dims[i] < 0`, the symbolic parameter `symbol`.
void set_tensor_type(onnx::ValueInfoProto* info, const std::string& name,
                     const std::vector<int64_t>& dims, const std::string& symbol);

// Retypes an exported graph (export_precision.cpp): `fp16` computes in float16 except data_bn,
// the head, the motion difference and the softmax; the input and output are float16 when
// `io_fp16`, else float32; Casts where types meet.
Status apply_precision(onnx::GraphProto& g, bool fp16, bool io_fp16);

}  // namespace stgcn::onnx_export
