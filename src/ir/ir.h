// The engine's graph IR: typed ops from one table (op_table.inc), values with
// per-sample shapes, constants, a verifier and a text printer.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "stgcn/model.h"
#include "stgcn/status.h"

namespace stgcn::ir {

using ValueId = int;
using ConstId = int;
inline constexpr ConstId kNoConst = -1;

// ---- typed attributes, one struct per op -------------------------------------------------
struct InputAttrs {};
struct MotionAttrs {
  MotionMode mode = MotionMode::kFirstDifference;
};
struct DataBnAttrs {
  // (V*C), joint-major v*C + c; or (M*V*C), (m*V + v)*C + c (mmaction2 'MVC')
  ConstId scale = kNoConst, shift = kNoConst;
};
struct GcnConvAttrs {
  int K = 1;
  ConstId weight = kNoConst;  // (K, Cout, Cin)
  ConstId bias = kNoConst;    // (K, Cout)
  ConstId wscale = kNoConst;  // int8: (Cout) symmetric weight scales, shared by the K partitions
};
struct AggregateAttrs {
  ConstId adjacency = kNoConst;    // (K, V, V) indexed [k, source v, target w]
  ConstId importance = kNoConst;   // (K, V, V) or none (folded / absent)
  ConstId gemm_matrix = kNoConst;  // lowered: (V, K*V), [w, k*V + v]; replaces the two above
  ConstId bias = kNoConst;         // (C) added after aggregation, or none
  bool add_residual = false;       // inputs[1] (M, V, T, C) is added before the relu
  bool relu = false;
};
struct BatchNormAttrs {
  ConstId scale = kNoConst, shift = kNoConst;  // (C): y = x * scale + shift
};
struct ReluAttrs {};
struct TemporalConvAttrs {
  // pad: left; the right gets (kernel - 1) * dilation - pad
  int kernel = 9, stride = 1, pad = 4, dilation = 1;
  ConstId weight = kNoConst;  // (Cout, Cin, kernel)
  ConstId bias = kNoConst;    // (Cout)
  ConstId wscale = kNoConst;  // int8: (Cout) per-output-channel weight scales
  bool add_residual = false;  // inputs[1] is added before the relu
  bool relu = false;
};
struct ResidualConvAttrs {
  int stride = 1;
  ConstId weight = kNoConst;  // (Cout, Cin)
  ConstId bias = kNoConst;    // (Cout)
  ConstId wscale = kNoConst;  // int8: (Cout) per-output-channel weight scales
};
struct AddAttrs {
  bool relu = false;
};
struct GlobalPoolAttrs {};
struct PersonMeanAttrs {};
struct FcnAttrs {
  ConstId weight = kNoConst;  // (classes, C)
  ConstId bias = kNoConst;    // (classes)
};
struct HeadAttrs {
  ConstId weight = kNoConst;  // (classes, C)
  ConstId bias = kNoConst;    // (classes)
};
struct ConvertAttrs {};  // element type change; scales are the values' own
struct MaxPoolAttrs {
  int kernel = 3, stride = 1, pad = 1;  // pad: -inf frames on the left; kernel - 1 - pad right
  ConstId scale = kNoConst, shift = kNoConst;  // (C) y = max * scale + shift, or none
  bool relu = false;
};
struct ConcatAttrs {};

enum class Op : uint8_t {
#define STGCN_OP(e, name, attrs) e,
#include "ir/op_table.inc"
#undef STGCN_OP
};
using Attrs = std::variant<
#define STGCN_OP(e, name, attrs) attrs,
#include "ir/op_table.inc"
#undef STGCN_OP
    std::monostate>;
inline constexpr int kOpCount = 0
#define STGCN_OP(e, name, attrs) +1
#include "ir/op_table.inc"
#undef STGCN_OP
    ;

const char* op_name(Op op);
Result<Op> parse_op(std::string_view name);
// Default attributes of an op (the variant alternative that belongs to it).
Attrs default_attrs(Op op);

// Element type of an activation. Constants are FP32 (or backend-packed).
// kU8 / kS8 are quantised: real value = q * Value::scale (symmetric, no zero point).
enum class DType : uint8_t { kF32, kBF16, kU8, kS8 };
const char* dtype_name(DType t);
Result<DType> parse_dtype(std::string_view name);
inline int64_t dtype_bytes(DType t) {
  return t == DType::kBF16 ? 2 : (t == DType::kU8 || t == DType::kS8) ? 1 : 4;
}
inline bool is_int8(DType t) { return t == DType::kU8 || t == DType::kS8; }
// "fp32", "bf16" or "int8": what a node computes in, read off its first input
// (data_bn and convert: their output) -- the per-layer precision `inspect` shows.
struct Node;
struct Graph;
const char* node_precision(const Graph& g, const Node& n);

struct Value {
  std::string name;
  std::vector<int64_t> shape;  // per sample
  DType dtype = DType::kF32;
  float scale = 0.f;  // int8 types: the quantisation step (> 0)
  int64_t numel() const;
  int64_t bytes() const { return numel() * dtype_bytes(dtype); }
};

// A constant tensor. `data` is FP32 in plain (row-major) order unless `layout`
// is non-empty: then the bytes are in a backend-packed layout described by it.
struct Constant {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;          // plain FP32 (build time, or small constants after load)
  std::vector<uint8_t> packed;      // backend-packed bytes owned here (build time)
  std::span<const uint8_t> mapped;  // backend-packed bytes inside a mapped engine file
  std::vector<uint8_t> layout;      // backend layout descriptor of packed/mapped
  bool half = false;  // packed FP32 here, stored as IEEE half in the engine file (FP16 storage)
  int64_t numel() const;
  bool is_packed() const { return !layout.empty(); }
  std::span<const uint8_t> packed_bytes() const {
    return mapped.empty() ? std::span<const uint8_t>(packed) : mapped;
  }
};

struct Node {
  Op op = Op::kInput;
  std::string name;
  std::vector<ValueId> inputs;
  ValueId output = -1;
  int branch = 0;  // stream index; -1: joins the streams (runs after them)
  Attrs attrs;
  template <typename T>
  T& as() {
    return std::get<T>(attrs);
  }
  template <typename T>
  const T& as() const {
    return std::get<T>(attrs);
  }
};

struct Graph {
  std::vector<Value> values;
  std::vector<Constant> constants;
  std::vector<Node> nodes;  // topological order
  ValueId input = -1;       // (C, T, V, M)
  ValueId output = -1;      // (classes)

