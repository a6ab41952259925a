#include "engine/graph_json.h"

#include <fmt/format.h>

namespace stgcn::engine {
using nlohmann::json;
using namespace stgcn::ir;

namespace {

// Each attribute struct lists its fields once; the same list writes and reads.
template <typename F>
void fields(MotionAttrs& a, F&& f) {
  int mode = static_cast<int>(a.mode);
  f("mode", mode);
  a.mode = static_cast<MotionMode>(mode);
}
template <typename F>
void fields(InputAttrs&, F&&) {}
template <typename F>
void fields(DataBnAttrs& a, F&& f) {
  f("scale", a.scale), f("shift", a.shift);
}
template <typename F>
void fields(GcnConvAttrs& a, F&& f) {
  f("K", a.K), f("weight", a.weight), f("bias", a.bias), f("wscale", a.wscale);
}
template <typename F>
void fields(AggregateAttrs& a, F&& f) {
  f("adjacency", a.adjacency), f("importance", a.importance), f("gemm_matrix", a.gemm_matrix);
  f("bias", a.bias);
  int relu = a.relu, add = a.add_residual;
  f("relu", relu), f("add_residual", add);
  a.relu = relu != 0;
  a.add_residual = add != 0;
}
template <typename F>
void fields(BatchNormAttrs& a, F&& f) {
  f("scale", a.scale), f("shift", a.shift);
}
template <typename F>
void fields(ReluAttrs&, F&&) {}
template <typename F>
void fields(TemporalConvAttrs& a, F&& f) {
  f("kernel", a.kernel), f("stride", a.stride), f("pad", a.pad), f("weight", a.weight);
  f("bias", a.bias), f("wscale", a.wscale), f("dilation", a.dilation);
  int add = a.add_residual, relu = a.relu;
  f("add_residual", add), f("relu", relu);
  a.add_residual = add != 0;
  a.relu = relu != 0;
}
template <typename F>
void fields(ResidualConvAttrs& a, F&& f) {
  f("stride", a.stride), f("weight", a.weight), f("bias", a.bias), f("wscale", a.wscale);
}
template <typename F>
void fields(AddAttrs& a, F&& f) {
  int relu = a.relu;
  f("relu", relu);
  a.relu = relu != 0;
}
template <typename F>
void fields(GlobalPoolAttrs&, F&&) {}
template <typename F>
void fields(PersonMeanAttrs&, F&&) {}
template <typename F>
void fields(FcnAttrs& a, F&& f) {
  f("weight", a.weight), f("bias", a.bias);
}
template <typename F>
void fields(HeadAttrs& a, F&& f) {
  f("weight", a.weight), f("bias", a.bias);
}
template <typename F>
void fields(ConvertAttrs&, F&&) {}
template <typename F>
void fields(MaxPoolAttrs& a, F&& f) {
  f("kernel", a.kernel), f("stride", a.stride), f("pad", a.pad), f("scale", a.scale);
  f("shift", a.shift);
  int relu = a.relu;
  f("relu", relu);
  a.relu = relu != 0;
}
template <typename F>
void fields(ConcatAttrs&, F&&) {}
template <typename F>
void fields(std::monostate&, F&&) {}

// Attributes added after engines were first written: absent in older files, default kept.
bool optional_field(const char* key) {
  return std::string_view(key) == "dilation" || std::string_view(key) == "add_residual";
}

Status bad(const std::string& what) {
  return Status(ErrorCode::kCorrupt, fmt::format("engine metadata: {}", what));
}

Result<int64_t> get_int(const json& j, const char* key, int64_t lo, int64_t hi) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer())
    return bad(fmt::format("'{}' is missing or not an integer", key));
  int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) return bad(fmt::format("'{}' = {} is outside {}..{}", key, v, lo, hi));
  return v;
}

Result<std::vector<int64_t>> get_shape(const json& j, const char* what) {
  if (!j.is_array() || j.size() > 8)
    return bad(fmt::format("{}: shape is not a list of <= 8 dims", what));
  std::vector<int64_t> s;
  for (const json& d : j) {
    if (!d.is_number_integer()) return bad(fmt::format("{}: dimension is not an integer", what));
    int64_t v = d.get<int64_t>();
    if (v < 1 || v > (int64_t{1} << 31))
      return bad(fmt::format("{}: dimension {} out of range", what, v));
    s.push_back(v);
  }
  return s;
}

