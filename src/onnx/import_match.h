// Internal to the ONNX importer: recognises the ST-GCN in the IR built by
// import_eval.cpp and extracts its weights (import_match.cpp: streams, the
// motion input, the data_bn prelude and the head; import_block.cpp: blocks,
// the graph aggregation and the per-channel affine ops).
//
// Recognised, per stream:
//   prelude  transposes / reshapes / BatchNormalization or Mul/Add constants
//            over the (V, C) channels (data_bn), ending on (N*M, C, T, V);
//   block    gcn Conv 1x1 -> aggregation (Einsum, or MatMul with a (K*V, V)
//            or (K, V, V) constant [+ ReduceSum over k], any reshapes and
//            transposes around it) -> affine (BN) -> Relu -> Conv kt x 1,
//            stride (s, 1), pad (kt-1)/2 or causal (kt-1, 0), the causal pad
//            maybe a Pad node of its own -> affine (BN, or nothing when
//            folded) [+ residual: the block input, or Conv 1x1 stride (s, 1)
//            -> affine] -> Relu;
//   head     ReduceMean / GlobalAveragePool / AveragePool over T, V and the
//            persons, and the fcn as Conv 1x1, Gemm or MatMul (+ Add), in any
//            order, ending on (N, classes).
// Two streams: one on the input, one on its temporal difference (any mix of
// Slice / Sub / Mul / Concat with zeros / Pad along T: the matcher computes
// the linear map along T and compares it with first and central difference),
// logits added. Optional Softmax at the end. Identity / Dropout are skipped.
#pragma once

#include <vector>

#include "onnx/import_ir.h"
#include "onnx/import_layout.h"
#include "stgcn/model.h"

namespace stgcn::onnx_import {

// y = x * scale + shift per channel, composed from the BatchNormalization /
// Mul / Add / Sub / Div ops found in a row.
struct Affine {
  std::vector<double> scale, shift;
  // Optional shift per (channel, joint), row-major (channels, joint_w): what an
  // exporter leaves when it carries the gcn conv bias through the aggregation.
  std::vector<double> joint;
  int64_t joint_w = 0;  // V when a joint shift is allowed here, else 0
  int ops = 0;
  bool plain_bn = false;  // exactly one BatchNormalization (eps 1e-5) in channel order
  BatchNorm bn;           // its parameters when plain_bn

  explicit Affine(size_t channels = 0) : scale(channels, 1.0), shift(channels, 0.0) {}
  // As a BatchNorm the reference executor applies exactly: the plain one, or
  // weight = scale, bias = shift, mean 0 and a variance with var + eps == 1.
  Result<BatchNorm> to_bn() const;
};

struct BlockMatch {
  int cin = 0, cout = 0, K = 0, kt = 0, stride = 1;
  TemporalPadding padding = TemporalPadding::kCentre;
  ResidualKind residual = ResidualKind::kNone;
  Tensor gcn_w, gcn_b;  // (K*Cout, Cin, 1, 1), (K*Cout)
  Tensor tcn_w, tcn_b;  // (Cout, Cout, kt, 1), (Cout)
  Tensor res_w, res_b;  // (Cout, Cin, 1, 1), (Cout)
  Affine gcn_bn, tcn_bn, res_bn;
  std::vector<float> coef;            // A ⊙ importance (K, V, V) as the graph holds it
  std::vector<float> coef_a, coef_b;  // its two factors when the product was left unfolded
};

enum class StreamSource { kInput, kFirstDifference, kCentralDifference };

struct StreamMatch {
  StreamSource source = StreamSource::kInput;
  int C = 0, V = 0;
  Affine data_bn;  // V*C channels, joint-major
  std::vector<BlockMatch> blocks;
  Tensor fcn_w, fcn_b;  // (classes, C_last, 1, 1), (classes)
  int end_value = -1;   // the stream's logits in the graph
};

struct GraphMatch {
  std::vector<StreamMatch> streams;  // the input stream first
  bool softmax = false;
};

Result<GraphMatch> match_stgcn(const Graph& g);

// Shared by the two implementation files.
class Matcher {
 public:
  explicit Matcher(const Graph& g) : g_(g) {}
  Result<GraphMatch> run();

  // import_block.cpp
  int gcn_conv_of(int value) const;  // the consumer Conv that starts a block, or -1
  // The first node of a block that aggregates before its projection (MatMul /
  // Einsum on the block input, then a (1, K) conv dilated by V), or -1.
  int aggregate_first_of(int value) const;
  bool is_block_start(int value) const {
    return gcn_conv_of(value) >= 0 || aggregate_first_of(value) >= 0;
  }
  Result<int> match_block(int x, AxisLayout& L, BlockMatch& b);
  // Follows BatchNormalization / Mul / Add / Sub / Div with constants from
  // `value` (layout L, channels indexed over `axes`); returns the last value.
  Result<int> affine_chain(int value, const AxisLayout& L,
                           const std::vector<std::pair<Axis, int64_t>>& axes, Affine& acc,
                           const Dim* plain_dim);
  Status apply_affine(const Node& n, const AxisLayout& L,
                      const std::vector<std::pair<Axis, int64_t>>& axes, Affine& acc,
                      const Dim* plain_dim);

 private:
  Result<StreamMatch> match_stream(int start_node, int source_value, StreamSource source);
  Result<int> match_head(int value, AxisLayout L, StreamMatch& s);
  Status match_aggregation(int conv_out, AxisLayout& L, BlockMatch& b, int& out_value);
  Result<int> match_aggregate_first(int x, int start, AxisLayout& L, BlockMatch& b);
  // G: extent of the gcn conv channels being aggregated, or 0 when the
  // aggregation comes before the projection (the constant then maps V to K*V).
  Status contract(const Node& n, AxisLayout& L, BlockMatch& b, int64_t G, int64_t V, Factor& gk,
                  bool& diag);
  Status solve_joint_bias(int blame, BlockMatch& b);

 protected:
  const Node& node(int k) const { return g_.nodes[static_cast<size_t>(k)]; }
  const std::vector<int>& consumers(int v) const { return g_.consumers[static_cast<size_t>(v)]; }
  const std::vector<int64_t>& shape(int v) const { return g_.values[static_cast<size_t>(v)].shape; }
  Status fail(int k, const std::string& why) const {
    return not_understood(node_label(node(k)), why);
  }
  // The single consumer of `v`; `expected` says what should come next.
  Result<int> sole_consumer(int v, const std::string& expected) const;
  // The dynamic input of a node with one dynamic and one constant input.
  static bool split_const(const Node& n, int& dyn_index, const Const*& k);

  const Graph& g_;
  int64_t N_ = 1, C_ = 1, T_ = 1, V_ = 1, M_ = 1;
};

}  // namespace stgcn::onnx_import
