// ONNX lowering of ST-GCN++'s parts (export_lowering.h): the gcn residual and the mstcn
// temporal unit, in forms ONNX Runtime and TensorRT run (Conv with dilations, MaxPool with
// explicit pads -- ONNX pads MaxPool with -inf semantics --, Concat on the channel axis).
#include "onnx/export_lowering.h"

namespace stgcn::onnx_export {

std::string Lowering::gcn_residual(const BlockSpec& bs, const BlockWeights& w,
                                   const std::string& bp, const std::string& x,
                                   const std::string& z) {
  if (bs.gcn_residual == ResidualKind::kIdentity)
    return b_.node("Add", {z, x}, bp + "/gcn_residual_add");
  const int64_t cout = bs.out_channels, cin = bs.in_channels;
  const Affine a = fold() ? bn_affine(w.gcn_down_bn) : identity_affine(static_cast<size_t>(cout));
  std::vector<float> wd, bd;
  fold_into(a, w.gcn_down_weight, w.gcn_down_bias, wd, bd);
  std::string d = conv(x, bp + ".gcn.down.0", wd, {cout, cin, 1, 1}, &bd, {});
  if (!fold()) d = batch_norm(d, w.gcn_down_bn, bp + ".gcn.down.1");
  return b_.node("Add", {z, d}, bp + "/gcn_residual_add");
}

std::string Lowering::multi_scale(const StreamSpec& spec, const BlockSpec& bs,
                                  const BlockWeights& w, const std::string& bp,
                                  const std::string& z) {
  const bool causal = spec.temporal_padding == TemporalPadding::kCausal;
  const int64_t cout = bs.out_channels, s = bs.stride;
  std::vector<std::string> outs;
  int64_t tin = 0;
  for (int i = 0; i < kMultiScaleBranches; ++i) {
    const MultiScaleBranch& br = w.branches[i];
    const int64_t c = bs.branch_channels[i];
    tin += c;
    const std::string p = bp + ".tcn.branches." + std::to_string(i);
    if (i == kMultiScalePointBranch) {
      outs.push_back(conv(z, p, br.weight.data, {c, cout, 1, 1}, &br.bias.data,
                          {{"strides", std::vector<int64_t>{s, 1}}}));
      continue;
    }
    const Affine a = fold() ? bn_affine(br.pre_bn) : identity_affine(static_cast<size_t>(c));
    std::vector<float> wp, bpre;
    fold_into(a, br.pre_weight, br.pre_bias, wp, bpre);
    std::string y = conv(z, p + ".0", wp, {c, cout, 1, 1}, &bpre, {});
    if (!fold()) y = batch_norm(y, br.pre_bn, p + ".1");
    y = b_.node("Relu", {y}, p + "/relu");
    if (i < kMultiScaleDilatedBranches) {
      const int64_t d = i + 1;
      const int64_t left = causal ? 2 * d : d, right = 2 * d - left;
      y = conv(y, p + ".3.conv", br.weight.data, {c, c, 3, 1}, &br.bias.data,
               {{"strides", std::vector<int64_t>{s, 1}},
                {"dilations", std::vector<int64_t>{d, 1}},
                {"pads", std::vector<int64_t>{left, 0, right, 0}}});
    } else {
      const int64_t left = causal ? 2 : 1, right = 2 - left;
      y = b_.node("MaxPool", {y}, p + "/MaxPool",
                  {{"kernel_shape", std::vector<int64_t>{3, 1}},
                   {"strides", std::vector<int64_t>{s, 1}},
                   {"pads", std::vector<int64_t>{left, 0, right, 0}}});
    }
    outs.push_back(y);
  }
  std::string y = b_.node("Concat", outs, bp + ".tcn/concat", {{"axis", int64_t{1}}});
  // transform: BN (a node: a ReLU sits between it and the conv), ReLU, 1x1 conv; then tcn.bn.
  y = batch_norm(y, w.transform_bn, bp + ".tcn.transform.0");
  y = b_.node("Relu", {y}, bp + ".tcn.transform/relu");
  const Affine t = fold() ? bn_affine(w.tcn_bn) : identity_affine(static_cast<size_t>(cout));
  std::vector<float> wt, bt;
  fold_into(t, w.transform_weight, w.transform_bias, wt, bt);
  y = conv(y, bp + ".tcn.transform.2", wt, {cout, tin, 1, 1}, &bt, {});
  if (!fold()) y = batch_norm(y, w.tcn_bn, bp + ".tcn.bn");
  return y;
}

}  // namespace stgcn::onnx_export
