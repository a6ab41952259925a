#include "ir/ir.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace stgcn::ir {

const char* op_name(Op op) {
  switch (op) {
#define STGCN_OP(e, name, attrs) \
  case Op::e:                    \
    return name;
#include "ir/op_table.inc"
#undef STGCN_OP
  }
  return "?";
}

Result<Op> parse_op(std::string_view name) {
#define STGCN_OP(e, text, attrs) \
  if (name == text) return Op::e;
#include "ir/op_table.inc"
#undef STGCN_OP
  return Status(ErrorCode::kCorrupt, fmt::format("unknown op '{}'", name));
}

Attrs default_attrs(Op op) {
  switch (op) {
#define STGCN_OP(e, name, attrs) \
  case Op::e:                    \
    return attrs{};
#include "ir/op_table.inc"
#undef STGCN_OP
  }
  return std::monostate{};
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kBF16: return "bf16";
    case DType::kU8: return "u8";
    case DType::kS8: return "s8";
  }
  return "?";
}

Result<DType> parse_dtype(std::string_view name) {
  if (name == "f32") return DType::kF32;
  if (name == "bf16") return DType::kBF16;
  if (name == "u8") return DType::kU8;
  if (name == "s8") return DType::kS8;
  return Status(ErrorCode::kCorrupt, fmt::format("unknown element type '{}'", name));
}

static int64_t product(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}
int64_t Value::numel() const { return product(shape); }
int64_t Constant::numel() const { return product(shape); }

ValueId Graph::add_value(std::string name, std::vector<int64_t> shape) {
  values.push_back({std::move(name), std::move(shape)});
  return static_cast<ValueId>(values.size() - 1);
}

ConstId Graph::add_constant(std::string name, std::vector<int64_t> shape, std::vector<float> data) {
  Constant c;
  c.name = std::move(name);
  c.shape = std::move(shape);
  c.data = std::move(data);
  constants.push_back(std::move(c));
  return static_cast<ConstId>(constants.size() - 1);
}

int Graph::producer(ValueId v) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].output == v) return static_cast<int>(i);
  return -1;
}

int Graph::use_count(ValueId v) const {
  int n = v == output ? 1 : 0;
  for (const Node& node : nodes)
    n += static_cast<int>(std::count(node.inputs.begin(), node.inputs.end(), v));
  return n;
}

int Graph::branch_count() const {
  int b = 0;
  for (const Node& n : nodes) b = std::max(b, n.branch + 1);
  return b;
}

std::vector<ConstId*> const_refs(Node& node) {
  switch (node.op) {
    case Op::kInput:
    case Op::kMotion:
    case Op::kRelu:
    case Op::kAdd:
    case Op::kGlobalPool:
    case Op::kConvert:
    case Op::kConcat:
    case Op::kPersonMean: return {};
    case Op::kMaxPool: {
      auto& a = node.as<MaxPoolAttrs>();
      return {&a.scale, &a.shift};
    }
    case Op::kDataBn: {
      auto& a = node.as<DataBnAttrs>();
      return {&a.scale, &a.shift};
    }
    case Op::kGcnConv: {
      auto& a = node.as<GcnConvAttrs>();
      return {&a.weight, &a.bias, &a.wscale};
    }
    case Op::kAggregate: {
      auto& a = node.as<AggregateAttrs>();
      return {&a.adjacency, &a.importance, &a.gemm_matrix, &a.bias};
    }
    case Op::kBatchNorm: {
      auto& a = node.as<BatchNormAttrs>();
      return {&a.scale, &a.shift};
    }
    case Op::kTemporalConv: {
      auto& a = node.as<TemporalConvAttrs>();
      return {&a.weight, &a.bias, &a.wscale};
    }
    case Op::kResidualConv: {
      auto& a = node.as<ResidualConvAttrs>();
      return {&a.weight, &a.bias, &a.wscale};
    }
    case Op::kFcn: {
      auto& a = node.as<FcnAttrs>();
      return {&a.weight, &a.bias};
    }
    case Op::kHead: {
      auto& a = node.as<HeadAttrs>();
      return {&a.weight, &a.bias};
    }
  }
  return {};
}

