// INT8 export as explicit quantisation (docs/tensorrt.md): the block is lowered in the order of
// the engine's fused graph (gcn conv with every BN folded and the ST-GCN++ down conv as one more
// partition, then the aggregation as a MatMul with the adjacency, then the temporal unit with the
// transform BN split into the branches), so every activation a Conv / MatMul reads is one our
// calibration observed. TensorRT's placement rules: a QuantizeLinear / DequantizeLinear pair
// (per tensor, symmetric, zero point 0) on each activation input of a Conv / MatMul / MaxPool,
// weights stored as int8 with one scale per output channel behind a DequantizeLinear, the
// residual input of each Add quantised so the add fuses into the conv before it, nothing
// quantised between a conv and its bias / ReLU. Layers kept FP32 read plain float inputs.
#include <algorithm>
#include <cmath>

#include "onnx/export_lowering.h"

namespace stgcn::onnx_export {
namespace {

// The slice [offset, offset + n) of an affine.
Affine slice(const Affine& a, size_t offset, size_t n) {
  Affine s;
  s.scale.assign(a.scale.begin() + static_cast<std::ptrdiff_t>(offset),
                 a.scale.begin() + static_cast<std::ptrdiff_t>(offset + n));
  s.shift.assign(a.shift.begin() + static_cast<std::ptrdiff_t>(offset),
                 a.shift.begin() + static_cast<std::ptrdiff_t>(offset + n));
  return s;
}

// A (K, V, V) tensor (or a block's own A) times the importance, elementwise.
std::vector<double> adjacency_hat(const Tensor& A, const BlockWeights& w) {
  std::vector<double> a(A.data.begin(), A.data.end());
  if (!w.importance.data.empty())
    for (size_t i = 0; i < a.size(); ++i) a[i] *= w.importance.data[i];
  return a;
}

}  // namespace

std::string Lowering::qdq(const std::string& x, const std::string& value) {
  const auto key = std::make_pair(x, value);
  if (auto it = qdq_memo_.find(key); it != qdq_memo_.end()) return it->second;
  float threshold = 1.f;
  if (auto it = o_.int8_thresholds.find(value); it != o_.int8_thresholds.end()) {
    threshold = it->second;
  } else if (error_.empty()) {
    error_ = "the calibration has no threshold for activation '" + value +
             "' (was the table made for another model?)";
  }
  if (!(threshold > 0.f) || !std::isfinite(threshold)) threshold = 1e-6f;  // a dead activation
  const std::string scale =
      b_.constant(value + ".act_scale", {}, std::vector<float>{threshold / 127.f});
  const std::string zero = b_.constant_i8(value + ".act_zero_point", {}, std::vector<int8_t>{0});
  const std::string q = b_.node("QuantizeLinear", {x, scale, zero}, value + "/QuantizeLinear");
  const std::string dq = b_.node("DequantizeLinear", {q, scale, zero}, value + "/DequantizeLinear");
  qdq_memo_.emplace(key, dq);
  return dq;
}

std::string Lowering::weight_dq(const std::string& name, const std::vector<float>& w,
                                const std::vector<int64_t>& dims, int axis) {
  // Symmetric, one scale per slice along `axis`: max |w| / 127, rounded to nearest even.
  const int64_t n = dims[static_cast<size_t>(axis)];
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < dims.size(); ++d) inner *= dims[d];
  std::vector<float> scale(static_cast<size_t>(n), 0.f);
  for (size_t i = 0; i < w.size(); ++i) {
    const size_t c = (i / static_cast<size_t>(inner)) % static_cast<size_t>(n);
    scale[c] = std::max(scale[c], std::fabs(w[i]));
  }
  for (float& s : scale) s = s > 0.f ? s / 127.f : 1.f;
  std::vector<int8_t> q(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const size_t c = (i / static_cast<size_t>(inner)) % static_cast<size_t>(n);
    q[i] = static_cast<int8_t>(std::clamp(std::nearbyint(w[i] / scale[c]), -127.f, 127.f));
  }
  const std::string qw = b_.constant_i8(name + ".weight_int8", dims, q);
  const std::string s = b_.constant(name + ".weight_scale", {n}, scale);
  const std::string z =
      b_.constant_i8(name + ".weight_zero_point", {n}, std::vector<int8_t>(static_cast<size_t>(n), 0));
  return b_.node("DequantizeLinear", {qw, s, z}, name + "/weight_DequantizeLinear",
                 {{"axis", int64_t{axis}}});
}

