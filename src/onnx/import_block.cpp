// ST-GCN blocks in an ONNX graph: gcn conv, graph aggregation, BatchNorm (or
// its folded remains), temporal conv, residual. See import_match.h.
#include <algorithm>
#include <cmath>
#include <map>

#include "onnx/import_match.h"

namespace stgcn::onnx_import {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// A variance with var + eps == 1 in float, so the reference executor's
// weight / sqrt(var + eps) is exactly the weight.
float unit_variance() {
  float v = 1.0f - BatchNorm::kEps;
  while (v + BatchNorm::kEps > 1.0f) v = std::nextafter(v, 0.0f);
  while (v + BatchNorm::kEps < 1.0f) v = std::nextafter(v, 2.0f);
  return v;
}

Tensor to_tensor(const Const& c, std::vector<int64_t> shape) {
  return Tensor(std::move(shape), c.f);
}

}  // namespace

Result<BatchNorm> Affine::to_bn() const {
  BatchNorm out;
  if (plain_bn && ops == 1) {
    out = bn;
  } else {
    const float var = unit_variance();
    for (size_t c = 0; c < scale.size(); ++c) {
      out.weight.push_back(static_cast<float>(scale[c]));
      out.bias.push_back(static_cast<float>(shift[c]));
      out.mean.push_back(0.0f);
      out.var.push_back(var);
    }
  }
  for (size_t c = 0; c < out.weight.size(); ++c)
    if (!std::isfinite(out.weight[c]) || !std::isfinite(out.bias[c]) ||
        !std::isfinite(out.mean[c]) || !std::isfinite(out.var[c]) || out.var[c] < 0)
      return invalid_argument(
          "a BatchNorm / scale-shift constant is not finite or has a negative variance");
  return out;
}

int Matcher::gcn_conv_of(int value) const {
  for (int c : consumers(value)) {
    const Node& conv = node(c);
    if (conv.op != Op::kConv || conv.a.kernel != std::vector<int64_t>{1, 1}) continue;
    int v = conv.out;
    for (int hops = 0; hops < 64; ++hops) {
      if (consumers(v).size() != 1) break;
      const Node& m = node(consumers(v)[0]);
      if (m.op == Op::kEinsum || m.op == Op::kMatMul) return c;
      if (m.op != Op::kReshape && m.op != Op::kTranspose && m.op != Op::kIdentity) break;
      v = m.out;
    }
  }
  return -1;
}

Status Matcher::apply_affine(const Node& n, const AxisLayout& L,
                             const std::vector<std::pair<Axis, int64_t>>& axes, Affine& acc,
                             const Dim* plain_dim) {
  const size_t C = acc.scale.size();
  auto eval = [&](const Const& k, const std::vector<std::pair<Axis, int64_t>>& over,
                  size_t count) -> Result<std::vector<double>> {
    auto r = const_over_axes(k, L, over);
    if (!r.is_ok()) return not_understood(node_label(n), r.status().message());
    if (r->size() != count)
      return not_understood(node_label(n), "constant does not cover the channels");
    return r;
  };
  // This op as y = x * s[c] + t[c] (+ tj[c][w] for a shift per channel and joint).
  std::vector<double> s(C, 1.0), t(C, 0.0), tj;
  if (n.op == Op::kBatchNorm) {
    if (L.dims.size() < 2)
      return not_understood(node_label(n), "BatchNormalization on a rank < 2 tensor");
    std::vector<std::vector<double>> p;  // weight, bias, mean, var per channel
    for (size_t k = 1; k < 5; ++k) {
      Const c = *n.in[k].c;
      c.factor_a.reset(), c.factor_b.reset();
      c.shape.resize(L.dims.size() - 1, 1);  // [C_bn, 1, ..., 1]: aligned with dimension 1
      STGCN_ASSIGN_OR_RETURN(auto v, eval(c, axes, C));
      p.push_back(std::move(v));
    }
    const bool exact_eps = std::abs(n.a.epsilon - BatchNorm::kEps) <= 1e-12f;
    if (acc.ops == 0 && exact_eps && plain_dim && L.dims[1] == *plain_dim) {
      acc.plain_bn = true;
      acc.bn = BatchNorm{n.in[1].c->f, n.in[2].c->f, n.in[3].c->f, n.in[4].c->f};
    }
    for (size_t c = 0; c < C; ++c) {
      const double denom = p[3][c] + static_cast<double>(n.a.epsilon);
      if (!(denom > 0)) return not_understood(node_label(n), "a non-positive variance + epsilon");
      s[c] = p[0][c] / std::sqrt(denom);
      t[c] = p[1][c] - p[2][c] * s[c];
    }
  } else {
    int di = 0;
    const Const* k = nullptr;
    if (!split_const(n, di, k))
      return not_understood(node_label(n), "expected one constant operand");
    std::vector<double> v;
    auto per_channel = eval(*k, axes, C);
    if (per_channel.is_ok()) {
      v = std::move(*per_channel);
    } else if (acc.joint_w > 0 && (n.op == Op::kAdd || n.op == Op::kSub)) {
      auto over = axes;
      over.emplace_back(Axis::kV, acc.joint_w);
      STGCN_ASSIGN_OR_RETURN(tj, eval(*k, over, C * static_cast<size_t>(acc.joint_w)));
      if (n.op == Op::kSub && di == 0)
        for (double& x : tj) x = -x;
      if (n.op == Op::kSub && di == 1) std::fill(s.begin(), s.end(), -1.0);
    } else {
      return per_channel.status();
    }
    for (size_t c = 0; c < C && tj.empty(); ++c) {
      switch (n.op) {
        case Op::kAdd: t[c] = v[c]; break;
        case Op::kSub: di == 0 ? t[c] = -v[c] : (s[c] = -1.0, t[c] = v[c]); break;
        case Op::kMul: s[c] = v[c]; break;
        case Op::kDiv:
          if (di != 0 || v[c] == 0)
            return not_understood(node_label(n), "a division that is not by a constant");
          s[c] = 1.0 / v[c];
          break;
        default: return not_understood(node_label(n), "not a per-channel scale or shift");
      }
    }
  }
  const size_t W = static_cast<size_t>(acc.joint_w);
  if (!tj.empty() && acc.joint.empty()) acc.joint.assign(C * W, 0.0);
  for (size_t c = 0; c < C; ++c) {
    acc.scale[c] *= s[c];
    acc.shift[c] = acc.shift[c] * s[c] + t[c];
    for (size_t w = 0; w < W && !acc.joint.empty(); ++w) {
      double& j = acc.joint[c * W + w];
      j = j * s[c] + (tj.empty() ? 0.0 : tj[c * W + w]);
    }
  }
  ++acc.ops;
  return Status::ok();
}