std::vector<ConstId> const_refs(const Node& node) {
  std::vector<ConstId> out;
  for (ConstId* c : const_refs(const_cast<Node&>(node))) out.push_back(*c);
  return out;
}

const char* node_precision(const Graph& g, const Node& n) {
  DType t = DType::kF32;
  if (n.op == Op::kDataBn || n.op == Op::kConvert || n.inputs.empty())
    t = g.values[n.output].dtype;
  else
    t = g.values[n.inputs[0]].dtype;
  return t == DType::kBF16 ? "bf16" : is_int8(t) ? "int8" : "fp32";
}

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  return fmt::format("({})", fmt::join(s, ", "));
}

struct Verifier {
  const Graph& g;
  const Node* node = nullptr;
  const Capabilities* caps = nullptr;

  Status fail(const std::string& what) const {
    return Status(ErrorCode::kCorrupt,
                  fmt::format("graph: node '{}' ({}): {}", node->name, op_name(node->op), what));
  }
  const std::vector<int64_t>& in(size_t i) const { return g.values[node->inputs[i]].shape; }
  const std::vector<int64_t>& out() const { return g.values[node->output].shape; }
  Status expect_inputs(size_t n) const {
    if (node->inputs.size() != n)
      return fail(fmt::format("has {} inputs, expected {}", node->inputs.size(), n));
    return Status::ok();
  }
  Status expect_rank(const std::vector<int64_t>& s, size_t rank, const char* what) const {
    if (s.size() != rank)
      return fail(fmt::format("{} has shape {}, expected rank {}", what, shape_str(s), rank));
    return Status::ok();
  }
  Status expect_out(const std::vector<int64_t>& want) const {
    if (out() != want)
      return fail(fmt::format("output shape {} != expected {}", shape_str(out()), shape_str(want)));
    return Status::ok();
  }
  // A constant, when present (or required), must exist and have `shape`.
  Status expect_const(ConstId c, const std::vector<int64_t>& shape, const char* what,
                      bool required) const {
    if (c == kNoConst)
      return required ? fail(fmt::format("missing constant '{}'", what)) : Status::ok();
    if (c < 0 || c >= static_cast<int>(g.constants.size()))
      return fail(fmt::format("constant '{}' id {} out of range", what, c));
    const Constant& k = g.constants[c];
    if (k.shape != shape)
      return fail(fmt::format("constant '{}' ('{}') has shape {}, expected {}", what, k.name,
                              shape_str(k.shape), shape_str(shape)));
    if (!k.is_packed() && static_cast<int64_t>(k.data.size()) != k.numel())
      return fail(fmt::format("constant '{}' ('{}') holds {} values, expected {}", what, k.name,
                              k.data.size(), k.numel()));
    return Status::ok();
  }

  // Element types: bf16 and int8 activations only where the kernels take them.
  Status check_types() const {
    const Node& n = *node;
    const DType ot = g.values[n.output].dtype;
    for (ValueId v : n.inputs)
      if (is_int8(g.values[v].dtype) && !(g.values[v].scale > 0.f && std::isfinite(g.values[v].scale)))
        return fail(fmt::format("int8 value '{}' has no valid scale", g.values[v].name));
    if (is_int8(ot) && !(g.values[n.output].scale > 0.f && std::isfinite(g.values[n.output].scale)))
      return fail(fmt::format("int8 value '{}' has no valid scale", g.values[n.output].name));
    auto in_t = [&](size_t i) { return g.values[n.inputs[i]].dtype; };
    switch (n.op) {
      case Op::kInput:
      case Op::kMotion:
        if (ot != DType::kF32) return fail(fmt::format("cannot produce {}", dtype_name(ot)));
        break;
      case Op::kDataBn:
        if (in_t(0) != DType::kF32) return fail("reads a non-f32 input");
        if (ot == DType::kU8) return fail("cannot produce u8");
        break;
      case Op::kConvert:
        if (in_t(0) == ot) return fail("converts to its own type");
        break;
      case Op::kHead:
        if (ot != DType::kF32) return fail("must produce f32 logits");
        break;
      default:
        if (caps == nullptr) break;  // the backend's rules need the backend
        if (caps->computes_in_low_precision(g, n)) {
          Status st = caps->check_types(g, n);
          if (!st.is_ok()) return fail(std::string(st.message()));
          break;
        }
        if (ot != DType::kF32) return fail(fmt::format("cannot produce {}", dtype_name(ot)));
        for (ValueId v : n.inputs)
          if (g.values[v].dtype != DType::kF32)
            return fail(fmt::format("cannot read {} '{}'", dtype_name(g.values[v].dtype),
                                    g.values[v].name));
        break;
    }
    return Status::ok();
  }

