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
//
// mmaction2 / pyskl ST-GCN and ST-GCN++ (import_mm.cpp), on an (N, M, T, V, C)
// input, one stream: the data_bn prelude may normalise per (M, V, C) ('MVC');
// a block may add a gcn residual (the block input, or Conv 1x1 -> affine)
// after the gcn BatchNorm, before its ReLU; the temporal unit may be an mstcn
// (six branches reading the gcn ReLU: four Conv 1x1 -> affine -> Relu -> Conv
// 3x1 dilated 1..4, one Conv 1x1 -> affine -> Relu -> MaxPool 3x1, one Conv
// 1x1 strided; Concat on the channels -> affine -> Relu -> Conv 1x1 ->
// affine); block 0 may have an identity residual.
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

// One mstcn branch (see TemporalUnit::kMultiScale): `pre` is the 1x1 conv + affine before its
// ReLU (none for the point branch); w / b the branch's own conv (none for the max-pool branch).
struct BranchMatch {
  int channels = 0;
  Tensor pre_w, pre_b;  // (c, Cout, 1, 1), (c)
  Affine pre_bn;
  Tensor w, b;  // (c, c, 3, 1) dilated, (c, Cout, 1, 1) point; (c)
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
  // mmaction2: the gcn residual (down: 1x1 conv + affine), and the mstcn (tcn_bn is its last BN).
  ResidualKind gcn_residual = ResidualKind::kNone;
  Tensor down_w, down_b;  // (Cout, Cin, 1, 1), (Cout)
  Affine down_bn;
  bool multi_scale = false;
  std::vector<BranchMatch> branches;
  Affine transform_bn;
  Tensor transform_w, transform_b;           // (Cout, sum of branch widths, 1, 1), (Cout)
  int gcn_res_reader = -1, res_reader = -1;  // the nodes reading the block input for them
};

enum class StreamSource { kInput, kFirstDifference, kCentralDifference };

struct StreamMatch {
  StreamSource source = StreamSource::kInput;
  int C = 0, V = 0;
  Affine data_bn;  // V*C channels, joint-major (M*V*C, person-major, when data_bn_persons > 1)
  int data_bn_persons = 1;
  std::vector<BlockMatch> blocks;
  Tensor fcn_w, fcn_b;  // (classes, C_last, 1, 1), (classes)
  int end_value = -1;   // the stream's logits in the graph
};

struct GraphMatch {
  std::vector<StreamMatch> streams;  // the input stream first
  bool softmax = false;
};

// `input`: the axis order of the graph input, (N, C, T, V, M) or mmaction2's (N, M, T, V, C)
// (the mmaction2 forms above are recognised only with the latter). `progress`, when given,
// receives how far the match got (prelude, blocks, head), also on failure.
Result<GraphMatch> match_stgcn(const Graph& g, InputLayout input = InputLayout::kNCTVM,
                               int* progress = nullptr);

// An mmaction2-style state dict (`backbone.*`, `cls_head.fc.*`) for one matched stream of an
// (N, M, T, V, C) graph: each block's aggregation constant as its own `gcn.A` (no PA).
Result<StateDict> mm_state_dict(const StreamMatch& s);
// Appends `name`.{weight, bias, running_mean, running_var} for an affine (Affine::to_bn).
Status add_batch_norm(StateDict& sd, const std::string& name, const Affine& a);

// Shared by the implementation files.
class Matcher {
 public:
  Matcher(const Graph& g, InputLayout input) : g_(g), mm_(input == InputLayout::kNMTVC) {}
  Result<GraphMatch> run();
  int progress() const { return progress_; }

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
  // The temporal conv (kt x 1, after an optional zero Pad) reading `z`, and its affine.
  Result<int> match_temporal_conv(int z, AxisLayout& L, BlockMatch& b);

  // import_mm.cpp
  // The mstcn reading `z` (layout L, [batch][Cout][T][V]); returns the value after its last
  // affine, L updated to the strided T.
  Result<int> match_multi_scale(int z, AxisLayout& L, BlockMatch& b);
  // `add` sums the main path `main` and a residual of the block input `x`: x itself, or a 1x1
  // conv, stride (stride, 1), Cin -> Cout, then affine ops (L: the layout of the sum).
  Status match_side(int add, int main, int x, int64_t stride, const AxisLayout& L,
                    ResidualKind& kind, Tensor& w, Tensor& bias, Affine& bn, int& reader);
  // After the gcn affine `v`: the gcn residual Add, if any; returns the value before the ReLU.
  Result<int> match_gcn_residual(int x, int v, const AxisLayout& L, BlockMatch& b);
  // After the temporal unit `v`: the block's residual Add, if any; checks that only the block's
  // own nodes read `x`. Returns the node that should be the block's ReLU.
  Result<int> match_block_end(int x, int first, int v, const AxisLayout& L, BlockMatch& b);

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
  const bool mm_;  // an (N, M, T, V, C) input: the mmaction2 forms
  int progress_ = 0;
  int64_t N_ = 1, C_ = 1, T_ = 1, V_ = 1, M_ = 1;
};

}  // namespace stgcn::onnx_import