Result<std::string> get_str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string())
    return bad(fmt::format("'{}' is missing or not a string", key));
  return it->get<std::string>();
}

}  // namespace

json graph_to_json(const Graph& g) {
  json j;
  j["input"] = g.input;
  j["output"] = g.output;
  json values = json::array();
  for (const Value& v : g.values) {
    json jv = {{"name", v.name}, {"shape", v.shape}};
    if (v.dtype != ir::DType::kF32) jv["dtype"] = dtype_name(v.dtype);
    if (ir::is_int8(v.dtype)) jv["scale"] = v.scale;
    values.push_back(jv);
  }
  j["values"] = values;
  json consts = json::array();
  for (const Constant& c : g.constants) consts.push_back({{"name", c.name}, {"shape", c.shape}});
  j["constants"] = consts;
  json nodes = json::array();
  for (const Node& n : g.nodes) {
    json attrs = json::object();
    Attrs copy = n.attrs;
    std::visit([&](auto& a) { fields(a, [&](const char* k, auto& v) { attrs[k] = v; }); }, copy);
    nodes.push_back({{"op", op_name(n.op)},
                     {"name", n.name},
                     {"inputs", n.inputs},
                     {"output", n.output},
                     {"branch", n.branch},
                     {"attrs", attrs}});
  }
  j["nodes"] = nodes;
  return j;
}

Result<Graph> graph_from_json(const json& j) {
  if (!j.is_object()) return bad("graph is not an object");
  Graph g;
  auto values = j.find("values"), consts = j.find("constants"), nodes = j.find("nodes");
  if (values == j.end() || !values->is_array() || consts == j.end() || !consts->is_array() ||
      nodes == j.end() || !nodes->is_array())
    return bad("graph lacks values/constants/nodes lists");
  if (values->size() > 100000 || consts->size() > 100000 || nodes->size() > 100000)
    return bad("graph is implausibly large");
  for (const json& v : *values) {
    if (!v.is_object()) return bad("value is not an object");
    STGCN_ASSIGN_OR_RETURN(std::string name, get_str(v, "name"));
    STGCN_ASSIGN_OR_RETURN(auto shape, get_shape(v.value("shape", json()), name.c_str()));
    const ValueId id = g.add_value(name, shape);
    if (v.contains("dtype")) {
      if (!v["dtype"].is_string())
        return bad(fmt::format("value '{}': dtype is not a string", name));
      auto t = parse_dtype(v["dtype"].get<std::string>());
      if (!t.is_ok()) return bad(fmt::format("value '{}': {}", name, t.status().message()));
      g.values[id].dtype = *t;
    }
    if (v.contains("scale")) {
      if (!v["scale"].is_number()) return bad(fmt::format("value '{}': scale is not a number", name));
      g.values[id].scale = v["scale"].get<float>();
    }
  }
  for (const json& c : *consts) {
    if (!c.is_object()) return bad("constant is not an object");
    Constant k;
    STGCN_ASSIGN_OR_RETURN(k.name, get_str(c, "name"));
    STGCN_ASSIGN_OR_RETURN(k.shape, get_shape(c.value("shape", json()), k.name.c_str()));
    g.constants.push_back(std::move(k));
  }
  const int64_t nv = static_cast<int64_t>(g.values.size());
  const int64_t nc = static_cast<int64_t>(g.constants.size());
  for (const json& jn : *nodes) {
    if (!jn.is_object()) return bad("node is not an object");
    Node n;
    STGCN_ASSIGN_OR_RETURN(std::string op, get_str(jn, "op"));
    STGCN_ASSIGN_OR_RETURN(n.op, parse_op(op));
    STGCN_ASSIGN_OR_RETURN(n.name, get_str(jn, "name"));
    STGCN_ASSIGN_OR_RETURN(int64_t out, get_int(jn, "output", 0, nv - 1));
    STGCN_ASSIGN_OR_RETURN(int64_t branch, get_int(jn, "branch", -1, 7));
    n.output = static_cast<ValueId>(out);
    n.branch = static_cast<int>(branch);
    auto ins = jn.find("inputs");
    if (ins == jn.end() || !ins->is_array() || ins->size() > 8)
      return bad(fmt::format("node '{}': bad inputs", n.name));
    for (const json& i : *ins) {
      if (!i.is_number_integer() || i.get<int64_t>() < 0 || i.get<int64_t>() >= nv)
        return bad(fmt::format("node '{}': input out of range", n.name));
      n.inputs.push_back(i.get<int>());
    }
    auto attrs = jn.find("attrs");
    if (attrs == jn.end() || !attrs->is_object())
      return bad(fmt::format("node '{}': no attrs", n.name));
    n.attrs = default_attrs(n.op);
    Status st = Status::ok();
    std::visit(
        [&](auto& a) {
          fields(a, [&](const char* k, auto& v) {
            if (!st.is_ok()) return;
            if (optional_field(k) && !attrs->contains(k)) return;
            auto r = get_int(*attrs, k, -1, 1 << 20);
            if (!r.is_ok()) {
              st = bad(fmt::format("node '{}': {}", n.name, r.status().message()));
              return;
            }
            v = static_cast<std::remove_reference_t<decltype(v)>>(*r);
          });
        },
        n.attrs);
    STGCN_RETURN_IF_ERROR(st);
    for (ConstId c : const_refs(static_cast<const Node&>(n)))
      if (c != kNoConst && (c < 0 || c >= nc))
        return bad(fmt::format("node '{}': constant id {} out of range", n.name, c));
    if (n.op == Op::kMotion) {
      int mode = static_cast<int>(n.as<MotionAttrs>().mode);
      if (mode < 0 || mode > 1) return bad(fmt::format("node '{}': motion mode {}", n.name, mode));
    }
    g.nodes.push_back(std::move(n));
  }
  STGCN_ASSIGN_OR_RETURN(int64_t in, get_int(j, "input", 0, nv - 1));
  STGCN_ASSIGN_OR_RETURN(int64_t out, get_int(j, "output", 0, nv - 1));
  g.input = static_cast<ValueId>(in);
  g.output = static_cast<ValueId>(out);
  return g;
}

