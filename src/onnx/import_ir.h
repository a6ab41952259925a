// Internal to the ONNX importer (src/onnx/onnx_import.cpp): the small IR the
// importer reasons on. build_graph() (import_eval.cpp) evaluates every node
// whose inputs are constants (initializers, Constant nodes, the shape
// arithmetic torch leaves behind: Shape/Gather/Unsqueeze/Concat/Slice/Cast/...),
// infers the static shape of every other value, and keeps only the nodes that
// compute on the input: those are what the matcher (import_match.cpp)
// recognises as an ST-GCN.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stgcn/status.h"

namespace stgcn::onnx_import {

constexpr int kMaxRank = 8;
constexpr int64_t kMaxDim = int64_t{1} << 31;             // any one extent
constexpr int64_t kMaxElements = int64_t{1} << 42;        // a dynamic tensor
constexpr int64_t kMaxFoldedElements = int64_t{1} << 24;  // a constant made by folding

// A constant tensor: floats (float32 / float16 / bfloat16 / float64, held as
// float) or integers (int64 / int32 / bool ..., held as int64).
struct Const {
  std::vector<int64_t> shape;
  bool is_float = true;
  std::vector<float> f;
  std::vector<int64_t> i;
  // Set when this constant is the elementwise product of two float constants
  // of the same number of elements (a `Mul` of A and an edge importance that
  // the exporter did not fold); kept through reshapes.
  std::shared_ptr<const Const> factor_a, factor_b;

  size_t size() const { return is_float ? f.size() : i.size(); }
  double at(size_t k) const {
    return is_float ? static_cast<double>(f[k]) : static_cast<double>(i[k]);
  }
};
using ConstPtr = std::shared_ptr<const Const>;

// Product of `shape`, or -1 when it is negative or exceeds `limit`.
int64_t checked_numel(const std::vector<int64_t>& shape, int64_t limit = kMaxElements);

// An input of a node: a dynamic value (index into Graph::values) or a constant.
struct Operand {
  int dyn = -1;
  ConstPtr c;
  bool is_const() const { return c != nullptr; }
};

// Operations on dynamic values after normalisation: Flatten / Squeeze /
// Unsqueeze become kReshape (the output shape is known); Dropout and a Cast to
// float become kIdentity.
enum class Op {
  kIdentity,
  kRelu,
  kNeg,
  kSoftmax,
  kTranspose,
  kReshape,
  kBatchNorm,
  kConv,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kEinsum,
  kMatMul,
  kGemm,
  kReduceMean,
  kReduceSum,
  kGlobalAveragePool,
  kAveragePool,
  kMaxPool,
  kSlice,
  kConcat,
  kPad,
};

// Attributes, normalised (negative axes resolved, defaults filled in).
struct Attrs {
  std::vector<int64_t> perm;                              // Transpose
  std::vector<int64_t> axes;                              // ReduceMean / ReduceSum (sorted, unique)
  int64_t axis = 0;                                       // Concat, Softmax
  bool keepdims = true;                                   // Reduce*
  std::vector<int64_t> kernel, strides, pads, dilations;  // Conv, *Pool (pads: begins, ends)
  int64_t group = 1;
  float epsilon = 1e-5f;                         // BatchNormalization
  std::string equation;                          // Einsum
  std::vector<int64_t> slice_start, slice_step;  // Slice: per dimension of the input
  std::vector<int64_t> pad_amounts;              // Pad: begins then ends, per dimension
  float pad_value = 0.0f;
  bool trans_a = false, trans_b = false;  // Gemm
  float alpha = 1.0f, beta = 1.0f;
};

struct Node {
  Op op = Op::kIdentity;
  std::string name;     // the ONNX node name (or its first output's name when unnamed)
  std::string onnx_op;  // the ONNX op_type
  std::vector<Operand> in;
  int out = -1;  // the dynamic value it produces
  Attrs a;
};

struct DynValue {
  std::vector<int64_t> shape;  // static (symbolic input extents replaced, see build_graph)
  int producer = -1;           // node index; -1 for the graph input
};

struct Graph {
  std::vector<DynValue> values;
  std::vector<Node> nodes;  // topological order
  int input = -1;           // dynamic value of the graph input
  int output = -1;          // dynamic value of the graph output
  std::string input_name, output_name;
  int opset = 0;
  // Filled by build_graph for the nodes the output depends on ("live").
  std::vector<bool> live;
  std::vector<std::vector<int>> consumers;  // per value: live consumer nodes, unique, in order
};

// A string from the file made safe for a one-line message: control
// characters replaced, at most 160 characters.
std::string printable(std::string_view s);

// "node 'name' (OpType)"
std::string node_label(const Node& n);
std::string node_label(const ::onnx::NodeProto& n);

// The standard complaint about a node: "node 'x' (Op) is not part of an ST-GCN
// graph we understand" plus ": why" when given.
Status not_understood(const std::string& label, const std::string& why = "");

// Decodes an initializer / Constant value. `what` names it in messages.
Result<ConstPtr> decode_tensor(const ::onnx::TensorProto& t, const std::string& what);

// Builds the IR: constant folding, shape inference, liveness. Messages carry no
// file prefix. A symbolic input extent is given a value for this analysis only:
// N 2, T 64, M 2, at the positions of (N, C, T, V, M), or with `nmtvc` of
// mmaction2's (N, M, T, V, C); C and V must be static.
Result<Graph> build_graph(const ::onnx::ModelProto& model, bool nmtvc = false);

std::string shape_str(const std::vector<int64_t>& s);

}  // namespace stgcn::onnx_import
