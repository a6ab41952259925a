// ONNX export of single- and two-stream ST-GCN models, written directly with
// the ONNX protobuf classes. The graph computes exactly what the reference
// executor (src/ref/reference.cpp) computes; the lowering is described in
// docs/onnx.md. Every export is checked with onnx::checker and strict shape
// inference before it is returned; no exception leaves this file.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <new>

#include "onnx/export_builder.h"
#include "onnx/export_lowering.h"
#include "io/sha256.h"
#include "stgcn/npy.h"
#include "stgcn/onnx.h"

#ifndef STGCN_VERSION
#define STGCN_VERSION "unknown"
#endif

namespace stgcn {
namespace {

using onnx_export::Attr;
using onnx_export::GraphBuilder;
using onnx_export::Affine;
using onnx_export::Lowering;
using onnx_export::bn_affine;
using onnx_export::identity_affine;

constexpr int kMinOpset = 11;
constexpr int kMaxOpset = 18;
constexpr int kMaxT = 1 << 20;
constexpr int kMaxPersons = 1 << 10;
constexpr int kMaxBatch = 1 << 20;
constexpr const char* kBatchSymbol = "N";

// IR version of the ONNX release that introduced each opset, so that older
// runtimes accept the file: 11 -> 6 (ONNX 1.6), 12..14 -> 7, 15..18 -> 8.
int ir_version_for(int opset) { return opset <= 11 ? 6 : opset <= 14 ? 7 : 8; }

// Highest ai.onnx opset the linked libonnx knows (17 for libonnx 1.12).
int checker_max_opset() {
  const auto& map = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = map.find(onnx::ONNX_DOMAIN);
  return it == map.end() ? kMinOpset : it->second.second;
}

std::string str(int64_t v) { return std::to_string(v); }

Status validate_options(const OnnxExportOptions& o) {
  if (o.opset < kMinOpset || o.opset > kMaxOpset)
    return invalid_argument("opset " + str(o.opset) + " is not supported: choose " +
                            str(kMinOpset) + ".." + str(kMaxOpset));
  if (o.graph_conv == GraphConvForm::kEinsum && o.opset < 12)
    return invalid_argument(
        "the einsum graph-conv form needs opset >= 12 (ONNX Einsum appeared "
        "in opset 12); use the matmul form at opset " +
        str(o.opset));
  if (o.T < 1 || o.T > kMaxT)
    return invalid_argument("T must be in 1.." + str(kMaxT) + ", got " + str(o.T));
  if (o.M < 1 || o.M > kMaxPersons)
    return invalid_argument("M must be in 1.." + str(kMaxPersons) + ", got " + str(o.M));
  if (!o.dynamic_batch && (o.batch < 1 || o.batch > kMaxBatch))
    return invalid_argument("batch must be in 1.." + str(kMaxBatch) + ", got " + str(o.batch));
  if (o.precision == OnnxPrecision::kInt8) {
    if (o.opset < 13)
      return invalid_argument("an INT8 (QDQ) export needs opset >= 13 (per-channel "
                              "DequantizeLinear appeared in opset 13), got " + str(o.opset));
    if (o.graph_conv == GraphConvForm::kEinsum)
      return invalid_argument("an INT8 export writes the aggregation as MatMul: TensorRT runs "
                              "Einsum only in FP32 / FP16 (drop --graph-conv einsum)");
    if (!o.fold_bn)
      return invalid_argument("an INT8 export folds every BatchNorm, as the engine's "
                              "calibration saw them (drop --no-fold-bn)");
    if (o.int8_thresholds.empty())
      return invalid_argument("an INT8 export needs calibration thresholds (--calib or "
                              "--calib-table)");
  } else if (!o.int8_fp32_layers.empty()) {
    return invalid_argument("layers kept FP32 (--keep-fp32) apply to an INT8 export only");
  }
  if (o.io_fp16 && o.precision == OnnxPrecision::kFp32)
    return invalid_argument("float16 input and output (--io-fp16) need --precision fp16 or int8");
  if (o.input_name.empty() || o.output_name.empty())
    return invalid_argument("the input and output names must not be empty");
  if (o.input_name == o.output_name)
    return invalid_argument("the input and output names must differ (both '" + o.input_name + "')");
  return Status::ok();
}

Status expect_size(const std::vector<float>& v, int64_t n, const std::string& what) {
  if (static_cast<int64_t>(v.size()) == n) return Status::ok();
  return invalid_argument("cannot export: " + what + " has " + str(static_cast<int64_t>(v.size())) +
                          " values, expected " + str(n));
}

Status validate_bn(const BatchNorm& bn, int64_t n, const std::string& what) {
  STGCN_RETURN_IF_ERROR(expect_size(bn.weight, n, what + ".weight"));
  STGCN_RETURN_IF_ERROR(expect_size(bn.bias, n, what + ".bias"));
  STGCN_RETURN_IF_ERROR(expect_size(bn.mean, n, what + ".running_mean"));
  return expect_size(bn.var, n, what + ".running_var");
}

// The model is usually fresh from the loader, but it may come from anywhere:
// every size used below is checked first.
// The six mstcn branches: widths that add up, tensors of those sizes.
Status validate_multi_scale(const BlockSpec& b, const BlockWeights& w, const std::string& bp) {
  const int64_t co = b.out_channels;
  if (b.branch_channels.size() != kMultiScaleBranches || w.branches.size() != kMultiScaleBranches)
    return invalid_argument("cannot export: block '" + bp + "' does not have six mstcn branches");
  int64_t tin = 0;
  for (int i = 0; i < kMultiScaleBranches; ++i) {
    const int64_t c = b.branch_channels[i];
    const MultiScaleBranch& br = w.branches[i];
    const std::string p = bp + ".tcn.branches." + str(i);
    if (c < 1) return invalid_argument("cannot export: branch '" + p + "' has no channels");
    tin += c;
    if (i == kMultiScalePointBranch) {
      STGCN_RETURN_IF_ERROR(expect_size(br.weight.data, c * co, p + ".weight"));
    } else {
      STGCN_RETURN_IF_ERROR(expect_size(br.pre_weight.data, c * co, p + ".0.weight"));
      STGCN_RETURN_IF_ERROR(expect_size(br.pre_bias.data, c, p + ".0.bias"));
      STGCN_RETURN_IF_ERROR(validate_bn(br.pre_bn, c, p + ".1"));
      if (i < kMultiScaleDilatedBranches)
        STGCN_RETURN_IF_ERROR(expect_size(br.weight.data, c * c * 3, p + ".3.conv.weight"));
    }
    if (i != kMultiScaleMaxPoolBranch) STGCN_RETURN_IF_ERROR(expect_size(br.bias.data, c, p + ".bias"));
  }
  STGCN_RETURN_IF_ERROR(validate_bn(w.transform_bn, tin, bp + ".tcn.transform.0"));
  STGCN_RETURN_IF_ERROR(expect_size(w.transform_weight.data, co * tin, bp + ".tcn.transform.2.weight"));
  return expect_size(w.transform_bias.data, co, bp + ".tcn.transform.2.bias");
}

Status validate_model(const Model& model) {
  const ModelSpec& spec = model.spec;
  const size_t n = spec.two_stream ? 2 : 1;
  if (spec.streams.size() != n || model.streams.size() != n)
    return invalid_argument(
        "cannot export: the model has " + str(static_cast<int64_t>(model.streams.size())) +
        " weight streams for a " + (spec.two_stream ? "two" : "single") + "-stream specification");
  for (size_t s = 0; s < n; ++s) {
    const StreamSpec& ss = spec.streams[s];
    const StreamWeights& sw = model.streams[s];
    const std::string p = n == 2 ? (s == 0 ? "origin_stream." : "motion_stream.") : "";
    if (ss.C < 1 || ss.V < 1 || ss.K < 1 || ss.num_class < 1 || ss.blocks.empty() ||
        ss.temporal_kernel < 1 || ss.temporal_kernel % 2 == 0)
      return invalid_argument(
          "cannot export: stream '" + p + "' has an invalid specification (C=" + str(ss.C) +
          ", V=" + str(ss.V) + ", K=" + str(ss.K) + ", classes=" + str(ss.num_class) +
          ", temporal kernel " + str(ss.temporal_kernel) + ")");
    if (ss.C != spec.C() || ss.V != spec.V() || ss.num_class != spec.num_class())
      return invalid_argument("cannot export: the two streams differ in C, V or classes");
    if (sw.blocks.size() != ss.blocks.size())
      return invalid_argument("cannot export: stream '" + p + "' has weights for " +
                              str(static_cast<int64_t>(sw.blocks.size())) + " blocks, spec for " +
                              str(static_cast<int64_t>(ss.blocks.size())));
    const int64_t V = ss.V, K = ss.K, kt = ss.temporal_kernel;
    STGCN_RETURN_IF_ERROR(expect_size(sw.A.data, K * V * V, p + "A"));
    STGCN_RETURN_IF_ERROR(
        validate_bn(sw.data_bn, V * ss.C * std::max(1, ss.data_bn_persons), p + "data_bn"));
    int64_t c_prev = ss.C;
    for (size_t i = 0; i < ss.blocks.size(); ++i) {
      const BlockSpec& b = ss.blocks[i];
      const BlockWeights& w = sw.blocks[i];
      const std::string bp = p + "st_gcn_networks." + str(static_cast<int64_t>(i));
      const int64_t ci = b.in_channels, co = b.out_channels;
      if (ci != c_prev || co < 1 || b.stride < 1)
        return invalid_argument("cannot export: block '" + bp + "' has in/out channels " + str(ci) +
                                "/" + str(co) + " and stride " + str(b.stride) + " (expected " +
                                str(c_prev) + " input channels)");
      if (b.residual == ResidualKind::kIdentity && (ci != co || b.stride != 1))
        return invalid_argument("cannot export: block '" + bp +
                                "' has an identity residual but changes shape");
      STGCN_RETURN_IF_ERROR(expect_size(w.gcn_weight.data, K * co * ci, bp + ".gcn.conv.weight"));
      STGCN_RETURN_IF_ERROR(expect_size(w.gcn_bias.data, K * co, bp + ".gcn.conv.bias"));
      STGCN_RETURN_IF_ERROR(validate_bn(w.gcn_bn, co, bp + ".tcn.0"));
      if (b.temporal == TemporalUnit::kMultiScale) {
        STGCN_RETURN_IF_ERROR(validate_multi_scale(b, w, bp));
      } else {
        STGCN_RETURN_IF_ERROR(expect_size(w.tcn_weight.data, co * co * kt, bp + ".tcn.2.weight"));
        STGCN_RETURN_IF_ERROR(expect_size(w.tcn_bias.data, co, bp + ".tcn.2.bias"));
      }
      STGCN_RETURN_IF_ERROR(validate_bn(w.tcn_bn, co, bp + ".tcn.3"));
      if (!w.A.data.empty()) STGCN_RETURN_IF_ERROR(expect_size(w.A.data, K * V * V, bp + ".gcn.A"));
      if (b.gcn_residual == ResidualKind::kConv) {
        STGCN_RETURN_IF_ERROR(expect_size(w.gcn_down_weight.data, co * ci, bp + ".gcn.down.0.weight"));
        STGCN_RETURN_IF_ERROR(expect_size(w.gcn_down_bias.data, co, bp + ".gcn.down.0.bias"));
        STGCN_RETURN_IF_ERROR(validate_bn(w.gcn_down_bn, co, bp + ".gcn.down.1"));
      } else if (b.gcn_residual == ResidualKind::kIdentity && ci != co) {
        return invalid_argument("cannot export: block '" + bp +
                                "' has an identity gcn residual but changes width");
      }
      if (b.residual == ResidualKind::kConv) {
        STGCN_RETURN_IF_ERROR(
            expect_size(w.residual_weight.data, co * ci, bp + ".residual.0.weight"));
        STGCN_RETURN_IF_ERROR(expect_size(w.residual_bias.data, co, bp + ".residual.0.bias"));
        STGCN_RETURN_IF_ERROR(validate_bn(w.residual_bn, co, bp + ".residual.1"));
      }
      if (!w.importance.data.empty())
        STGCN_RETURN_IF_ERROR(expect_size(w.importance.data, K * V * V,
                                          p + "edge_importance." + str(static_cast<int64_t>(i))));
      c_prev = co;
    }
    STGCN_RETURN_IF_ERROR(expect_size(sw.fcn_weight.data, ss.num_class * c_prev, p + "fcn.weight"));
    STGCN_RETURN_IF_ERROR(expect_size(sw.fcn_bias.data, ss.num_class, p + "fcn.bias"));
  }
  return Status::ok();
}

// Bytes of initializers the export will hold (weights plus the per-block
// aggregation and bias constants), computed before anything is allocated.
uint64_t estimate_initializer_bytes(const Model& model) {
  uint64_t floats = 0;
  for (size_t s = 0; s < model.streams.size(); ++s) {
    const StreamSpec& ss = model.spec.streams[s];
    const StreamWeights& sw = model.streams[s];
    floats += 4 * sw.data_bn.weight.size() + sw.fcn_weight.data.size() + sw.fcn_bias.data.size();
    for (size_t i = 0; i < sw.blocks.size(); ++i) {
      const BlockWeights& w = sw.blocks[i];
      const uint64_t co = static_cast<uint64_t>(ss.blocks[i].out_channels);
      floats += w.gcn_weight.data.size() + w.gcn_bias.data.size() + w.tcn_weight.data.size() +
                w.tcn_bias.data.size() + w.residual_weight.data.size() +
                w.residual_bias.data.size() + sw.A.data.size() + co * static_cast<uint64_t>(ss.V) +
                12 * co + w.gcn_down_weight.data.size() + w.transform_weight.data.size() +
                6 * w.transform_bn.weight.size();
      for (const MultiScaleBranch& br : w.branches)
        floats += br.pre_weight.data.size() + br.weight.data.size() + 6 * br.bias.data.size() +
                  4 * br.pre_bn.weight.size();
    }
  }
  return 4 * floats;
}

}  // namespace

namespace onnx_export {

std::vector<float> to_float(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());
}

std::string Lowering::batch_norm(const std::string& x, const BatchNorm& bn,
                                 const std::string& name) {
  const auto n = static_cast<int64_t>(bn.weight.size());
  return b_.node(
      "BatchNormalization",
      {x, b_.constant(name + ".weight", {n}, bn.weight), b_.constant(name + ".bias", {n}, bn.bias),
       b_.constant(name + ".running_mean", {n}, bn.mean),
       b_.constant(name + ".running_var", {n}, bn.var)},
      name + "/BatchNormalization", {{"epsilon", BatchNorm::kEps}});
}

std::string Lowering::conv(const std::string& x, const std::string& name,
                           const std::vector<float>& weight, std::vector<int64_t> wdims,
                           const std::vector<float>* bias, const std::vector<Attr>& attrs) {
  std::vector<std::string> inputs = {x, b_.constant(name + ".weight", wdims, weight)};
  if (bias) inputs.push_back(b_.constant(name + ".bias", {wdims[0]}, *bias));
  std::vector<Attr> all = {{"kernel_shape", std::vector<int64_t>{wdims[2], wdims[3]}}};
  all.insert(all.end(), attrs.begin(), attrs.end());
  return b_.node("Conv", inputs, name + "/Conv", all);
}

std::string Lowering::reduce_mean(const std::string& x, const std::vector<int64_t>& axes,
                                  const std::string& out) {
  if (o_.opset >= 18)  // axes became an input in opset 18
    return b_.node("ReduceMean", {x, b_.ints(axes)}, out, {{"keepdims", int64_t{0}}});
  return b_.node("ReduceMean", {x}, out, {{"axes", axes}, {"keepdims", int64_t{0}}});
}

// m = x - prev (first_difference) or (x - next/2 - prev/2) * mask
// (central_difference), where prev/next repeat the edge frame, so m[0] = 0
// (and the mask zeroes both ends). Static Slices with constant bounds.
std::string Lowering::motion(const std::string& x, MotionMode mode) {
  const int T = o_.T;
  std::string prev = x, next = x;
  if (T > 1) {
    prev =
        b_.node("Concat",
                {slice_t(x, 0, 1, "motion/first_frame"), slice_t(x, 0, T - 1, "motion/x_0_to_T-1")},
                "motion/previous", {{"axis", int64_t{2}}});
    if (mode == MotionMode::kCentralDifference)
      next =
          b_.node("Concat",
                  {slice_t(x, 1, T, "motion/x_1_to_T"), slice_t(x, T - 1, T, "motion/last_frame")},
                  "motion/next", {{"axis", int64_t{2}}});
  }
  if (mode == MotionMode::kFirstDifference)
    return b_.node("Sub", {x, prev}, "motion/first_difference");
  const std::string half = b_.constant("motion.half", {}, std::vector<float>{0.5f});
  std::vector<float> mask(static_cast<size_t>(T), 1.0f);
  mask.front() = 0.0f;
  mask.back() = 0.0f;
  const std::string d = b_.node("Sub", {x, b_.node("Mul", {next, half}, "motion/half_next")},
                                "motion/x_minus_half_next");
  const std::string m =
      b_.node("Sub", {d, b_.node("Mul", {prev, half}, "motion/half_previous")}, "motion/central");
  return b_.node("Mul", {m, b_.constant("motion.edge_mask", {1, 1, T, 1, 1}, mask)},
                 "motion/central_difference");
}

// (N, C, T, V, M) -> data_bn -> (N*M, C, T, V).
std::string Lowering::data_bn(const StreamSpec& spec, const StreamWeights& w, const std::string& p,
                              const std::string& x) {
  const int64_t C = spec.C, V = spec.V, T = o_.T;
  // MVC (mmaction2): per (person, joint, channel), index (m*V + v)*C + c; else per (joint, channel).
  const int64_t P = spec.data_bn_persons > 1 ? spec.data_bn_persons : 1;
  if (!fold()) {  // as PyTorch: BatchNorm1d over (M*)V*C channels on the (N[*M], (M*)V*C, T) view
    std::string y = b_.node("Transpose", {x}, p + "data_bn/to_NMVCT",
                            {{"perm", std::vector<int64_t>{0, 4, 3, 1, 2}}});
    y = reshape(y, {-1, P * V * C, T}, p + "data_bn/to_NM_VC_T");
    y = batch_norm(y, w.data_bn, p + "data_bn");
    y = reshape(y, {-1, V, C, T}, p + "data_bn/to_NM_V_C_T");
    return b_.node("Transpose", {y}, p + "data_bn/to_NM_C_T_V",
                   {{"perm", std::vector<int64_t>{0, 2, 3, 1}}});
  }
  // Joint-major channel (m*V +) v*C + c -> a (C, 1, V, P) constant broadcast on (N, C, T, V, M).
  const Affine a = bn_affine(w.data_bn);
  std::vector<float> scale(static_cast<size_t>(C * V * P)), shift(scale.size());
  for (int64_t c = 0; c < C; ++c)
    for (int64_t v = 0; v < V; ++v)
      for (int64_t m = 0; m < P; ++m) {
        scale[(c * V + v) * P + m] = static_cast<float>(a.scale[(m * V + v) * C + c]);
        shift[(c * V + v) * P + m] = static_cast<float>(a.shift[(m * V + v) * C + c]);
      }
  std::string y = b_.node("Mul", {x, b_.constant(p + "data_bn.scale", {C, 1, V, P}, scale)},
                          p + "data_bn/scale");
  y = b_.node("Add", {y, b_.constant(p + "data_bn.shift", {C, 1, V, P}, shift)},
              p + "data_bn/shift");
  y = b_.node("Transpose", {y}, p + "data_bn/to_NMCTV",
              {{"perm", std::vector<int64_t>{0, 4, 1, 2, 3}}});
  return reshape(y, {-1, C, T, V}, p + "data_bn/to_NM_C_T_V");
}

std::string Lowering::block(const StreamSpec& spec, const BlockSpec& bs, const BlockWeights& w,
                            const Tensor& A, const std::string& bp, const std::string& x, int T) {
  const int64_t K = spec.K, V = spec.V, Cin = bs.in_channels, Cout = bs.out_channels;
  const int64_t kt = spec.temporal_kernel, pad_l = spec.pad_left(), pad_r = spec.pad_right();
  const bool matmul = o_.graph_conv == GraphConvForm::kMatMul;

  // Â = A ⊙ importance, (K, V, V) indexed [k][source v][target w]; its column
  // sums carry the gcn bias through the aggregation.
  std::vector<double> a_hat(A.data.begin(), A.data.end());
  if (!w.importance.data.empty())
    for (size_t i = 0; i < a_hat.size(); ++i) a_hat[i] *= w.importance.data[i];
  std::vector<double> col_sum(static_cast<size_t>(K * V), 0.0);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t v = 0; v < V; ++v)
      for (int64_t u = 0; u < V; ++u) col_sum[k * V + u] += a_hat[(k * V + v) * V + u];