Result<int> Matcher::affine_chain(int value, const AxisLayout& L,
                                  const std::vector<std::pair<Axis, int64_t>>& axes, Affine& acc,
                                  const Dim* plain_dim) {
  for (;;) {
    if (consumers(value).size() != 1) return value;
    const Node& n = node(consumers(value)[0]);
    int di = 0;
    const Const* k = nullptr;
    const bool affine =
        n.op == Op::kBatchNorm ||
        ((n.op == Op::kAdd || n.op == Op::kSub || n.op == Op::kMul || n.op == Op::kDiv) &&
         split_const(n, di, k));
    if (n.op != Op::kIdentity && !affine) return value;
    if (affine) STGCN_RETURN_IF_ERROR(apply_affine(n, L, axes, acc, plain_dim));
    value = n.out;
  }
}

// The graph aggregation: Einsum or MatMul against a constant, with the
// activation given as factor layout L. Records A ⊙ importance per (k, v, w).
Status Matcher::contract(const Node& n, AxisLayout& L, BlockMatch& b, int64_t G, int64_t V,
                         Factor& gk, bool& diag) {
  auto fail_n = [&](const std::string& why) { return not_understood(node_label(n), why); };
  const bool x_first = !n.in[0].is_const();
  const Const& B = *n.in[x_first ? 1 : 0].c;
  const int rx = static_cast<int>(L.dims.size()), rb = static_cast<int>(B.shape.size());
  constexpr int kNew = 1000;
  std::vector<int> xl(static_cast<size_t>(rx)), bl(static_cast<size_t>(rb)), ol;
  if (n.op == Op::kEinsum) {
    const std::string& eq = n.a.equation;  // normalised "l0,l1->out"
    const size_t comma = eq.find(','), arrow = eq.find("->");
    std::string lx = eq.substr(0, comma), lb = eq.substr(comma + 1, arrow - comma - 1);
    if (!x_first) std::swap(lx, lb);
    if (lx.size() != xl.size() || lb.size() != bl.size())
      return fail_n("equation does not match the operands");
    for (size_t d = 0; d < lx.size(); ++d) xl[d] = lx[d];
    for (size_t d = 0; d < lb.size(); ++d) bl[d] = lb[d];
    for (char ch : eq.substr(arrow + 2)) ol.push_back(ch);
  } else {  // MatMul
    if (rb > rx) return fail_n("the constant has more dimensions than the activations");
    for (int d = 0; d < rx; ++d) xl[static_cast<size_t>(d)] = d;
    for (int j = 0; j < rb - 2; ++j)
      bl[static_cast<size_t>(j)] = rx - rb + j;  // batch dims, aligned right
    if (x_first) {
      bl[static_cast<size_t>(rb - 2)] = rx - 1;
      bl[static_cast<size_t>(rb - 1)] = kNew;
      for (int d = 0; d < rx - 1; ++d) ol.push_back(d);
      ol.push_back(kNew);
    } else {
      bl[static_cast<size_t>(rb - 2)] = kNew;
      bl[static_cast<size_t>(rb - 1)] = rx - 2;
      for (int d = 0; d < rx - 2; ++d) ol.push_back(d);
      ol.push_back(kNew);
      ol.push_back(rx - 1);
    }
  }
  auto find = [](const std::vector<int>& v, int l) {
    const auto it = std::find(v.begin(), v.end(), l);
    return it == v.end() ? -1 : static_cast<int>(it - v.begin());
  };
  // Role of each constant dimension: -1 broadcast, -2 the new joint axis, else the X dimension.
  std::vector<int> role(static_cast<size_t>(rb), -1);
  int target = -1;
  std::vector<bool> x_involved(static_cast<size_t>(rx), false),
      x_diag(static_cast<size_t>(rx), false);
  for (int j = 0; j < rb; ++j) {
    const int l = bl[static_cast<size_t>(j)];
    const int64_t e = B.shape[static_cast<size_t>(j)];
    const int xd = find(xl, l);
    const bool in_out = find(ol, l) >= 0;
    if (find(bl, l) != j) return fail_n("a repeated label in the constant");
    if (xd < 0) {
      if (e == 1) continue;
      if (!in_out || target >= 0 || (G > 0 ? e != V : e % V != 0))
        return fail_n("the constant " + shape_str(B.shape) +
                      " is not A (K, V, V) in a form we understand");
      target = j;
      role[static_cast<size_t>(j)] = -2;
      continue;
    }
    if (e == 1) {
      if (!in_out && dim_size(L.dims[static_cast<size_t>(xd)]) != 1)
        return fail_n("sums the activations over an axis");
      continue;
    }
    role[static_cast<size_t>(j)] = xd;
    x_involved[static_cast<size_t>(xd)] = true;
    x_diag[static_cast<size_t>(xd)] = in_out;
  }
  for (int d = 0; d < rx; ++d)
    if (!x_involved[static_cast<size_t>(d)] && find(ol, xl[static_cast<size_t>(d)]) < 0 &&
        dim_size(L.dims[static_cast<size_t>(d)]) != 1)
      return fail_n("sums the activations over an axis");
  if (target < 0) return fail_n("no output joint axis of extent V=" + str(V));
  bool have_v = false, have_k = false;
  for (int d = 0; d < rx; ++d) {
    if (!x_involved[static_cast<size_t>(d)]) continue;
    for (const Factor& f : L.dims[static_cast<size_t>(d)]) {
      if (f.axis == Axis::kV && f.extent == V && f.stride == 1 && !x_diag[static_cast<size_t>(d)] &&
          !have_v) {
        have_v = true;
      } else if (f.axis == Axis::kG && f.stride * f.extent == G && !have_k) {
        have_k = true;
        gk = f;
        diag = x_diag[static_cast<size_t>(d)];
      } else {
        return fail_n(
            "combines " + std::string(axis_name(f.axis)) + " of " + L.str() +
            " with the constant; expected the joints and the K partitions of the gcn conv");
      }
    }
  }
  if (!have_v) return fail_n("does not sum over the joints V=" + str(V));
  if (!have_k) gk = Factor{Axis::kG, 1, G}, diag = false;
  // Aggregating before the projection, the constant maps V to (K, V), k-major.
  const int64_t K = G > 0 ? gk.extent : B.shape[static_cast<size_t>(target)] / V,
                cout = G > 0 ? G / K : 0;
  if (K < 1 || V * V > kMaxFoldedElements || K > kMaxFoldedElements / (V * V))
    return fail_n("A is too large");
  b.K = static_cast<int>(K);
  b.cout = static_cast<int>(cout);
  std::vector<int64_t> bstride(static_cast<size_t>(rb), 1);
  for (int j = rb - 1; j > 0; --j)
    bstride[static_cast<size_t>(j - 1)] =
        bstride[static_cast<size_t>(j)] * B.shape[static_cast<size_t>(j)];
  const size_t total = static_cast<size_t>(K * V * V);
  const bool factors = B.factor_a && B.factor_b && B.factor_a->is_float && B.factor_b->is_float &&
                       B.factor_a->size() == B.size() && B.factor_b->size() == B.size();
  b.coef.assign(total, 0.0f);
  if (factors) b.coef_a.assign(total, 0.0f), b.coef_b.assign(total, 0.0f);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t v = 0; v < V; ++v)
      for (int64_t w = 0; w < V; ++w) {
        auto index_of = [&](Axis a) -> int64_t { return a == Axis::kV ? v : k * cout; };
        int64_t flat = 0;
        for (int j = 0; j < rb; ++j) {
          const int r = role[static_cast<size_t>(j)];
          const int64_t pos = r == -1   ? 0
                              : r == -2 ? k * (G > 0 ? 0 : V) + w
                                        : position_in_dim(L.dims[static_cast<size_t>(r)], index_of);
          flat += pos * bstride[static_cast<size_t>(j)];
        }
        const size_t at = static_cast<size_t>((k * V + v) * V + w);
        b.coef[at] = B.f[static_cast<size_t>(flat)];
        if (factors) {
          b.coef_a[at] = B.factor_a->f[static_cast<size_t>(flat)];
          b.coef_b[at] = B.factor_b->f[static_cast<size_t>(flat)];
        }
      }
  AxisLayout out;
  for (int l : ol) {
    const int xd = find(xl, l);
    if (xd >= 0)
      out.dims.push_back(L.dims[static_cast<size_t>(xd)]);
    else if (find(bl, l) != target)
      out.dims.push_back(Dim{});
    else if (G > 0 || K == 1)
      out.dims.push_back(whole(Axis::kW, V));
    else
      out.dims.push_back(Dim{Factor{Axis::kP, K, 1}, Factor{Axis::kW, V, 1}});
  }
  L = std::move(out);
  return Status::ok();
}

