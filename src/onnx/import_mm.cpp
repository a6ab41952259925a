// mmaction2 / pyskl ST-GCN and ST-GCN++ in an ONNX graph (what mmaction2's deployment script,
// torch.onnx.export, or `stgcn export` writes from these models): the gcn residual, the mstcn
// temporal unit, the block residuals found from their Adds, and the mmaction2-style state dict
// the importer hands to model_from_state_dict. See import_match.h.
#include <algorithm>

#include "onnx/import_match.h"

namespace stgcn::onnx_import {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// The bias of a Conv node (zeros when it has none).
Tensor conv_bias(const Node& c, int64_t cout) {
  return c.in.size() > 2 && c.in[2].is_const() ? Tensor({cout}, c.in[2].c->f) : Tensor({cout});
}

bool is_affine(const Node& n, int& dyn_index) {
  if (n.op == Op::kBatchNorm || n.op == Op::kIdentity) {
    dyn_index = 0;
    return true;
  }
  if (n.op != Op::kAdd && n.op != Op::kSub && n.op != Op::kMul && n.op != Op::kDiv) return false;
  if (n.in.size() != 2 || n.in[0].is_const() == n.in[1].is_const()) return false;
  dyn_index = n.in[0].is_const() ? 1 : 0;
  return n.in[static_cast<size_t>(1 - dyn_index)].c->is_float;
}

using Ints = std::vector<int64_t>;

}  // namespace

Status Matcher::match_side(int add, int main, int x, int64_t stride, const AxisLayout& L,
                           ResidualKind& kind, Tensor& w, Tensor& bias, Affine& bn, int& reader) {
  const Node& a = node(add);
  const bool sum = a.op == Op::kAdd && a.in.size() == 2 && !a.in[0].is_const() &&
                   !a.in[1].is_const() && a.in[0].dyn >= 0 && a.in[1].dyn >= 0;
  const int other = !sum                  ? -1
                    : a.in[0].dyn == main ? a.in[1].dyn
                    : a.in[1].dyn == main ? a.in[0].dyn
                                          : -1;
  if (other < 0 || shape(other) != shape(main))
    return fail(add, "expected the Add of the main path and a residual of the block input");
  const int64_t cin = shape(x)[1], cout = shape(main)[1];
  if (other == x) {
    if (stride != 1 || cin != cout)
      return fail(add, "an identity residual around a part that changes the shape");
    kind = ResidualKind::kIdentity;
    reader = add;
    return Status::ok();
  }
  // Back from the Add, through affine ops, to a conv of the block input.
  int v = other, conv = -1;
  for (int hops = 0; hops < 64 && v >= 0; ++hops) {
    const int p = g_.values[static_cast<size_t>(v)].producer;
    if (p < 0) break;
    const Node& n = node(p);
    if (n.op == Op::kConv) {
      conv = p;
      break;
    }
    int di = 0;
    if (!is_affine(n, di)) break;
    v = n.in[static_cast<size_t>(di)].dyn;
  }
  if (conv < 0 || node(conv).in[0].is_const() || node(conv).in[0].dyn != x)
    return fail(add,
                "expected a residual of the block input: the input itself, or a 1x1 conv of it "
                "(+ BatchNorm)");
  const Node& c = node(conv);
  const auto& cw = c.in[1].c->shape;
  if (c.a.kernel != Ints{1, 1} || c.a.strides != Ints{stride, 1} || c.a.pads != Ints{0, 0, 0, 0} ||
      c.a.dilations != Ints{1, 1} || c.a.group != 1 || cw[0] != cout || cw[1] != cin)
    return fail(conv, "a residual conv must be 1x1, stride (" + str(stride) + ", 1), " + str(cin) +
                          " -> " + str(cout) + " channels");
  w = Tensor({cout, cin, 1, 1}, c.in[1].c->f);
  bias = conv_bias(c, cout);
  bn = Affine(static_cast<size_t>(cout));
  const Dim ch = whole(Axis::kCh, cout);
  STGCN_ASSIGN_OR_RETURN(int end, affine_chain(c.out, L, {{Axis::kCh, cout}}, bn, &ch));
  if (end != other) return fail(conv, "the residual has a second reader");
  kind = ResidualKind::kConv;
  reader = conv;
  return Status::ok();
}

Result<int> Matcher::match_gcn_residual(int x, int v, const AxisLayout& L, BlockMatch& b) {
  STGCN_ASSIGN_OR_RETURN(
      int next, sole_consumer(v, "the ReLU after the gcn BatchNorm (or the gcn residual Add)"));
  if (node(next).op != Op::kAdd) return v;
  STGCN_RETURN_IF_ERROR(match_side(next, v, x, 1, L, b.gcn_residual, b.down_w, b.down_b, b.down_bn,
                                   b.gcn_res_reader));
  return node(next).out;
}

