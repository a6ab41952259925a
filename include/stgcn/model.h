// The ST-GCN model: its specification (architecture inferred from a
// checkpoint's names and shapes) and its weights, for single- and two-stream
// models. Semantics: ../shared/design/STGCN_REFERENCE.md, docs/model.md.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stgcn/graph.h"
#include "stgcn/status.h"
#include "stgcn/tensor.h"

namespace stgcn {

enum class MotionMode { kFirstDifference, kCentralDifference };
const char* motion_mode_name(MotionMode m);
Result<MotionMode> parse_motion_mode(std::string_view name);

// How a temporal conv pads time. kCentre: (kt-1)/2 zero frames on each side
// (upstream ST-GCN). kCausal: kt-1 on the left, none on the right, so output t
// sees inputs t-kt+1 .. t only (a model trained so streams without delay in
// continual mode). Both keep T_out = (T - 1) / stride + 1.
enum class TemporalPadding { kCentre, kCausal };
const char* temporal_padding_name(TemporalPadding p);
Result<TemporalPadding> parse_temporal_padding(std::string_view name);

enum class ResidualKind { kNone, kIdentity, kConv };
const char* residual_kind_name(ResidualKind r);

// Where a checkpoint came from (its module tree), for `inspect` and the default input layout.
// kStgcn: the original ST-GCN (`st_gcn_networks.*`); kMmaction2 / kPyskl: the shared
// `backbone.gcn.*` tree of mmaction2 1.x and pyskl (head `cls_head.fc` / `cls_head.fc_cls`).
enum class Dialect { kStgcn, kMmaction2, kPyskl };
const char* dialect_name(Dialect d);

// The order of a sample's axes: the original ST-GCN's (N, C, T, V, M) or mmaction2's
// (N, M, T, V, C). Engines and the executors take NCTVM; tools transpose at the edge.
enum class InputLayout { kNCTVM, kNMTVC };
const char* input_layout_name(InputLayout l);
Result<InputLayout> parse_input_layout(std::string_view name);

// A block's temporal unit: one kt x 1 conv + BN (ST-GCN's unit_tcn), or ST-GCN++'s mstcn:
// six branches on the gcn output -- four (1x1 conv + BN + ReLU, 3x1 conv with dilation
// 1, 2, 3, 4), one (1x1 conv + BN + ReLU, 3x1 max-pool), one strided 1x1 conv -- concatenated,
// then BN, ReLU, 1x1 conv and the unit's BN (docs/model_families.md).
enum class TemporalUnit { kConv, kMultiScale };
inline constexpr int kMultiScaleBranches = 6;
inline constexpr int kMultiScaleDilatedBranches = 4;  // branch b has dilation b + 1
inline constexpr int kMultiScaleMaxPoolBranch = 4;
inline constexpr int kMultiScalePointBranch = 5;

struct BlockSpec {
  int in_channels = 0;
  int out_channels = 0;
  int stride = 1;
  ResidualKind residual = ResidualKind::kIdentity;
  // ST-GCN++ `gcn_with_res`: down(x) (identity, or 1x1 conv + BN) added after the gcn's BN.
  ResidualKind gcn_residual = ResidualKind::kNone;
  TemporalUnit temporal = TemporalUnit::kConv;
  std::vector<int> branch_channels;  // kMultiScale: the six branches' widths (sum = out_channels)
};

struct StreamSpec {
  int C = 0;  // input channels
  int V = 0;  // joints
  int K = 0;  // adjacency partitions
  int temporal_kernel = 9;
  TemporalPadding temporal_padding = TemporalPadding::kCentre;
  int num_class = 0;
  bool edge_importance = false;
  // data_bn normalises per (joint, channel) (1, mmaction2 'VC') or per (person, joint,
  // channel) ('MVC': the model then takes exactly this many persons).
  int data_bn_persons = 1;
  std::vector<BlockSpec> blocks;

  // Zero frames before the first input of each temporal conv; the right side
  // gets temporal_kernel - 1 - pad_left().
  int pad_left() const {
    return temporal_padding == TemporalPadding::kCausal ? temporal_kernel - 1
                                                        : (temporal_kernel - 1) / 2;
  }
  int pad_right() const { return temporal_kernel - 1 - pad_left(); }
};

struct ModelSpec {
  Dialect dialect = Dialect::kStgcn;
  std::string family = "ST-GCN";  // "ST-GCN" or "ST-GCN++" (mstcn + gcn residual)
  std::string gcn_adaptive;       // mmaction2 'importance' / 'offset' / 'init' / 'none'; "" (original)
  bool two_stream = false;
  MotionMode motion = MotionMode::kFirstDifference;  // two-stream only
  std::vector<StreamSpec> streams;                   // 1, or 2 (origin, motion)
  std::string layout;    // layout used or recognised ("custom" when unknown)
  std::string strategy;  // strategy used or recognised ("" when unknown)
  std::string a_source;  // where A came from, for `inspect`