Status Matcher::match_aggregation(int conv_out, AxisLayout& L, BlockMatch& b, int& out_value) {
  const int64_t G = dim_size(L.dims[1]), T = dim_size(L.dims[2]), V = dim_size(L.dims[3]);
  const Dim batch = L.dims[0];
  int v = conv_out;
  bool contracted = false, pending = false;
  Factor gk{Axis::kG, 1, G};
  for (;;) {
    if (consumers(v).size() != 1) break;
    const int k = consumers(v)[0];
    const Node& n = node(k);
    if (n.op == Op::kIdentity) {
    } else if (n.op == Op::kTranspose) {
      L = layout_transpose(L, n.a.perm);
    } else if (n.op == Op::kReshape) {
      auto r = layout_reshape(L, shape(n.out));
      if (!r.is_ok()) return fail(k, r.status().message());
      L = std::move(*r);
    } else if ((n.op == Op::kEinsum || n.op == Op::kMatMul) && !contracted) {
      STGCN_RETURN_IF_ERROR(contract(n, L, b, G, V, gk, pending));
      contracted = true;
    } else if (n.op == Op::kReduceSum && contracted) {
      for (int64_t ax : n.a.axes) {
        const Dim& d = L.dims[static_cast<size_t>(ax)];
        if (d.empty()) continue;
        if (!pending || d != Dim{gk})
          return fail(k, "sums over " + L.str() + " beyond the K partitions");
        pending = false;
      }
      L = layout_reduce(L, n.a.axes, n.a.keepdims);
    } else {
      break;
    }
    v = n.out;
  }
  // The node to blame: the one after the aggregation, or its last node.
  const int next =
      consumers(v).empty() ? g_.values[static_cast<size_t>(v)].producer : consumers(v)[0];
  if (!contracted)
    return fail(next,
                "expected the graph aggregation (Einsum or MatMul with A) after the gcn conv");
  if (pending) return fail(next, "the K partial aggregations are not summed");
  const int64_t cout = b.cout;
  AxisLayout want;
  want.dims = {batch, cout == 1 ? Dim{} : Dim{Factor{Axis::kG, cout, 1}}, whole(Axis::kT, T),
               whole(Axis::kW, V)};
  if (L.dims != want.dims)
    return fail(next, "the aggregation result has layout " + L.str() + ", expected " + want.str());
  L.dims = {batch, whole(Axis::kCh, cout), whole(Axis::kT, T), whole(Axis::kV, V)};
  out_value = v;
  return Status::ok();
}