  Status check() const {
    const Node& n = *node;
    switch (n.op) {
      case Op::kInput:
        STGCN_RETURN_IF_ERROR(expect_inputs(0));
        return expect_rank(out(), 4, "output");
      case Op::kMotion:
        STGCN_RETURN_IF_ERROR(expect_inputs(1));
        STGCN_RETURN_IF_ERROR(expect_rank(in(0), 4, "input"));
        return expect_out(in(0));
      case Op::kDataBn: {
        STGCN_RETURN_IF_ERROR(expect_inputs(1));
        STGCN_RETURN_IF_ERROR(expect_rank(in(0), 4, "input"));
        const auto& s = in(0);  // C T V M
        auto& a = n.as<DataBnAttrs>();
        // per (joint, channel), or per (person, joint, channel)
        const int64_t per = a.scale != kNoConst && a.scale >= 0 &&
                                    a.scale < static_cast<ConstId>(g.constants.size()) &&
                                    g.constants[a.scale].shape == std::vector<int64_t>{s[3] * s[2] * s[0]}
                                ? s[3] * s[2] * s[0]
                                : s[2] * s[0];
        STGCN_RETURN_IF_ERROR(expect_const(a.scale, {per}, "scale", true));
        STGCN_RETURN_IF_ERROR(expect_const(a.shift, {per}, "shift", true));
        return expect_out({s[3], s[2], s[1], s[0]});
      }
      case Op::kGcnConv: {
        STGCN_RETURN_IF_ERROR(expect_inputs(1));
        STGCN_RETURN_IF_ERROR(expect_rank(in(0), 4, "input"));
        STGCN_RETURN_IF_ERROR(expect_rank(out(), 5, "output"));
        auto& a = n.as<GcnConvAttrs>();
        const auto& s = in(0);
        int64_t cout = out()[4];
        if (a.K < 1) return fail("K < 1");
        STGCN_RETURN_IF_ERROR(expect_const(a.weight, {a.K, cout, s[3]}, "weight", true));
        STGCN_RETURN_IF_ERROR(expect_const(a.bias, {a.K, cout}, "bias", false));
        STGCN_RETURN_IF_ERROR(expect_const(a.wscale, {cout}, "wscale", false));
        return expect_out({s[0], a.K, s[1], s[2], cout});
      }
      case Op::kAggregate: {
        auto& a = n.as<AggregateAttrs>();
        STGCN_RETURN_IF_ERROR(expect_inputs(a.add_residual ? 2 : 1));
        STGCN_RETURN_IF_ERROR(expect_rank(in(0), 5, "input"));
        if (a.add_residual && in(1) != std::vector<int64_t>{in(0)[0], in(0)[2], in(0)[3], in(0)[4]})
          return fail(fmt::format("residual shape {} != output", shape_str(in(1))));
        const auto& s = in(0);  // M K V T C
        const int64_t K = s[1], V = s[2];
        if (a.gemm_matrix != kNoConst) {
          if (a.adjacency != kNoConst || a.importance != kNoConst)
            return fail("lowered aggregation still refers to the adjacency");
          STGCN_RETURN_IF_ERROR(expect_const(a.gemm_matrix, {V, K * V}, "gemm_matrix", true));
        } else {
          STGCN_RETURN_IF_ERROR(expect_const(a.adjacency, {K, V, V}, "adjacency", true));
          STGCN_RETURN_IF_ERROR(expect_const(a.importance, {K, V, V}, "importance", false));
        }
        STGCN_RETURN_IF_ERROR(expect_const(a.bias, {s[4]}, "bias", false));
        return expect_out({s[0], V, s[3], s[4]});
      }
      case Op::kBatchNorm: {
        STGCN_RETURN_IF_ERROR(expect_inputs(1));
        auto& a = n.as<BatchNormAttrs>();
        if (in(0).empty()) return fail("scalar input");
        int64_t C = in(0).back();
        STGCN_RETURN_IF_ERROR(expect_const(a.scale, {C}, "scale", true));
        STGCN_RETURN_IF_ERROR(expect_const(a.shift, {C}, "shift", true));
        return expect_out(in(0));
      }
      case Op::kRelu: STGCN_RETURN_IF_ERROR(expect_inputs(1)); return expect_out(in(0));
      case Op::kTemporalConv: {
        auto& a = n.as<TemporalConvAttrs>();
        STGCN_RETURN_IF_ERROR(expect_inputs(a.add_residual ? 2 : 1));
        STGCN_RETURN_IF_ERROR(expect_rank(in(0), 4, "input"));
        STGCN_RETURN_IF_ERROR(expect_rank(out(), 4, "output"));
        if (a.kernel < 1 || a.stride < 1 || a.dilation < 1 || a.dilation > 64 || a.pad < 0 ||
            a.pad > (a.kernel - 1) * a.dilation)
          return fail("bad kernel/stride/pad/dilation");
        const auto& s = in(0);
        int64_t cout = out()[3];
        // `pad` zero frames on the left, kernel - 1 - pad on the right.
        int64_t t_out = (s[2] - 1) / a.stride + 1;
        STGCN_RETURN_IF_ERROR(expect_const(a.weight, {cout, s[3], a.kernel}, "weight", true));
        STGCN_RETURN_IF_ERROR(expect_const(a.bias, {cout}, "bias", false));
        STGCN_RETURN_IF_ERROR(expect_const(a.wscale, {cout}, "wscale", false));
        if (a.add_residual && in(1) != out())
          return fail(
              fmt::format("residual shape {} != output {}", shape_str(in(1)), shape_str(out())));
        return expect_out({s[0], s[1], t_out, cout});
      }
      case Op::kResidualConv: {
        STGCN_RETURN_IF_ERROR(expect_inputs(1));
        STGCN_RETURN_IF_ERROR(expect_rank(in(0), 4, "input"));
        STGCN_RETURN_IF_ERROR(expect_rank(out(), 4, "output"));
        auto& a = n.as<ResidualConvAttrs>();
        const auto& s = in(0);
        if (a.stride < 1) return fail("stride < 1");
        int64_t cout = out()[3];
        STGCN_RETURN_IF_ERROR(expect_const(a.weight, {cout, s[3]}, "weight", true));
        STGCN_RETURN_IF_ERROR(expect_const(a.bias, {cout}, "bias", false));
        STGCN_RETURN_IF_ERROR(expect_const(a.wscale, {cout}, "wscale", false));
        return expect_out({s[0], s[1], (s[2] - 1) / a.stride + 1, cout});
      }
      case Op::kAdd:
        STGCN_RETURN_IF_ERROR(expect_inputs(2));
        if (in(0) != in(1)) return fail("operand shapes differ");
        return expect_out(in(0));
      case Op::kGlobalPool:
        STGCN_RETURN_IF_ERROR(expect_inputs(1));
        STGCN_RETURN_IF_ERROR(expect_rank(in(0), 4, "input"));
        return expect_out({in(0)[0], in(0)[3]});
      case Op::kPersonMean:
        STGCN_RETURN_IF_ERROR(expect_inputs(1));
        STGCN_RETURN_IF_ERROR(expect_rank(in(0), 2, "input"));
        return expect_out({in(0)[1]});
      case Op::kFcn: {
        STGCN_RETURN_IF_ERROR(expect_inputs(1));
        STGCN_RETURN_IF_ERROR(expect_rank(in(0), 1, "input"));
        STGCN_RETURN_IF_ERROR(expect_rank(out(), 1, "output"));
        auto& a = n.as<FcnAttrs>();
        STGCN_RETURN_IF_ERROR(expect_const(a.weight, {out()[0], in(0)[0]}, "weight", true));
        return expect_const(a.bias, {out()[0]}, "bias", false);
      }
      case Op::kHead: {
        STGCN_RETURN_IF_ERROR(expect_inputs(1));
        STGCN_RETURN_IF_ERROR(expect_rank(in(0), 4, "input"));
        STGCN_RETURN_IF_ERROR(expect_rank(out(), 1, "output"));
        auto& a = n.as<HeadAttrs>();
        STGCN_RETURN_IF_ERROR(expect_const(a.weight, {out()[0], in(0)[3]}, "weight", true));
        return expect_const(a.bias, {out()[0]}, "bias", false);
      }
      case Op::kConvert:
        STGCN_RETURN_IF_ERROR(expect_inputs(1));
        return expect_out(in(0));
      case Op::kMaxPool: {
        STGCN_RETURN_IF_ERROR(expect_inputs(1));
        STGCN_RETURN_IF_ERROR(expect_rank(in(0), 4, "input"));
        auto& a = n.as<MaxPoolAttrs>();
        if (a.kernel < 1 || a.kernel > 16 || a.stride < 1 || a.pad < 0 || a.pad > a.kernel - 1)
          return fail("bad kernel/stride/pad");
        const auto& s = in(0);
        STGCN_RETURN_IF_ERROR(expect_const(a.scale, {s[3]}, "scale", false));
        STGCN_RETURN_IF_ERROR(expect_const(a.shift, {s[3]}, "shift", false));
        if ((a.scale == kNoConst) != (a.shift == kNoConst)) return fail("scale without shift");
        return expect_out({s[0], s[1], (s[2] - 1) / a.stride + 1, s[3]});
      }
      case Op::kConcat: {
        if (n.inputs.size() < 2) return fail("concat needs at least 2 inputs");
        int64_t c = 0;
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          STGCN_RETURN_IF_ERROR(expect_rank(in(i), 4, "input"));
          if (!std::equal(in(i).begin(), in(i).begin() + 3, in(0).begin()))
            return fail(fmt::format("input {} has shape {}, not (M, V, T) of input 0 {}", i,
                                    shape_str(in(i)), shape_str(in(0))));
          c += in(i)[3];
        }
        return expect_out({in(0)[0], in(0)[1], in(0)[2], c});
      }
    }
    return fail("unknown op");
  }
};

}  // namespace

