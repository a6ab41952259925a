// INT8 post-training quantisation of the fused graph: per-output-channel
// symmetric weight scales, per-tensor activation steps from a calibration
// table, and convert nodes where an FP32 layer meets an INT8 one.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "passes/passes.h"

namespace stgcn::passes {
using namespace stgcn::ir;
using DType = ir::DType;

namespace {

bool has_relu(const Node& n) {
  return (n.op == Op::kAggregate && n.as<AggregateAttrs>().relu) ||
         (n.op == Op::kTemporalConv && n.as<TemporalConvAttrs>().relu) ||
         (n.op == Op::kMaxPool && n.as<MaxPoolAttrs>().relu);
}

// Per output channel max |w| / 127; weights (K, Cout, Cin) or (Cout, Cin[, k]).
std::vector<float> weight_scales(const Constant& w, bool partitioned) {
  const int64_t K = partitioned ? w.shape[0] : 1;
  const int64_t cout = partitioned ? w.shape[1] : w.shape[0];
  const int64_t per = w.numel() / (K * cout);
  std::vector<float> s(static_cast<size_t>(cout), 0.f);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < cout; ++c)
      for (int64_t i = 0; i < per; ++i)
        s[c] = std::max(s[c], std::fabs(w.data[(k * cout + c) * per + i]));
  for (float& v : s) v = v > 0.f ? v / 127.f : 1.f;  // an all-zero channel: any scale
  return s;
}

}  // namespace

Status check_fused(const Graph& g, const std::string& precision) {
  for (const Node& n : g.nodes) {
    bool ok = false;
    switch (n.op) {
      case Op::kInput:
      case Op::kMotion:
      case Op::kDataBn:
      case Op::kGcnConv:
      case Op::kTemporalConv:
      case Op::kResidualConv:
      case Op::kConvert:
      case Op::kMaxPool:
      case Op::kConcat:
      case Op::kHead: ok = true; break;
      case Op::kAggregate: ok = n.as<AggregateAttrs>().gemm_matrix != kNoConst; break;
      case Op::kAdd:
        ok = n.branch < 0;  // the join of the streams' logits
        break;
      case Op::kBatchNorm:
      case Op::kRelu:
      case Op::kGlobalPool:
      case Op::kPersonMean:
      case Op::kFcn: break;
    }
    if (!ok)
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("{} needs the fused graph, but node '{}' ({}) is left: keep "
                                "fold_batch_norm, fuse_relu, fuse_residual_add, "
                                "lower_aggregation and fuse_head enabled",
                                precision, n.name, op_name(n.op)));
  }
  return Status::ok();
}

std::vector<std::string> quantizable_layers(const Graph& g, const Capabilities& backend) {
  std::vector<std::string> out;
  for (const Node& n : g.nodes)
    if (backend.computes_in_low_precision(g, n)) out.push_back(n.name);
  return out;
}