std::string Lowering::conv_q(const std::string& layer, const std::string& x,
                             const std::string& x_value, const std::string& name,
                             const std::vector<float>& weight, std::vector<int64_t> wdims,
                             const std::vector<float>* bias, const std::vector<Attr>& attrs) {
  if (!quantised(layer)) return conv(x, name, weight, std::move(wdims), bias, attrs);
  std::vector<std::string> inputs = {qdq(x, x_value), weight_dq(name, weight, wdims, 0)};
  if (bias) inputs.push_back(b_.constant(name + ".bias", {wdims[0]}, *bias));
  std::vector<Attr> all = {{"kernel_shape", std::vector<int64_t>{wdims[2], wdims[3]}}};
  all.insert(all.end(), attrs.begin(), attrs.end());
  return b_.node("Conv", inputs, name + "/Conv", all);
}

std::string Lowering::block_int8(const StreamSpec& spec, const BlockSpec& bs,
                                 const BlockWeights& w, const Tensor& A, const std::string& bp,
                                 const std::string& ir, const std::string& x,
                                 const std::string& x_value, int T) {
  const int64_t K = spec.K, V = spec.V, cin = bs.in_channels, cout = bs.out_channels;
  const bool down = bs.gcn_residual == ResidualKind::kConv;
  const int64_t K2 = K + (down ? 1 : 0);

  // gcn conv: K partitions with the post-aggregation BN's scale folded in, plus the ST-GCN++
  // down conv (its BN folded) as partition K, aggregated through the identity.
  const Affine g = bn_affine(w.gcn_bn);
  std::vector<float> wg(static_cast<size_t>(K2 * cout * cin)), bg(static_cast<size_t>(K2 * cout));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < cout; ++c) {
      for (int64_t i = 0; i < cin; ++i)
        wg[(k * cout + c) * cin + i] =
            static_cast<float>(w.gcn_weight.data[(k * cout + c) * cin + i] * g.scale[c]);
      bg[k * cout + c] = static_cast<float>(w.gcn_bias.data[k * cout + c] * g.scale[c]);
    }
  if (down) {
    std::vector<float> wd, bd;
    fold_into(bn_affine(w.gcn_down_bn), w.gcn_down_weight, w.gcn_down_bias, wd, bd);
    std::copy(wd.begin(), wd.end(), wg.begin() + K * cout * cin);
    std::copy(bd.begin(), bd.end(), bg.begin() + K * cout);
  }
  std::string y = conv_q(ir + "gcn", x, x_value, bp + ".gcn.conv", wg, {K2 * cout, cin, 1, 1}, &bg,
                         {});

  // Aggregation: (N*M, K2*C, T, V) -> (N*M, C*T, K2*V) . A2 (K2*V, V), A2[k*V + v][w] = Â[k][v][w].
  std::vector<double> a_hat = adjacency_hat(A, w);
  std::vector<float> a2(static_cast<size_t>(K2 * V * V), 0.f);
  for (int64_t i = 0; i < K * V * V; ++i) a2[static_cast<size_t>(i)] = static_cast<float>(a_hat[i]);
  if (down)
    for (int64_t v = 0; v < V; ++v) a2[static_cast<size_t>((K * V + v) * V + v)] = 1.f;
  y = reshape(y, {-1, K2, cout, T, V}, bp + "/gcn_to_NKCTV");
  y = b_.node("Transpose", {y}, bp + "/gcn_to_NCTKV", {{"perm", std::vector<int64_t>{0, 2, 3, 1, 4}}});
  y = reshape(y, {-1, cout * T, K2 * V}, bp + "/gcn_to_rows");
  const bool agg_q = quantised(ir + "agg");
  const std::string a = bp + ".gcn.A_hat";
  y = b_.node("MatMul",
              {agg_q ? qdq(y, ir + "gcn") : y,
               agg_q ? weight_dq(a, a2, {K2 * V, V}, 1) : b_.constant(a, {K2 * V, V}, a2)},
              bp + "/gcn_aggregate");
  y = reshape(y, {-1, cout, T, V}, bp + "/gcn_to_NCTV");
  std::vector<float> shift(g.shift.begin(), g.shift.end());
  y = b_.node("Add", {y, b_.constant(bp + ".gcn.shift", {1, cout, 1, 1}, shift)}, bp + "/gcn_bias");
  if (bs.gcn_residual == ResidualKind::kIdentity)
    y = b_.node("Add", {y, agg_q ? qdq(x, x_value) : x}, bp + "/gcn_residual_add");
  const std::string z = b_.node("Relu", {y}, bp + "/gcn_relu");

  std::string out;
  const std::vector<Attr> strided = {{"strides", std::vector<int64_t>{bs.stride, 1}}};
  if (bs.temporal == TemporalUnit::kMultiScale) {
    out = multi_scale_int8(spec, bs, w, bp, ir, z);
  } else {
    std::vector<float> wt, bt;
    fold_into(bn_affine(w.tcn_bn), w.tcn_weight, w.tcn_bias, wt, bt);
    const int64_t kt = spec.temporal_kernel;
    out = conv_q(ir + "tcn", z, ir + "agg", bp + ".tcn.2", wt, {cout, cout, kt, 1}, &bt,
                 {{"strides", std::vector<int64_t>{bs.stride, 1}},
                  {"pads", std::vector<int64_t>{spec.pad_left(), 0, spec.pad_right(), 0}}});
  }
  const bool tcn_q = quantised(ir + "tcn");
  switch (bs.residual) {
    case ResidualKind::kNone: break;
    case ResidualKind::kIdentity:
      out = b_.node("Add", {out, tcn_q ? qdq(x, x_value) : x}, bp + "/residual_add");
      break;
    case ResidualKind::kConv: {
      std::vector<float> wr, br;
      fold_into(bn_affine(w.residual_bn), w.residual_weight, w.residual_bias, wr, br);
      const std::string res =
          conv_q(ir + "res", x, x_value, bp + ".residual.0", wr, {cout, cin, 1, 1}, &br, strided);
      out = b_.node("Add", {out, tcn_q ? qdq(res, ir + "res") : res}, bp + "/residual_add");
      break;
    }
  }
  return b_.node("Relu", {out}, bp + "/relu");
}