int Matcher::aggregate_first_of(int value) const {
  for (int c : consumers(value)) {
    bool contracted = false;
    int k = c;
    for (int hops = 0; hops < 64; ++hops) {
      const Node& m = node(k);
      if (m.op == Op::kEinsum || m.op == Op::kMatMul) {
        if (contracted) break;
        contracted = true;
      } else if (m.op == Op::kConv) {
        if (contracted) return c;
        break;
      } else if (m.op != Op::kReshape && m.op != Op::kTranspose && m.op != Op::kIdentity) {
        break;
      }
      if (consumers(m.out).size() != 1) break;
      k = consumers(m.out)[0];
    }
  }
  return -1;
}

// Aggregate, then project: the block input (layout L) is multiplied by a
// (V, K*V) constant, reshaped to (N*M, C_in, T, K*V), and a (1, K) conv
// dilated by V sums over k with its own weights per partition.
Result<int> Matcher::match_aggregate_first(int x, int start, AxisLayout& L, BlockMatch& b) {
  const Dim batch = L.dims[0], cin_dim = L.dims[1];
  const int64_t cin = dim_size(cin_dim), T = dim_size(L.dims[2]), V = dim_size(L.dims[3]);
  AxisLayout Lx = L;
  bool contracted = false, diag = false;
  Factor gk{Axis::kG, 1, 1};
  int k = start, v = x;
  for (;;) {
    const Node& n = node(k);
    if (n.op == Op::kTranspose) {
      Lx = layout_transpose(Lx, n.a.perm);
    } else if (n.op == Op::kReshape) {
      auto r = layout_reshape(Lx, shape(n.out));
      if (!r.is_ok()) return fail(k, r.status().message());
      Lx = std::move(*r);
    } else if ((n.op == Op::kEinsum || n.op == Op::kMatMul) && !contracted) {
      STGCN_RETURN_IF_ERROR(contract(n, Lx, b, 0, V, gk, diag));
      contracted = true;
    } else if (n.op == Op::kConv && contracted) {
      break;
    } else if (n.op != Op::kIdentity) {
      return fail(k, "expected the graph aggregation followed by the gcn projection conv");
    }
    v = n.out;
    STGCN_ASSIGN_OR_RETURN(k, sole_consumer(v, "the gcn projection conv"));
  }
  const int64_t K = b.K;
  Dim joints = whole(Axis::kW, V);
  if (K > 1) joints.insert(joints.begin(), Factor{Axis::kP, K, 1});
  AxisLayout want;
  want.dims = {batch, cin_dim, whole(Axis::kT, T), joints};
  if (Lx.dims != want.dims)
    return fail(k, "its input has layout " + Lx.str() + ", expected the aggregated " + want.str());
  const Node& c = node(k);
  const auto& w = c.in[1].c->shape;
  if (c.a.kernel != std::vector<int64_t>{1, K} || c.a.strides != std::vector<int64_t>{1, 1} ||
      c.a.pads != std::vector<int64_t>{0, 0, 0, 0} || c.a.group != 1 || c.a.dilations[0] != 1 ||
      (K > 1 && c.a.dilations[1] != V) || w[1] != cin)
    return fail(
        k, "a gcn projection after the aggregation must be a (1, K) conv dilated by V over the " +
               str(cin) + " input channels");
  const int64_t cout = w[0];
  b.cout = static_cast<int>(cout);
  b.gcn_w = Tensor({K * cout, cin, 1, 1});
  for (int64_t p = 0; p < K; ++p)
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t i = 0; i < cin; ++i)
        b.gcn_w.data[static_cast<size_t>((p * cout + o) * cin + i)] =
            c.in[1].c->f[static_cast<size_t>((o * cin + i) * K + p)];
  b.gcn_b = Tensor({K * cout});
  b.gcn_bn = Affine(static_cast<size_t>(cout));
  if (c.in.size() > 2 && c.in[2].is_const()) {  // added after the aggregation: a shift per channel
    for (int64_t o = 0; o < cout; ++o)
      b.gcn_bn.shift[static_cast<size_t>(o)] = c.in[2].c->f[static_cast<size_t>(o)];
    b.gcn_bn.ops = 1;
  }
  L.dims = {batch, whole(Axis::kCh, cout), whole(Axis::kT, T), whole(Axis::kV, V)};
  return c.out;
}

