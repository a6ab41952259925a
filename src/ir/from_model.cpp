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
};

ValueId lower_stream(Graph& g, const StreamSpec& spec, const StreamWeights& w, ValueId raw,
                     int branch, int T, int M) {
  Builder b{g, branch, fmt::format("s{}.", branch)};
  const int64_t C = spec.C, V = spec.V, K = spec.K;
  DataBnAttrs dbn;
  {
    std::vector<float> scale, shift;
    bn_affine(w.data_bn, scale, shift);
    dbn.scale = b.constant("data_bn.scale", {V * C}, std::move(scale));
    dbn.shift = b.constant("data_bn.shift", {V * C}, std::move(shift));
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
    aa.adjacency = b.constant(fmt::format("{}A", p), {K, V, V}, to_vec(w.A));
    if (!bw.importance.data.empty())
      aa.importance = b.constant(fmt::format("{}importance", p), {K, V, V}, to_vec(bw.importance));
    ValueId z = b.node(Op::kAggregate, fmt::format("{}agg", p), {y}, {M, V, t, cout}, aa);
    z = b.batch_norm(fmt::format("{}gcn_bn", p), z, bw.gcn_bn);
    z = b.node(Op::kRelu, fmt::format("{}gcn_relu", p), {z}, {M, V, t, cout}, ReluAttrs{});
    TemporalConvAttrs ta;
    ta.kernel = spec.temporal_kernel;
    ta.stride = bs.stride;
    ta.pad = spec.pad_left();
    ta.weight =
        b.constant(fmt::format("{}tcn.weight", p), {cout, cout, ta.kernel}, to_vec(bw.tcn_weight));
    ta.bias = b.constant(fmt::format("{}tcn.bias", p), {cout}, to_vec(bw.tcn_bias));
    ValueId u = b.node(Op::kTemporalConv, fmt::format("{}tcn", p), {z}, {M, V, t_out, cout}, ta);
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