Result<int> Matcher::match_block_end(int x, int first, int v, const AxisLayout& L, BlockMatch& b) {
  STGCN_ASSIGN_OR_RETURN(int next, sole_consumer(v, "the block's ReLU (or its residual Add)"));
  b.residual = ResidualKind::kNone;
  if (node(next).op == Op::kAdd) {
    STGCN_RETURN_IF_ERROR(
        match_side(next, v, x, b.stride, L, b.residual, b.res_w, b.res_b, b.res_bn, b.res_reader));
    STGCN_ASSIGN_OR_RETURN(next, sole_consumer(node(next).out, "the block's ReLU"));
  }
  for (int c : consumers(x))
    if (c != first && c != b.gcn_res_reader && c != b.res_reader)
      return fail(c,
                  "expected only the gcn conv and the residuals (identity or conv) to read the "
                  "block input");
  return next;
}

// mstcn: six branches read the gcn ReLU `z`; each is recognised by what it does, and the Concat
// must list them in mmaction2's order (dilations 1..4, max-pool, strided 1x1), which is the
// channel order of the transform BN and conv.
Result<int> Matcher::match_multi_scale(int z, AxisLayout& L, BlockMatch& b) {
  const int64_t cout = b.cout;
  const std::vector<int> readers = consumers(z);
  if (readers.size() != static_cast<size_t>(kMultiScaleBranches))
    return fail(readers.back(),
                "expected the temporal conv, or the six branches of an mstcn, to "
                "read the gcn ReLU; it has " +
                    str(static_cast<int64_t>(readers.size())) + " readers");
  struct Found {
    int slot = -1, end = -1;
    int64_t stride = 1;
    bool centre = true, causal = true;
    BranchMatch br;
  };
  std::vector<Found> found;
  for (int r : readers) {
    Found f;
    const Node& c = node(r);
    const Ints* cw = c.op == Op::kConv ? &c.in[1].c->shape : nullptr;
    if (!cw || c.a.kernel != Ints{1, 1} || c.a.pads != Ints{0, 0, 0, 0} ||
        c.a.dilations != Ints{1, 1} || c.a.group != 1 || c.a.strides[1] != 1 || (*cw)[1] != cout ||
        c.in[0].dyn != z || c.a.strides[0] > 16)
      return fail(r, "an mstcn branch starts with a 1x1 conv over the " + str(cout) + " channels");
    const int64_t ch = (*cw)[0];
    f.br.channels = static_cast<int>(ch);
    Tensor w({ch, cout, 1, 1}, c.in[1].c->f);
    int v = c.out;
    if (consumers(v).size() == 1 && node(consumers(v)[0]).op == Op::kConcat) {  // point branch
      f.slot = kMultiScalePointBranch;
      f.stride = c.a.strides[0];
      f.br.w = std::move(w);
      f.br.b = conv_bias(c, ch);
      f.end = v;
      found.push_back(std::move(f));
      continue;
    }
    if (c.a.strides[0] != 1)
      return fail(r, "a strided 1x1 conv in an mstcn branch must feed the Concat directly");
    f.br.pre_w = std::move(w);
    f.br.pre_b = conv_bias(c, ch);
    f.br.pre_bn = Affine(static_cast<size_t>(ch));
    AxisLayout Lc = L;
    Lc.dims[1] = whole(Axis::kCh, ch);
    const Dim chd = whole(Axis::kCh, ch);
    STGCN_ASSIGN_OR_RETURN(v, affine_chain(v, Lc, {{Axis::kCh, ch}}, f.br.pre_bn, &chd));
    STGCN_ASSIGN_OR_RETURN(int relu, sole_consumer(v, "the ReLU of an mstcn branch"));
    if (node(relu).op != Op::kRelu) return fail(relu, "expected the ReLU of an mstcn branch");
    STGCN_ASSIGN_OR_RETURN(
        int k, sole_consumer(node(relu).out, "an mstcn branch's dilated 3x1 conv or max-pool"));
    const Node& t = node(k);
    const bool pool = t.op == Op::kMaxPool;
    if (t.op != Op::kConv && !pool)
      return fail(k, "expected an mstcn branch's dilated 3x1 conv or 3x1 max-pool");
    const int64_t d = t.a.dilations[0], s = t.a.strides[0], pl = t.a.pads[0], pr = t.a.pads[2];
    bool ok = t.a.kernel == Ints{3, 1} && t.a.strides[1] == 1 && t.a.dilations[1] == 1 &&
              t.a.pads[1] == 0 && t.a.pads[3] == 0 && s <= 16;
    if (pool)
      ok = ok && d == 1;
    else
      ok = ok && t.a.group == 1 && t.in[1].c->shape == Ints{ch, ch, 3, 1} && d >= 1 &&
           d <= kMultiScaleDilatedBranches;
    f.centre = pl == d && pr == d;
    f.causal = pl == 2 * d && pr == 0;
    if (!ok || !(f.centre || f.causal))
      return fail(k, pool ? "an mstcn max-pool must be 3x1, stride (s, 1), padding 1 on each "
                            "side along T (causal: 2 before)"
                          : "an mstcn branch conv must be 3x1 with dilation d in 1..4, stride "
                            "(s, 1), padding d on each side along T (causal: 2d before), " +
                                str(ch) + " -> " + str(ch) + " channels");
    f.slot = pool ? kMultiScaleMaxPoolBranch : static_cast<int>(d - 1);
    f.stride = s;
    if (!pool) {
      f.br.w = Tensor({ch, ch, 3, 1}, t.in[1].c->f);
      f.br.b = conv_bias(t, ch);
    }
    f.end = t.out;
    found.push_back(std::move(f));
  }
  STGCN_ASSIGN_OR_RETURN(int cat, sole_consumer(found.front().end, "the mstcn Concat"));
  const Node& cn = node(cat);
  if (cn.op != Op::kConcat || cn.a.axis != 1 || cn.in.size() != found.size())
    return fail(cat, "expected the Concat of the six mstcn branches on the channel axis");
  b.branches.clear();
  b.branches.resize(found.size());
  bool centre = true, causal = true;
  int64_t tin = 0;
  for (size_t j = 0; j < cn.in.size(); ++j) {
    const auto f = std::find_if(found.begin(), found.end(), [&](const Found& branch) {
      return !cn.in[j].is_const() && cn.in[j].dyn == branch.end;
    });
    if (f == found.end() || f->slot != static_cast<int>(j) || consumers(f->end).size() != 1)
      return fail(cat,
                  "expected the six mstcn branches, in mmaction2's order (3x1 convs dilated 1, 2, "
                  "3, 4, max-pool, strided 1x1), and nothing else, concatenated");
    if (f->stride != found.front().stride)
      return fail(cat, "the mstcn branches use different temporal strides");
    centre &= f->centre;
    causal &= f->causal;
    tin += f->br.channels;
    b.branches[j] = std::move(f->br);
  }
  if (!centre && !causal) return fail(cat, "the mstcn branches mix centre and causal padding");
  b.stride = static_cast<int>(found.front().stride);
  b.padding = centre ? TemporalPadding::kCentre : TemporalPadding::kCausal;
  b.multi_scale = true;

  // transform: affine, ReLU, 1x1 conv; then the unit's affine (tcn.bn).
  L.dims[2] = whole(Axis::kT, shape(cn.out)[2]);
  AxisLayout Lt = L;
  Lt.dims[1] = whole(Axis::kCh, tin);
  const Dim td = whole(Axis::kCh, tin);
  b.transform_bn = Affine(static_cast<size_t>(tin));
  STGCN_ASSIGN_OR_RETURN(int v, affine_chain(cn.out, Lt, {{Axis::kCh, tin}}, b.transform_bn, &td));
  STGCN_ASSIGN_OR_RETURN(int relu, sole_consumer(v, "the ReLU of the mstcn transform"));
  if (node(relu).op != Op::kRelu) return fail(relu, "expected the ReLU of the mstcn transform");
  STGCN_ASSIGN_OR_RETURN(int k, sole_consumer(node(relu).out, "the mstcn transform's 1x1 conv"));
  const Node& t = node(k);
  if (t.op != Op::kConv || t.a.kernel != Ints{1, 1} || t.a.strides != Ints{1, 1} ||
      t.a.pads != Ints{0, 0, 0, 0} || t.a.dilations != Ints{1, 1} || t.a.group != 1 ||
      t.in[1].c->shape != Ints{cout, tin, 1, 1})
    return fail(k, "expected the mstcn transform's 1x1 conv, " + str(tin) + " -> " + str(cout) +
                       " channels");
  b.transform_w = Tensor({cout, tin, 1, 1}, t.in[1].c->f);
  b.transform_b = conv_bias(t, cout);
  b.tcn_bn = Affine(static_cast<size_t>(cout));
  const Dim chd = whole(Axis::kCh, cout);
  return affine_chain(t.out, L, {{Axis::kCh, cout}}, b.tcn_bn, &chd);
}