  const Affine g = fold() ? bn_affine(w.gcn_bn) : identity_affine(static_cast<size_t>(Cout));
  // bias_cw[c][w] = scale_c * Σ_k b[k*Cout + c] * Σ_v Â[k][v][w] + shift_c
  std::vector<float> bias_cw(static_cast<size_t>(Cout * V));
  for (int64_t c = 0; c < Cout; ++c)
    for (int64_t u = 0; u < V; ++u) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += w.gcn_bias.data[k * Cout + c] * col_sum[k * V + u];
      bias_cw[c * V + u] = static_cast<float>(g.scale[c] * s + g.shift[c]);
    }

  std::string z;
  bool bias_pending = true;
  if (matmul) {
    // Aggregate first, then project: u = x(N*M, Cin*T, V) · Â_cat(V, K*V) is
    // one GEMM; a (1, K) conv dilated by V then sums over k and Cin.
    std::vector<float> a_cat(static_cast<size_t>(V * K * V));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t v = 0; v < V; ++v)
        for (int64_t u = 0; u < V; ++u)
          a_cat[v * K * V + k * V + u] = static_cast<float>(a_hat[(k * V + v) * V + u]);
    std::vector<float> wp(static_cast<size_t>(Cout * Cin * K));
    for (int64_t c = 0; c < Cout; ++c)
      for (int64_t ci = 0; ci < Cin; ++ci)
        for (int64_t k = 0; k < K; ++k)
          wp[(c * Cin + ci) * K + k] =
              static_cast<float>(w.gcn_weight.data[(k * Cout + c) * Cin + ci] * g.scale[c]);
    std::string u = reshape(x, {-1, Cin * T, V}, bp + "/gcn_to_rows");
    u = b_.node("MatMul", {u, b_.constant(bp + ".gcn.A_cat", {V, K * V}, a_cat)},
                bp + "/gcn_aggregate");
    u = reshape(u, {-1, Cin, T, K * V}, bp + "/gcn_to_NCTKV");
    z = conv(u, bp + ".gcn.project", wp, {Cout, Cin, 1, K}, nullptr,
             {{"dilations", std::vector<int64_t>{1, K > 1 ? V : 1}}});
  } else {
    // Project (1x1 conv to K*Cout channels, k-major), then Einsum with Â.
    std::vector<float> wg(w.gcn_weight.data.size());
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < Cout; ++c)
        for (int64_t ci = 0; ci < Cin; ++ci)
          wg[(k * Cout + c) * Cin + ci] =
              static_cast<float>(w.gcn_weight.data[(k * Cout + c) * Cin + ci] * g.scale[c]);
    // Without folding the conv keeps its bias, as torch.onnx.export writes it.
    bias_pending = fold();
    std::string y = conv(x, bp + ".gcn.conv", wg, {K * Cout, Cin, 1, 1},
                         fold() ? nullptr : &w.gcn_bias.data, {});
    y = reshape(y, {-1, K, Cout, T, V}, bp + "/gcn_to_NKCTV");
    z = b_.node("Einsum", {y, b_.constant(bp + ".gcn.A_hat", {K, V, V}, to_float(a_hat))},
                bp + "/gcn_aggregate", {{"equation", std::string("nkctv,kvw->nctw")}});
  }
  if (bias_pending)
    z = b_.node("Add", {z, b_.constant(bp + ".gcn.bias_cw", {1, Cout, 1, V}, bias_cw)},
                bp + "/gcn_bias");
  if (!fold()) z = batch_norm(z, w.gcn_bn, bp + ".tcn.0");
  if (bs.gcn_residual != ResidualKind::kNone) z = gcn_residual(bs, w, bp, x, z);
  z = b_.node("Relu", {z}, bp + "/gcn_relu");

  std::string out;
  const std::vector<Attr> strided = {{"strides", std::vector<int64_t>{bs.stride, 1}}};
  if (bs.temporal == TemporalUnit::kMultiScale) {
    out = multi_scale(spec, bs, w, bp, z);
  } else {
    // Temporal conv (kt x 1, stride s, zero padding) with tcn.3 folded in.
    const Affine t = fold() ? bn_affine(w.tcn_bn) : identity_affine(static_cast<size_t>(Cout));
    std::vector<float> wt(w.tcn_weight.data.size()), bt(static_cast<size_t>(Cout));
    for (int64_t c = 0; c < Cout; ++c) {
      for (int64_t i = 0; i < Cout * kt; ++i)
        wt[c * Cout * kt + i] = static_cast<float>(w.tcn_weight.data[c * Cout * kt + i] * t.scale[c]);
      bt[c] = static_cast<float>(w.tcn_bias.data[c] * t.scale[c] + t.shift[c]);
    }
    out = conv(z, bp + ".tcn.2", wt, {Cout, Cout, kt, 1}, &bt,
                           {{"strides", std::vector<int64_t>{bs.stride, 1}},
                            {"pads", std::vector<int64_t>{pad_l, 0, pad_r, 0}}});
    if (!fold()) out = batch_norm(out, w.tcn_bn, bp + ".tcn.3");
  }
  switch (bs.residual) {
    case ResidualKind::kNone: break;
    case ResidualKind::kIdentity: out = b_.node("Add", {out, x}, bp + "/residual_add"); break;
    case ResidualKind::kConv: {
      const Affine r =
          fold() ? bn_affine(w.residual_bn) : identity_affine(static_cast<size_t>(Cout));
      std::vector<float> wr(w.residual_weight.data.size()), br(static_cast<size_t>(Cout));
      for (int64_t c = 0; c < Cout; ++c) {
        for (int64_t i = 0; i < Cin; ++i)
          wr[c * Cin + i] = static_cast<float>(w.residual_weight.data[c * Cin + i] * r.scale[c]);
        br[c] = static_cast<float>(w.residual_bias.data[c] * r.scale[c] + r.shift[c]);
      }
      std::string res = conv(x, bp + ".residual.0", wr, {Cout, Cin, 1, 1}, &br, strided);
      if (!fold()) res = batch_norm(res, w.residual_bn, bp + ".residual.1");
      out = b_.node("Add", {out, res}, bp + "/residual_add");
      break;
    }
  }
  return b_.node("Relu", {out}, bp + "/relu");
}

