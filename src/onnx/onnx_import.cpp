// ONNX import: an ONNX file written by torch.onnx.export (or `stgcn export`)
// from a single- or two-stream ST-GCN, or from an mmaction2 / pyskl ST-GCN or
// ST-GCN++ (mmaction2's deployment script; input (N, M, T, V, C)) -> the
// internal Model.
//
// Pipeline: parse the ModelProto (protobuf, no exception crosses this file),
// build_graph (import_eval.cpp: constant folding of the shape arithmetic,
// static shapes), match_stgcn (import_match.cpp, import_block.cpp: the
// structure and the weights), then a checkpoint-style state dict handed to
// model_from_state_dict, so an imported model is assembled and validated
// exactly like a checkpoint (strides come from the Conv attributes). An
// mmaction2 graph gives an mmaction2 state dict (import_mm.cpp: each block's
// aggregation constant as its own `gcn.A`), so the model is of that dialect
// and takes (N, M, T, V, C) samples.
//
// Representation choices (docs/checkpoints.md, "ONNX import"):
// - BatchNorms the exporter folded into a conv become identity BatchNorms;
//   BatchNorms or scale/shift constants that remain become BatchNorms with
//   weight = scale, bias = shift, mean 0 and var + eps == 1.
// - The aggregation constant holds A ⊙ edge_importance[i] per block. It is
//   split back when possible: the two factors of an unfolded Mul; one constant
//   for every block (A, edge importance off); a named layout (or --layout)
//   whose A has the same non-zeros (importance = constant / A). Otherwise A is
//   all ones and each block's importance is its constant (exact).
// - A final Softmax is reported through LoadOptions::warn; the model returns
//   the logits before it.
#include <algorithm>
#include <climits>
#include <cmath>
#include <fstream>
#include <set>

#include "onnx/import_match.h"
#include "stgcn/onnx.h"