Status add_batch_norm(StateDict& sd, const std::string& name, const Affine& a) {
  auto bn = a.to_bn();
  if (!bn.is_ok()) return bn.status().with_context(name + ": ");
  const int64_t n = static_cast<int64_t>(bn->weight.size());
  sd.emplace_back(name + ".weight", Tensor({n}, bn->weight));
  sd.emplace_back(name + ".bias", Tensor({n}, bn->bias));
  sd.emplace_back(name + ".running_mean", Tensor({n}, bn->mean));
  sd.emplace_back(name + ".running_var", Tensor({n}, bn->var));
  return Status::ok();
}

Result<StateDict> mm_state_dict(const StreamMatch& s) {
  StateDict sd;
  const std::string bb = "backbone.";
  STGCN_RETURN_IF_ERROR(add_batch_norm(sd, bb + "data_bn", s.data_bn));
  bool any_down = false, any_gcn_residual = false;
  for (const BlockMatch& b : s.blocks) {
    any_down |= b.gcn_residual == ResidualKind::kConv;
    any_gcn_residual |= b.gcn_residual != ResidualKind::kNone;
  }
  for (size_t i = 0; i < s.blocks.size(); ++i) {
    const BlockMatch& b = s.blocks[i];
    const std::string q = bb + "gcn." + str(static_cast<int64_t>(i)) + ".";
    if (any_gcn_residual && b.gcn_residual == ResidualKind::kNone)
      return unsupported("block " + str(static_cast<int64_t>(i)) +
                         " has no gcn residual but other blocks do; an mmaction2 model "
                         "(gcn_with_res) has one in every block");
    if (any_gcn_residual && !any_down)
      return unsupported(
          "every gcn residual is the identity; the mmaction2 form needs a down conv in some "
          "block to say the model has them");
    const int64_t K = b.K, V = s.V;
    sd.emplace_back(q + "gcn.A", Tensor({K, V, V}, b.coef));
    sd.emplace_back(q + "gcn.conv.weight", b.gcn_w);
    sd.emplace_back(q + "gcn.conv.bias", b.gcn_b);
    STGCN_RETURN_IF_ERROR(add_batch_norm(sd, q + "gcn.bn", b.gcn_bn));
    if (b.gcn_residual == ResidualKind::kConv) {
      sd.emplace_back(q + "gcn.down.0.weight", b.down_w);
      sd.emplace_back(q + "gcn.down.0.bias", b.down_b);
      STGCN_RETURN_IF_ERROR(add_batch_norm(sd, q + "gcn.down.1", b.down_bn));
    }
    if (b.multi_scale) {
      for (size_t j = 0; j < b.branches.size(); ++j) {
        const BranchMatch& br = b.branches[j];
        const std::string p = q + "tcn.branches." + str(static_cast<int64_t>(j)) + ".";
        if (j == static_cast<size_t>(kMultiScalePointBranch)) {
          sd.emplace_back(p + "weight", br.w);
          sd.emplace_back(p + "bias", br.b);
          continue;
        }
        sd.emplace_back(p + "0.weight", br.pre_w);
        sd.emplace_back(p + "0.bias", br.pre_b);
        STGCN_RETURN_IF_ERROR(add_batch_norm(sd, p + "1", br.pre_bn));
        if (j < static_cast<size_t>(kMultiScaleDilatedBranches)) {
          sd.emplace_back(p + "3.conv.weight", br.w);
          sd.emplace_back(p + "3.conv.bias", br.b);
        }
      }
      STGCN_RETURN_IF_ERROR(add_batch_norm(sd, q + "tcn.transform.0", b.transform_bn));
      sd.emplace_back(q + "tcn.transform.2.weight", b.transform_w);
      sd.emplace_back(q + "tcn.transform.2.bias", b.transform_b);
    } else {
      sd.emplace_back(q + "tcn.conv.weight", b.tcn_w);
      sd.emplace_back(q + "tcn.conv.bias", b.tcn_b);
    }
    STGCN_RETURN_IF_ERROR(add_batch_norm(sd, q + "tcn.bn", b.tcn_bn));
    if (b.residual == ResidualKind::kConv) {
      sd.emplace_back(q + "residual.conv.weight", b.res_w);
      sd.emplace_back(q + "residual.conv.bias", b.res_b);
      STGCN_RETURN_IF_ERROR(add_batch_norm(sd, q + "residual.bn", b.res_bn));
    }
  }
  const int64_t classes = s.fcn_w.shape[0], c_last = s.fcn_w.shape[1];
  sd.emplace_back("cls_head.fc.weight", Tensor({classes, c_last}, s.fcn_w.data));
  sd.emplace_back("cls_head.fc.bias", s.fcn_b);
  return sd;
}

}  // namespace stgcn::onnx_import