// A shift per (channel, joint) after the aggregation is what a gcn conv bias
// b becomes: scale_c * sum_k b[k*C+c] * colsum_k(w) + shift_c, colsum_k(w) =
// sum_v A_k[v][w]. Solves for b and the shift (least squares, then checks
// the fit) so the model keeps the checkpoint's form.
Status Matcher::solve_joint_bias(int blame, BlockMatch& b) {
  Affine& a = b.gcn_bn;
  const int64_t K = b.K, C = b.cout, V = a.joint_w, n = K + 1;
  std::vector<double> cs(static_cast<size_t>(K * V), 0.0);  // colsum_k(w)
  for (int64_t k = 0; k < K; ++k)
    for (int64_t v = 0; v < V; ++v)
      for (int64_t w = 0; w < V; ++w)
        cs[static_cast<size_t>(k * V + w)] += b.coef[static_cast<size_t>((k * V + v) * V + w)];
  auto col = [&](int64_t j, int64_t w) { return j < K ? cs[static_cast<size_t>(j * V + w)] : 1.0; };
  std::vector<double> ata(static_cast<size_t>(n * n), 0.0);
  double trace = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t w = 0; w < V; ++w) ata[static_cast<size_t>(i * n + j)] += col(i, w) * col(j, w);
      if (i == j) trace += ata[static_cast<size_t>(i * n + j)];
    }
  for (int64_t i = 0; i < n; ++i)
    ata[static_cast<size_t>(i * n + i)] += 1e-12 * trace;  // rank-deficient columns
  for (int64_t c = 0; c < C; ++c) {
    const double scale = a.scale[static_cast<size_t>(c)];
    std::vector<double> e(static_cast<size_t>(V));
    double emax = 1.0;
    for (int64_t w = 0; w < V; ++w) {
      double bias = 0;
      for (int64_t k = 0; k < K; ++k)
        bias += b.gcn_b.data[static_cast<size_t>(k * C + c)] * cs[static_cast<size_t>(k * V + w)];
      e[static_cast<size_t>(w)] =
          scale * bias + a.joint[static_cast<size_t>(c * V + w)] + a.shift[static_cast<size_t>(c)];
      emax = std::max(emax, std::abs(e[static_cast<size_t>(w)]));
    }
    // Normal equations, Gaussian elimination with partial pivoting.
    std::vector<double> m = ata, y(static_cast<size_t>(n), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t w = 0; w < V; ++w)
        y[static_cast<size_t>(i)] += col(i, w) * e[static_cast<size_t>(w)];
    for (int64_t p = 0; p < n; ++p) {
      int64_t best = p;
      for (int64_t r = p + 1; r < n; ++r)
        if (std::abs(m[static_cast<size_t>(r * n + p)]) >
            std::abs(m[static_cast<size_t>(best * n + p)]))
          best = r;
      for (int64_t j = 0; j < n; ++j)
        std::swap(m[static_cast<size_t>(p * n + j)], m[static_cast<size_t>(best * n + j)]);
      std::swap(y[static_cast<size_t>(p)], y[static_cast<size_t>(best)]);
      const double piv = m[static_cast<size_t>(p * n + p)];
      if (piv == 0)
        return fail(blame, "a per-joint bias after the aggregation that we cannot attribute");
      for (int64_t r = p + 1; r < n; ++r) {
        const double f = m[static_cast<size_t>(r * n + p)] / piv;
        for (int64_t j = p; j < n; ++j)
          m[static_cast<size_t>(r * n + j)] -= f * m[static_cast<size_t>(p * n + j)];
        y[static_cast<size_t>(r)] -= f * y[static_cast<size_t>(p)];
      }
    }
    for (int64_t p = n; p-- > 0;) {
      double acc = y[static_cast<size_t>(p)];
      for (int64_t j = p + 1; j < n; ++j)
        acc -= m[static_cast<size_t>(p * n + j)] * y[static_cast<size_t>(j)];
      y[static_cast<size_t>(p)] = acc / m[static_cast<size_t>(p * n + p)];
    }
    if (scale == 0)
      for (int64_t k = 0; k < K; ++k) y[static_cast<size_t>(k)] = 0;
    for (int64_t w = 0; w < V; ++w) {
      double fit = 0;
      for (int64_t j = 0; j < n; ++j) fit += col(j, w) * y[static_cast<size_t>(j)];
      if (!(std::abs(fit - e[static_cast<size_t>(w)]) <= 1e-5 * emax))
        return fail(
            blame,
            "a per-joint bias after the aggregation that is not a gcn conv bias carried through A");
    }
    for (int64_t k = 0; k < K; ++k)
      b.gcn_b.data[static_cast<size_t>(k * C + c)] =
          scale == 0 ? 0.0f : static_cast<float>(y[static_cast<size_t>(k)] / scale);
    a.shift[static_cast<size_t>(c)] = y[static_cast<size_t>(K)];
  }
  a.joint.clear();
  a.plain_bn = false;
  return Status::ok();
}

