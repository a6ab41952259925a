// Retyping an exported graph for FP16 (docs/tensorrt.md, "FP16"): every node computes in float16
// except the numerically sensitive spots, which stay float32 — the input's layout transpose and
// the two-stream motion difference (raw coordinates), data_bn (raw coordinates in, the widest
// range of the model), the head (a mean over T x V x M and the classifier) and the softmax. A
// Cast is inserted wherever a tensor meets a node of the other type; float initializers read only
// by float16 nodes are stored as float16. The graph's input and output stay float32 unless
// `io_fp16`.
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/float16.h"
#include "onnx/export_builder.h"

namespace stgcn::onnx_export {
namespace {

bool stays_fp32(const std::string& name) {
  for (const char* prefix : {"input/", "motion/", "two_stream/", "softmax"})
    if (name.rfind(prefix, 0) == 0) return true;
  for (const char* part : {"data_bn/", "head/", "fcn/"})
    if (name.find(part) != std::string::npos) return true;
  return false;
}

Status to_half(onnx::TensorProto& t) {
  const std::string& raw = t.raw_data();
  const size_t n = raw.size() / sizeof(float);
  std::string half(n * sizeof(uint16_t), '\0');
  for (size_t i = 0; i < n; ++i) {
    float f;
    std::memcpy(&f, raw.data() + i * sizeof(float), sizeof(float));
    const uint16_t h = float_to_half(f);
    if (std::isfinite(f) && !std::isfinite(half_to_float(h)))
      return invalid_argument("cannot export in FP16: initializer '" + t.name() + "' holds " +
                              std::to_string(f) + ", beyond FP16's range (65504)");
    std::memcpy(half.data() + i * sizeof(uint16_t), &h, sizeof(uint16_t));
  }
  t.set_data_type(onnx::TensorProto::FLOAT16);
  t.set_raw_data(std::move(half));
  return Status::ok();
}

void add_cast(onnx::GraphProto& g, const std::string& in, const std::string& out, int to) {
  onnx::NodeProto* c = g.add_node();
  c->set_op_type("Cast");
  c->set_name(out);
  c->add_input(in);
  c->add_output(out);
  onnx::AttributeProto* a = c->add_attribute();
  a->set_name("to");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(to);
}

void set_elem_type(onnx::ValueInfoProto* v, int type) {
  v->mutable_type()->mutable_tensor_type()->set_elem_type(type);
}

}  // namespace

Status apply_precision(onnx::GraphProto& g, bool fp16, bool io_fp16) {
  constexpr int kF32 = onnx::TensorProto::FLOAT, kF16 = onnx::TensorProto::FLOAT16;
  auto want = [&](const onnx::NodeProto& n) { return fp16 && !stays_fp32(n.name()) ? kF16 : kF32; };

  // Float initializers read only by float16 nodes become float16.
  std::map<std::string, bool> only_fp16;
  std::map<std::string, int> type;
  for (const auto& t : g.initializer()) {
    type[t.name()] = t.data_type();
    if (t.data_type() == kF32) only_fp16[t.name()] = true;
  }
  for (const auto& n : g.node())
    for (const auto& in : n.input())
      if (auto it = only_fp16.find(in); it != only_fp16.end()) it->second &= want(n) == kF16;
  for (auto& t : *g.mutable_initializer())
    if (auto it = only_fp16.find(t.name()); it != only_fp16.end() && it->second) {
      STGCN_RETURN_IF_ERROR(to_half(t));
      type[t.name()] = kF16;
    }

  const int io = io_fp16 ? kF16 : kF32;
  for (auto& in : *g.mutable_input()) {
    set_elem_type(&in, io);
    type[in.name()] = io;
  }
  // Rebuild the node list in order, each Cast just before its first reader.
  std::vector<onnx::NodeProto> nodes(g.node().begin(), g.node().end());
  g.clear_node();
  std::map<std::string, std::string> casts;  // "tensor|type" -> cast output
  auto cast = [&](const std::string& x, int to) {
    const std::string key = x + "|" + std::to_string(to);
    if (auto it = casts.find(key); it != casts.end()) return it->second;
    const std::string out = x + (to == kF16 ? "/to_fp16" : "/to_fp32");
    add_cast(g, x, out, to);
    type[out] = to;
    casts.emplace(key, out);
    return out;
  };
  for (onnx::NodeProto& n : nodes) {
    const int w = want(n);
    for (int i = 0; i < n.input_size(); ++i) {
      auto it = type.find(n.input(i));
      if (it == type.end() || (it->second != kF32 && it->second != kF16) || it->second == w)
        continue;
      n.set_input(i, cast(n.input(i), w));
    }
    for (const auto& out : n.output())
      type[out] = n.op_type() == "QuantizeLinear" ? static_cast<int>(onnx::TensorProto::INT8) : w;
    *g.add_node() = std::move(n);
  }
  for (auto& out : *g.mutable_output()) {
    if (type[out.name()] != io) {
      // The producer writes a "/compute" tensor; a Cast gives the declared output.
      const std::string inner = out.name() + "/compute";
      for (auto& n : *g.mutable_node())
        for (int i = 0; i < n.output_size(); ++i)
          if (n.output(i) == out.name()) n.set_output(i, inner);
      type[inner] = type[out.name()];
      add_cast(g, inner, out.name(), io);
    }
    set_elem_type(&out, io);
  }
  return Status::ok();
}

}  // namespace stgcn::onnx_export
