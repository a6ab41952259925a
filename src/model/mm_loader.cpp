// Reads mmaction2 1.x / pyskl ST-GCN and ST-GCN++ checkpoints (`backbone.*` + `cls_head.*`)
// into the same Model the original dialect gives (../shared/design/MODEL_FAMILIES.md,
// docs/model_families.md). Everything is inferred from names and shapes; what tensors cannot
// tell (strides, 'importance' vs 'offset') follows documented rules with LoadOptions overrides.
#include <cmath>
#include <set>

#include "model/state_reader.h"
#include "stgcn/checkpoint.h"
#include "stgcn/model.h"

namespace stgcn::model_detail {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

Tensor squeeze_1x1(Tensor t) {  // (O, I, 1, 1) -> (O, I)
  return Tensor({t.shape[0], t.shape[1]}, std::move(t.data));
}

// An unnormalised identity BatchNorm (data_bn_type None).
BatchNorm identity_bn(int64_t channels) {
  BatchNorm bn;
  bn.weight.assign(static_cast<size_t>(channels), 1.f);
  bn.bias.assign(static_cast<size_t>(channels), 0.f);
  bn.mean.assign(static_cast<size_t>(channels), 0.f);
  bn.var.assign(static_cast<size_t>(channels), 1.f - BatchNorm::kEps);
  return bn;
}

// A 1x1 conv `name` (cout, cin, 1, 1) with bias, as (cout, cin).
Status read_point_conv(StreamReader& r, const std::string& name, int64_t cout, int64_t cin,
                       Tensor& weight, Tensor& bias) {
  STGCN_ASSIGN_OR_RETURN(Tensor w, r.get(name + ".weight", {cout, cin, 1, 1}));
  weight = squeeze_1x1(std::move(w));
  STGCN_ASSIGN_OR_RETURN(bias, r.get(name + ".bias", {cout}));
  return Status::ok();
}

// Output channels of a conv/linear tensor, or -1 when absent.
int64_t rows_of(const StreamReader& r, const std::string& name) {
  const Tensor* t = r.peek(name);
  return t && t->rank() >= 1 ? t->shape[0] : -1;
}

Status read_multi_scale(StreamReader& r, const std::string& t, int cout, BlockSpec& bs,
                        BlockWeights& bw) {
  bs.temporal = TemporalUnit::kMultiScale;
  bw.branches.resize(kMultiScaleBranches);
  int64_t sum = 0;
  for (int b = 0; b < kMultiScaleBranches; ++b) {
    const std::string p = t + "branches." + fmt_int(b) + ".";
    MultiScaleBranch& br = bw.branches[b];
    int64_t c = 0;
    if (b == kMultiScalePointBranch) {
      c = rows_of(r, p + "weight");
      if (c <= 0) return r.error("tensor '" + p + "weight' (the mstcn 1x1 branch) is missing");
      STGCN_RETURN_IF_ERROR(read_point_conv(r, p.substr(0, p.size() - 1), c, cout, br.weight,
                                            br.bias));
    } else {
      c = rows_of(r, p + "0.weight");
      if (c <= 0)
        return r.error("tensor '" + p + "0.weight' (mstcn branch " + fmt_int(b) +
                       ") is missing");
      STGCN_RETURN_IF_ERROR(read_point_conv(r, p + "0", c, cout, br.pre_weight, br.pre_bias));
      STGCN_ASSIGN_OR_RETURN(br.pre_bn, r.get_bn(p + "1", c));
      if (b < kMultiScaleDilatedBranches) {
        STGCN_ASSIGN_OR_RETURN(Tensor w, r.get(p + "3.conv.weight", {c, c, 3, 1}));
        br.weight = Tensor({c, c, 3}, std::move(w.data));
        STGCN_ASSIGN_OR_RETURN(br.bias, r.get(p + "3.conv.bias", {c}));
      }
    }
    bs.branch_channels.push_back(static_cast<int>(c));
    sum += c;
  }
  // mmaction2 / pyskl: mid = Cout / 6 per branch, the remainder on branch 0.
  const int mid = cout / kMultiScaleBranches;
  for (int b = 0; b < kMultiScaleBranches; ++b) {
    const int want = b == 0 ? cout - mid * (kMultiScaleBranches - 1) : mid;
    if (bs.branch_channels[b] != want)
      return r.error("tensor '" + t + "branches." + fmt_int(b) +
                     (b == kMultiScalePointBranch ? ".weight" : ".0.weight") + "' has " +
                     fmt_int(bs.branch_channels[b]) + " output channels; an mstcn of width " +
                     fmt_int(cout) + " gives branch " + fmt_int(b) + " " + fmt_int(want));
  }
  STGCN_ASSIGN_OR_RETURN(bw.transform_bn, r.get_bn(t + "transform.0", sum));
  const int64_t tin = static_cast<int64_t>(bw.transform_bn.weight.size());
  STGCN_RETURN_IF_ERROR(
      read_point_conv(r, t + "transform.2", cout, tin, bw.transform_weight, bw.transform_bias));
  STGCN_ASSIGN_OR_RETURN(bw.tcn_bn, r.get_bn(t + "bn", cout));
  return Status::ok();
}

}  // namespace