Status verify(const Graph& g, const Capabilities* caps) {
  const int nv = static_cast<int>(g.values.size());
  if (g.input < 0 || g.input >= nv || g.output < 0 || g.output >= nv)
    return Status(ErrorCode::kCorrupt, "graph: input/output value out of range");
  std::vector<bool> defined(g.values.size(), false);
  for (const Value& v : g.values)
    for (int64_t d : v.shape)
      if (d < 1 || d > (int64_t{1} << 31))
        return Status(ErrorCode::kCorrupt,
                      fmt::format("graph: value '{}' has dimension {}", v.name, d));
  for (const Node& n : g.nodes) {
    Verifier ver{g, &n, caps};
    if (static_cast<size_t>(n.op) >= static_cast<size_t>(kOpCount) ||
        n.attrs.index() != static_cast<size_t>(n.op))
      return ver.fail("attributes do not belong to the op");
    if (n.branch < -1 || n.branch > 7)
      return ver.fail(fmt::format("branch {} out of range", n.branch));
    for (ValueId v : n.inputs) {
      if (v < 0 || v >= nv) return ver.fail(fmt::format("input value {} out of range", v));
      if (!defined[v])
        return ver.fail(fmt::format("reads '{}' before it is produced", g.values[v].name));
    }
    if (n.output < 0 || n.output >= nv) return ver.fail("output value out of range");
    if (defined[n.output])
      return ver.fail(fmt::format("'{}' is produced twice", g.values[n.output].name));
    defined[n.output] = true;
    if ((n.op == Op::kInput) != (n.output == g.input))
      return ver.fail("only the input node may produce the graph input");
    STGCN_RETURN_IF_ERROR(ver.check());
    STGCN_RETURN_IF_ERROR(ver.check_types());
  }
  if (!defined[g.output]) return Status(ErrorCode::kCorrupt, "graph: the output is never produced");
  if (g.values[g.output].shape.size() != 1)
    return Status(ErrorCode::kCorrupt, "graph: the output must be (classes)");
  return Status::ok();
}