namespace stgcn {
namespace {

using onnx_import::BlockMatch;
using onnx_import::StreamMatch;
using onnx_import::StreamSource;

std::string str(int64_t v) { return std::to_string(v); }

struct Adjacencies {
  Tensor A;                        // (K, V, V)
  std::vector<Tensor> importance;  // per block, or empty
  std::string how;
};

Tensor kvv(int64_t K, int64_t V, std::vector<float> v) { return Tensor({K, V, V}, std::move(v)); }

std::vector<Layout> candidate_layouts(int V, const LoadOptions& opt) {
  std::vector<Layout> out;
  if (opt.layout) {
    auto named = named_layout(*opt.layout);
    auto l = named.is_ok() ? named : load_custom_layout(*opt.layout);
    if (l.is_ok() && l->num_joints == V) out.push_back(*l);
  }
  for (const auto& name : layout_names()) {
    auto l = named_layout(name);
    if (l.is_ok() && l->num_joints == V) out.push_back(*l);
  }
  return out;
}

Adjacencies split_adjacency(const StreamMatch& s, const LoadOptions& opt) {
  const auto& blocks = s.blocks;
  const int64_t K = blocks.front().K, V = s.V;
  Adjacencies out;
  auto same = [&](auto member) {
    for (const auto& b : blocks)
      if (b.*member != blocks.front().*member) return false;
    return true;
  };
  const bool unfolded = std::all_of(blocks.begin(), blocks.end(),
                                    [](const BlockMatch& b) { return !b.coef_a.empty(); });
  if (unfolded && (same(&BlockMatch::coef_a) || same(&BlockMatch::coef_b))) {
    const bool a_first = same(&BlockMatch::coef_a);
    out.A = kvv(K, V, a_first ? blocks.front().coef_a : blocks.front().coef_b);
    for (const auto& b : blocks) out.importance.push_back(kvv(K, V, a_first ? b.coef_b : b.coef_a));
    out.how = "ONNX (A and edge importance from the unfolded products)";
    return out;
  }
  if (same(&BlockMatch::coef)) {
    out.A = kvv(K, V, blocks.front().coef);
    out.how = "ONNX (the aggregation constant; edge importance folded in, if any)";
    return out;
  }
  // A named layout whose A has the same non-zeros as every block's constant.
  for (const Layout& layout : candidate_layouts(static_cast<int>(V), opt)) {
    for (Strategy st : {Strategy::kSpatial, Strategy::kUniform, Strategy::kDistance})
      for (int hop = 1; hop <= 3; ++hop)
        for (int dil = 1; dil <= hop; ++dil) {
          auto adj = build_adjacency(layout, {st, hop, dil});
          if (!adj.is_ok() || adj->K != K) continue;
          bool support = true;
          for (const auto& b : blocks)
            for (size_t e = 0; support && e < b.coef.size(); ++e)
              support = (adj->values[e] != 0) == (b.coef[e] != 0);
          if (!support) continue;
          std::vector<float> a(adj->values.begin(), adj->values.end());
          out.A = kvv(K, V, a);
          for (const auto& b : blocks) {
            std::vector<float> imp(a.size(), 0.0f);
            for (size_t e = 0; e < a.size(); ++e)
              if (a[e] != 0) imp[e] = b.coef[e] / a[e];
            out.importance.push_back(kvv(K, V, std::move(imp)));
          }
          out.how = "ONNX (A ⊙ edge importance per block, split with the A of layout '" +
                    layout.name + "', " + strategy_name(st) + ")";
          return out;
        }
  }
  out.A = kvv(K, V, std::vector<float>(static_cast<size_t>(K * V * V), 1.0f));
  for (const auto& b : blocks) out.importance.push_back(kvv(K, V, b.coef));
  out.how = "ONNX (A ⊙ edge importance per block; A stored as ones)";
  return out;
}

Status add_bn(StateDict& sd, const std::string& name, const onnx_import::Affine& a) {
  return onnx_import::add_batch_norm(sd, name, a);
}

Status add_stream(StateDict& sd, const std::string& p, const StreamMatch& s,
                  const Adjacencies& adj) {
  sd.emplace_back(p + "A", adj.A);
  STGCN_RETURN_IF_ERROR(add_bn(sd, p + "data_bn", s.data_bn));
  for (size_t i = 0; i < s.blocks.size(); ++i) {
    const BlockMatch& b = s.blocks[i];
    const std::string q = p + "st_gcn_networks." + str(static_cast<int64_t>(i)) + ".";
    sd.emplace_back(q + "gcn.conv.weight", b.gcn_w);
    sd.emplace_back(q + "gcn.conv.bias", b.gcn_b);
    STGCN_RETURN_IF_ERROR(add_bn(sd, q + "tcn.0", b.gcn_bn));
    sd.emplace_back(q + "tcn.2.weight", b.tcn_w);
    sd.emplace_back(q + "tcn.2.bias", b.tcn_b);
    STGCN_RETURN_IF_ERROR(add_bn(sd, q + "tcn.3", b.tcn_bn));
    if (b.residual == ResidualKind::kConv) {
      sd.emplace_back(q + "residual.0.weight", b.res_w);
      sd.emplace_back(q + "residual.0.bias", b.res_b);
      STGCN_RETURN_IF_ERROR(add_bn(sd, q + "residual.1", b.res_bn));
    }
  }
  for (size_t i = 0; i < adj.importance.size(); ++i)
    sd.emplace_back(p + "edge_importance." + str(static_cast<int64_t>(i)), adj.importance[i]);
  sd.emplace_back(p + "fcn.weight", s.fcn_w);
  sd.emplace_back(p + "fcn.bias", s.fcn_b);
  return Status::ok();
}

Status check_finite(const StateDict& sd) {
  for (const auto& [name, t] : sd)
    for (float v : t.data)
      if (!std::isfinite(v))
        return invalid_argument("the graph's weights for '" + name + "' hold a non-finite value");
  return Status::ok();
}

void warn_common(const onnx_import::GraphMatch& m, const std::vector<int>& strides,
                 const std::string& source, const LoadOptions& opt) {
  if (opt.strides && *opt.strides != strides && opt.warn)
    opt.warn("'" + source + "': --strides is ignored; the ONNX graph's convs give the strides");
  if (opt.warn && m.softmax)
    opt.warn("'" + source + "' ends in a Softmax; the imported model returns the logits before it");
}

// An (N, M, T, V, C) graph: an mmaction2 state dict through the mmaction2 loader.
Result<Model> import_mm(const onnx_import::GraphMatch& m, const std::string& source,
                        const LoadOptions& opt) {
  const StreamMatch& s = m.streams.front();
  STGCN_ASSIGN_OR_RETURN(StateDict sd, onnx_import::mm_state_dict(s));
  std::vector<int> strides;
  for (const auto& b : s.blocks) {
    strides.push_back(b.stride);
    if (b.padding != s.blocks.front().padding)
      return unsupported("the blocks mix centre and causal temporal padding");
  }
  LoadOptions o = opt;
  o.strides = strides;
  o.temporal_padding = s.blocks.front().padding;
  o.gcn_adaptive.reset();  // no PA: each block's A is its aggregation constant
  STGCN_RETURN_IF_ERROR(check_finite(sd));
  STGCN_ASSIGN_OR_RETURN(Model model, model_from_state_dict(sd, o, source));
  model.spec.a_source = "ONNX (the aggregation constant of each block as its A)";
  warn_common(m, strides, source, opt);
  return model;
}

Result<Model> import_matched(const onnx_import::GraphMatch& m, const std::string& source,
                             const LoadOptions& opt) {
  const bool two = m.streams.size() == 2;
  StateDict sd;
  std::vector<Adjacencies> adj;
  for (size_t i = 0; i < m.streams.size(); ++i) {
    adj.push_back(split_adjacency(m.streams[i], opt));
    STGCN_RETURN_IF_ERROR(add_stream(sd, two ? (i == 0 ? "origin_stream." : "motion_stream.") : "",
                                     m.streams[i], adj.back()));
  }
  std::vector<int> strides;
  for (const auto& b : m.streams.front().blocks) strides.push_back(b.stride);
  if (two) {
    std::vector<int> other;
    for (const auto& b : m.streams.back().blocks) other.push_back(b.stride);
    if (other != strides) return unsupported("the two streams use different temporal strides");
  }
  const TemporalPadding padding = m.streams.front().blocks.front().padding;
  for (const auto& st : m.streams)
    for (const auto& b : st.blocks)
      if (b.padding != padding)
        return unsupported("the blocks mix centre and causal temporal padding");
  LoadOptions o = opt;
  o.temporal_padding = padding;
  o.strides = strides;
  if (two)
    o.motion = m.streams.back().source == StreamSource::kCentralDifference
                   ? MotionMode::kCentralDifference
                   : MotionMode::kFirstDifference;
  STGCN_RETURN_IF_ERROR(check_finite(sd));
  STGCN_ASSIGN_OR_RETURN(Model model, model_from_state_dict(sd, o, source));
  model.spec.a_source = adj.front().how;
  warn_common(m, strides, source, opt);
  return model;
}

// The axis orders the graph input may have: (N, C, T, V, M) unless its C would be symbolic;
// mmaction2's (N, M, T, V, C) when its last extent is static (tried second when both are).
std::vector<InputLayout> input_orders(const ::onnx::ModelProto& proto) {
  std::set<std::string> initializers;
  for (const auto& init : proto.graph().initializer()) initializers.insert(init.name());
  const ::onnx::ValueInfoProto* input = nullptr;
  for (const auto& in : proto.graph().input())
    if (!initializers.count(in.name())) {
      if (input) return {InputLayout::kNCTVM};
      input = &in;
    }
  if (!input || !input->type().has_tensor_type() || !input->type().tensor_type().has_shape() ||
      input->type().tensor_type().shape().dim_size() != 5)
    return {InputLayout::kNCTVM};
  const auto& shape = input->type().tensor_type().shape();
  const bool c_first = shape.dim(1).has_dim_value(), c_last = shape.dim(4).has_dim_value();
  if (!c_last) return {InputLayout::kNCTVM};
  if (!c_first) return {InputLayout::kNMTVC};
  return {InputLayout::kNCTVM, InputLayout::kNMTVC};
}

Result<Model> import_parsed(const ::onnx::ModelProto& proto, const std::string& source,
                            const LoadOptions& opt) {
  // Each plausible input order in turn; when none matches, the error of the one that got
  // furthest (the first on a tie) is the one to report.
  Status error = internal_error("no input order tried");
  int best = -2;
  for (InputLayout order : input_orders(proto)) {
    const bool mm = order == InputLayout::kNMTVC;
    auto g = onnx_import::build_graph(proto, mm);
    int progress = -1;
    Result<onnx_import::GraphMatch> m = g.is_ok() ? onnx_import::match_stgcn(*g, order, &progress)
                                                  : Result<onnx_import::GraphMatch>(g.status());
    if (m.is_ok()) return mm ? import_mm(*m, source, opt) : import_matched(*m, source, opt);
    if (progress > best) {
      best = progress;
      error = m.status();
    }
  }
  return error;
}

}  // namespace

Result<Model> import_onnx_bytes(std::span<const uint8_t> bytes, std::string_view name,
                                const LoadOptions& options) {
  const std::string source(name);
  const std::string prefix = "cannot load '" + source + "': ";
  if (bytes.empty()) return corrupt(prefix + "the file is empty");
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    return unsupported(prefix + "ONNX files larger than 2 GB are not supported (protobuf limit)");
  try {
    ::onnx::ModelProto proto;
    if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
      return corrupt(prefix +
                     "not a valid ONNX file (protobuf parse failed: truncated or corrupt)");
    auto model = import_parsed(proto, source, options);
    if (!model.is_ok()) return model.status().with_context(prefix);
    return model;
  } catch (const std::bad_alloc&) {
    return corrupt(prefix + "out of memory while reading the ONNX graph");
  } catch (const std::exception& e) {
    return corrupt(prefix + "malformed ONNX file (" + e.what() + ")");
  }
}

Result<Model> import_onnx(const std::string& path, const LoadOptions& options) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return not_found("cannot load '" + path + "': file not found or not readable");
  const std::streamoff size = in.tellg();
  if (size < 0) return io_error("cannot load '" + path + "': cannot determine the file size");
  if (size > INT_MAX)
    return unsupported("cannot load '" + path +
                       "': ONNX files larger than 2 GB are not supported (protobuf limit)");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
    return io_error("cannot load '" + path + "': read failed");
  return import_onnx_bytes(bytes, path, options);
}

}  // namespace stgcn
