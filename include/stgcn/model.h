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

struct BlockSpec {
  int in_channels = 0;
  int out_channels = 0;
  int stride = 1;
  ResidualKind residual = ResidualKind::kIdentity;
};

struct StreamSpec {
  int C = 0;  // input channels
  int V = 0;  // joints
  int K = 0;  // adjacency partitions
  int temporal_kernel = 9;
  TemporalPadding temporal_padding = TemporalPadding::kCentre;
  int num_class = 0;
  bool edge_importance = false;
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
  bool two_stream = false;
  MotionMode motion = MotionMode::kFirstDifference;  // two-stream only
  std::vector<StreamSpec> streams;                   // 1, or 2 (origin, motion)
  std::string layout;    // layout used or recognised ("custom" when unknown)
  std::string strategy;  // strategy used or recognised ("" when unknown)
  std::string a_source;  // where A came from, for `inspect`

  int C() const { return streams.front().C; }
  int V() const { return streams.front().V; }
  int num_class() const { return streams.front().num_class; }
};

struct BatchNorm {
  std::vector<float> weight, bias, mean, var;  // eps = 1e-5
  static constexpr float kEps = 1e-5f;
};

struct BlockWeights {
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

// Multiply-accumulates of one forward pass for a batch of 1 with T frames and
// M persons (dense aggregation), all streams.
int64_t count_macs(const ModelSpec& spec, int T, int M);

// Output length of a temporal conv with kernel kt, kt-1 padding in all (centre
// or causal), stride s.
inline int temporal_out(int T, int stride) { return (T - 1) / stride + 1; }

}  // namespace stgcn
