#include "ir/from_model.h"

#include <fmt/format.h>

#include <cmath>

namespace stgcn::ir {
namespace {

std::vector<float> to_vec(const Tensor& t) { return {t.data.begin(), t.data.end()}; }

// BatchNorm as y = x * scale + shift.
void bn_affine(const BatchNorm& bn, std::vector<float>& scale, std::vector<float>& shift) {
  scale.resize(bn.weight.size());
  shift.resize(bn.weight.size());
  for (size_t i = 0; i < bn.weight.size(); ++i) {
    double s = bn.weight[i] / std::sqrt(static_cast<double>(bn.var[i]) + BatchNorm::kEps);
    scale[i] = static_cast<float>(s);
    shift[i] = static_cast<float>(bn.bias[i] - bn.mean[i] * s);
  }
}

struct Builder {
  Graph& g;
  int branch;
  std::string prefix;

  ValueId node(Op op, const std::string& name, std::vector<ValueId> inputs,
               std::vector<int64_t> shape, Attrs attrs) {
    ValueId out = g.add_value(fmt::format("{}{}", prefix, name), std::move(shape));
    Node n;
    n.op = op;
    n.name = fmt::format("{}{}", prefix, name);
    n.inputs = std::move(inputs);
    n.output = out;
    n.branch = branch;
    n.attrs = std::move(attrs);
    g.nodes.push_back(std::move(n));
    return out;
  }
  ConstId constant(const std::string& name, std::vector<int64_t> shape, std::vector<float> data) {
    return g.add_constant(fmt::format("{}{}", prefix, name), std::move(shape), std::move(data));
  }
  ValueId batch_norm(const std::string& name, ValueId x, const BatchNorm& bn) {
    std::vector<float> scale, shift;
    bn_affine(bn, scale, shift);
    const int64_t C = static_cast<int64_t>(scale.size());
    BatchNormAttrs a;
    a.scale = constant(fmt::format("{}.scale", name), {C}, std::move(scale));
    a.shift = constant(fmt::format("{}.shift", name), {C}, std::move(shift));
    return node(Op::kBatchNorm, name, {x}, g.values[x].shape, a);
  }
  // A kernel x 1 temporal conv; weight (Cout, Cin, kernel) or, for kernel 1, (Cout, Cin).
  ValueId tconv(const std::string& name, ValueId x, const Tensor& weight, const Tensor& bias,
                int kernel, int stride, int pad, int dilation) {
    const auto& in = g.values[x].shape;
    const int64_t cout = weight.shape[0];
    TemporalConvAttrs ta;
    ta.kernel = kernel;
    ta.stride = stride;
    ta.pad = pad;
    ta.dilation = dilation;
    ta.weight = constant(fmt::format("{}.weight", name), {cout, in[3], kernel}, to_vec(weight));
    ta.bias = constant(fmt::format("{}.bias", name), {cout}, to_vec(bias));
    return node(Op::kTemporalConv, name, {x}, {in[0], in[1], temporal_out(static_cast<int>(in[2]), stride), cout}, ta);
  }
  // mstcn (model.h): the six branches, concat, transform; tcn_bn is the caller's.
  ValueId multi_scale(const std::string& p, const BlockSpec& bs, const BlockWeights& bw,
                      ValueId z, int64_t t_out, bool causal) {
    std::vector<ValueId> outs;
    for (int i = 0; i < kMultiScaleBranches; ++i) {
      const MultiScaleBranch& br = bw.branches[i];
      const std::string q = fmt::format("{}tcn.b{}", p, i);
      if (i == kMultiScalePointBranch) {
        outs.push_back(tconv(q, z, br.weight, br.bias, 1, bs.stride, 0, 1));
        continue;
      }
      ValueId y = tconv(q + ".pre", z, br.pre_weight, br.pre_bias, 1, 1, 0, 1);
      y = batch_norm(q + ".pre_bn", y, br.pre_bn);
      y = node(Op::kRelu, q + ".pre_relu", {y}, g.values[y].shape, ReluAttrs{});
      if (i < kMultiScaleDilatedBranches) {
        const int d = i + 1;
        y = tconv(q, y, br.weight, br.bias, 3, bs.stride, causal ? 2 * d : d, d);
      } else {
        MaxPoolAttrs ma;
        ma.kernel = 3;
        ma.stride = bs.stride;
        ma.pad = causal ? 2 : 1;
        auto shape = g.values[y].shape;
        shape[2] = t_out;
        y = node(Op::kMaxPool, q, {y}, shape, ma);
      }
      outs.push_back(y);
    }
    auto shape = g.values[outs[0]].shape;
    shape[3] = 0;
    for (ValueId o : outs) shape[3] += g.values[o].shape[3];
    ValueId cat = node(Op::kConcat, p + "tcn.concat", outs, shape, ConcatAttrs{});
    cat = batch_norm(p + "tcn.transform_bn", cat, bw.transform_bn);
    cat = node(Op::kRelu, p + "tcn.transform_relu", {cat}, shape, ReluAttrs{});
    return tconv(p + "tcn", cat, bw.transform_weight, bw.transform_bias, 1, 1, 0, 1);
  }
};

ValueId lower_stream(Graph& g, const StreamSpec& spec, const StreamWeights& w, ValueId raw,
                     int branch, int T, int M) {
  Builder b{g, branch, fmt::format("s{}.", branch)};
  const bool causal = spec.temporal_padding == TemporalPadding::kCausal;
  const int64_t C = spec.C, V = spec.V, K = spec.K;
  DataBnAttrs dbn;
  {
    std::vector<float> scale, shift;
    bn_affine(w.data_bn, scale, shift);
    const int64_t n = static_cast<int64_t>(scale.size());  // V*C, or M*V*C (MVC)
    dbn.scale = b.constant("data_bn.scale", {n}, std::move(scale));
    dbn.shift = b.constant("data_bn.shift", {n}, std::move(shift));
  }
  ValueId x = b.node(Op::kDataBn, "data_bn", {raw}, {M, V, T, C}, dbn);
  int64_t t = T;
  for (size_t i = 0; i < spec.blocks.size(); ++i) {
    const BlockSpec& bs = spec.blocks[i];
    const BlockWeights& bw = w.blocks[i];
    const std::string p = fmt::format("b{}.", i);
    const int64_t cin = bs.in_channels, cout = bs.out_channels;
    const int64_t t_out = temporal_out(static_cast<int>(t), bs.stride);
    ValueId res = -1;
    if (bs.residual == ResidualKind::kConv) {
      ResidualConvAttrs ra;
      ra.stride = bs.stride;
      ra.weight =
          b.constant(fmt::format("{}res.weight", p), {cout, cin}, to_vec(bw.residual_weight));
      ra.bias = b.constant(fmt::format("{}res.bias", p), {cout}, to_vec(bw.residual_bias));
      res = b.node(Op::kResidualConv, fmt::format("{}res", p), {x}, {M, V, t_out, cout}, ra);
      res = b.batch_norm(fmt::format("{}res_bn", p), res, bw.residual_bn);
    } else if (bs.residual == ResidualKind::kIdentity) {
      res = x;
    }
    GcnConvAttrs ga;
    ga.K = static_cast<int>(K);
    ga.weight = b.constant(fmt::format("{}gcn.weight", p), {K, cout, cin}, to_vec(bw.gcn_weight));
    ga.bias = b.constant(fmt::format("{}gcn.bias", p), {K, cout}, to_vec(bw.gcn_bias));
    ValueId y = b.node(Op::kGcnConv, fmt::format("{}gcn", p), {x}, {M, K, V, t, cout}, ga);
    AggregateAttrs aa;
    const Tensor& A = bw.A.data.empty() ? w.A : bw.A;
    aa.adjacency = b.constant(fmt::format("{}A", p), {K, V, V}, to_vec(A));
    if (!bw.importance.data.empty())
      aa.importance = b.constant(fmt::format("{}importance", p), {K, V, V}, to_vec(bw.importance));
    ValueId z = b.node(Op::kAggregate, fmt::format("{}agg", p), {y}, {M, V, t, cout}, aa);
    z = b.batch_norm(fmt::format("{}gcn_bn", p), z, bw.gcn_bn);
    if (bs.gcn_residual != ResidualKind::kNone) {
      ValueId down = x;
      if (bs.gcn_residual == ResidualKind::kConv) {
        ResidualConvAttrs da;
        da.weight = b.constant(fmt::format("{}gcn_down.weight", p), {cout, cin},
                               to_vec(bw.gcn_down_weight));
        da.bias = b.constant(fmt::format("{}gcn_down.bias", p), {cout}, to_vec(bw.gcn_down_bias));
        down = b.node(Op::kResidualConv, fmt::format("{}gcn_down", p), {x}, {M, V, t, cout}, da);
        down = b.batch_norm(fmt::format("{}gcn_down_bn", p), down, bw.gcn_down_bn);
      }
      z = b.node(Op::kAdd, fmt::format("{}gcn_add", p), {z, down}, {M, V, t, cout}, AddAttrs{});
    }
    z = b.node(Op::kRelu, fmt::format("{}gcn_relu", p), {z}, {M, V, t, cout}, ReluAttrs{});
    ValueId u = -1;
    if (bs.temporal == TemporalUnit::kConv) {
      TemporalConvAttrs ta;
      ta.kernel = spec.temporal_kernel;
      ta.stride = bs.stride;
      ta.pad = spec.pad_left();
      ta.weight = b.constant(fmt::format("{}tcn.weight", p), {cout, cout, ta.kernel},
                             to_vec(bw.tcn_weight));
      ta.bias = b.constant(fmt::format("{}tcn.bias", p), {cout}, to_vec(bw.tcn_bias));
      u = b.node(Op::kTemporalConv, fmt::format("{}tcn", p), {z}, {M, V, t_out, cout}, ta);
    } else {
      u = b.multi_scale(p, bs, bw, z, t_out, causal);
    }
    u = b.batch_norm(fmt::format("{}tcn_bn", p), u, bw.tcn_bn);
    if (res >= 0)
      u = b.node(Op::kAdd, fmt::format("{}add", p), {u, res}, {M, V, t_out, cout}, AddAttrs{});
    x = b.node(Op::kRelu, fmt::format("{}relu", p), {u}, {M, V, t_out, cout}, ReluAttrs{});
    t = t_out;
  }
  const int64_t c_last = spec.blocks.back().out_channels, classes = spec.num_class;
  ValueId pooled = b.node(Op::kGlobalPool, "pool", {x}, {M, c_last}, GlobalPoolAttrs{});
  ValueId person = b.node(Op::kPersonMean, "person_mean", {pooled}, {c_last}, PersonMeanAttrs{});
  FcnAttrs fa;
  fa.weight = b.constant("fcn.weight", {classes, c_last}, to_vec(w.fcn_weight));
  fa.bias = b.constant("fcn.bias", {classes}, to_vec(w.fcn_bias));
  return b.node(Op::kFcn, "fcn", {person}, {classes}, fa);
}

}  // namespace

Result<Graph> graph_from_model(const Model& model, int T, int M) {
  const ModelSpec& spec = model.spec;
  if (T < 1 || M < 1)
    return Status(ErrorCode::kInvalidArgument, fmt::format("T={} and M={} must be >= 1", T, M));
  if (spec.fixed_persons() > 0 && M != spec.fixed_persons())
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("M={}: the model normalises per person (data_bn 'MVC') and needs "
                              "M={}",
                              M, spec.fixed_persons()));
  if (spec.streams.empty() || spec.streams.size() != model.streams.size() ||
      spec.streams.size() > 2)
    return Status(ErrorCode::kInvalidArgument, "the model has no (or more than two) streams");
  Graph g;
  g.input = g.add_value("input", {spec.C(), T, spec.V(), M});
  {
    Node in;
    in.op = Op::kInput;
    in.name = "input";
    in.output = g.input;
    in.attrs = InputAttrs{};
    g.nodes.push_back(std::move(in));
  }
  std::vector<ValueId> logits;
  for (size_t s = 0; s < spec.streams.size(); ++s) {
    ValueId raw = g.input;
    if (s == 1) {
      Builder b{g, 1, "s1."};
      raw = b.node(Op::kMotion, "motion", {g.input}, g.values[g.input].shape,
                   MotionAttrs{spec.motion});
    }
    logits.push_back(
        lower_stream(g, spec.streams[s], model.streams[s], raw, static_cast<int>(s), T, M));
  }
  if (logits.size() == 2) {
    Builder b{g, -1, ""};
    g.output =
        b.node(Op::kAdd, "logits", {logits[0], logits[1]}, g.values[logits[0]].shape, AddAttrs{});
  } else {
    g.output = logits[0];
  }
  STGCN_RETURN_IF_ERROR(verify(g));
  return g;
}

}  // namespace stgcn::ir