std::string to_text(const Graph& g) {
  std::string out;
  for (const Node& n : g.nodes) {
    const Value& o = g.values[n.output];
    std::string args;
    for (ValueId v : n.inputs) {
      if (!args.empty()) args += ", ";
      args += fmt::format("%{}", g.values[v].name);
    }
    std::string extra;
    auto flag = [&](bool on, const char* what) {
      if (on) extra += fmt::format(" {}", what);
    };
    switch (n.op) {
      case Op::kInput:
      case Op::kDataBn:
      case Op::kBatchNorm:
      case Op::kRelu:
      case Op::kGlobalPool:
      case Op::kPersonMean:
      case Op::kFcn:
      case Op::kConvert:
      case Op::kConcat:
      case Op::kHead: break;
      case Op::kMaxPool: {
        const auto& a = n.as<MaxPoolAttrs>();
        extra += fmt::format(" kernel={} stride={} pad={}", a.kernel, a.stride, a.pad);
        flag(a.scale != kNoConst, "affine");
        flag(a.relu, "relu");
        break;
      }
      case Op::kMotion:
        extra += fmt::format(" mode={}", motion_mode_name(n.as<MotionAttrs>().mode));
        break;
      case Op::kGcnConv: extra += fmt::format(" K={}", n.as<GcnConvAttrs>().K); break;
      case Op::kAggregate: {
        const auto& a = n.as<AggregateAttrs>();
        extra += a.gemm_matrix != kNoConst ? " gemm" : " dense";
        flag(a.importance != kNoConst, "importance");
        flag(a.bias != kNoConst, "bias");
        flag(a.add_residual, "+residual");
        flag(a.relu, "relu");
        break;
      }
      case Op::kTemporalConv: {
        const auto& a = n.as<TemporalConvAttrs>();
        extra += fmt::format(" kernel={} stride={} pad={}", a.kernel, a.stride, a.pad);
        if (a.dilation != 1) extra += fmt::format(" dilation={}", a.dilation);
        flag(a.add_residual, "+residual");
        flag(a.relu, "relu");
        break;
      }
      case Op::kResidualConv:
        extra += fmt::format(" stride={}", n.as<ResidualConvAttrs>().stride);
        break;
      case Op::kAdd: flag(n.as<AddAttrs>().relu, "relu"); break;
    }
    std::string consts;
    for (ConstId c : const_refs(n)) {
      if (c == kNoConst) continue;
      const Constant& k = g.constants[c];
      consts += fmt::format(" {}{}", k.name, shape_str(k.shape));
    }
    const std::string type =
        o.dtype == DType::kF32 ? ""
        : is_int8(o.dtype)     ? fmt::format(" {}*{:.4g}", dtype_name(o.dtype), o.scale)
                               : fmt::format(" {}", dtype_name(o.dtype));
    out += fmt::format("[{}] %{} {}{} = {}({}){}{}{}\n",
                       n.branch < 0 ? std::string("join") : fmt::format("s{}", n.branch), o.name,
                       shape_str(o.shape), type, op_name(n.op), args, extra,
                       consts.empty() ? "" : "  consts:", consts);
  }
  out += fmt::format("output %{}\n", g.values[g.output].name);
  return out;
}

}  // namespace stgcn::ir
