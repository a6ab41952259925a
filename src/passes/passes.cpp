#include "passes/passes.h"

#include <fmt/format.h>

#include <algorithm>

namespace stgcn::passes {
using namespace stgcn::ir;

namespace {

// Every reader of `from` reads `to` instead (and the graph output follows).
void replace_uses(Graph& g, ValueId from, ValueId to) {
  for (Node& n : g.nodes)
    for (ValueId& v : n.inputs)
      if (v == from) v = to;
  if (g.output == from) g.output = to;
}

void remove_nodes(Graph& g, std::vector<bool>& dead) {
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!dead[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
}

// The producer of node input `i` when it is `op` and read only there.
Node* sole_producer(Graph& g, const Node& n, size_t i, Op op) {
  ValueId v = n.inputs[i];
  int p = g.producer(v);
  if (p < 0 || g.nodes[p].op != op || g.use_count(v) != 1) return nullptr;
  return &g.nodes[p];
}

std::vector<float>& data(Graph& g, ConstId c) { return g.constants[c].data; }

// Folds y = x * scale + shift into a conv whose output channels are the
// leading weight dimension: w[co, ...] *= scale[co], b = b * scale + shift.
void fold_into_conv(Graph& g, ConstId& weight, ConstId& bias, const std::string& name,
                    const std::vector<float>& scale, const std::vector<float>& shift) {
  std::vector<float>& w = data(g, weight);
  const size_t cout = scale.size(), per = w.size() / cout;
  for (size_t co = 0; co < cout; ++co)
    for (size_t j = 0; j < per; ++j) w[co * per + j] *= scale[co];
  if (bias == kNoConst)
    bias = g.add_constant(fmt::format("{}.bias", name), {static_cast<int64_t>(cout)},
                          std::vector<float>(cout, 0.f));
  std::vector<float>& b = data(g, bias);
  for (size_t co = 0; co < cout; ++co) b[co] = b[co] * scale[co] + shift[co];
}

// y = max(...) * scale + shift after a max-pool (composing with an affine it has).
bool fold_into_max_pool(Graph& g, Node& mp, const std::vector<float>& scale,
                        const std::vector<float>& shift) {
  auto& a = mp.as<MaxPoolAttrs>();
  if (a.relu) return false;
  const int64_t C = static_cast<int64_t>(scale.size());
  if (a.scale == kNoConst) {
    a.scale = g.add_constant(fmt::format("{}.scale", mp.name), {C}, scale);
    a.shift = g.add_constant(fmt::format("{}.shift", mp.name), {C}, shift);
    return true;
  }
  std::vector<float>& s = data(g, a.scale);
  std::vector<float>& t = data(g, a.shift);
  for (int64_t c = 0; c < C; ++c) {
    s[c] *= scale[c];
    t[c] = t[c] * scale[c] + shift[c];
  }
  return true;
}

// The node's relu flag, when it has one (nullptr otherwise).
bool* relu_flag(Node& n) {
  switch (n.op) {
    case Op::kAggregate: return &n.as<AggregateAttrs>().relu;
    case Op::kTemporalConv: return &n.as<TemporalConvAttrs>().relu;
    case Op::kAdd: return &n.as<AddAttrs>().relu;
    case Op::kMaxPool: return &n.as<MaxPoolAttrs>().relu;
    default: return nullptr;
  }
}

}  // namespace

bool fold_edge_importance(Graph& g) {
  bool changed = false;
  for (Node& n : g.nodes) {
    if (n.op != Op::kAggregate) continue;
    auto& a = n.as<AggregateAttrs>();
    if (a.importance == kNoConst || a.adjacency == kNoConst) continue;
    std::vector<float> folded = data(g, a.adjacency);
    const std::vector<float>& imp = data(g, a.importance);
    for (size_t i = 0; i < folded.size(); ++i) folded[i] *= imp[i];
    a.adjacency = g.add_constant(fmt::format("{}.A_importance", n.name),
                                 g.constants[a.adjacency].shape, std::move(folded));
    a.importance = kNoConst;
    changed = true;
  }
  return changed;
}

bool fold_batch_norm(Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& bn = g.nodes[i];
    if (bn.op != Op::kBatchNorm) continue;
    const auto& ba = bn.as<BatchNormAttrs>();
    const std::vector<float> scale = data(g, ba.scale), shift = data(g, ba.shift);
    ValueId in = bn.inputs[0], out = bn.output;
    if (Node* p = sole_producer(g, bn, 0, Op::kTemporalConv)) {
      auto& ta = p->as<TemporalConvAttrs>();
      if (ta.relu || ta.add_residual) continue;
      fold_into_conv(g, ta.weight, ta.bias, p->name, scale, shift);
    } else if (Node* mp = sole_producer(g, bn, 0, Op::kMaxPool)) {
      if (!fold_into_max_pool(g, *mp, scale, shift)) continue;
    } else if (Node* cat = sole_producer(g, bn, 0, Op::kConcat)) {
      // BN(concat(x_i)) = concat(BN_i(x_i)): each slice folds into its producer (all or none).
      std::vector<Node*> prods;
      for (size_t k = 0; k < cat->inputs.size(); ++k) {
        Node* p = sole_producer(g, *cat, k, Op::kTemporalConv);
        if (p == nullptr) p = sole_producer(g, *cat, k, Op::kMaxPool);
        const bool ok =
            p != nullptr &&
            (p->op == Op::kTemporalConv
                 ? !p->as<TemporalConvAttrs>().relu && !p->as<TemporalConvAttrs>().add_residual
                 : !p->as<MaxPoolAttrs>().relu);
        if (!ok) break;
        prods.push_back(p);
      }
      if (prods.size() != cat->inputs.size()) continue;
      size_t at = 0;
      for (Node* p : prods) {
        const size_t c = static_cast<size_t>(g.values[p->output].shape.back());
        const std::vector<float> sc(scale.begin() + at, scale.begin() + at + c),
            sh(shift.begin() + at, shift.begin() + at + c);
        if (p->op == Op::kTemporalConv) {
          auto& ta = p->as<TemporalConvAttrs>();
          fold_into_conv(g, ta.weight, ta.bias, p->name, sc, sh);
        } else {
          fold_into_max_pool(g, *p, sc, sh);
        }
        at += c;
      }
    } else if (Node* p2 = sole_producer(g, bn, 0, Op::kResidualConv)) {
      auto& ra = p2->as<ResidualConvAttrs>();
      fold_into_conv(g, ra.weight, ra.bias, p2->name, scale, shift);
    } else if (Node* agg = sole_producer(g, bn, 0, Op::kAggregate)) {
      // BN(agg(y) + b) = agg(scale * y) + (scale * b + shift): the scale goes
      // into the gcn conv (weights and bias, for every partition k), the
      // shift into the aggregation's bias.
      auto& aa = agg->as<AggregateAttrs>();
      if (aa.relu || aa.add_residual) continue;
      Node* gcn = sole_producer(g, *agg, 0, Op::kGcnConv);
      if (gcn == nullptr) continue;
      auto& ga = gcn->as<GcnConvAttrs>();
      const size_t cout = scale.size(), K = static_cast<size_t>(ga.K);
      std::vector<float>& w = data(g, ga.weight);
      const size_t cin = w.size() / (K * cout);
      for (size_t k = 0; k < K; ++k)
        for (size_t co = 0; co < cout; ++co)
          for (size_t j = 0; j < cin; ++j) w[(k * cout + co) * cin + j] *= scale[co];
      if (ga.bias != kNoConst) {
        std::vector<float>& b = data(g, ga.bias);
        for (size_t k = 0; k < K; ++k)
          for (size_t co = 0; co < cout; ++co) b[k * cout + co] *= scale[co];
      }
      if (aa.bias == kNoConst) {
        aa.bias =
            g.add_constant(fmt::format("{}.bias", agg->name), {static_cast<int64_t>(cout)}, shift);
      } else {
        std::vector<float>& b = data(g, aa.bias);
        for (size_t co = 0; co < cout; ++co) b[co] = b[co] * scale[co] + shift[co];
      }
    } else {
      continue;
    }
    replace_uses(g, out, in);
    dead[i] = true;
    changed = true;
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

bool fuse_gcn_residual(Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& add = g.nodes[i];
    if (add.op != Op::kAdd || add.branch < 0 || add.as<AddAttrs>().relu) continue;
    Node* agg = sole_producer(g, add, 0, Op::kAggregate);
    if (agg == nullptr) continue;
    auto& aa = agg->as<AggregateAttrs>();
    if (aa.relu || aa.adjacency == kNoConst || aa.add_residual) continue;
    Node* gcn = sole_producer(g, *agg, 0, Op::kGcnConv);
    if (gcn == nullptr) continue;
    const ValueId x = gcn->inputs[0], r = add.inputs[1];
    auto& ga = gcn->as<GcnConvAttrs>();
    const auto& ws = g.constants[ga.weight].shape;  // K Cout Cin
    const int64_t K = ws[0], cout = ws[1], cin = ws[2];
    std::vector<float> w_down, b_down(static_cast<size_t>(cout), 0.f);
    if (r == x) {  // identity: the aggregation GEMM accumulates onto x (a sum post-op)
      if (cin != cout || aa.add_residual) continue;
      aa.add_residual = true;
      agg->inputs.push_back(x);
      replace_uses(g, add.output, agg->output);
      dead[i] = true;
      changed = true;
      continue;
    } else {
      Node* down = sole_producer(g, add, 1, Op::kResidualConv);
      if (down == nullptr || down->inputs[0] != x || down->as<ResidualConvAttrs>().stride != 1)
        continue;
      const auto& da = down->as<ResidualConvAttrs>();
      w_down = data(g, da.weight);
      if (da.bias != kNoConst) b_down = data(g, da.bias);
    }
    // Partition K computes down(x) and aggregates it through the identity.
    std::vector<float> w = data(g, ga.weight);
    w.insert(w.end(), w_down.begin(), w_down.end());
    std::vector<float> b = ga.bias != kNoConst ? data(g, ga.bias)
                                               : std::vector<float>(static_cast<size_t>(K * cout), 0.f);
    b.insert(b.end(), b_down.begin(), b_down.end());
    const int64_t V = g.constants[aa.adjacency].shape[1];
    auto extend = [&](ConstId c, float off_diagonal, float diagonal, const char* what) {
      std::vector<float> m = data(g, c);
      for (int64_t v = 0; v < V; ++v)
        for (int64_t u = 0; u < V; ++u) m.push_back(v == u ? diagonal : off_diagonal);
      return g.add_constant(fmt::format("{}.{}_with_residual", agg->name, what), {K + 1, V, V},
                            std::move(m));
    };
    aa.adjacency = extend(aa.adjacency, 0.f, 1.f, "A");
    if (aa.importance != kNoConst) aa.importance = extend(aa.importance, 1.f, 1.f, "importance");
    ga.weight = g.add_constant(fmt::format("{}.weight_with_residual", gcn->name),
                               {K + 1, cout, cin}, std::move(w));
    ga.bias = g.add_constant(fmt::format("{}.bias_with_residual", gcn->name), {K + 1, cout},
                             std::move(b));
    ga.K = static_cast<int>(K + 1);
    g.values[gcn->output].shape[1] = K + 1;
    replace_uses(g, add.output, agg->output);
    dead[i] = true;
    changed = true;
  }
  if (changed) {
    remove_nodes(g, dead);
    eliminate_dead_code(g);  // the down conv nobody reads now
  }
  return changed;
}

bool fuse_relu(Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& r = g.nodes[i];
    if (r.op != Op::kRelu) continue;
    int p = g.producer(r.inputs[0]);
    if (p < 0 || g.use_count(r.inputs[0]) != 1) continue;
    Node& prod = g.nodes[p];
    if (prod.op == Op::kConcat) {
      // relu(concat(x_i)) = concat(relu(x_i)): into every producer, or not at all.
      std::vector<bool*> flags;
      for (size_t k = 0; k < prod.inputs.size(); ++k) {
        const int q = g.producer(prod.inputs[k]);
        bool* f = q < 0 || g.use_count(prod.inputs[k]) != 1 ? nullptr : relu_flag(g.nodes[q]);
        if (f == nullptr) break;
        flags.push_back(f);
      }
      if (flags.size() != prod.inputs.size()) continue;
      for (bool* f : flags) *f = true;
    } else {
      bool* flag = relu_flag(prod);
      if (flag == nullptr || *flag) continue;
      *flag = true;
    }
    replace_uses(g, r.output, r.inputs[0]);
    dead[i] = true;
    changed = true;
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

bool fuse_residual_add(Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& add = g.nodes[i];
    if (add.op != Op::kAdd) continue;
    for (size_t side = 0; side < 2; ++side) {
      Node* conv = sole_producer(g, add, side, Op::kTemporalConv);
      if (conv == nullptr) continue;
      auto& ta = conv->as<TemporalConvAttrs>();
      if (ta.relu || ta.add_residual) continue;
      ValueId residual = add.inputs[1 - side];
      // The residual must exist before the conv runs (topological order).
      const int rp = g.producer(residual);
      const int cp = static_cast<int>(conv - g.nodes.data());
      if (rp >= cp) continue;
      ta.add_residual = true;
      ta.relu = add.as<AddAttrs>().relu;
      conv->inputs.push_back(residual);
      replace_uses(g, add.output, conv->output);
      dead[i] = true;
      changed = true;
      break;
    }
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

bool lower_aggregation(Graph& g) {
  bool changed = false;
  for (Node& n : g.nodes) {
    if (n.op != Op::kAggregate) continue;
    auto& a = n.as<AggregateAttrs>();
    if (a.gemm_matrix != kNoConst) continue;
    const auto& shape = g.constants[a.adjacency].shape;  // K V V
    const int64_t K = shape[0], V = shape[1];
    const std::vector<float>& A = data(g, a.adjacency);
    const std::vector<float>* imp = a.importance == kNoConst ? nullptr : &data(g, a.importance);
    std::vector<float> m(static_cast<size_t>(V * K * V));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t v = 0; v < V; ++v)
        for (int64_t w = 0; w < V; ++w) {
          const size_t src = static_cast<size_t>((k * V + v) * V + w);
          m[static_cast<size_t>(w * K * V + k * V + v)] = A[src] * (imp ? (*imp)[src] : 1.f);
        }
    a.gemm_matrix = g.add_constant(fmt::format("{}.gemm_matrix", n.name), {V, K * V}, std::move(m));
    a.adjacency = a.importance = kNoConst;
    changed = true;
  }
  return changed;
}

bool fuse_head(Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& fcn = g.nodes[i];
    if (fcn.op != Op::kFcn) continue;
    Node* pm = sole_producer(g, fcn, 0, Op::kPersonMean);
    if (pm == nullptr) continue;
    Node* pool = sole_producer(g, *pm, 0, Op::kGlobalPool);
    if (pool == nullptr || pool->branch != fcn.branch || pm->branch != fcn.branch) continue;
    dead[pm - g.nodes.data()] = true;
    dead[pool - g.nodes.data()] = true;
    const auto fa = fcn.as<FcnAttrs>();
    HeadAttrs ha;
    ha.weight = fa.weight;
    ha.bias = fa.bias;
    fcn.op = Op::kHead;
    fcn.attrs = ha;
    fcn.inputs = {pool->inputs[0]};
    changed = true;
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

bool eliminate_dead_code(Graph& g) {
  bool changed = false;
  for (bool again = true; again;) {
    again = false;
    std::vector<bool> dead(g.nodes.size(), false);
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (g.nodes[i].op != Op::kInput && g.use_count(g.nodes[i].output) == 0)
        dead[i] = again = true;
    if (again) {
      remove_nodes(g, dead);
      changed = true;
    }
  }
  // Constants nobody refers to; the rest are renumbered in order.
  std::vector<int> remap(g.constants.size(), -1);
  for (Node& n : g.nodes)
    for (ConstId c : const_refs(static_cast<const Node&>(n)))
      if (c != kNoConst) remap[c] = 0;
  std::vector<Constant> kept;
  for (size_t c = 0; c < g.constants.size(); ++c)
    if (remap[c] == 0) {
      remap[c] = static_cast<int>(kept.size());
      kept.push_back(std::move(g.constants[c]));
    }
  if (kept.size() != g.constants.size()) changed = true;
  g.constants = std::move(kept);
  for (Node& n : g.nodes)
    for (ConstId* c : const_refs(n))
      if (*c != kNoConst) *c = remap[*c];
  // Values nobody produces (left by removed nodes) are dropped likewise.
  std::vector<int> vmap(g.values.size(), -1);
  for (const Node& n : g.nodes) vmap[n.output] = 0;
  std::vector<Value> vals;
  for (size_t v = 0; v < g.values.size(); ++v)
    if (vmap[v] == 0) {
      vmap[v] = static_cast<int>(vals.size());
      vals.push_back(std::move(g.values[v]));
    }
  if (vals.size() != g.values.size()) {
    g.values = std::move(vals);
    for (Node& n : g.nodes) {
      n.output = vmap[n.output];
      for (ValueId& v : n.inputs) v = vmap[v];
    }
    g.input = vmap[g.input];
    g.output = vmap[g.output];
  }
  return changed;
}

Status assign_precision(Graph& g, const std::string& precision, const Capabilities& backend) {
  if (precision == "fp32") return Status::ok();
  if (precision != "bf16")
    return Status(ErrorCode::kUnsupported,
                  fmt::format("precision '{}' is not available", precision));
  STGCN_RETURN_IF_ERROR(check_fused(g, "bf16"));
  for (const Node& n : g.nodes)
    if (n.op == Op::kDataBn || backend.computes_in_low_precision(g, n))
      g.values[n.output].dtype = ir::DType::kBF16;
  return verify(g, &backend);
}

const std::vector<PassInfo>& pipeline() {
  static const std::vector<PassInfo> kPasses = {
      {"fold_edge_importance", "multiply A by the learned edge importance once",
       fold_edge_importance},
      {"fold_batch_norm",
       "fold BatchNorms into the temporal/residual convs and the gcn conv + aggregation bias",
       fold_batch_norm},
      {"fuse_gcn_residual",
       "add the gcn residual (ST-GCN++) inside the aggregation: the identity as its sum, a "
       "down conv as one more gcn partition aggregated through the identity",
       fuse_gcn_residual},
      {"fuse_relu", "apply ReLU inside the producing aggregation, conv, max-pool or add",
       fuse_relu},
      {"fuse_residual_add", "add the residual (and ReLU) inside the temporal conv",
       fuse_residual_add},
      {"lower_aggregation", "turn the graph aggregation into one GEMM per block",
       lower_aggregation},
      {"fuse_head", "pool over (T, V), mean over persons and fcn in one op", fuse_head},
      {"eliminate_dead_code", "drop unused nodes, values and constants", eliminate_dead_code},
  };
  return kPasses;
}

Result<std::vector<std::string>> run_pipeline(Graph& g, const std::vector<std::string>& disabled) {
  for (const std::string& d : disabled) {
    bool known = false;
    for (const PassInfo& p : pipeline()) known |= d == p.name;
    if (!known) {
      std::string names;
      for (const PassInfo& p : pipeline()) names += std::string(names.empty() ? "" : ", ") + p.name;
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("unknown pass '{}' (passes: {})", d, names));
    }
  }
  std::vector<std::string> applied;
  for (const PassInfo& p : pipeline()) {
    if (std::find(disabled.begin(), disabled.end(), p.name) != disabled.end()) continue;
    if (p.run(g)) applied.push_back(p.name);
    Status st = verify(g);
    if (!st.is_ok())
      return Status(ErrorCode::kInternal, fmt::format("after pass {}: {}", p.name, st.message()));
  }
  return applied;
}

}  // namespace stgcn::passes