// Mean over (T, V), then over persons, then fcn: (N*M, C, T, V) -> (N, classes).
std::string Lowering::head(const StreamSpec& spec, const StreamWeights& w, const std::string& p,
                           const std::string& x) {
  const int64_t c_last = spec.blocks.back().out_channels, classes = spec.num_class;
  std::string y = reduce_mean(x, {2, 3}, p + "head/mean_TV");
  y = reshape(y, {-1, o_.M, c_last}, p + "head/to_N_M_C");
  y = reduce_mean(y, {1}, p + "head/mean_persons");
  return b_.node("Gemm",
                 {y, b_.constant(p + "fcn.weight", {classes, c_last}, w.fcn_weight.data),
                  b_.constant(p + "fcn.bias", {classes}, w.fcn_bias.data)},
                 p + "fcn/Gemm", {{"transB", int64_t{1}}});
}

std::string Lowering::stream(const StreamSpec& spec, const StreamWeights& w, const std::string& p,
                             const std::string& x) {
  std::string y = data_bn(spec, w, p, x);
  // The engine's IR names (calibration tables, --keep-fp32): s0 = the (origin) stream, s1 = motion.
  const std::string ir = p == "motion_stream." ? "s1." : "s0.";
  std::string value = ir + "data_bn";
  int T = o_.T;
  for (size_t i = 0; i < spec.blocks.size(); ++i) {
    const Tensor& A = w.blocks[i].A.data.empty() ? w.A : w.blocks[i].A;  // a block's own A
    const std::string bp = p + "st_gcn_networks." + std::to_string(i);
    const std::string bir = ir + "b" + std::to_string(i) + ".";
    if (o_.precision == OnnxPrecision::kInt8)
      y = block_int8(spec, spec.blocks[i], w.blocks[i], A, bp, bir, y, value, T);
    else
      y = block(spec, spec.blocks[i], w.blocks[i], A, bp, y, T);
    value = bir + "tcn";
    T = temporal_out(T, spec.blocks[i].stride);
  }
  return head(spec, w, p, y);
}

}  // namespace onnx_export

