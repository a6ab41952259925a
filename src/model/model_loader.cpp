// Infers the ST-GCN architecture from a state dict's names and shapes and
// gathers the weights (see include/stgcn/model.h).
#include <algorithm>
#include <cmath>
#include <set>

#include "model/state_reader.h"
#include "stgcn/checkpoint.h"
#include "stgcn/model.h"

namespace stgcn {
namespace {
using model_detail::fmt_int;
using model_detail::StreamReader;
using model_detail::recognise_adjacency;

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

Tensor adjacency_tensor(const Adjacency& a) {
  Tensor t({a.K, a.V, a.V});
  for (size_t i = 0; i < a.values.size(); ++i) t.data[i] = static_cast<float>(a.values[i]);
  return t;
}

double max_abs_diff(const Tensor& a, const Adjacency& b) {
  if (a.shape != std::vector<int64_t>{b.K, b.V, b.V}) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.data.size(); ++i)
    m = std::max(m, std::abs(static_cast<double>(a.data[i]) -
                             static_cast<double>(static_cast<float>(b.values[i]))));
  return m;
}

// How far a stored A may be from the exact one: the file's dtype rounds it.
double a_tolerance(const Tensor& A) {
  switch (A.source_dtype) {
    case DType::kF16: return 1e-3;
    case DType::kBF16: return 8e-3;
    default: return 1e-6;
  }
}

std::optional<std::string> default_layout_for(int V) {
  switch (V) {
    case 18: return "openpose";
    case 25: return "ntu-rgb+d";
    case 24: return "ntu_edge";
    case 33: return "mediapipe";
    case 17: return "coco";
    default: return std::nullopt;
  }
}

Result<Layout> resolve_layout(const std::string& name_or_path) {
  auto named = named_layout(name_or_path);
  if (named.is_ok()) return named;
  if (name_or_path.find('.') != std::string::npos || name_or_path.find('/') != std::string::npos)
    return load_custom_layout(name_or_path);
  return named.status();
}

struct StreamResult {
  StreamSpec spec;
  StreamWeights weights;
  std::string layout, strategy, a_source;
};

Result<StreamResult> read_stream(const StateDict& sd, const std::string& prefix,
                                 const LoadOptions& opt, const std::string& source) {
  StreamReader r(sd, prefix, source);
  StreamResult out;
  StreamSpec& spec = out.spec;
  StreamWeights& w = out.weights;

  // Blocks: st_gcn_networks.0 .. n-1, contiguous.
  int n_blocks = 0;
  while (r.has("st_gcn_networks." + fmt_int(n_blocks) + ".gcn.conv.weight")) ++n_blocks;
  if (n_blocks == 0) return r.error("no tensor '" + prefix + "st_gcn_networks.0.gcn.conv.weight'");
  if (opt.strides && static_cast<int>(opt.strides->size()) != n_blocks)
    return invalid_argument("--strides lists " + fmt_int(opt.strides->size()) +
                            " values but the checkpoint has " + fmt_int(n_blocks) + " blocks");

  const Tensor* data_bn_w = r.peek("data_bn.weight");
  if (!data_bn_w || data_bn_w->rank() != 1)
    return r.error("tensor '" + prefix + "data_bn.weight' is missing or not 1-D");
  const Tensor* g0 = r.peek("st_gcn_networks.0.gcn.conv.weight");
  if (g0->rank() != 4)
    return r.error("tensor '" + prefix + "st_gcn_networks.0.gcn.conv.weight' is not 4-D");
  spec.C = static_cast<int>(g0->shape[1]);
  if (spec.C <= 0 || data_bn_w->shape[0] % spec.C != 0)
    return r.error("data_bn has " + fmt_int(data_bn_w->shape[0]) +
                   " channels, not a multiple of the input channels C=" + fmt_int(spec.C));
  spec.V = static_cast<int>(data_bn_w->shape[0] / spec.C);

  // A: from the checkpoint when present, else from the layout.
  std::optional<Layout> layout;
  if (opt.layout) {
    STGCN_ASSIGN_OR_RETURN(Layout l, resolve_layout(*opt.layout));
    layout = std::move(l);
  }
  if (const Tensor* a = r.peek("A")) {
    if (a->rank() != 3 || a->shape[1] != spec.V || a->shape[2] != spec.V)
      return r.error("tensor '" + prefix + "A' has shape " + shape_string(a->shape) +
                     ", expected [K, " + fmt_int(spec.V) + ", " + fmt_int(spec.V) + "]");
    STGCN_ASSIGN_OR_RETURN(w.A, r.get("A", {-1, spec.V, spec.V}));
    out.a_source = "checkpoint (tensor '" + prefix + "A')";
    if (auto rec = recognise_adjacency(w.A)) {
      out.layout = rec->first;
      out.strategy = rec->second;
    } else {
      out.layout = "custom";
    }
    if (layout) {
      auto adj = build_adjacency(
          *layout, {opt.strategy.value_or(Strategy::kSpatial), opt.max_hop, opt.dilation});
      const double d = adj.is_ok() ? max_abs_diff(w.A, *adj) : INFINITY;
      if (d > a_tolerance(w.A) && opt.warn)
        opt.warn("'" + source + "': the checkpoint's A (" + shape_string(w.A.shape) +
                 ") differs from layout '" + layout->name + "'" +
                 (std::isfinite(d) ? " (max |diff| " + std::to_string(d) + ")" : "") +
                 "; using the checkpoint's A");
    }
  } else {
    if (!layout) {
      auto guess = default_layout_for(spec.V);
      if (!guess)
        return invalid_argument("'" + source + "' holds no A and no named layout has V=" +
                                fmt_int(spec.V) + "; pass --layout with a custom layout JSON");
      STGCN_ASSIGN_OR_RETURN(Layout l, named_layout(*guess));
      layout = std::move(l);
    }
    if (layout->num_joints != spec.V)
      return invalid_argument("layout '" + layout->name + "' has V=" + fmt_int(layout->num_joints) +
                              " but '" + source + "' expects V=" + fmt_int(spec.V));
    // K from the gcn conv: K*Cout rows.
    const Tensor* t2 = r.peek("st_gcn_networks.0.tcn.2.weight");
    if (!t2 || t2->rank() != 4 || t2->shape[0] <= 0)
      return r.error("tensor '" + prefix + "st_gcn_networks.0.tcn.2.weight' is missing or not 4-D");
    const int64_t want_k = g0->shape[0] / t2->shape[0];
    std::vector<Strategy> candidates =
        opt.strategy
            ? std::vector<Strategy>{*opt.strategy}
            : std::vector<Strategy>{Strategy::kSpatial, Strategy::kDistance, Strategy::kUniform};
    bool found = false;
    for (Strategy s : candidates) {
      STGCN_ASSIGN_OR_RETURN(Adjacency adj,
                             build_adjacency(*layout, {s, opt.max_hop, opt.dilation}));
      if (adj.K == want_k) {
        w.A = adjacency_tensor(adj);
        out.strategy = strategy_name(s);
        found = true;
        break;
      }
    }
    if (!found)
      return invalid_argument("'" + source + "': the gcn convs need K=" + fmt_int(want_k) +
                              " adjacency partitions, which no strategy gives for layout '" +
                              layout->name + "' with max_hop " + fmt_int(opt.max_hop));
    out.layout = layout->name;
    out.a_source = "computed (layout '" + layout->name + "', strategy " + out.strategy + ")";
  }
  spec.K = static_cast<int>(w.A.shape[0]);
  if (spec.K <= 0) return r.error("A has K=0 partitions");

  STGCN_ASSIGN_OR_RETURN(w.data_bn, r.get_bn("data_bn", int64_t{spec.V} * spec.C));

  spec.edge_importance = r.has("edge_importance.0");
  int in_ch = spec.C;
  for (int i = 0; i < n_blocks; ++i) {
    const std::string b = "st_gcn_networks." + fmt_int(i) + ".";
    BlockWeights bw;
    BlockSpec bs;
    const Tensor* tw = r.peek(b + "tcn.2.weight");
    if (!tw || tw->rank() != 4)
      return r.error("tensor '" + prefix + b + "tcn.2.weight' is missing or not 4-D");
    bs.in_channels = in_ch;
    bs.out_channels = static_cast<int>(tw->shape[0]);
    const int cout = bs.out_channels;
    const int kt = static_cast<int>(tw->shape[2]);
    if (cout <= 0 || kt <= 0 || kt % 2 == 0)
      return r.error("tensor '" + prefix + b + "tcn.2.weight' has shape " +
                     shape_string(tw->shape) + "; the temporal kernel must be odd");
    if (i == 0) spec.temporal_kernel = kt;
    spec.temporal_padding = opt.temporal_padding;
    if (kt != spec.temporal_kernel) return r.error("blocks use different temporal kernels");

    STGCN_ASSIGN_OR_RETURN(Tensor gw,
                           r.get(b + "gcn.conv.weight", {int64_t{spec.K} * cout, in_ch, 1, 1}));
    bw.gcn_weight = Tensor({int64_t{spec.K} * cout, in_ch}, std::move(gw.data));
    STGCN_ASSIGN_OR_RETURN(bw.gcn_bias, r.get(b + "gcn.conv.bias", {int64_t{spec.K} * cout}));
    STGCN_ASSIGN_OR_RETURN(bw.gcn_bn, r.get_bn(b + "tcn.0", cout));
    STGCN_ASSIGN_OR_RETURN(Tensor tcw, r.get(b + "tcn.2.weight", {cout, cout, kt, 1}));
    bw.tcn_weight = Tensor({cout, cout, kt}, std::move(tcw.data));
    STGCN_ASSIGN_OR_RETURN(bw.tcn_bias, r.get(b + "tcn.2.bias", {cout}));
    STGCN_ASSIGN_OR_RETURN(bw.tcn_bn, r.get_bn(b + "tcn.3", cout));

    if (r.has(b + "residual.0.weight")) {
      bs.residual = ResidualKind::kConv;
      bs.stride = 2;  // upstream: the conv residual goes with stride 2
      STGCN_ASSIGN_OR_RETURN(Tensor rw, r.get(b + "residual.0.weight", {cout, in_ch, 1, 1}));
      bw.residual_weight = Tensor({cout, in_ch}, std::move(rw.data));
      STGCN_ASSIGN_OR_RETURN(bw.residual_bias, r.get(b + "residual.0.bias", {cout}));
      STGCN_ASSIGN_OR_RETURN(bw.residual_bn, r.get_bn(b + "residual.1", cout));
    } else {
      bs.residual = i == 0 ? ResidualKind::kNone : ResidualKind::kIdentity;
      bs.stride = 1;
    }
    if (opt.strides) bs.stride = (*opt.strides)[i];
    if (bs.stride < 1 || bs.stride > 16)
      return invalid_argument("block " + fmt_int(i) + ": stride must be in 1..16");
    if (bs.residual == ResidualKind::kIdentity && (in_ch != cout || bs.stride != 1))
      return r.error("block " + fmt_int(i) + " has no residual conv but changes shape (" +
                     fmt_int(in_ch) + "->" + fmt_int(cout) + " channels, stride " +
                     fmt_int(bs.stride) + ")");
    if (spec.edge_importance) {
      STGCN_ASSIGN_OR_RETURN(bw.importance,
                             r.get("edge_importance." + fmt_int(i), {spec.K, spec.V, spec.V}));
    }
    spec.blocks.push_back(bs);
    w.blocks.push_back(std::move(bw));
    in_ch = cout;
  }
  if (spec.edge_importance && r.has("edge_importance." + fmt_int(n_blocks)))
    return r.error("more edge_importance tensors than blocks");

  const Tensor* fw = r.peek("fcn.weight");
  if (!fw || fw->rank() != 4 || fw->shape[0] <= 0)
    return r.error("tensor '" + prefix + "fcn.weight' is missing or not 4-D");
  spec.num_class = static_cast<int>(fw->shape[0]);
  STGCN_ASSIGN_OR_RETURN(Tensor fcw, r.get("fcn.weight", {spec.num_class, in_ch, 1, 1}));
  w.fcn_weight = Tensor({spec.num_class, in_ch}, std::move(fcw.data));
  STGCN_ASSIGN_OR_RETURN(w.fcn_bias, r.get("fcn.bias", {spec.num_class}));

  // Every tensor of the stream must have been understood.
  for (const auto& [name, t] : sd) {
    if (!starts_with(name, prefix) || r.used().count(name)) continue;
    return r.error("unexpected tensor '" + name + "' " + shape_string(t.shape));
  }
  return out;
}

}  // namespace