std::string Lowering::multi_scale_int8(const StreamSpec& spec, const BlockSpec& bs,
                                       const BlockWeights& w, const std::string& bp,
                                       const std::string& ir, const std::string& z) {
  const bool causal = spec.temporal_padding == TemporalPadding::kCausal;
  const int64_t cout = bs.out_channels, s = bs.stride;
  const Affine transform = bn_affine(w.transform_bn);
  std::vector<std::string> outs;
  size_t offset = 0;
  for (int i = 0; i < kMultiScaleBranches; ++i) {
    const MultiScaleBranch& br = w.branches[static_cast<size_t>(i)];
    const int64_t c = bs.branch_channels[static_cast<size_t>(i)];
    const std::string p = bp + ".tcn.branches." + std::to_string(i);
    const std::string layer = ir + "tcn.b" + std::to_string(i);
    // The transform's BN slice of this branch, folded into its last conv (or after the pool).
    const Affine t = slice(transform, offset, static_cast<size_t>(c));
    offset += static_cast<size_t>(c);
    std::string y;
    if (i == kMultiScalePointBranch) {
      std::vector<float> wb, bb;
      fold_into(t, br.weight, br.bias, wb, bb);
      y = conv_q(layer, z, ir + "agg", p, wb, {c, cout, 1, 1}, &bb,
                 {{"strides", std::vector<int64_t>{s, 1}}});
    } else {
      std::vector<float> wp, bpre;
      fold_into(bn_affine(br.pre_bn), br.pre_weight, br.pre_bias, wp, bpre);
      const std::string pre = b_.node(
          "Relu", {conv_q(layer + ".pre", z, ir + "agg", p + ".0", wp, {c, cout, 1, 1}, &bpre, {})},
          p + "/relu");
      if (i < kMultiScaleDilatedBranches) {
        const int64_t d = i + 1, left = causal ? 2 * d : d, right = 2 * d - left;
        std::vector<float> wb, bb;
        fold_into(t, br.weight, br.bias, wb, bb);
        y = conv_q(layer, pre, layer + ".pre", p + ".3.conv", wb, {c, c, 3, 1}, &bb,
                   {{"strides", std::vector<int64_t>{s, 1}},
                    {"dilations", std::vector<int64_t>{d, 1}},
                    {"pads", std::vector<int64_t>{left, 0, right, 0}}});
      } else {
        const int64_t left = causal ? 2 : 1, right = 2 - left;
        y = b_.node("MaxPool", {quantised(layer) ? qdq(pre, layer + ".pre") : pre},
                    p + "/MaxPool",
                    {{"kernel_shape", std::vector<int64_t>{3, 1}},
                     {"strides", std::vector<int64_t>{s, 1}},
                     {"pads", std::vector<int64_t>{left, 0, right, 0}}});
        std::vector<float> scale(t.scale.begin(), t.scale.end()), shift(t.shift.begin(), t.shift.end());
        y = b_.node("Mul", {y, b_.constant(p + ".transform_scale", {1, c, 1, 1}, scale)},
                    p + "/transform_scale");
        y = b_.node("Add", {y, b_.constant(p + ".transform_shift", {1, c, 1, 1}, shift)},
                    p + "/transform_shift");
      }
    }
    outs.push_back(b_.node("Relu", {y}, p + "/transform_relu"));
  }
  const std::string cat = b_.node("Concat", outs, bp + ".tcn/concat", {{"axis", int64_t{1}}});
  std::vector<float> wt, bt;
  fold_into(bn_affine(w.tcn_bn), w.transform_weight, w.transform_bias, wt, bt);
  return conv_q(ir + "tcn", cat, ir + "tcn.concat", bp + ".tcn.transform.2", wt,
                {cout, static_cast<int64_t>(offset), 1, 1}, &bt, {});
}

}  // namespace stgcn::onnx_export