json spec_to_json(const ModelSpec& spec) {
  json streams = json::array();
  for (const StreamSpec& s : spec.streams) {
    json blocks = json::array();
    for (const BlockSpec& b : s.blocks) {
      // [cin, cout, stride, residual(, gcn_residual, temporal unit(, 6 branch widths))]
      json jb = {b.in_channels, b.out_channels, b.stride, static_cast<int>(b.residual)};
      if (b.gcn_residual != ResidualKind::kNone || b.temporal != TemporalUnit::kConv) {
        jb.push_back(static_cast<int>(b.gcn_residual));
        jb.push_back(static_cast<int>(b.temporal));
        for (int c : b.branch_channels) jb.push_back(c);
      }
      blocks.push_back(jb);
    }
    streams.push_back({{"C", s.C},
                       {"V", s.V},
                       {"K", s.K},
                       {"temporal_kernel", s.temporal_kernel},
                       {"temporal_padding", temporal_padding_name(s.temporal_padding)},
                       {"num_class", s.num_class},
                       {"edge_importance", s.edge_importance},
                       {"data_bn_persons", s.data_bn_persons},
                       {"blocks", blocks}});
  }
  return {{"dialect", dialect_name(spec.dialect)}, {"family", spec.family},
          {"gcn_adaptive", spec.gcn_adaptive},
          {"two_stream", spec.two_stream}, {"motion", motion_mode_name(spec.motion)},
          {"layout", spec.layout},         {"strategy", spec.strategy},
          {"a_source", spec.a_source},     {"streams", streams}};
}