namespace {

void add_metadata(onnx::ModelProto& mp, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* e = mp.add_metadata_props();
  e->set_key(key);
  e->set_value(value);
}

// Builds the ModelProto at `opset` (which may differ from options.opset when
// validating through an older twin, see check_model_proto).
Result<onnx::ModelProto> build_model(const Model& model, const OnnxExportOptions& o, int opset,
                                     const std::string& source_sha256) {
  OnnxExportOptions opt = o;
  opt.opset = opset;
  const ModelSpec& spec = model.spec;
  onnx::ModelProto mp;
  mp.set_ir_version(ir_version_for(opset));
  onnx::OperatorSetIdProto* op = mp.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  mp.set_producer_name("stgcn-rt");
  mp.set_producer_version(STGCN_VERSION);
  mp.set_doc_string("ST-GCN (" + std::string(spec.two_stream ? "two-stream" : "single-stream") +
                    ", layout " + spec.layout + ") exported by stgcn-rt");
  onnx::GraphProto* g = mp.mutable_graph();
  g->set_name("stgcn");
  const int64_t n = opt.dynamic_batch ? -1 : opt.batch;
  // The model's own input layout: mmaction2 / pyskl models take (N, M, T, V, C).
  const bool nmtvc = spec.input_layout() == InputLayout::kNMTVC;
  if (spec.fixed_persons() > 0 && opt.M != spec.fixed_persons())
    return invalid_argument("M=" + str(opt.M) + ": the model normalises per person (data_bn 'MVC') "
                            "and needs M=" + str(spec.fixed_persons()));
  onnx_export::set_tensor_type(g->add_input(), opt.input_name,
                               nmtvc ? std::vector<int64_t>{n, opt.M, opt.T, spec.V(), spec.C()}
                                     : std::vector<int64_t>{n, spec.C(), opt.T, spec.V(), opt.M},
                               kBatchSymbol);

  GraphBuilder b(g);
  b.reserve(opt.input_name);
  Lowering lower(b, opt);
  std::string x = opt.input_name;
  if (nmtvc)
    x = b.node("Transpose", {x}, "input/to_NCTVM", {{"perm", std::vector<int64_t>{0, 4, 2, 3, 1}}});
  std::string logits = lower.stream(spec.streams[0], model.streams[0],
                                    spec.two_stream ? "origin_stream." : "", x);
  if (spec.two_stream) {
    const std::string m = lower.motion(x, spec.motion);
    const std::string ml = lower.stream(spec.streams[1], model.streams[1], "motion_stream.", m);
    logits = b.node("Add", {logits, ml}, "two_stream/sum");
  }
  if (opt.softmax) logits = b.node("Softmax", {logits}, "softmax", {{"axis", int64_t{1}}});
  if (!lower.error().empty()) return invalid_argument("cannot export: " + lower.error());
  if (!b.duplicate().empty())
    return invalid_argument("the input name '" + opt.input_name +
                            "' is also the name of a tensor in the graph: choose another");
  if (b.names().count(opt.output_name))
    return invalid_argument("the output name '" + opt.output_name +
                            "' is also the name of a tensor in the graph: choose another");
  g->mutable_node(g->node_size() - 1)->set_output(0, opt.output_name);
  onnx_export::set_tensor_type(g->add_output(), opt.output_name, {n, spec.num_class()},
                               kBatchSymbol);
  STGCN_RETURN_IF_ERROR(onnx_export::check_onnx_size(b.initializer_bytes()));
  if (opt.precision != OnnxPrecision::kFp32 || opt.io_fp16)
    STGCN_RETURN_IF_ERROR(
        onnx_export::apply_precision(*g, opt.precision == OnnxPrecision::kFp16, opt.io_fp16));

  add_metadata(mp, "producer", "stgcn-rt");
  add_metadata(mp, "producer_version", STGCN_VERSION);
  add_metadata(mp, "layout", spec.layout);
  add_metadata(mp, "strategy", spec.strategy);
  add_metadata(mp, "two_stream", spec.two_stream ? "true" : "false");
  if (spec.two_stream) add_metadata(mp, "motion", motion_mode_name(spec.motion));
  add_metadata(mp, "num_class", str(spec.num_class()));
  add_metadata(mp, "C", str(spec.C()));
  add_metadata(mp, "T", str(opt.T));
  add_metadata(mp, "V", str(spec.V()));
  add_metadata(mp, "M", str(opt.M));
  add_metadata(mp, "K", str(spec.streams.front().K));
  add_metadata(mp, "batch", opt.dynamic_batch ? std::string(kBatchSymbol) : str(opt.batch));
  add_metadata(mp, "graph_conv", opt.graph_conv == GraphConvForm::kMatMul ? "matmul" : "einsum");
  add_metadata(mp, "fold_bn", opt.fold_bn ? "true" : "false");
  add_metadata(mp, "softmax", opt.softmax ? "true" : "false");
  add_metadata(mp, "precision", onnx_precision_name(opt.precision));
  add_metadata(mp, "io_type", opt.io_fp16 ? "float16" : "float32");
  if (opt.precision == OnnxPrecision::kInt8 && !opt.int8_record.empty())
    add_metadata(mp, "int8_calibration", opt.int8_record);
  if (!opt.source_path.empty()) {
    add_metadata(mp, "source", std::filesystem::path(opt.source_path).filename().string());
    if (!source_sha256.empty()) add_metadata(mp, "source_sha256", source_sha256);
  }
  return mp;
}

// onnx::checker plus strict shape inference (types checked, node errors
// fatal, declared output shapes must agree). A libonnx older than the opset
// (libonnx 1.12 knows opset 17) checks a twin built at its newest opset: the
// graph differs only in opset-dependent operator forms (ReduceMean axes).
Status check_model_proto(onnx::ModelProto mp) {
  try {
    onnx::checker::check_model(mp);
    onnx::shape_inference::InferShapes(
        mp, onnx::OpSchemaRegistry::Instance(),
        onnx::ShapeInferenceOptions(/*check_type=*/true, /*error_mode=*/1));
  } catch (const std::exception& e) {
    return internal_error(std::string("the exported graph failed ONNX validation: ") + e.what());
  }
  return Status::ok();
}

Result<std::string> serialize(const onnx::ModelProto& mp) {
  const size_t size = mp.ByteSizeLong();
  STGCN_RETURN_IF_ERROR(onnx_export::check_onnx_size(size));
  std::string bytes(size, '\0');
  google::protobuf::io::ArrayOutputStream array(bytes.data(), static_cast<int>(size));
  google::protobuf::io::CodedOutputStream out(&array);
  out.SetSerializationDeterministic(true);
  mp.SerializeWithCachedSizes(&out);
  if (out.HadError() || out.ByteCount() != static_cast<int64_t>(size))
    return internal_error("ONNX serialisation failed");
  return bytes;
}

Result<std::string> export_bytes(const Model& model, const OnnxExportOptions& options) {
  STGCN_RETURN_IF_ERROR(validate_options(options));
  STGCN_RETURN_IF_ERROR(validate_model(model));
  STGCN_RETURN_IF_ERROR(onnx_export::check_onnx_size(estimate_initializer_bytes(model)));
  std::string sha;
  if (!options.source_path.empty()) {
    STGCN_ASSIGN_OR_RETURN(sha, io::sha256_file_hex(options.source_path));
  }
  const int check_opset = std::min(options.opset, checker_max_opset());
  if (check_opset != options.opset) {
    STGCN_ASSIGN_OR_RETURN(onnx::ModelProto twin, build_model(model, options, check_opset, sha));
    STGCN_RETURN_IF_ERROR(check_model_proto(std::move(twin)));
  }
  STGCN_ASSIGN_OR_RETURN(onnx::ModelProto mp, build_model(model, options, options.opset, sha));
  if (check_opset == options.opset) STGCN_RETURN_IF_ERROR(check_model_proto(mp));
  return serialize(mp);
}

}  // namespace

const char* onnx_precision_name(OnnxPrecision p) {
  switch (p) {
    case OnnxPrecision::kFp16: return "fp16";
    case OnnxPrecision::kInt8: return "int8";
    case OnnxPrecision::kFp32: break;
  }
  return "fp32";
}

Result<std::string> export_onnx_bytes(const Model& model, const OnnxExportOptions& options) {
  try {
    return export_bytes(model, options);
  } catch (const std::bad_alloc&) {
    return internal_error("ONNX export: out of memory");
  } catch (const std::exception& e) {
    return internal_error(std::string("ONNX export failed: ") + e.what());
  }
}

Status export_onnx(const Model& model, const OnnxExportOptions& options, const std::string& path) {
  STGCN_ASSIGN_OR_RETURN(std::string bytes, export_onnx_bytes(model, options));
  return write_file_atomic(path, bytes);
}

}  // namespace stgcn