  int C() const { return streams.front().C; }
  int V() const { return streams.front().V; }
  int num_class() const { return streams.front().num_class; }
  // The layout samples come in by default: NMTVC for mmaction2 / pyskl models.
  InputLayout input_layout() const {
    return dialect == Dialect::kStgcn ? InputLayout::kNCTVM : InputLayout::kNMTVC;
  }
  // A fixed person count the model needs (MVC data_bn), or 0 (any M).
  int fixed_persons() const {
    return streams.front().data_bn_persons > 1 ? streams.front().data_bn_persons : 0;
  }
};

struct BatchNorm {
  std::vector<float> weight, bias, mean, var;  // eps = 1e-5
  static constexpr float kEps = 1e-5f;
};

// One mstcn branch: `pre` (1x1 conv + BN + ReLU; none for the point branch), then the
// branch's own conv (dilated 3x1: (c, c, 3); point branch: (c, Cout)); the max-pool branch
// has no conv of its own.
struct MultiScaleBranch {
  Tensor pre_weight;  // (c, Cout)
  Tensor pre_bias;    // (c)
  BatchNorm pre_bn;
  Tensor weight;  // (c, c, 3) dilated; (c, Cout) point branch; no data: max-pool branch
  Tensor bias;    // (c)
};

struct BlockWeights {
  Tensor A;                // (K, V, V) this block's own effective adjacency (mmaction2 'offset':
                           // A + PA, 'init': the learned A); no data: the stream's A
  Tensor gcn_weight;       // (K*Cout, Cin), channel k*Cout + c
  Tensor gcn_bias;         // (K*Cout)
  BatchNorm gcn_bn;        // tcn.0, after aggregation
  Tensor tcn_weight;       // (Cout, Cout, kt)
  Tensor tcn_bias;         // (Cout)
  BatchNorm tcn_bn;        // tcn.3
  Tensor residual_weight;  // (Cout, Cin) when residual is kConv, else no data
  Tensor residual_bias;
  BatchNorm residual_bn;
  Tensor importance;  // (K, V, V); no data when edge importance is off
  // gcn_residual kConv: 1x1 conv (Cout, Cin) + BN, added after gcn_bn.
  Tensor gcn_down_weight, gcn_down_bias;
  BatchNorm gcn_down_bn;
  // TemporalUnit::kMultiScale: the six branches, then transform (BN, ReLU, 1x1 conv), then
  // tcn_bn; tcn_weight / tcn_bias are unused.
  std::vector<MultiScaleBranch> branches;
  BatchNorm transform_bn;
  Tensor transform_weight;  // (Cout, Cout)
  Tensor transform_bias;
};

struct StreamWeights {
  Tensor A;           // (K, V, V)
  BatchNorm data_bn;  // V*C channels, joint-major v*C + c
  std::vector<BlockWeights> blocks;
  Tensor fcn_weight;  // (num_class, C_last)
  Tensor fcn_bias;    // (num_class)
};

struct Model {
  ModelSpec spec;
  std::vector<StreamWeights> streams;
};

// How to interpret a checkpoint. Everything is optional: A is taken from the
// checkpoint when present; otherwise from the layout (named or guessed by V).
struct LoadOptions {
  std::optional<std::string> layout;  // a named layout or a path to a custom JSON
  std::optional<Strategy> strategy;   // default spatial
  int max_hop = 1;
  int dilation = 1;
  MotionMode motion = MotionMode::kFirstDifference;
  TemporalPadding temporal_padding = TemporalPadding::kCentre;  // not in a state dict
  std::optional<std::vector<int>> strides;       // override the inferred per-block strides
  // mmaction2 / pyskl: how PA combines with A ("importance": A * PA, "offset": A + PA); by
  // default read off PA (mean |PA| >= 0.5: importance).
  std::optional<std::string> gcn_adaptive;
  std::function<void(const std::string&)> warn;  // receives warnings (may be empty)
};

// Builds the model from an already-read state dict; `source` names the file.
Result<Model> model_from_state_dict(const StateDict& sd, const LoadOptions& options,
                                    const std::string& source);

// Reads a model file: a torch checkpoint (see checkpoint.h) or, by its ".onnx" extension, an
// ONNX graph (onnx.h); an engine file is refused with a line saying so (Engine::load reads it).
Result<Model> load_model(const std::string& path, const LoadOptions& options);

// Parameters (weights + biases + BN affine + edge importance; not buffers).
int64_t parameter_count(const Model& model);

// Converts samples between layouts: (N, C, T, V, M) <-> (N, M, T, V, C), by the shape's rank-5
// order; `from == to` returns the tensor as it is.
Result<Tensor> convert_input_layout(const Tensor& x, InputLayout from, InputLayout to);

// mmaction2 / pyskl GenSkeFeat features from raw joints (features.cpp): joints, bones
// (x[v] - x[parent(v)] over mmaction2's bone pairs of coco / openpose / nturgb+d), and their
// motions (x[t+1] - x[t], last frame 0); for 2-D layouts with a score channel (C = 3) the score
// is averaged, not differenced. On (N, C, T, V, M) samples.
enum class SkeletonFeature { kJoint, kBone, kJointMotion, kBoneMotion };
const char* skeleton_feature_name(SkeletonFeature f);
Result<SkeletonFeature> parse_skeleton_feature(std::string_view name);
Result<Tensor> skeleton_feature(const Tensor& x, const std::string& layout, SkeletonFeature f);

// Multiply-accumulates of one forward pass for a batch of 1 with T frames and
// M persons (dense aggregation), all streams.
int64_t count_macs(const ModelSpec& spec, int T, int M);

// Output length of a temporal conv with kernel kt, kt-1 padding in all (centre
// or causal), stride s.
inline int temporal_out(int T, int stride) { return (T - 1) / stride + 1; }

}  // namespace stgcn