bool is_mm_state_dict(const StateDict& sd) {
  for (const auto& [name, t] : sd)
    if (starts_with(name, "backbone.") || starts_with(name, "cls_head.")) return true;
  return false;
}

Result<Model> mm_model_from_state_dict(const StateDict& sd, const LoadOptions& opt,
                                       const std::string& source) {
  StreamReader r(sd, "", source);
  for (const auto& [name, t] : sd)
    if (starts_with(name, "st_gcn_networks.") || starts_with(name, "origin_stream.") ||
        starts_with(name, "motion_stream."))
      return r.error("it mixes the original ST-GCN tree ('" + name +
                     "') with the mmaction2 / pyskl tree (backbone.*, cls_head.*)");
  const std::string bb = "backbone.";
  Model model;
  ModelSpec& ms = model.spec;
  StreamSpec spec;
  StreamWeights w;

  int n_blocks = 0;
  while (r.has(bb + "gcn." + fmt_int(n_blocks) + ".gcn.conv.weight")) ++n_blocks;
  if (n_blocks == 0) return r.error("no tensor 'backbone.gcn.0.gcn.conv.weight'");
  if (opt.strides && static_cast<int>(opt.strides->size()) != n_blocks)
    return invalid_argument("--strides lists " + fmt_int(opt.strides->size()) +
                            " values but the checkpoint has " + fmt_int(n_blocks) + " blocks");

  // C from the first gcn conv, K and V from its A.
  const Tensor* g0 = r.peek(bb + "gcn.0.gcn.conv.weight");
  const Tensor* a0 = r.peek(bb + "gcn.0.gcn.A");
  if (g0->rank() != 4) return r.error("tensor 'backbone.gcn.0.gcn.conv.weight' is not 4-D");
  if (!a0 || a0->rank() != 3 || a0->shape[1] != a0->shape[2] || a0->shape[0] <= 0)
    return r.error("tensor 'backbone.gcn.0.gcn.A' is missing or not [K, V, V]");
  spec.C = static_cast<int>(g0->shape[1]);
  spec.K = static_cast<int>(a0->shape[0]);
  spec.V = static_cast<int>(a0->shape[1]);
  STGCN_ASSIGN_OR_RETURN(w.A, r.get(bb + "gcn.0.gcn.A", {spec.K, spec.V, spec.V}));
  r.mark_used(bb + "gcn.0.gcn.A");
  if (auto rec = recognise_adjacency(w.A)) {
    ms.layout = rec->first;
    ms.strategy = rec->second;
  } else {
    ms.layout = "custom";
  }
  ms.a_source = "checkpoint (tensor 'backbone.gcn.<i>.gcn.A' per block)";

  // data_bn: V*C ('VC') or M*V*C ('MVC') channels, or none.
  const int64_t vc = int64_t{spec.V} * spec.C;
  if (const Tensor* d = r.peek(bb + "data_bn.weight")) {
    if (d->rank() != 1 || d->shape[0] % vc != 0 || d->shape[0] == 0)
      return r.error("tensor 'backbone.data_bn.weight' has " + shape_string(d->shape) +
                     " channels, not a multiple of V*C = " + fmt_int(vc) + " (V=" +
                     fmt_int(spec.V) + ", C=" + fmt_int(spec.C) + ")");
    spec.data_bn_persons = static_cast<int>(d->shape[0] / vc);
    STGCN_ASSIGN_OR_RETURN(w.data_bn, r.get_bn(bb + "data_bn", d->shape[0]));
  } else {
    w.data_bn = identity_bn(vc);
  }

  // 'importance' (A * PA) or 'offset' (A + PA): PA starts at 1 or at ~0 and training keeps it
  // near there; a mean |PA| under 0.5 reads as 'offset' unless the caller says.
  const bool has_pa = r.has(bb + "gcn.0.gcn.PA");
  std::string adaptive = "none";
  if (has_pa) {
    if (opt.gcn_adaptive) {
      adaptive = *opt.gcn_adaptive;
    } else {
      const Tensor* pa = r.peek(bb + "gcn.0.gcn.PA");
      double m = 0;
      for (float x : pa->data) m += std::fabs(x);
      adaptive = pa->data.empty() || m / pa->data.size() >= 0.5 ? "importance" : "offset";
    }
    if (adaptive != "importance" && adaptive != "offset")
      return invalid_argument("--gcn-adaptive must be importance or offset for a checkpoint "
                              "with PA tensors, got '" + adaptive + "'");
  }
  spec.edge_importance = has_pa && adaptive == "importance";
  spec.temporal_padding = opt.temporal_padding;
  bool any_down = false;
  for (int i = 0; i < n_blocks; ++i) any_down |= r.has(bb + "gcn." + fmt_int(i) + ".gcn.down.0.weight");
  bool multi_scale = false, own_a = false;

  int in_ch = spec.C;
  for (int i = 0; i < n_blocks; ++i) {
    const std::string b = bb + "gcn." + fmt_int(i) + ".";
    BlockSpec bs;
    BlockWeights bw;
    bs.in_channels = in_ch;
    const int64_t rows = rows_of(r, b + "gcn.conv.weight");
    if (rows <= 0 || rows % spec.K != 0)
      return r.error("tensor '" + b + "gcn.conv.weight' has " + fmt_int(rows) +
                     " output channels, not a multiple of K=" + fmt_int(spec.K));
    const int cout = static_cast<int>(rows / spec.K);
    bs.out_channels = cout;
    STGCN_ASSIGN_OR_RETURN(Tensor gw, r.get(b + "gcn.conv.weight", {rows, in_ch, 1, 1}));
    bw.gcn_weight = squeeze_1x1(std::move(gw));
    STGCN_ASSIGN_OR_RETURN(bw.gcn_bias, r.get(b + "gcn.conv.bias", {rows}));
    STGCN_ASSIGN_OR_RETURN(bw.gcn_bn, r.get_bn(b + "gcn.bn", cout));

    // Adjacency: the stream's A (+ importance), or this block's own effective A.
    STGCN_ASSIGN_OR_RETURN(Tensor A, r.get(b + "gcn.A", {spec.K, spec.V, spec.V}));
    if (has_pa) {
      STGCN_ASSIGN_OR_RETURN(Tensor pa, r.get(b + "gcn.PA", {spec.K, spec.V, spec.V}));
      if (adaptive == "importance") {
        bw.importance = std::move(pa);
        if (A.data != w.A.data) bw.A = std::move(A);
      } else {
        for (size_t j = 0; j < A.data.size(); ++j) A.data[j] += pa.data[j];
        bw.A = std::move(A);
      }
    } else if (A.data != w.A.data) {
      bw.A = std::move(A);
    }
    own_a |= !bw.A.data.empty();

    // gcn residual (ST-GCN++ gcn_with_res): a conv where the width changes, else identity.
    if (r.has(b + "gcn.down.0.weight")) {
      bs.gcn_residual = ResidualKind::kConv;
      STGCN_RETURN_IF_ERROR(
          read_point_conv(r, b + "gcn.down.0", cout, in_ch, bw.gcn_down_weight, bw.gcn_down_bias));
      STGCN_ASSIGN_OR_RETURN(bw.gcn_down_bn, r.get_bn(b + "gcn.down.1", cout));
    } else if (any_down) {
      if (in_ch != cout)
        return r.error("block " + fmt_int(i) + " changes width (" + fmt_int(in_ch) + "->" +
                       fmt_int(cout) + ") but has no tensor '" + b + "gcn.down.0.weight'");
      bs.gcn_residual = ResidualKind::kIdentity;
    }

    // Block residual and stride (not stored: a conv residual means stride 2 unless --strides).
    if (r.has(b + "residual.conv.weight")) {
      bs.residual = ResidualKind::kConv;
      bs.stride = 2;
      STGCN_RETURN_IF_ERROR(read_point_conv(r, b + "residual.conv", cout, in_ch,
                                            bw.residual_weight, bw.residual_bias));
      STGCN_ASSIGN_OR_RETURN(bw.residual_bn, r.get_bn(b + "residual.bn", cout));
    } else if (in_ch == cout) {
      // mmaction2 builds block 0 (no residual) only when in_channels != base_channels; when
      // they are equal it starts at stage 2, whose residual is the identity.
      bs.residual = ResidualKind::kIdentity;
    } else if (i == 0) {
      bs.residual = ResidualKind::kNone;
    } else {
      return r.error("block " + fmt_int(i) + " changes width (" + fmt_int(in_ch) + "->" +
                     fmt_int(cout) + ") but has no tensor '" + b + "residual.conv.weight'");
    }
    if (opt.strides) bs.stride = (*opt.strides)[i];
    if (bs.stride < 1 || bs.stride > 16)
      return invalid_argument("block " + fmt_int(i) + ": stride must be in 1..16");
    if (bs.residual == ResidualKind::kIdentity && bs.stride != 1)
      return r.error("block " + fmt_int(i) + " has an identity residual but stride " +
                     fmt_int(bs.stride));

    // Temporal unit.
    if (r.has(b + "tcn.conv.weight")) {
      const Tensor* tw = r.peek(b + "tcn.conv.weight");
      if (tw->rank() != 4 || tw->shape[2] <= 0 || tw->shape[2] % 2 == 0)
        return r.error("tensor '" + b + "tcn.conv.weight' has shape " + shape_string(tw->shape) +
                       "; expected [Cout, Cout, kt, 1] with kt odd");
      const int kt = static_cast<int>(tw->shape[2]);
      if (i > 0 && !multi_scale && kt != spec.temporal_kernel)
        return r.error("blocks use different temporal kernels");
      spec.temporal_kernel = kt;
      STGCN_ASSIGN_OR_RETURN(Tensor tcw, r.get(b + "tcn.conv.weight", {cout, cout, kt, 1}));
      bw.tcn_weight = Tensor({cout, cout, kt}, std::move(tcw.data));
      STGCN_ASSIGN_OR_RETURN(bw.tcn_bias, r.get(b + "tcn.conv.bias", {cout}));
      STGCN_ASSIGN_OR_RETURN(bw.tcn_bn, r.get_bn(b + "tcn.bn", cout));
    } else if (r.has(b + "tcn.transform.2.weight") || r.has(b + "tcn.branches.0.0.weight")) {
      STGCN_RETURN_IF_ERROR(read_multi_scale(r, b + "tcn.", cout, bs, bw));
      multi_scale = true;
    } else {
      return r.error("block " + fmt_int(i) + " has neither 'tcn.conv' (unit_tcn) nor "
                     "'tcn.branches' (mstcn) tensors");
    }
    spec.blocks.push_back(std::move(bs));
    w.blocks.push_back(std::move(bw));
    in_ch = cout;
  }
  for (const BlockSpec& bs : spec.blocks)
    if ((bs.temporal == TemporalUnit::kMultiScale) != multi_scale)
      return r.error("blocks mix unit_tcn and mstcn temporal units");
  if (r.has(bb + "gcn." + fmt_int(n_blocks) + ".gcn.A"))
    return r.error("block " + fmt_int(n_blocks) + " has tensors but no gcn.conv");

  // Head: mmaction2 `cls_head.fc`, pyskl `cls_head.fc_cls`; a Linear, or a 1x1 Conv2d (0.x).
  std::string head;
  for (const char* h : {"cls_head.fc", "cls_head.fc_cls"})
    if (r.has(std::string(h) + ".weight")) head = h;
  if (head.empty())
    return r.error("no classifier: expected tensor 'cls_head.fc.weight' (mmaction2) or "
                   "'cls_head.fc_cls.weight' (pyskl)");
  ms.dialect = head == "cls_head.fc_cls" ? Dialect::kPyskl : Dialect::kMmaction2;
  {
    const Tensor* fw = r.peek(head + ".weight");
    if ((fw->rank() != 2 && fw->rank() != 4) || fw->shape[0] <= 0)
      return r.error("tensor '" + head + ".weight' has shape " + shape_string(fw->shape) +
                     ", expected [classes, " + fmt_int(in_ch) + "]");
    spec.num_class = static_cast<int>(fw->shape[0]);
    std::vector<int64_t> shape = {spec.num_class, in_ch};
    if (fw->rank() == 4) shape = {spec.num_class, in_ch, 1, 1};
    STGCN_ASSIGN_OR_RETURN(Tensor fcw, r.get(head + ".weight", shape));
    w.fcn_weight = Tensor({spec.num_class, in_ch}, std::move(fcw.data));
    STGCN_ASSIGN_OR_RETURN(w.fcn_bias, r.get(head + ".bias", {spec.num_class}));
  }

  for (const auto& [name, t] : sd)
    if (!r.used().count(name))
      return r.error("unexpected tensor '" + name + "' " + shape_string(t.shape));

  ms.family = multi_scale ? "ST-GCN++" : "ST-GCN";  // the mstcn unit is what sets it apart
  ms.gcn_adaptive = has_pa ? adaptive : (own_a ? "init" : "none");
  if (ms.layout == "custom" || own_a) {
    // A learned A ('init') is no named graph; name the skeleton by its joint count.
    const std::string by_v = spec.V == 17 ? "coco" : spec.V == 18 ? "openpose"
                             : spec.V == 25 ? "nturgb+d" : "";
    if (ms.layout == "custom" && !by_v.empty()) ms.layout = by_v + " (by V=" + fmt_int(spec.V) + ")";
  }
  ms.streams.push_back(std::move(spec));
  model.streams.push_back(std::move(w));
  return model;
}

}  // namespace stgcn::model_detail