namespace model_detail {

// Recognises which named layout/strategy produced a checkpoint's A.
std::optional<std::pair<std::string, std::string>> recognise_adjacency(const Tensor& A) {
  const int K = static_cast<int>(A.shape[0]), V = static_cast<int>(A.shape[1]);
  for (const auto& name : layout_names()) {
    auto layout = named_layout(name);
    if (!layout.is_ok() || layout->num_joints != V) continue;
    for (Strategy s : {Strategy::kSpatial, Strategy::kUniform, Strategy::kDistance,
                       Strategy::kInwardOutward, Strategy::kBinary}) {
      const bool hops = s != Strategy::kInwardOutward && s != Strategy::kBinary;
      for (int hop = 1; hop <= (hops ? 3 : 1); ++hop) {
        for (int dilation = 1; dilation <= hop; ++dilation) {
          auto adj = build_adjacency(*layout, {s, hop, dilation});
          if (!adj.is_ok() || adj->K != K || max_abs_diff(A, *adj) > a_tolerance(A)) continue;
          std::string how = strategy_name(s);
          if (hop > 1) how += ", max_hop " + std::to_string(hop);
          if (dilation > 1) how += ", dilation " + std::to_string(dilation);
          return std::make_pair(name, how);
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace model_detail

const char* motion_mode_name(MotionMode m) {
  switch (m) {
    case MotionMode::kFirstDifference: return "first_difference";
    case MotionMode::kCentralDifference: return "central_difference";
  }
  return "?";
}

Result<MotionMode> parse_motion_mode(std::string_view name) {
  if (name == "first_difference") return MotionMode::kFirstDifference;
  if (name == "central_difference") return MotionMode::kCentralDifference;
  return invalid_argument("unknown motion mode '" + std::string(name) +
                          "' (expected first_difference or central_difference)");
}

const char* dialect_name(Dialect d) {
  switch (d) {
    case Dialect::kStgcn: return "st-gcn";
    case Dialect::kMmaction2: return "mmaction2";
    case Dialect::kPyskl: return "pyskl";
  }
  return "?";
}

const char* input_layout_name(InputLayout l) {
  return l == InputLayout::kNMTVC ? "nmtvc" : "nctvm";
}

Result<InputLayout> parse_input_layout(std::string_view name) {
  if (name == "nctvm") return InputLayout::kNCTVM;
  if (name == "nmtvc") return InputLayout::kNMTVC;
  return invalid_argument("unknown input layout '" + std::string(name) +
                          "' (expected nctvm: (N, C, T, V, M), or nmtvc: (N, M, T, V, C))");
}

Result<Tensor> convert_input_layout(const Tensor& x, InputLayout from, InputLayout to) {
  if (from == to) return x;
  if (x.rank() != 5)
    return invalid_argument("input has shape " + shape_string(x.shape) + "; expected 5 axes " +
                            (from == InputLayout::kNMTVC ? "(N, M, T, V, C)" : "(N, C, T, V, M)"));
  // Both directions swap axes 1 and 4: (N, a, T, V, b) -> (N, b, T, V, a).
  const int64_t N = x.shape[0], A = x.shape[1], T = x.shape[2], V = x.shape[3], B = x.shape[4];
  Tensor y({N, B, T, V, A});
  y.source_dtype = x.source_dtype;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t a = 0; a < A; ++a)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t v = 0; v < V; ++v) {
          const float* src = &x.data[static_cast<size_t>((((n * A + a) * T + t) * V + v) * B)];
          for (int64_t b = 0; b < B; ++b)
            y.data[static_cast<size_t>((((n * B + b) * T + t) * V + v) * A + a)] = src[b];
        }
  return y;
}

const char* temporal_padding_name(TemporalPadding p) {
  return p == TemporalPadding::kCausal ? "causal" : "centre";
}

Result<TemporalPadding> parse_temporal_padding(std::string_view name) {
  if (name == "centre" || name == "center") return TemporalPadding::kCentre;
  if (name == "causal") return TemporalPadding::kCausal;
  return invalid_argument("unknown temporal padding '" + std::string(name) +
                          "' (expected centre or causal)");
}

const char* residual_kind_name(ResidualKind r) {
  switch (r) {
    case ResidualKind::kNone: return "none";
    case ResidualKind::kIdentity: return "identity";
    case ResidualKind::kConv: return "conv";
  }
  return "?";
}

Result<Model> model_from_state_dict(const StateDict& sd, const LoadOptions& opt,
                                    const std::string& source) {
  if (sd.empty())
    return invalid_argument("'" + source + "' holds an empty state dict, not an ST-GCN");
  if (model_detail::is_mm_state_dict(sd))
    return model_detail::mm_model_from_state_dict(sd, opt, source);
  bool has_origin = false, has_motion = false;
  for (const auto& [name, t] : sd) {
    has_origin |= starts_with(name, "origin_stream.");
    has_motion |= starts_with(name, "motion_stream.");
  }
  Model model;
  model.spec.motion = opt.motion;
  std::vector<std::string> prefixes;
  if (has_origin || has_motion) {
    if (!(has_origin && has_motion))
      return invalid_argument(
          "'" + source + "' is not an ST-GCN checkpoint we understand: it has " +
          (has_origin ? "origin_stream" : "motion_stream") + " tensors but not the other stream");
    for (const auto& [name, t] : sd)
      if (!starts_with(name, "origin_stream.") && !starts_with(name, "motion_stream."))
        return invalid_argument("'" + source +
                                "' is not an ST-GCN checkpoint we understand: "
                                "unexpected tensor '" +
                                name + "' beside the two streams");
    model.spec.two_stream = true;
    prefixes = {"origin_stream.", "motion_stream."};
  } else {
    prefixes = {""};
  }
  for (const auto& prefix : prefixes) {
    STGCN_ASSIGN_OR_RETURN(StreamResult s, read_stream(sd, prefix, opt, source));
    if (model.spec.streams.empty()) {
      model.spec.layout = s.layout;
      model.spec.strategy = s.strategy;
      model.spec.a_source = s.a_source;
    } else {
      const StreamSpec& o = model.spec.streams.front();
      if (o.C != s.spec.C || o.V != s.spec.V || o.num_class != s.spec.num_class)
        return invalid_argument("'" + source + "': the two streams disagree on C, V or num_class");
    }
    model.spec.streams.push_back(std::move(s.spec));
    model.streams.push_back(std::move(s.weights));
  }
  return model;
}

int64_t parameter_count(const Model& model) {
  auto n_of = [](const Tensor& t) { return static_cast<int64_t>(t.data.size()); };
  auto n_bn = [](const BatchNorm& bn) { return 2 * static_cast<int64_t>(bn.weight.size()); };
  int64_t n = 0;
  for (const auto& s : model.streams) {
    n += n_bn(s.data_bn);
    for (const auto& b : s.blocks) {
      n += n_of(b.gcn_weight) + n_of(b.gcn_bias) + n_bn(b.gcn_bn);
      n += n_of(b.tcn_weight) + n_of(b.tcn_bias) + n_bn(b.tcn_bn);
      n += n_of(b.residual_weight) + n_of(b.residual_bias) + n_bn(b.residual_bn);
      n += n_of(b.importance);
      n += n_of(b.gcn_down_weight) + n_of(b.gcn_down_bias) + n_bn(b.gcn_down_bn);
      for (const auto& br : b.branches)
        n += n_of(br.pre_weight) + n_of(br.pre_bias) + n_bn(br.pre_bn) + n_of(br.weight) +
             n_of(br.bias);
      n += n_bn(b.transform_bn) + n_of(b.transform_weight) + n_of(b.transform_bias);
    }
    n += n_of(s.fcn_weight) + n_of(s.fcn_bias);
  }
  return n;
}

int64_t count_macs(const ModelSpec& spec, int T, int M) {
  int64_t macs = 0;
  for (const auto& s : spec.streams) {
    int t = T;
    int64_t per_person = 0;
    for (const auto& b : s.blocks) {
      const int64_t cin = b.in_channels, cout = b.out_channels, V = s.V, K = s.K;
      const int t_out = temporal_out(t, b.stride);
      per_person += K * cout * cin * t * V;                       // gcn 1x1 conv
      per_person += K * cout * t * V * V;                         // aggregation (dense)
      if (b.temporal == TemporalUnit::kConv) {
        per_person += cout * cout * s.temporal_kernel * t_out * V;  // temporal conv
      } else {
        int64_t tin = 0;
        for (size_t i = 0; i < b.branch_channels.size(); ++i) {
          const int64_t c = b.branch_channels[i];
          tin += c;
          if (static_cast<int>(i) == kMultiScalePointBranch) {
            per_person += c * cout * t_out * V;
          } else {
            per_person += c * cout * t * V;                              // 1x1 pre conv
            if (static_cast<int>(i) < kMultiScaleDilatedBranches) per_person += c * c * 3 * t_out * V;
          }
        }
        per_person += cout * tin * t_out * V;  // transform conv
      }
      if (b.gcn_residual == ResidualKind::kConv) per_person += cout * cin * t * V;
      if (b.residual == ResidualKind::kConv) per_person += cout * cin * t_out * V;
      t = t_out;
    }
    macs += per_person * M + int64_t{s.num_class} * s.blocks.back().out_channels;
  }
  return macs;
}

}  // namespace stgcn