Status quantize_int8(Graph& g, const std::map<std::string, TensorRange>& ranges,
                     const std::set<std::string>& keep_fp32, const Capabilities& backend) {
  auto low = [&](const Node& n) { return backend.computes_in_low_precision(g, n); };
  STGCN_RETURN_IF_ERROR(check_fused(g, "int8"));
  for (const std::string& k : keep_fp32) {
    bool found = false;
    for (const Node& n : g.nodes) found |= n.name == k && low(n);
    if (!found)
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("no quantisable layer named '{}' (see `stgcn inspect --graph`)", k));
  }
  auto range_of = [&](const std::string& value) -> Result<TensorRange> {
    auto it = ranges.find(value);
    if (it == ranges.end())
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("the calibration table has no entry for '{}' (was it made for "
                                "another model or T?)",
                                value));
    if (!(it->second.amax > 0.f) || !std::isfinite(it->second.amax))
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("calibration table: '{}' has threshold {} (must be > 0)", value,
                                it->second.amax));
    return it->second;
  };
  const size_t n_nodes = g.nodes.size();
  std::vector<bool> q(n_nodes, false);
  for (size_t i = 0; i < n_nodes; ++i)
    q[i] = low(g.nodes[i]) && !keep_fp32.count(g.nodes[i].name);
  // Output types.
  for (size_t i = 0; i < n_nodes; ++i) {
    Node& n = g.nodes[i];
    Value& out = g.values[n.output];
    if (n.op == Op::kDataBn) {
      // s8 when every reader is an int8 layer.
      bool all = true, any = false;
      for (size_t j = 0; j < n_nodes; ++j)
        for (ValueId v : g.nodes[j].inputs)
          if (v == n.output) {
            any = true;
            all &= q[j];
          }
      if (!(any && all)) continue;
      STGCN_ASSIGN_OR_RETURN(TensorRange r, range_of(out.name));
      out.dtype = DType::kS8;
      out.scale = r.amax / 127.f;
      continue;
    }
    if (!q[i]) continue;
    STGCN_ASSIGN_OR_RETURN(TensorRange r, range_of(out.name));
    // A concat is u8 when what it joins is (calibration saw nothing negative).
    const bool u8 = has_relu(n) || (n.op == Op::kConcat && r.min >= 0.f);
    out.dtype = u8 ? DType::kU8 : DType::kS8;
    out.scale = r.amax / (u8 ? 255.f : 127.f);
    // Weight scales.
    ConstId* wscale = nullptr;
    ConstId weight = kNoConst;
    bool partitioned = false;
    switch (n.op) {
      case Op::kGcnConv:
        wscale = &n.as<GcnConvAttrs>().wscale;
        weight = n.as<GcnConvAttrs>().weight;
        partitioned = true;
        break;
      case Op::kTemporalConv:
        wscale = &n.as<TemporalConvAttrs>().wscale;
        weight = n.as<TemporalConvAttrs>().weight;
        break;
      case Op::kResidualConv:
        wscale = &n.as<ResidualConvAttrs>().wscale;
        weight = n.as<ResidualConvAttrs>().weight;
        break;
      default: break;
    }
    if (wscale != nullptr) {
      const Constant& w = g.constants[weight];
      if (w.is_packed() || static_cast<int64_t>(w.data.size()) != w.numel())
        return Status(ErrorCode::kInternal,
                      fmt::format("int8: weights of '{}' are already packed", n.name));
      std::vector<float> s = weight_scales(w, partitioned);
      const int64_t cout = static_cast<int64_t>(s.size());
      *wscale = g.add_constant(n.name + ".wscale", {cout}, std::move(s));
    }
  }
  // A concat's int8 producers write at the concat's own step (its range covers theirs), so the
  // concat copies rows instead of requantising each element (TensorRT does the same).
  for (size_t i = 0; i < n_nodes; ++i) {
    const Node& n = g.nodes[i];
    if (n.op != Op::kConcat || !q[i]) continue;
    const Value& out = g.values[n.output];
    for (ValueId v : n.inputs) {
      const int p = g.producer(v);
      if (p < 0 || !q[static_cast<size_t>(p)] || g.use_count(v) != 1 ||
          g.values[v].dtype != out.dtype)
        continue;
      g.values[v].scale = out.scale;
    }
  }
  // Convert nodes where a reader needs another type than the value has.
  std::vector<Node> nodes;
  std::map<std::pair<ValueId, int>, ValueId> converted;  // (value, dtype) -> converted value
  for (size_t i = 0; i < n_nodes; ++i) {
    Node n = g.nodes[i];
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      const ValueId v = n.inputs[j];
      const DType have = g.values[v].dtype;
      DType want = have;
      if (low(g.nodes[i])) {
        if (q[i] && !is_int8(have)) {
          STGCN_ASSIGN_OR_RETURN(TensorRange r, range_of(g.values[v].name));
          want = r.min >= 0.f ? DType::kU8 : DType::kS8;
        } else if (!q[i] && is_int8(have)) {
          want = DType::kF32;
        }
      } else if (n.op != Op::kHead && n.op != Op::kConvert && is_int8(have)) {
        want = DType::kF32;
      }
      if (want == have) continue;
      auto key = std::make_pair(v, static_cast<int>(want));
      auto it = converted.find(key);
      if (it == converted.end()) {
        const std::string name = fmt::format("{}.{}", g.values[v].name, dtype_name(want));
        const ValueId nv = g.add_value(name, g.values[v].shape);
        g.values[nv].dtype = want;
        if (is_int8(want)) {
          STGCN_ASSIGN_OR_RETURN(TensorRange r, range_of(g.values[v].name));
          g.values[nv].scale = r.amax / (want == DType::kU8 ? 255.f : 127.f);
        }
        Node c;
        c.op = Op::kConvert;
        c.name = name;
        c.inputs = {v};
        c.output = nv;
        c.branch = n.branch;
        c.attrs = ConvertAttrs{};
        nodes.push_back(std::move(c));
        it = converted.emplace(key, nv).first;
      }
      n.inputs[j] = it->second;
    }
    nodes.push_back(std::move(n));
  }
  g.nodes = std::move(nodes);
  return verify(g, &backend);
}

}  // namespace stgcn::passes
