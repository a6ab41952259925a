// Internal to onnx/: the lowering of a Model into ONNX nodes (onnx_export.cpp; ST-GCN++'s
// parts in export_multiscale.cpp). Tensor names follow the checkpoint's.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "onnx/export_builder.h"
#include "stgcn/model.h"
#include "stgcn/onnx.h"

namespace stgcn::onnx_export {

// y = x * scale + shift per channel; an identity when BN is kept as a node.
struct Affine {
  std::vector<double> scale, shift;
};

inline Affine bn_affine(const BatchNorm& bn) {
  Affine a;
  for (size_t c = 0; c < bn.weight.size(); ++c) {
    const double s = bn.weight[c] / std::sqrt(static_cast<double>(bn.var[c]) + BatchNorm::kEps);
    a.scale.push_back(s);
    a.shift.push_back(bn.bias[c] - bn.mean[c] * s);
  }
  return a;
}

inline Affine identity_affine(size_t n) {
  return Affine{std::vector<double>(n, 1.0), std::vector<double>(n, 0.0)};
}

// w[c, ...] * scale[c], b[c] * scale[c] + shift[c]: an affine (a BN) folded into the conv
// before it.
inline void fold_into(const Affine& a, const Tensor& weight, const Tensor& bias,
                      std::vector<float>& w, std::vector<float>& b) {
  const size_t cout = a.scale.size(), per = weight.data.size() / cout;
  w.resize(weight.data.size());
  b.resize(cout);
  for (size_t c = 0; c < cout; ++c) {
    for (size_t i = 0; i < per; ++i)
      w[c * per + i] = static_cast<float>(weight.data[c * per + i] * a.scale[c]);
    b[c] = static_cast<float>(bias.data[c] * a.scale[c] + a.shift[c]);
  }
}

// Lowers one model into a GraphBuilder; tensor names follow the checkpoint's
// (initializers: "<stream.>st_gcn_networks.<i>.<part>", node outputs:
// "<stream.>st_gcn_networks.<i>/<step>").
class Lowering {
 public:
  Lowering(GraphBuilder& b, const OnnxExportOptions& o) : b_(b), o_(o) {}

  std::string motion(const std::string& x, MotionMode mode);
  std::string stream(const StreamSpec& spec, const StreamWeights& w, const std::string& p,
                     const std::string& x);
  // The first problem met while lowering (int8: an activation without a threshold), or "".
  const std::string& error() const { return error_; }

 private:
  std::string data_bn(const StreamSpec& spec, const StreamWeights& w, const std::string& p,
                      const std::string& x);
  std::string block(const StreamSpec& spec, const BlockSpec& bs, const BlockWeights& w,
                    const Tensor& A, const std::string& bp, const std::string& x, int T);
  std::string head(const StreamSpec& spec, const StreamWeights& w, const std::string& p,
                   const std::string& x);
  // export_multiscale.cpp: ST-GCN++'s gcn residual (added before the gcn ReLU) and the mstcn
  // temporal unit (instead of the kt x 1 conv), on (N*M, C, T, V).
  std::string gcn_residual(const BlockSpec& bs, const BlockWeights& w, const std::string& bp,
                           const std::string& x, const std::string& z);
  std::string multi_scale(const StreamSpec& spec, const BlockSpec& bs, const BlockWeights& w,
                          const std::string& bp, const std::string& z);
  // export_quant.cpp: the int8 block (the engine's fused order, explicit Q/DQ). `ir` is the
  // block's IR name prefix ("s0.b3."), `x_value` the IR value name of its input.
  std::string block_int8(const StreamSpec& spec, const BlockSpec& bs, const BlockWeights& w,
                         const Tensor& A, const std::string& bp, const std::string& ir,
                         const std::string& x, const std::string& x_value, int T);
  std::string multi_scale_int8(const StreamSpec& spec, const BlockSpec& bs, const BlockWeights& w,
                               const std::string& bp, const std::string& ir, const std::string& z);
  // QuantizeLinear + DequantizeLinear of activation `x` with the threshold of IR value `value`
  // (one pair per tensor, shared by its readers).
  std::string qdq(const std::string& x, const std::string& value);
  // Weights as an int8 initializer with per-slice scales along `axis` behind a DequantizeLinear.
  std::string weight_dq(const std::string& name, const std::vector<float>& w,
                        const std::vector<int64_t>& dims, int axis);
  // A conv of layer `layer` (IR node name): quantised (Q/DQ input, int8 weights) unless kept FP32.
  std::string conv_q(const std::string& layer, const std::string& x, const std::string& x_value,
                     const std::string& name, const std::vector<float>& weight,
                     std::vector<int64_t> wdims, const std::vector<float>* bias,
                     const std::vector<Attr>& attrs);
  bool quantised(const std::string& layer) const {
    return o_.precision == OnnxPrecision::kInt8 && o_.int8_fp32_layers.count(layer) == 0;
  }
  std::string batch_norm(const std::string& x, const BatchNorm& bn, const std::string& name);
  std::string conv(const std::string& x, const std::string& name, const std::vector<float>& weight,
                   std::vector<int64_t> wdims, const std::vector<float>* bias,
                   const std::vector<Attr>& attrs);
  std::string reduce_mean(const std::string& x, const std::vector<int64_t>& axes,
                          const std::string& out);
  std::string reshape(const std::string& x, const std::vector<int64_t>& shape,
                      const std::string& out) {
    return b_.node("Reshape", {x, b_.ints(shape)}, out);
  }
  std::string slice_t(const std::string& x, int64_t begin, int64_t end, const std::string& out) {
    return b_.node("Slice", {x, b_.ints({begin}), b_.ints({end}), b_.ints({2})}, out);
  }

  GraphBuilder& b_;
  const OnnxExportOptions& o_;
  std::map<std::pair<std::string, std::string>, std::string> qdq_memo_;
  std::string error_;
  bool fold() const { return o_.fold_bn; }
};

}  // namespace stgcn::onnx_export