// The temporal conv reading `z`: kt x 1 (kt odd), stride (s, 1), centre or causal padding
// along T (a causal model exported by PyTorch pads time with its own zero Pad node before a
// conv without padding), then its affine.
Result<int> Matcher::match_temporal_conv(int z, AxisLayout& L, BlockMatch& b) {
  const int64_t cout = b.cout;
  STGCN_ASSIGN_OR_RETURN(int tcn, sole_consumer(z, "the temporal conv"));
  int64_t extra_l = 0, extra_r = 0;
  if (node(tcn).op == Op::kPad) {
    const Node& p = node(tcn);
    const auto& pa = p.a.pad_amounts;
    bool ok = p.a.pad_value == 0 && pa.size() == 8;
    for (size_t d : {0, 1, 3}) ok = ok && pa[d] == 0 && pa[d + 4] == 0;
    if (!ok || pa[2] < 0 || pa[6] < 0)
      return fail(tcn, "a Pad before the temporal conv must add zeros along T only");
    extra_l = pa[2], extra_r = pa[6];
    STGCN_ASSIGN_OR_RETURN(tcn, sole_consumer(p.out, "the temporal conv"));
  }
  const Node& t = node(tcn);
  if (t.op != Op::kConv) return fail(tcn, "expected the temporal conv (kt x 1)");
  const auto& tw = t.in[1].c->shape;
  const int64_t kt = t.a.kernel[0], s = t.a.strides[0];
  const int64_t pad_l = t.a.pads.size() == 4 ? t.a.pads[0] + extra_l : -1;
  const int64_t pad_r = t.a.pads.size() == 4 ? t.a.pads[2] + extra_r : -1;
  const bool centre = pad_l == (kt - 1) / 2 && pad_r == pad_l;
  const bool causal = pad_l == kt - 1 && pad_r == 0 && kt > 1;
  if (kt % 2 == 0 || t.a.kernel[1] != 1 || t.a.strides[1] != 1 || t.a.pads.size() != 4 ||
      t.a.pads[1] != 0 || t.a.pads[3] != 0 || !(centre || causal) ||
      t.a.dilations != std::vector<int64_t>{1, 1} || t.a.group != 1 || tw[0] != cout ||
      tw[1] != cout || s > 16)
    return fail(tcn,
                "a temporal conv must be kt x 1 (kt odd), stride (s, 1), padding along T "
                "((kt-1)/2 on each side, or causal: kt-1 before and 0 after), " +
                    str(cout) + " -> " + str(cout) + " channels");
  b.kt = static_cast<int>(kt);
  b.padding = causal && !centre ? TemporalPadding::kCausal : TemporalPadding::kCentre;
  b.stride = static_cast<int>(s);
  b.tcn_w = to_tensor(*t.in[1].c, {cout, cout, kt, 1});
  b.tcn_b = t.in.size() > 2 && t.in[2].is_const() ? to_tensor(*t.in[2].c, {cout}) : Tensor({cout});
  L.dims[2] = whole(Axis::kT, shape(t.out)[2]);
  b.tcn_bn = Affine(static_cast<size_t>(cout));
  const Dim ch_dim = whole(Axis::kCh, cout);
  return affine_chain(t.out, L, {{Axis::kCh, cout}}, b.tcn_bn, &ch_dim);
}