Result<ModelSpec> spec_from_json(const json& j) {
  if (!j.is_object()) return bad("spec is not an object");
  ModelSpec spec;
  auto ts = j.find("two_stream");
  if (ts == j.end() || !ts->is_boolean()) return bad("spec.two_stream missing");
  spec.two_stream = ts->get<bool>();
  if (j.contains("dialect")) {  // absent in engines of earlier builds: the original ST-GCN
    STGCN_ASSIGN_OR_RETURN(std::string d, get_str(j, "dialect"));
    if (d == "mmaction2") spec.dialect = Dialect::kMmaction2;
    else if (d == "pyskl") spec.dialect = Dialect::kPyskl;
    else if (d != "st-gcn") return bad("spec.dialect '" + d + "' is unknown");
    STGCN_ASSIGN_OR_RETURN(spec.family, get_str(j, "family"));
    STGCN_ASSIGN_OR_RETURN(spec.gcn_adaptive, get_str(j, "gcn_adaptive"));
  }
  STGCN_ASSIGN_OR_RETURN(std::string motion, get_str(j, "motion"));
  auto m = parse_motion_mode(motion);
  if (!m.is_ok()) return bad(m.status().message());
  spec.motion = *m;
  STGCN_ASSIGN_OR_RETURN(spec.layout, get_str(j, "layout"));
  STGCN_ASSIGN_OR_RETURN(spec.strategy, get_str(j, "strategy"));
  STGCN_ASSIGN_OR_RETURN(spec.a_source, get_str(j, "a_source"));
  auto streams = j.find("streams");
  if (streams == j.end() || !streams->is_array() || streams->empty() || streams->size() > 2)
    return bad("spec.streams must list 1 or 2 streams");
  for (const json& s : *streams) {
    if (!s.is_object()) return bad("stream is not an object");
    StreamSpec ss;
    STGCN_ASSIGN_OR_RETURN(int64_t C, get_int(s, "C", 1, 4096));
    STGCN_ASSIGN_OR_RETURN(int64_t V, get_int(s, "V", 1, 4096));
    STGCN_ASSIGN_OR_RETURN(int64_t K, get_int(s, "K", 1, 64));
    STGCN_ASSIGN_OR_RETURN(int64_t kt, get_int(s, "temporal_kernel", 1, 99));
    STGCN_ASSIGN_OR_RETURN(int64_t classes, get_int(s, "num_class", 1, 1 << 20));
    ss.C = static_cast<int>(C), ss.V = static_cast<int>(V), ss.K = static_cast<int>(K);
    ss.temporal_kernel = static_cast<int>(kt), ss.num_class = static_cast<int>(classes);
    ss.edge_importance = s.value("edge_importance", false);
    if (s.contains("data_bn_persons")) {
      STGCN_ASSIGN_OR_RETURN(int64_t p, get_int(s, "data_bn_persons", 1, 64));
      ss.data_bn_persons = static_cast<int>(p);
    }
    if (s.contains("temporal_padding")) {  // absent in engines of earlier builds: centre
      STGCN_ASSIGN_OR_RETURN(std::string tp, get_str(s, "temporal_padding"));
      auto p = parse_temporal_padding(tp);
      if (!p.is_ok()) return bad(p.status().message());
      ss.temporal_padding = *p;
    }
    auto blocks = s.find("blocks");
    if (blocks == s.end() || !blocks->is_array() || blocks->size() > 64)
      return bad("stream blocks missing");
    for (const json& b : *blocks) {
      if (!b.is_array() || (b.size() != 4 && b.size() != 6 && b.size() != 12))
        return bad("block is not [cin, cout, stride, residual(, gcn residual, temporal(, widths))]");
      for (const json& x : b)
        if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > (1 << 20))
          return bad("block field out of range");
      BlockSpec bs{b[0].get<int>(), b[1].get<int>(), b[2].get<int>(),
                   static_cast<ResidualKind>(std::min(b[3].get<int>(), 2))};
      if (b.size() >= 6) {
        bs.gcn_residual = static_cast<ResidualKind>(std::min(b[4].get<int>(), 2));
        bs.temporal = b[5].get<int>() == 1 ? TemporalUnit::kMultiScale : TemporalUnit::kConv;
        for (size_t i = 6; i < b.size(); ++i) bs.branch_channels.push_back(b[i].get<int>());
        if ((bs.temporal == TemporalUnit::kMultiScale) != (b.size() == 12))
          return bad("block: an mstcn lists six branch widths, a unit_tcn none");
      }
      ss.blocks.push_back(bs);
    }
    if (ss.blocks.empty()) return bad("stream has no blocks");
    spec.streams.push_back(std::move(ss));
  }
  return spec;
}

}  // namespace stgcn::engine