  ValueId add_value(std::string name, std::vector<int64_t> shape);
  ConstId add_constant(std::string name, std::vector<int64_t> shape, std::vector<float> data);
  // Index of the node producing `v`, or -1 (the graph input).
  int producer(ValueId v) const;
  // Number of node inputs reading `v` (+1 when it is the graph output).
  int use_count(ValueId v) const;
  int branch_count() const;
};

// Constants an op's attributes refer to, in a fixed order (for DCE, printing,
// serialization).
std::vector<ConstId*> const_refs(Node& node);
std::vector<ConstId> const_refs(const Node& node);

// What the backend that will run a graph can do: the verifier and the precision passes ask
// it instead of naming ops (backends/backend.h derives from it; ir/ names no backend).
class Capabilities {
 public:
  virtual ~Capabilities() = default;
  // Nodes this backend computes in reduced precision (bf16, int8) when asked: its heavy
  // layers, the ones the precision passes convert and the quantiser calibrates.
  virtual bool computes_in_low_precision(const Graph& graph, const Node& node) const = 0;
  // The element types of such a node must be ones the backend runs; the failure names the rule.
  virtual Status check_types(const Graph& graph, const Node& node) const = 0;
};

// Checks structure and shapes: ids in range, topological order, the attribute
// alternative matching the op, input counts, shapes consistent with constants; element
// types: the backend-independent rules, and with `backend` that the backend runs them
// (every other node FP32).
Status verify(const Graph& graph, const Capabilities* backend = nullptr);

// A readable listing: one line per node ("%s0.b3.tcn = temporal_conv(...)").
std::string to_text(const Graph& graph);

}  // namespace stgcn::ir