Result<int> Matcher::match_block(int x, AxisLayout& L, BlockMatch& b) {
  const int gcn = gcn_conv_of(x);
  const int first = gcn >= 0 ? gcn : aggregate_first_of(x);
  if (first < 0) return internal_error("match_block without a gcn conv");
  const int64_t cin = dim_size(L.dims[1]), V = dim_size(L.dims[3]);
  b.cin = static_cast<int>(cin);
  // Residual: none, the block input itself (an Add), or a 1x1 conv. (mmaction2 graphs: found
  // from the Adds, match_block_end.)
  int res_node = -1;
  for (int c : consumers(x)) {
    if (c == first || mm_) continue;
    if (res_node >= 0 || (node(c).op != Op::kAdd && node(c).op != Op::kConv))
      return fail(
          c,
          "expected only the gcn conv and a residual (identity or conv) to read the block input");
    res_node = c;
  }
  b.residual = res_node < 0                    ? ResidualKind::kNone
               : node(res_node).op == Op::kAdd ? ResidualKind::kIdentity
                                               : ResidualKind::kConv;

  AxisLayout Lg = L;
  int v = -1;
  if (gcn >= 0) {  // gcn conv 1x1, then the aggregation
    const Node& g = node(gcn);
    const auto& gw = g.in[1].c->shape;
    if (g.a.strides != std::vector<int64_t>{1, 1} || g.a.pads != std::vector<int64_t>{0, 0, 0, 0} ||
        g.a.dilations != std::vector<int64_t>{1, 1} || g.a.group != 1 || gw[1] != cin)
      return fail(gcn,
                  "a gcn conv must be a plain 1x1 conv over the " + str(cin) + " input channels");
    const int64_t G = gw[0];
    Lg.dims[1] = whole(Axis::kG, G);
    STGCN_RETURN_IF_ERROR(match_aggregation(g.out, Lg, b, v));
    b.gcn_w = to_tensor(*g.in[1].c, {G, cin, 1, 1});
    b.gcn_b = g.in.size() > 2 && g.in[2].is_const() ? to_tensor(*g.in[2].c, {G}) : Tensor({G});
    b.gcn_bn = Affine(static_cast<size_t>(b.cout));
  } else {
    STGCN_ASSIGN_OR_RETURN(v, match_aggregate_first(x, first, Lg, b));
  }
  const int64_t cout = b.cout;

  // BN (and a bias per joint, when the exporter carried the gcn bias through A) [-> the gcn
  // residual] -> ReLU -> temporal unit.
  const Dim ch_dim = whole(Axis::kCh, cout);
  b.gcn_bn.joint_w = V;
  STGCN_ASSIGN_OR_RETURN(v, affine_chain(v, Lg, {{Axis::kCh, cout}}, b.gcn_bn, &ch_dim));
  if (!b.gcn_bn.joint.empty())
    STGCN_RETURN_IF_ERROR(solve_joint_bias(g_.values[static_cast<size_t>(v)].producer, b));
  if (mm_) {
    STGCN_ASSIGN_OR_RETURN(v, match_gcn_residual(x, v, Lg, b));
  }
  STGCN_ASSIGN_OR_RETURN(int relu, sole_consumer(v, "the ReLU after the gcn BatchNorm"));
  if (node(relu).op != Op::kRelu) return fail(relu, "expected the ReLU after the gcn BatchNorm");
  const int z = node(relu).out;
  if (mm_ && consumers(z).size() > 1) {
    STGCN_ASSIGN_OR_RETURN(v, match_multi_scale(z, Lg, b));
  } else {
    STGCN_ASSIGN_OR_RETURN(v, match_temporal_conv(z, Lg, b));
  }
  const int64_t s = b.stride;

  // Residual join.
  int next = -1;
  if (mm_) {
    STGCN_ASSIGN_OR_RETURN(next, match_block_end(x, first, v, Lg, b));
  } else {
    STGCN_ASSIGN_OR_RETURN(
        next, sole_consumer(
                  v, b.residual == ResidualKind::kNone ? "the block's ReLU" : "the residual Add"));
  }
  if (!mm_ && b.residual != ResidualKind::kNone) {
    int r = x;
    if (b.residual == ResidualKind::kConv) {
      const Node& rc = node(res_node);
      const auto& rw = rc.in[1].c->shape;
      if (rc.a.kernel != std::vector<int64_t>{1, 1} || rc.a.strides != std::vector<int64_t>{s, 1} ||
          rc.a.pads != std::vector<int64_t>{0, 0, 0, 0} || rc.a.group != 1 || rw[0] != cout ||
          rw[1] != cin)
        return fail(res_node, "a residual conv must be 1x1, stride (" + str(s) + ", 1), " +
                                  str(cin) + " -> " + str(cout) + " channels");
      b.res_w = to_tensor(*rc.in[1].c, {cout, cin, 1, 1});
      b.res_b =
          rc.in.size() > 2 && rc.in[2].is_const() ? to_tensor(*rc.in[2].c, {cout}) : Tensor({cout});
      b.res_bn = Affine(static_cast<size_t>(cout));
      STGCN_ASSIGN_OR_RETURN(r, affine_chain(rc.out, Lg, {{Axis::kCh, cout}}, b.res_bn, &ch_dim));
      if (consumers(r).size() != 1)
        return fail(consumers(r).back(), "the residual has a second reader");
    } else if (s != 1 || cin != cout) {
      return fail(res_node, "an identity residual around a block that changes the shape");
    }
    const Node& add = node(next);
    const bool joins =
        add.op == Op::kAdd && add.in.size() == 2 && !add.in[0].is_const() &&
        !add.in[1].is_const() &&
        ((add.in[0].dyn == v && add.in[1].dyn == r) || (add.in[0].dyn == r && add.in[1].dyn == v));
    if (!joins || shape(add.in[0].dyn) != shape(add.in[1].dyn))
      return fail(next, "expected the Add of the block's main path and its residual");
    STGCN_ASSIGN_OR_RETURN(next, sole_consumer(add.out, "the block's ReLU"));
  }
  if (node(next).op != Op::kRelu) return fail(next, "expected the block's ReLU");
  L = Lg;
  return node(next).out;
}

}  // namespace stgcn::onnx_import
