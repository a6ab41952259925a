// ONNX graph -> the importer's IR (see import_ir.h): constants are folded,
// every other value gets a static shape, unknown ops are reported by name.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <unordered_map>

#include "onnx/import_fold.h"
#include "onnx/import_ir.h"

namespace stgcn::onnx_import {
namespace {

using ::onnx::AttributeProto;
using ::onnx::NodeProto;

std::string str(int64_t v) { return std::to_string(v); }

const AttributeProto* find_attr(const NodeProto& n, std::string_view name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

bool type_is(const AttributeProto& a, AttributeProto::AttributeType t) {
  return a.type() == t || a.type() == AttributeProto::UNDEFINED;
}

class Evaluator {
 public:
  Evaluator(const ::onnx::ModelProto& m, bool nmtvc) : model_(m), nmtvc_(nmtvc) {}

  Result<Graph> run();

 private:
  struct Entry {
    int dyn = -1;
    ConstPtr c;
  };

  Status bad_attr(const NodeProto& n, std::string_view name) {
    return corrupt(node_label(n) + ": attribute '" + std::string(name) + "' is malformed");
  }
  Result<int64_t> attr_int(const NodeProto& n, std::string_view name, int64_t def) {
    const AttributeProto* a = find_attr(n, name);
    if (!a) return def;
    if (!type_is(*a, AttributeProto::INT)) return bad_attr(n, name);
    return static_cast<int64_t>(a->i());
  }
  Result<float> attr_float(const NodeProto& n, std::string_view name, float def) {
    const AttributeProto* a = find_attr(n, name);
    if (!a) return def;
    if (!type_is(*a, AttributeProto::FLOAT)) return bad_attr(n, name);
    return a->f();
  }
  Result<std::optional<std::vector<int64_t>>> attr_ints(const NodeProto& n, std::string_view name) {
    const AttributeProto* a = find_attr(n, name);
    if (!a) return std::optional<std::vector<int64_t>>();
    if (!type_is(*a, AttributeProto::INTS) || a->ints_size() > kMaxRank * 2)
      return bad_attr(n, name);
    return std::optional<std::vector<int64_t>>(
        std::vector<int64_t>(a->ints().begin(), a->ints().end()));
  }
  Result<std::string> attr_string(const NodeProto& n, std::string_view name, std::string def) {
    const AttributeProto* a = find_attr(n, name);
    if (!a) return def;
    if (!type_is(*a, AttributeProto::STRING)) return bad_attr(n, name);
    return a->s();
  }

  Result<Operand> operand(const NodeProto& n, int k) {
    if (k >= n.input_size() || n.input(k).empty()) return Operand{};
    auto it = env_.find(n.input(k));
    if (it == env_.end())
      return corrupt(node_label(n) + " uses '" + printable(n.input(k)) +
                     "', which no earlier node or initializer defines");
    return Operand{it->second.dyn, it->second.c};
  }
  // A constant input `k` (required), as integers.
  Result<std::vector<int64_t>> const_ints_input(const NodeProto& n, const std::vector<Operand>& in,
                                                size_t k, const char* what) {
    if (k >= in.size() || !in[k].is_const())
      return not_understood(node_label(n), std::string("its ") + what + " input is not a constant");
    return const_ints(*in[k].c, node_label(n) + " " + what);
  }
  const std::vector<int64_t>& shape_of(const Operand& o) const {
    return o.is_const() ? o.c->shape : g_.values[static_cast<size_t>(o.dyn)].shape;
  }

  Status define(const NodeProto& n, int k, Entry e) {
    if (k >= n.output_size() || n.output(k).empty()) return Status::ok();
    if (!env_.emplace(n.output(k), std::move(e)).second)
      return corrupt(node_label(n) + " redefines value '" + printable(n.output(k)) + "'");
    return Status::ok();
  }

  Status setup_input();
  Status eval(const NodeProto& n);
  Result<ConstPtr> fold(const NodeProto& n, const std::string& op, const std::vector<Operand>& in);
  Status dynamic(const NodeProto& n, const std::string& op, std::vector<Operand> in);
  Result<std::vector<int64_t>> reshape_like(const NodeProto& n, const std::string& op,
                                            const std::vector<Operand>& in);

  const ::onnx::ModelProto& model_;
  const bool nmtvc_;  // the input is (N, M, T, V, C)
  Graph g_;
  std::unordered_map<std::string, Entry> env_;
};

Status Evaluator::setup_input() {
  const auto& graph = model_.graph();
  for (const auto& init : graph.initializer()) {
    if (init.name().empty()) return corrupt("an initializer has no name");
    STGCN_ASSIGN_OR_RETURN(ConstPtr c,
                           decode_tensor(init, "initializer '" + printable(init.name()) + "'"));
    if (!env_.emplace(init.name(), Entry{-1, std::move(c)}).second)
      return corrupt("initializer '" + printable(init.name()) + "' is defined twice");
  }
  std::vector<const ::onnx::ValueInfoProto*> inputs;
  for (const auto& in : graph.input())
    if (!env_.count(in.name())) inputs.push_back(&in);
  if (inputs.size() != 1)
    return unsupported("the graph has " + str(static_cast<int64_t>(inputs.size())) +
                       " inputs; an ST-GCN has one, (N, C, T, V, M)");
  const auto& in = *inputs.front();
  g_.input_name = in.name();
  if (!in.type().has_tensor_type())
    return unsupported("graph input '" + printable(in.name()) + "' is not a tensor");
  const auto& tt = in.type().tensor_type();
  if (tt.elem_type() != ::onnx::TensorProto::FLOAT)
    return unsupported("graph input '" + printable(in.name()) + "' has element type " +
                       str(tt.elem_type()) + "; expected float32");
  if (!tt.has_shape() || tt.shape().dim_size() == 0 || tt.shape().dim_size() > kMaxRank)
    return unsupported("graph input '" + printable(in.name()) + "' has no usable static rank");
  DynValue v;
  const int rank = tt.shape().dim_size();
  const char* names = nmtvc_ ? "NMTVC" : "NCTVM";
  // Symbolic N, T, M: any value checks the graph.
  const int64_t nctvm[] = {2, 0, 64, 0, 2}, nmtvc[] = {2, 2, 64, 0, 0};
  const int64_t* defaults = nmtvc_ ? nmtvc : nctvm;
  for (int d = 0; d < rank; ++d) {
    const auto& dim = tt.shape().dim(d);
    if (dim.has_dim_value()) {
      if (dim.dim_value() <= 0 || dim.dim_value() > kMaxDim)
        return corrupt("graph input '" + printable(in.name()) + "' has extent " +
                       str(dim.dim_value()));
      v.shape.push_back(dim.dim_value());
      continue;
    }
    const int64_t def = rank == 5 ? defaults[d] : 2;
    if (def == 0)
      return unsupported(std::string("graph input '") + printable(in.name()) + "': dimension " +
                         names[d] + " must be static (it sizes the weights)");
    v.shape.push_back(def);
  }
  if (checked_numel(v.shape) < 0)
    return corrupt("graph input '" + printable(in.name()) + "' is too large");
  g_.values.push_back(v);
  g_.input = 0;
  env_.emplace(in.name(), Entry{0, nullptr});
  return Status::ok();
}

Result<Graph> Evaluator::run() {
  if (!model_.has_graph())
    return corrupt("the file holds no ONNX graph (empty or not an ONNX model)");
  for (const auto& op : model_.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") g_.opset = static_cast<int>(op.version());
  STGCN_RETURN_IF_ERROR(setup_input());
  const auto& graph = model_.graph();
  if (graph.node_size() == 0) return unsupported("the graph has no nodes");
  for (const auto& n : graph.node()) STGCN_RETURN_IF_ERROR(eval(n));
  if (graph.output_size() != 1)
    return unsupported("the graph has " + str(graph.output_size()) +
                       " outputs; an ST-GCN has one (the logits)");
  g_.output_name = graph.output(0).name();
  auto it = env_.find(g_.output_name);
  if (it == env_.end())
    return corrupt("graph output '" + printable(g_.output_name) + "' is not produced by any node");
  if (it->second.dyn < 0)
    return unsupported("graph output '" + printable(g_.output_name) +
                       "' does not depend on the input");
  g_.output = it->second.dyn;

  // Liveness: the nodes the output depends on, and their consumers.
  g_.live.assign(g_.nodes.size(), false);
  std::vector<bool> needed(g_.values.size(), false);
  needed[static_cast<size_t>(g_.output)] = true;
  for (size_t k = g_.nodes.size(); k-- > 0;) {
    const Node& n = g_.nodes[k];
    if (!needed[static_cast<size_t>(n.out)]) continue;
    g_.live[k] = true;
    for (const auto& o : n.in)
      if (!o.is_const() && o.dyn >= 0) needed[static_cast<size_t>(o.dyn)] = true;
  }
  g_.consumers.assign(g_.values.size(), {});
  for (size_t k = 0; k < g_.nodes.size(); ++k) {
    if (!g_.live[k]) continue;
    for (const auto& o : g_.nodes[k].in) {
      if (o.is_const() || o.dyn < 0) continue;
      auto& cons = g_.consumers[static_cast<size_t>(o.dyn)];
      if (cons.empty() || cons.back() != static_cast<int>(k)) cons.push_back(static_cast<int>(k));
    }
  }
  return std::move(g_);
}

Status Evaluator::eval(const NodeProto& n) {
  const std::string& op = n.op_type();
  if (!n.domain().empty() && n.domain() != "ai.onnx")
    return not_understood(node_label(n), "custom domain '" + printable(n.domain()) + "'");
  if (n.input_size() > 64 || n.output_size() > 8)
    return not_understood(node_label(n), "too many inputs or outputs");
  if (op == "Constant") {
    const AttributeProto* a = find_attr(n, "value");
    ConstPtr c;
    if (a && a->has_t()) {
      STGCN_ASSIGN_OR_RETURN(c, decode_tensor(a->t(), node_label(n) + " value"));
    } else if ((a = find_attr(n, "value_float")) != nullptr) {
      auto k = std::make_shared<Const>();
      k->f = {a->f()};
      c = k;
    } else if ((a = find_attr(n, "value_floats")) != nullptr) {
      auto k = std::make_shared<Const>();
      k->f.assign(a->floats().begin(), a->floats().end());
      k->shape = {static_cast<int64_t>(k->f.size())};
      c = k;
    } else if ((a = find_attr(n, "value_int")) != nullptr) {
      c = make_ints({}, {a->i()});
    } else if ((a = find_attr(n, "value_ints")) != nullptr) {
      c = make_ints({a->ints_size()}, std::vector<int64_t>(a->ints().begin(), a->ints().end()));
    } else {
      return not_understood(node_label(n), "a Constant without a tensor or numeric value");
    }
    return define(n, 0, Entry{-1, std::move(c)});
  }
  std::vector<Operand> in;
  bool any_dyn = false;
  for (int k = 0; k < n.input_size(); ++k) {
    STGCN_ASSIGN_OR_RETURN(Operand o, operand(n, k));
    any_dyn |= o.dyn >= 0;
    in.push_back(std::move(o));
  }
  if (op == "Shape" || op == "Size") {
    if (in.empty() || (!in[0].is_const() && in[0].dyn < 0))
      return corrupt(node_label(n) + " has no input");
    const auto& s = shape_of(in[0]);
    if (op == "Size") return define(n, 0, Entry{-1, make_ints({}, {checked_numel(s)})});
    const int64_t r = static_cast<int64_t>(s.size());
    STGCN_ASSIGN_OR_RETURN(int64_t start, attr_int(n, "start", 0));
    STGCN_ASSIGN_OR_RETURN(int64_t end, attr_int(n, "end", r));
    start = std::clamp<int64_t>(start < 0 ? start + r : start, 0, r);
    end = std::clamp<int64_t>(end < 0 ? end + r : end, 0, r);
    std::vector<int64_t> dims(s.begin() + start, s.begin() + std::max(start, end));
    const int64_t len = static_cast<int64_t>(dims.size());
    return define(n, 0, Entry{-1, make_ints({len}, std::move(dims))});
  }
  if (!any_dyn) {
    auto c = fold(n, op, in);
    if (!c.is_ok()) return c.status();
    return define(n, 0, Entry{-1, std::move(*c)});
  }
  return dynamic(n, op, std::move(in));
}

Result<std::vector<int64_t>> Evaluator::reshape_like(const NodeProto& n, const std::string& op,
                                                     const std::vector<Operand>& in) {
  const std::vector<int64_t>& s = shape_of(in[0]);
  Result<std::vector<int64_t>> out = std::vector<int64_t>{};
  if (op == "Reshape") {
    STGCN_ASSIGN_OR_RETURN(auto target, const_ints_input(n, in, 1, "shape"));
    STGCN_ASSIGN_OR_RETURN(int64_t allowzero, attr_int(n, "allowzero", 0));
    out = reshape_shape(s, target, allowzero != 0);
  } else if (op == "Flatten") {
    STGCN_ASSIGN_OR_RETURN(int64_t axis, attr_int(n, "axis", 1));
    out = flatten_shape(s, axis);
  } else {
    std::vector<int64_t> axes;
    bool have = false;
    if (in.size() > 1 && (in[1].is_const() || in[1].dyn >= 0)) {
      STGCN_ASSIGN_OR_RETURN(axes, const_ints_input(n, in, 1, "axes"));
      have = true;
    } else {
      STGCN_ASSIGN_OR_RETURN(auto a, attr_ints(n, "axes"));
      if (a) axes = *a, have = true;
    }
    if (axes.size() > static_cast<size_t>(kMaxRank))
      return not_understood(node_label(n), "too many axes");
    out = op == "Squeeze" ? squeeze_shape(s, axes, !have) : unsqueeze_shape(s, axes);
  }
  if (!out.is_ok()) return not_understood(node_label(n), out.status().message());
  return out;
}

Result<ConstPtr> Evaluator::fold(const NodeProto& n, const std::string& op,
                                 const std::vector<Operand>& in) {
  const std::string label = node_label(n);
  auto need = [&](size_t k) -> Status {
    for (size_t i = 0; i < k; ++i)
      if (i >= in.size() || !in[i].is_const())
        return corrupt(label + " is missing input " + str(static_cast<int64_t>(i)));
    return Status::ok();
  };
  if (in.empty()) return not_understood(label, "has no inputs");
  STGCN_RETURN_IF_ERROR(need(1));
  const ConstPtr& a = in[0].c;
  if (op == "Identity" || op == "Dropout") return a;
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze") {
    STGCN_ASSIGN_OR_RETURN(auto shape, reshape_like(n, op, in));
    return fold_reshape(a, std::move(shape));
  }
  if (op == "Cast") {
    STGCN_ASSIGN_OR_RETURN(int64_t to, attr_int(n, "to", 0));
    using T = ::onnx::TensorProto;
    auto c = std::make_shared<Const>();
    c->shape = a->shape;
    c->is_float = to == T::FLOAT || to == T::DOUBLE || to == T::FLOAT16 || to == T::BFLOAT16;
    const bool to_int = to == T::INT64 || to == T::INT32 || to == T::INT16 || to == T::INT8 ||
                        to == T::UINT8 || to == T::UINT16 || to == T::UINT32 || to == T::UINT64;
    if (!c->is_float && !to_int && to != T::BOOL)
      return not_understood(label, "a cast to type " + str(to));
    for (size_t k = 0; k < a->size(); ++k) {
      const double v = a->at(k);
      if (c->is_float) {
        c->f.push_back(static_cast<float>(v));
      } else if (to == T::BOOL) {
        c->i.push_back(v != 0);
      } else {
        if (!a->is_float)
          c->i.push_back(a->i[k]);
        else if (!std::isfinite(v) || std::abs(v) > 9e18)
          return not_understood(label, "casts a non-finite value");
        else
          c->i.push_back(static_cast<int64_t>(v));
      }
    }
    return ConstPtr(c);
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    STGCN_RETURN_IF_ERROR(need(2));
    const BinOp b = op == "Add"   ? BinOp::kAdd
                    : op == "Sub" ? BinOp::kSub
                    : op == "Mul" ? BinOp::kMul
                                  : BinOp::kDiv;
    return fold_binary(b, a, in[1].c, label);
  }
  if (op == "Neg" || op == "Sqrt" || op == "Reciprocal") {
    auto c = std::make_shared<Const>(*a);
    c->factor_a.reset();
    c->factor_b.reset();
    if (op == "Neg") {
      for (auto& v : c->f) v = -v;
      for (auto& v : c->i) {
        if (v == INT64_MIN) return not_understood(label, "overflow");
        v = -v;
      }
    } else {
      if (!c->is_float) return not_understood(label, "on integers");
      for (auto& v : c->f) v = op == "Sqrt" ? std::sqrt(v) : 1.0f / v;
    }
    return ConstPtr(c);
  }
  if (op == "Transpose") {
    STGCN_ASSIGN_OR_RETURN(auto perm_attr, attr_ints(n, "perm"));
    auto perm = transpose_perm(a->shape.size(), perm_attr ? &*perm_attr : nullptr);
    if (!perm.is_ok()) return not_understood(label, perm.status().message());
    return fold_transpose(*a, *perm);
  }
  if (op == "Gather") {
    STGCN_RETURN_IF_ERROR(need(2));
    STGCN_ASSIGN_OR_RETURN(int64_t axis, attr_int(n, "axis", 0));
    return fold_gather(*a, *in[1].c, axis, label);
  }
  if (op == "Concat") {
    STGCN_ASSIGN_OR_RETURN(int64_t axis, attr_int(n, "axis", 0));
    std::vector<ConstPtr> parts;
    for (const auto& o : in)
      if (o.is_const()) parts.push_back(o.c);
    return fold_concat(parts, axis, label);
  }
  if (op == "Slice") {
    std::vector<int64_t> starts, ends, axes, steps;
    if (in.size() >= 3) {
      STGCN_ASSIGN_OR_RETURN(starts, const_ints_input(n, in, 1, "starts"));
      STGCN_ASSIGN_OR_RETURN(ends, const_ints_input(n, in, 2, "ends"));
      if (in.size() > 3 && in[3].is_const()) {
        STGCN_ASSIGN_OR_RETURN(axes, const_ints_input(n, in, 3, "axes"));
      }
      if (in.size() > 4 && in[4].is_const()) {
        STGCN_ASSIGN_OR_RETURN(steps, const_ints_input(n, in, 4, "steps"));
      }
    } else {
      STGCN_ASSIGN_OR_RETURN(auto s, attr_ints(n, "starts"));
      STGCN_ASSIGN_OR_RETURN(auto e, attr_ints(n, "ends"));
      STGCN_ASSIGN_OR_RETURN(auto x, attr_ints(n, "axes"));
      if (!s || !e) return not_understood(label, "a Slice without starts/ends");
      starts = *s, ends = *e;
      if (x) axes = *x;
    }
    auto dims = slice_dims(a->shape, starts, ends, axes, steps);
    if (!dims.is_ok()) return not_understood(label, dims.status().message());
    return fold_slice(*a, *dims);
  }
  if (op == "ConstantOfShape") {
    STGCN_ASSIGN_OR_RETURN(auto shape, const_ints(*a, label + " shape"));
    const int64_t count = checked_numel(shape, kMaxFoldedElements);
    if (count < 0 || shape.size() > static_cast<size_t>(kMaxRank))
      return not_understood(label, "shape " + shape_str(shape));
    ConstPtr value;
    if (const AttributeProto* v = find_attr(n, "value"); v && v->has_t()) {
      STGCN_ASSIGN_OR_RETURN(value, decode_tensor(v->t(), label + " value"));
      if (value->size() != 1) return not_understood(label, "a fill value that is not one element");
    }
    auto c = std::make_shared<Const>();
    c->shape = shape;
    c->is_float = !value || value->is_float;
    if (c->is_float)
      c->f.assign(static_cast<size_t>(count), value ? value->f[0] : 0.0f);
    else
      c->i.assign(static_cast<size_t>(count), value->i[0]);
    return ConstPtr(c);
  }
  return not_understood(label, "an operation on constants that is not folded");
}

Status Evaluator::dynamic(const NodeProto& np, const std::string& op, std::vector<Operand> in) {
  Node n;
  n.name = np.name().empty() ? (np.output_size() ? np.output(0) : std::string("?")) : np.name();
  n.onnx_op = op;
  const std::string label = node_label(n);
  auto fail = [&](const std::string& why) { return not_understood(label, why); };
  if (in.empty() || (!in[0].is_const() && in[0].dyn < 0)) return fail("it has no data input");
  if (in[0].is_const() && op != "Add" && op != "Mul" && op != "Sub" && op != "Div" &&
      op != "Concat" && op != "MatMul" && op != "Einsum")
    return fail("its data input is a constant");
  auto shape_or = [&](Result<std::vector<int64_t>> r, std::vector<int64_t>& out) -> Status {
    if (!r.is_ok()) return fail(r.status().message());
    out = std::move(*r);
    return Status::ok();
  };
  std::vector<int64_t> out;
  const std::vector<int64_t> s0 = shape_of(in[0]);
  Attrs& a = n.a;
  if (op == "Identity" || op == "Dropout") {
    n.op = Op::kIdentity;
    out = s0;
  } else if (op == "Cast") {
    STGCN_ASSIGN_OR_RETURN(int64_t to, attr_int(np, "to", 0));
    if (to != ::onnx::TensorProto::FLOAT) return fail("casts the activations to type " + str(to));
    n.op = Op::kIdentity;
    out = s0;
  } else if (op == "Relu" || op == "Neg") {
    n.op = op == "Relu" ? Op::kRelu : Op::kNeg;
    out = s0;
  } else if (op == "Softmax") {
    n.op = Op::kSoftmax;
    STGCN_ASSIGN_OR_RETURN(int64_t axis,
                           attr_int(np, "axis", g_.opset >= 13 || g_.opset == 0 ? -1 : 1));
    auto ax = resolve_axis(axis, s0.size());
    if (!ax.is_ok()) return fail(ax.status().message());
    a.axis = *ax;
    out = s0;
  } else if (op == "Transpose") {
    n.op = Op::kTranspose;
    STGCN_ASSIGN_OR_RETURN(auto perm, attr_ints(np, "perm"));
    STGCN_RETURN_IF_ERROR(shape_or(transpose_perm(s0.size(), perm ? &*perm : nullptr), a.perm));
    for (int64_t p : a.perm) out.push_back(s0[static_cast<size_t>(p)]);
  } else if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze") {
    n.op = Op::kReshape;
    STGCN_ASSIGN_OR_RETURN(out, reshape_like(np, op, in));
    in.resize(1);
  } else if (op == "BatchNormalization") {
    n.op = Op::kBatchNorm;
    STGCN_ASSIGN_OR_RETURN(int64_t training, attr_int(np, "training_mode", 0));
    if (training != 0) return fail("BatchNormalization in training mode");
    STGCN_ASSIGN_OR_RETURN(a.epsilon, attr_float(np, "epsilon", 1e-5f));
    if (in.size() < 5 || s0.size() < 2)
      return fail("BatchNormalization needs 5 inputs and a rank >= 2 input");
    for (size_t k = 1; k < 5; ++k)
      if (!in[k].is_const() || !in[k].c->is_float || in[k].c->shape != std::vector<int64_t>{s0[1]})
        return fail("its parameter " + str(static_cast<int64_t>(k)) +
                    " is not a constant of shape [" + str(s0[1]) + "]");
    out = s0;
  } else if (op == "Conv" || op == "AveragePool" || op == "MaxPool") {
    n.op = op == "Conv" ? Op::kConv : op == "MaxPool" ? Op::kMaxPool : Op::kAveragePool;
    if (np.output_size() > 1 && !np.output(1).empty()) return fail("it also outputs indices");
    if (s0.size() != 4)
      return fail("only 2-D " + op + " on (N, C, H, W) is supported, input is " + shape_str(s0));
    std::vector<int64_t> kernel;
    int64_t cout = s0[1];
    if (n.op == Op::kConv) {
      if (in.size() < 2 || !in[1].is_const() || !in[1].c->is_float || in[1].c->shape.size() != 4)
        return fail("its weight is not a constant 4-D tensor");
      const auto& w = in[1].c->shape;
      STGCN_ASSIGN_OR_RETURN(a.group, attr_int(np, "group", 1));
      if (a.group < 1 || s0[1] % a.group != 0 || w[0] % a.group != 0 || w[1] * a.group != s0[1])
        return fail("weight " + shape_str(w) + " does not fit input " + shape_str(s0) +
                    " with group " + str(a.group));
      if (in.size() > 2 && (in[2].is_const() || in[2].dyn >= 0) &&
          (!in[2].is_const() || !in[2].c->is_float || in[2].c->shape != std::vector<int64_t>{w[0]}))
        return fail("its bias is not a constant of shape [" + str(w[0]) + "]");
      kernel = {w[2], w[3]};
      cout = w[0];
    }
    STGCN_ASSIGN_OR_RETURN(auto ks, attr_ints(np, "kernel_shape"));
    if (ks) {
      if (n.op == Op::kConv && *ks != kernel)
        return fail("kernel_shape " + shape_str(*ks) + " differs from the weight's shape " +
                    shape_str(in[1].c->shape));
      kernel = *ks;
    }
    if (kernel.size() != 2) return fail("needs a 2-D kernel_shape");
    STGCN_ASSIGN_OR_RETURN(auto st, attr_ints(np, "strides"));
    STGCN_ASSIGN_OR_RETURN(auto pd, attr_ints(np, "pads"));
    STGCN_ASSIGN_OR_RETURN(auto dl, attr_ints(np, "dilations"));
    STGCN_ASSIGN_OR_RETURN(std::string auto_pad, attr_string(np, "auto_pad", "NOTSET"));
    STGCN_ASSIGN_OR_RETURN(int64_t ceil_mode, attr_int(np, "ceil_mode", 0));
    if (auto_pad != "NOTSET" && auto_pad != "VALID")
      return fail("auto_pad " + printable(auto_pad) + " is not supported");
    a.kernel = kernel;
    a.strides = st ? *st : std::vector<int64_t>{1, 1};
    a.pads = pd && auto_pad == "NOTSET" ? *pd : std::vector<int64_t>{0, 0, 0, 0};
    a.dilations = dl ? *dl : std::vector<int64_t>{1, 1};
    if (a.strides.size() != 2 || a.pads.size() != 4 || a.dilations.size() != 2 || ceil_mode != 0)
      return fail("strides/pads/dilations/ceil_mode are not those of a plain 2-D window");
    out = {s0[0], cout, 0, 0};
    for (size_t d = 0; d < 2; ++d) {
      const int64_t k = kernel[d], s = a.strides[d], dil = a.dilations[d], pb = a.pads[d],
                    pe = a.pads[d + 2];
      if (k < 1 || k > 4096 || s < 1 || s > 4096 || dil < 1 || dil > 4096 || pb < 0 || pe < 0 ||
          pb > 4096 || pe > 4096)
        return fail("kernel/stride/dilation/pad out of range");
      const int64_t span = dil * (k - 1) + 1, size = s0[d + 2] + pb + pe;
      if (size < span) return fail("the window is larger than the padded input " + shape_str(s0));
      out[d + 2] = (size - span) / s + 1;
    }
  } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    n.op = op == "Add" ? Op::kAdd : op == "Sub" ? Op::kSub : op == "Mul" ? Op::kMul : Op::kDiv;
    if (in.size() != 2) return fail("needs two inputs");
    for (const auto& o : in)
      if (o.is_const() && !o.c->is_float)
        return fail("combines the activations with an integer constant");
      else if (!o.is_const() && o.dyn < 0)
        return fail("has a missing input");
    STGCN_RETURN_IF_ERROR(shape_or(broadcast_shapes(shape_of(in[0]), shape_of(in[1])), out));
  } else if (op == "MatMul" || op == "Einsum" || op == "Gemm") {
    if (in.size() < 2 || (!in[1].is_const() && in[1].dyn < 0)) return fail("needs two inputs");
    if (in[0].is_const() == in[1].is_const())
      return fail("multiplies two activations (one side must be a constant)");
    for (const auto& o : in)
      if (o.is_const() && !o.c->is_float) return fail("multiplies by an integer constant");
    const auto& x = shape_of(in[0]);
    const auto& y = shape_of(in[1]);
    if (op == "MatMul") {
      n.op = Op::kMatMul;
      if (x.size() < 2 || y.size() < 2) return fail("1-D MatMul operands are not supported");
      if (x.back() != y[y.size() - 2])
        return fail("inner dimensions of " + shape_str(x) + " and " + shape_str(y) + " differ");
      std::vector<int64_t> bx(x.begin(), x.end() - 2), by(y.begin(), y.end() - 2);
      STGCN_RETURN_IF_ERROR(shape_or(broadcast_shapes(bx, by), out));
      out.push_back(x[x.size() - 2]);
      out.push_back(y.back());
    } else if (op == "Gemm") {
      n.op = Op::kGemm;
      if (!in[1].is_const() || x.size() != 2 || y.size() != 2)
        return fail("needs a 2-D input and a constant 2-D B");
      STGCN_ASSIGN_OR_RETURN(int64_t ta, attr_int(np, "transA", 0));
      STGCN_ASSIGN_OR_RETURN(int64_t tb, attr_int(np, "transB", 0));
      STGCN_ASSIGN_OR_RETURN(a.alpha, attr_float(np, "alpha", 1.0f));
      STGCN_ASSIGN_OR_RETURN(a.beta, attr_float(np, "beta", 1.0f));
      a.trans_a = ta != 0, a.trans_b = tb != 0;
      const int64_t m = a.trans_a ? x[1] : x[0], k = a.trans_a ? x[0] : x[1];
      const int64_t kb = a.trans_b ? y[1] : y[0], nn = a.trans_b ? y[0] : y[1];
      if (k != kb)
        return fail("inner dimensions of " + shape_str(x) + " and " + shape_str(y) + " differ");
      out = {m, nn};
      if (in.size() > 2 && (in[2].is_const() || in[2].dyn >= 0)) {
        if (!in[2].is_const() || !in[2].c->is_float)
          return fail("its C input is not a float constant");
        auto b = broadcast_shapes(in[2].c->shape, out);
        if (!b.is_ok() || *b != out)
          return fail("its C input does not broadcast to " + shape_str(out));
      }
    } else {
      n.op = Op::kEinsum;
      STGCN_ASSIGN_OR_RETURN(a.equation, attr_string(np, "equation", ""));
      // Shape from the labels; the matcher parses the equation again.
      std::string eq;
      for (char ch : a.equation)
        if (ch != ' ') eq += ch;
      const size_t arrow = eq.find("->");
      std::string lhs = eq.substr(0, arrow), rhs;
      const size_t comma = lhs.find(',');
      if (comma == std::string::npos || lhs.find(',', comma + 1) != std::string::npos ||
          eq.find('.') != std::string::npos)
        return fail("equation '" + printable(a.equation) +
                    "' is not a two-operand einsum without ellipsis");
      const std::string l0 = lhs.substr(0, comma), l1 = lhs.substr(comma + 1);
      if (l0.size() != x.size() || l1.size() != y.size())
        return fail("equation '" + printable(a.equation) + "' does not match the operand ranks");
      std::unordered_map<char, int64_t> ext;
      std::unordered_map<char, int> count;
      for (size_t k = 0; k < l0.size() + l1.size(); ++k) {
        const char ch = k < l0.size() ? l0[k] : l1[k - l0.size()];
        const int64_t e = k < l0.size() ? x[k] : y[k - l0.size()];
        if (!std::isalpha(static_cast<unsigned char>(ch)))
          return fail("equation '" + printable(a.equation) + "' is malformed");
        auto [it, fresh] = ext.emplace(ch, e);
        if (!fresh && it->second != e)
          return fail("label '" + std::string(1, ch) + "' has two extents");
        ++count[ch];
      }
      if (arrow != std::string::npos) {
        rhs = eq.substr(arrow + 2);
      } else {
        for (const auto& [ch, c] : count)
          if (c == 1) rhs += ch;
        std::sort(rhs.begin(), rhs.end());
      }
      for (char ch : rhs) {
        if (!ext.count(ch) || std::count(rhs.begin(), rhs.end(), ch) != 1)
          return fail("equation '" + printable(a.equation) + "' has a bad output");
        out.push_back(ext[ch]);
      }
      a.equation = l0 + "," + l1 + "->" + rhs;
    }
  } else if (op == "ReduceMean" || op == "ReduceSum") {
    n.op = op == "ReduceMean" ? Op::kReduceMean : Op::kReduceSum;
    std::vector<int64_t> axes;
    if (in.size() > 1 && (in[1].is_const() || in[1].dyn >= 0)) {
      STGCN_ASSIGN_OR_RETURN(axes, const_ints_input(np, in, 1, "axes"));
    } else {
      STGCN_ASSIGN_OR_RETURN(auto ax, attr_ints(np, "axes"));
      if (ax) axes = *ax;
    }
    STGCN_ASSIGN_OR_RETURN(int64_t keep, attr_int(np, "keepdims", 1));
    STGCN_ASSIGN_OR_RETURN(int64_t noop, attr_int(np, "noop_with_empty_axes", 0));
    if (axes.empty() && noop) return fail("a reduction over no axes");
    if (axes.empty())
      for (size_t d = 0; d < s0.size(); ++d) axes.push_back(static_cast<int64_t>(d));
    for (int64_t& ax : axes) {
      auto r = resolve_axis(ax, s0.size());
      if (!r.is_ok()) return fail(r.status().message());
      ax = *r;
    }
    std::sort(axes.begin(), axes.end());
    if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) return fail("repeated axes");
    a.axes = axes;
    a.keepdims = keep != 0;
    for (size_t d = 0; d < s0.size(); ++d) {
      const bool reduced = std::binary_search(axes.begin(), axes.end(), static_cast<int64_t>(d));
      if (!reduced)
        out.push_back(s0[d]);
      else if (a.keepdims)
        out.push_back(1);
    }
    in.resize(1);
  } else if (op == "GlobalAveragePool") {
    n.op = Op::kGlobalAveragePool;
    if (s0.size() < 3) return fail("input rank below 3");
    out = {s0[0], s0[1]};
    out.resize(s0.size(), 1);
  } else if (op == "Slice") {
    n.op = Op::kSlice;
    std::vector<int64_t> starts, ends, axes, steps;
    if (in.size() >= 3) {
      STGCN_ASSIGN_OR_RETURN(starts, const_ints_input(np, in, 1, "starts"));
      STGCN_ASSIGN_OR_RETURN(ends, const_ints_input(np, in, 2, "ends"));
      if (in.size() > 3 && (in[3].is_const() || in[3].dyn >= 0)) {
        STGCN_ASSIGN_OR_RETURN(axes, const_ints_input(np, in, 3, "axes"));
      }
      if (in.size() > 4 && (in[4].is_const() || in[4].dyn >= 0)) {
        STGCN_ASSIGN_OR_RETURN(steps, const_ints_input(np, in, 4, "steps"));
      }
    } else {
      STGCN_ASSIGN_OR_RETURN(auto s, attr_ints(np, "starts"));
      STGCN_ASSIGN_OR_RETURN(auto e, attr_ints(np, "ends"));
      STGCN_ASSIGN_OR_RETURN(auto x, attr_ints(np, "axes"));
      if (!s || !e) return fail("a Slice without starts/ends");
      starts = *s, ends = *e;
      if (x) axes = *x;
    }
    auto dims = slice_dims(s0, starts, ends, axes, steps);
    if (!dims.is_ok()) return fail(dims.status().message());
    for (const auto& d : *dims) {
      a.slice_start.push_back(d.start);
      a.slice_step.push_back(d.step);
      out.push_back(d.count);
    }
    in.resize(1);
  } else if (op == "Concat") {
    n.op = Op::kConcat;
    STGCN_ASSIGN_OR_RETURN(int64_t axis, attr_int(np, "axis", 0));
    auto ax = resolve_axis(axis, s0.size());
    if (!ax.is_ok()) return fail(ax.status().message());
    a.axis = *ax;
    out = s0;
    out[static_cast<size_t>(a.axis)] = 0;
    for (const auto& o : in) {
      if (!o.is_const() && o.dyn < 0) return fail("has a missing input");
      if (o.is_const() && !o.c->is_float) return fail("concatenates an integer constant");
      const auto& s = shape_of(o);
      if (s.size() != s0.size()) return fail("concatenates tensors of different ranks");
      for (size_t d = 0; d < s.size(); ++d)
        if (d != static_cast<size_t>(a.axis) && s[d] != s0[d])
          return fail("concatenates mismatched shapes");
      out[static_cast<size_t>(a.axis)] += s[static_cast<size_t>(a.axis)];
    }
  } else if (op == "Pad") {
    n.op = Op::kPad;
    STGCN_ASSIGN_OR_RETURN(std::string mode, attr_string(np, "mode", "constant"));
    if (mode != "constant") return fail("Pad mode '" + printable(mode) + "'");
    std::vector<int64_t> pads, axes;
    if (in.size() > 1) {
      STGCN_ASSIGN_OR_RETURN(pads, const_ints_input(np, in, 1, "pads"));
      if (in.size() > 2 && in[2].is_const()) {
        if (in[2].c->size() != 1 || !in[2].c->is_float)
          return fail("a pad value that is not one float");
        a.pad_value = in[2].c->f[0];
      }
      if (in.size() > 3 && (in[3].is_const() || in[3].dyn >= 0)) {
        STGCN_ASSIGN_OR_RETURN(axes, const_ints_input(np, in, 3, "axes"));
      }
    } else {
      STGCN_ASSIGN_OR_RETURN(auto p, attr_ints(np, "pads"));
      STGCN_ASSIGN_OR_RETURN(a.pad_value, attr_float(np, "value", 0.0f));
      if (p) pads = *p;
    }
    const size_t r = s0.size();
    if (axes.empty())
      for (size_t d = 0; d < r; ++d) axes.push_back(static_cast<int64_t>(d));
    if (pads.size() != 2 * axes.size()) return fail("pads do not match the rank");
    a.pad_amounts.assign(2 * r, 0);
    for (size_t k = 0; k < axes.size(); ++k) {
      auto ax = resolve_axis(axes[k], r);
      if (!ax.is_ok()) return fail(ax.status().message());
      a.pad_amounts[static_cast<size_t>(*ax)] = pads[k];
      a.pad_amounts[static_cast<size_t>(*ax) + r] = pads[k + axes.size()];
    }
    out = s0;
    for (size_t d = 0; d < r; ++d) {
      const int64_t pb = a.pad_amounts[d], pe = a.pad_amounts[d + r];
      if (std::abs(pb) > kMaxDim || std::abs(pe) > kMaxDim || out[d] + pb + pe < 0)
        return fail("pads out of range");
      out[d] += pb + pe;
    }
    in.resize(1);
  } else {
    return fail("");
  }
  if (checked_numel(out) < 0 || out.size() > static_cast<size_t>(kMaxRank))
    return fail("its output " + shape_str(out) + " is too large");
  for (int64_t d : out)
    if (d > kMaxDim) return fail("its output " + shape_str(out) + " is too large");
  n.in = std::move(in);
  n.out = static_cast<int>(g_.values.size());
  g_.values.push_back(DynValue{out, static_cast<int>(g_.nodes.size())});
  g_.nodes.push_back(std::move(n));
  return define(np, 0, Entry{g_.nodes.back().out, nullptr});
}

}  // namespace

Result<Graph> build_graph(const ::onnx::ModelProto& model, bool nmtvc) {
  return Evaluator(model, nmtvc).run();
}

}  // namespace stgcn::onnx_import
