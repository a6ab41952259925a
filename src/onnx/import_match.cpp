// Recognises an ST-GCN in the importer's IR: the streams and their motion
// input, the data_bn prelude, the head, the two-stream sum and the optional
// Softmax. Blocks are in import_block.cpp. See import_match.h.
#include "onnx/import_match.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

namespace stgcn::onnx_import {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

constexpr int64_t kMaxMotionT = int64_t{1} << 16;

// A value computed from the input by a linear map along T only (the motion
// input of a two-stream model): out[t] = sum_j rows[t][j].second * x[rows[t][j].first].
using Row = std::vector<std::pair<int64_t, double>>;
using TLin = std::vector<Row>;

Row combine(const Row& a, const Row& b, double sb) {
  std::map<int64_t, double> m(a.begin(), a.end());
  for (const auto& [j, c] : b) m[j] += sb * c;
  Row out;
  for (const auto& [j, c] : m)
    if (c != 0) out.emplace_back(j, c);
  return out;
}

TLin scaled(TLin t, double s) {
  for (Row& r : t)
    for (auto& jc : r) jc.second *= s;
  return t;
}

bool all_zero(const Const& c) {
  return std::all_of(c.f.begin(), c.f.end(), [](float v) { return v == 0.0f; }) &&
         std::all_of(c.i.begin(), c.i.end(), [](int64_t v) { return v == 0; });
}

// Whether `shape` is the input shape except (possibly) along T.
bool same_but_t(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.size() != 5 || b.size() != 5) return false;
  for (size_t d : {0, 1, 3, 4})
    if (a[d] != b[d]) return false;
  return true;
}

// Whether a constant, broadcast against (N, C, T, V, M), varies along T only.
bool along_t_only(const Const& k, int64_t T) {
  if (k.shape.size() > 5 || !k.is_float) return false;
  for (size_t j = 0; j < k.shape.size(); ++j) {
    const size_t d = 5 - k.shape.size() + j;
    if (k.shape[j] != 1 && (d != 2 || k.shape[j] != T)) return false;
  }
  return true;
}

std::optional<StreamSource> classify(const TLin& t, int64_t T) {
  if (static_cast<int64_t>(t.size()) != T) return std::nullopt;
  auto matches = [&](auto&& expected) {
    for (int64_t r = 0; r < T; ++r) {
      Row want = expected(r);
      const Row& got = t[static_cast<size_t>(r)];
      Row g;
      for (const auto& jc : got)
        if (std::abs(jc.second) > 1e-9) g.push_back(jc);
      if (g.size() != want.size()) return false;
      for (size_t k = 0; k < g.size(); ++k)
        if (g[k].first != want[k].first || std::abs(g[k].second - want[k].second) > 1e-6)
          return false;
    }
    return true;
  };
  if (matches([](int64_t r) { return Row{{r, 1.0}}; })) return StreamSource::kInput;
  if (matches([](int64_t r) { return r == 0 ? Row{} : Row{{r - 1, -1.0}, {r, 1.0}}; }))
    return StreamSource::kFirstDifference;
  if (matches([T](int64_t r) {
        return r == 0 || r == T - 1 ? Row{} : Row{{r - 1, -0.5}, {r, 1.0}, {r + 1, -0.5}};
      }))
    return StreamSource::kCentralDifference;
  return std::nullopt;
}

}  // namespace

bool Matcher::split_const(const Node& n, int& dyn_index, const Const*& k) {
  if (n.in.size() != 2 || n.in[0].is_const() == n.in[1].is_const()) return false;
  dyn_index = n.in[0].is_const() ? 1 : 0;
  k = n.in[1 - dyn_index].c.get();
  return n.in[static_cast<size_t>(dyn_index)].dyn >= 0 && k->is_float;
}

Result<int> Matcher::sole_consumer(int v, const std::string& expected) const {
  const auto& c = consumers(v);
  if (c.size() == 1) return c[0];
  const int p = g_.values[static_cast<size_t>(v)].producer;
  const std::string after = p >= 0 ? node_label(node(p)) : "the graph input";
  if (c.empty()) {
    if (p < 0) return unsupported("the graph input is not used; expected " + expected);
    return fail(p, "the graph ends after it; expected " + expected);
  }
  return fail(c[1],
              "it is a second reader of the output of " + after + "; expected only " + expected);
}

Result<GraphMatch> match_stgcn(const Graph& g, InputLayout input, int* progress) {
  Matcher m(g, input);
  auto r = m.run();
  if (progress) *progress = m.progress();
  return r;
}

Result<GraphMatch> Matcher::run() {
  const auto& in = shape(g_.input);
  if (consumers(g_.input).empty())
    return unsupported("the graph output does not depend on its input");
  if (in.size() != 5)
    return fail(consumers(g_.input)[0],
                "the graph input has shape " + shape_str(in) + "; an ST-GCN takes (N, C, T, V, M)");
  N_ = in[0], C_ = mm_ ? in[4] : in[1], T_ = in[2], V_ = in[3], M_ = mm_ ? in[1] : in[4];
  if (V_ * C_ > kMaxFoldedElements)
    return fail(consumers(g_.input)[0],
                "the input has V*C = " + str(V_ * C_) + " channels, more than we import");

  // The values computed from the input by linear maps along T, and the nodes
  // where the streams start (the first node that is not such a map).
  std::vector<std::optional<TLin>> tl(g_.values.size());
  if (T_ > kMaxMotionT) return unsupported("the input has T=" + str(T_) + ", more than we analyse");
  tl[static_cast<size_t>(g_.input)] = TLin(static_cast<size_t>(T_));
  for (int64_t t = 0; t < T_; ++t)
    (*tl[static_cast<size_t>(g_.input)])[static_cast<size_t>(t)] = {{t, 1.0}};
  std::vector<std::pair<int, int>> starts;  // (node, source value)
  for (size_t k = 0; k < g_.nodes.size(); ++k) {
    if (!g_.live[k]) continue;
    const Node& n = g_.nodes[k];
    std::vector<int> lin;
    for (const auto& o : n.in)
      if (!o.is_const() && o.dyn >= 0 && tl[static_cast<size_t>(o.dyn)]) lin.push_back(o.dyn);
    if (lin.empty()) continue;
    const auto& in0 = tl[static_cast<size_t>(lin[0])];
    const auto& out_shape = shape(n.out);
    std::optional<TLin> out;
    int di = 0;
    const Const* kc = nullptr;
    const bool keeps_layout = same_but_t(out_shape, in) && out_shape[2] <= kMaxMotionT;
    if (!keeps_layout) {
    } else if (n.op == Op::kIdentity) {
      out = *in0;
    } else if (n.op == Op::kNeg) {
      out = scaled(*in0, -1);
    } else if (n.op == Op::kSlice) {
      bool ok = true;
      const auto& s = shape(lin[0]);
      for (size_t d : {0, 1, 3, 4}) ok &= n.a.slice_start[d] == 0 && n.a.slice_step[d] == 1;
      if (ok) {
        out.emplace();
        for (int64_t j = 0; j < out_shape[2]; ++j) {
          const int64_t src = n.a.slice_start[2] + j * n.a.slice_step[2];
          if (src < 0 || src >= s[2]) break;
          out->push_back((*in0)[static_cast<size_t>(src)]);
        }
        if (static_cast<int64_t>(out->size()) != out_shape[2]) out.reset();
      }
    } else if (n.op == Op::kPad) {
      bool ok = n.a.pad_value == 0 && n.a.pad_amounts[2] >= 0 && n.a.pad_amounts[7] >= 0;
      for (size_t d : {0, 1, 3, 4}) ok &= n.a.pad_amounts[d] == 0 && n.a.pad_amounts[d + 5] == 0;
      if (ok) {
        out = TLin(static_cast<size_t>(n.a.pad_amounts[2]));
        out->insert(out->end(), in0->begin(), in0->end());
        out->resize(out->size() + static_cast<size_t>(n.a.pad_amounts[7]));
      }
    } else if (n.op == Op::kConcat && n.a.axis == 2) {
      out.emplace();
      for (const auto& o : n.in) {
        if (o.is_const() && all_zero(*o.c)) {
          out->resize(out->size() + static_cast<size_t>(o.c->shape[2]));
        } else if (!o.is_const() && tl[static_cast<size_t>(o.dyn)]) {
          const TLin& part = *tl[static_cast<size_t>(o.dyn)];
          out->insert(out->end(), part.begin(), part.end());
        } else {
          out.reset();
          break;
        }
      }
    } else if ((n.op == Op::kAdd || n.op == Op::kSub) && lin.size() == 2 && n.in.size() == 2 &&
               shape(n.in[0].dyn) == shape(n.in[1].dyn)) {
      const TLin& a = *tl[static_cast<size_t>(n.in[0].dyn)];
      const TLin& b = *tl[static_cast<size_t>(n.in[1].dyn)];
      out.emplace();
      for (size_t r = 0; r < a.size(); ++r)
        out->push_back(combine(a[r], b[r], n.op == Op::kAdd ? 1.0 : -1.0));
    } else if (n.op == Op::kDiv && split_const(n, di, kc) && kc->size() == 1 && di == 0 &&
               kc->f[0] != 0) {
      out = scaled(*in0, 1.0 / kc->f[0]);
    } else if (n.op == Op::kMul && split_const(n, di, kc) && along_t_only(*kc, out_shape[2])) {
      out = *in0;  // a scalar, or a weight per frame (e.g. a mask zeroing the ends)
      for (size_t r = 0; r < out->size(); ++r)
        for (auto& jc : (*out)[r]) jc.second *= kc->f[kc->size() == 1 ? 0 : r];
    }
    if (out) {
      tl[static_cast<size_t>(n.out)] = std::move(out);
      continue;
    }
    if (lin.size() != 1)
      return fail(static_cast<int>(k),
                  "it combines the input with itself in a way we do not recognise");
    starts.emplace_back(static_cast<int>(k), lin[0]);
  }
  if (starts.empty()) return fail(consumers(g_.input)[0], "no ST-GCN stream starts from the input");
  if (starts.size() > 2) return fail(starts[2].first, "a third stream; an ST-GCN has one or two");

  GraphMatch result;
  std::vector<int> ends;
  for (const auto& [k, src] : starts) {
    auto source = classify(*tl[static_cast<size_t>(src)], T_);
    if (!source)
      return fail(
          k,
          "its input is a combination of frames that is neither the input, its first difference "
          "nor its central difference");
    STGCN_ASSIGN_OR_RETURN(StreamMatch s, match_stream(k, src, *source));
    ends.push_back(s.end_value);
    result.streams.push_back(std::move(s));
  }
  const bool two = result.streams.size() == 2;
  if (two && mm_)
    return fail(starts[1].first, "a second stream; an mmaction2 / pyskl ST-GCN has one");
  if (two) {
    if ((result.streams[0].source == StreamSource::kInput) ==
        (result.streams[1].source == StreamSource::kInput))
      return fail(starts[1].first, "two streams must read the input and its motion, one each");
    if (result.streams[1].source == StreamSource::kInput) {
      std::swap(result.streams[0], result.streams[1]);
      std::swap(ends[0], ends[1]);
    }
  } else if (result.streams[0].source != StreamSource::kInput) {
    return fail(starts[0].first,
                "a single stream reads the motion of the input; expected the input itself");
  }
  int v = ends[0];
  if (two) {
    STGCN_ASSIGN_OR_RETURN(int add, sole_consumer(ends[0], "the sum of the two streams' logits"));
    const Node& a = node(add);
    const bool sums = a.op == Op::kAdd && a.in.size() == 2 && !a.in[0].is_const() &&
                      !a.in[1].is_const() &&
                      ((a.in[0].dyn == ends[0] && a.in[1].dyn == ends[1]) ||
                       (a.in[0].dyn == ends[1] && a.in[1].dyn == ends[0])) &&
                      consumers(ends[1]).size() == 1 && shape(ends[0]) == shape(ends[1]);
    if (!sums) return fail(add, "expected the sum of the two streams' logits");
    v = a.out;
  }
  while (!consumers(v).empty()) {
    STGCN_ASSIGN_OR_RETURN(int k, sole_consumer(v, "the end of the graph"));
    const Node& n = node(k);
    if (n.op == Op::kSoftmax && n.a.axis == 1 && !result.softmax) {
      result.softmax = true;
    } else if (n.op != Op::kIdentity && !(n.op == Op::kReshape && shape(n.out) == shape(v))) {
      return fail(k, "expected the end of the graph (or a Softmax) after the logits");
    }
    v = n.out;
  }
  if (v != g_.output) return unsupported("the graph output is not the logits");
  return result;
}

Result<StreamMatch> Matcher::match_stream(int start_node, int source_value, StreamSource source) {
  StreamMatch s;
  s.source = source;
  s.C = static_cast<int>(C_);
  s.V = static_cast<int>(V_);
  AxisLayout L =
      mm_ ? make_layout(
                {{Axis::kN, N_}, {Axis::kM, M_}, {Axis::kT, T_}, {Axis::kV, V_}, {Axis::kC, C_}})
          : make_layout(
                {{Axis::kN, N_}, {Axis::kC, C_}, {Axis::kT, T_}, {Axis::kV, V_}, {Axis::kM, M_}});
  std::vector<std::pair<Axis, int64_t>> vc = {{Axis::kV, V_}, {Axis::kC, C_}};
  Dim joint_major = whole(Axis::kV, V_);
  for (const Factor& f : whole(Axis::kC, C_)) joint_major.push_back(f);
  s.data_bn = Affine(static_cast<size_t>(V_ * C_));
  // mmaction2 'MVC': data_bn per (person, joint, channel). The affine so far is repeated per
  // person the first time a constant varies along M.
  auto per_person = [&] {
    Affine mvc(static_cast<size_t>(M_ * V_ * C_));
    for (size_t j = 0; j < mvc.scale.size(); ++j) {
      mvc.scale[j] = s.data_bn.scale[j % s.data_bn.scale.size()];
      mvc.shift[j] = s.data_bn.shift[j % s.data_bn.shift.size()];
    }
    mvc.ops = s.data_bn.ops;
    s.data_bn = std::move(mvc);
    s.data_bn_persons = static_cast<int>(M_);
    vc.insert(vc.begin(), {Axis::kM, M_});
    const Dim persons = whole(Axis::kM, M_);
    joint_major.insert(joint_major.begin(), persons.begin(), persons.end());
  };

  // The layout the blocks take: (N*M in any order, C, T, V).
  auto block_input = [&](const AxisLayout& l) {
    bool ok = l.dims.size() == 4 && l.dims[1] == whole(Axis::kC, C_) &&
              l.dims[2] == whole(Axis::kT, T_) && l.dims[3] == whole(Axis::kV, V_);
    for (size_t i = 0; ok && i < l.dims[0].size(); ++i) {
      const Factor& f = l.dims[0][i];
      ok = (f.axis == Axis::kN || f.axis == Axis::kM) &&
           f == Factor{f.axis, f.axis == Axis::kN ? N_ : M_, 1};
    }
    return ok;
  };
  // Prelude: up to the first gcn conv.
  int k = start_node, v = source_value;
  for (int steps = 0;; ++steps) {
    const Node& n = node(k);
    int di = 0;
    const Const* kc = nullptr;
    const bool affine =
        n.op == Op::kBatchNorm ||
        ((n.op == Op::kAdd || n.op == Op::kSub || n.op == Op::kMul || n.op == Op::kDiv) &&
         split_const(n, di, kc));
    if (n.op == Op::kTranspose) {
      L = layout_transpose(L, n.a.perm);
    } else if (n.op == Op::kReshape) {
      auto r = layout_reshape(L, shape(n.out));
      if (!r.is_ok()) return fail(k, r.status().message());
      L = std::move(*r);
    } else if (affine) {
      Status st = apply_affine(n, L, vc, s.data_bn, &joint_major);
      if (!st.is_ok() && mm_ && s.data_bn_persons == 1 && M_ > 1) {
        per_person();
        st = apply_affine(n, L, vc, s.data_bn, &joint_major);
      }
      STGCN_RETURN_IF_ERROR(st);
    } else if (n.op != Op::kIdentity &&
               !(n.op == Op::kPad && std::all_of(n.a.pad_amounts.begin(), n.a.pad_amounts.end(),
                                                 [](int64_t p) { return p == 0; }))) {
      return fail(
          k,
          "expected the data_bn prelude (Transpose / Reshape / BatchNormalization) ending on "
          "(N*M, C, T, V) before the first gcn conv; the activations have layout " +
              L.str());
    }
    v = n.out;
    if (is_block_start(v) && block_input(L)) break;
    if (steps > 256) return fail(k, "a prelude longer than we follow");
    STGCN_ASSIGN_OR_RETURN(k, sole_consumer(v, "the data_bn prelude or the first gcn conv"));
  }
  // Blocks.
  progress_ = 1;
  while (is_block_start(v)) {
    const int first = gcn_conv_of(v) >= 0 ? gcn_conv_of(v) : aggregate_first_of(v);
    BlockMatch b;
    STGCN_ASSIGN_OR_RETURN(v, match_block(v, L, b));
    const size_t i = s.blocks.size();
    if (i == 0 && b.residual == ResidualKind::kIdentity && !mm_)
      return fail(first, "block 0 has an identity residual, which an ST-GCN does not have");
    // mmaction2 gives a block that keeps its width an identity residual (block 0 included).
    if (i == 0 && b.residual == ResidualKind::kNone && mm_ && b.cin == b.cout)
      return fail(first, "block 0 keeps the width (" + str(b.cin) +
                             " channels) but has no residual; an mmaction2 block that keeps "
                             "its width adds its input");
    if (i > 0 && b.residual == ResidualKind::kNone)
      return fail(first, "block " + str(static_cast<int64_t>(i)) + " has no residual");
    if (!s.blocks.empty() && b.K != s.blocks.front().K)
      return fail(first, "blocks use different numbers of partitions K");
    s.blocks.push_back(std::move(b));
    ++progress_;
    if (s.blocks.size() > 1000) return fail(first, "too many blocks");
  }
  if (s.blocks.empty()) return internal_error("a stream without blocks");
  STGCN_ASSIGN_OR_RETURN(s.end_value, match_head(v, L, s));
  ++progress_;
  return s;
}

Result<int> Matcher::match_head(int v, AxisLayout L, StreamMatch& s) {
  const int64_t t_last = dim_size(L.dims[2]), c_last = dim_size(L.dims[1]);
  std::map<Axis, int64_t> reduced = {{Axis::kT, 1}, {Axis::kV, 1}, {Axis::kM, 1}};
  bool fcn = false;
  int64_t classes = 0;
  Affine after;
  for (int steps = 0;; ++steps) {
    const auto& cons = consumers(v);
    if (cons.empty()) break;
    if (cons.size() > 1) return fail(cons[1], "a second reader of a stream's head");
    const int k = cons[0];
    const Node& n = node(k);
    if (n.op == Op::kSoftmax || (n.op == Op::kAdd && !n.in[0].is_const() && !n.in[1].is_const()))
      break;
    if (steps > 256) return fail(k, "a head longer than we follow");
    auto reduce = [&](const std::vector<int64_t>& axes, bool keep) -> Status {
      for (int64_t ax : axes)
        for (const Factor& f : L.dims[static_cast<size_t>(ax)]) {
          if (!reduced.count(f.axis))
            return fail(k, std::string("it averages over ") + axis_name(f.axis));
          reduced[f.axis] *= f.extent;
        }
      L = layout_reduce(L, axes, keep);
      return Status::ok();
    };
    int di = 0;
    const Const* kc = nullptr;
    switch (n.op) {
      case Op::kIdentity: break;
      case Op::kTranspose: L = layout_transpose(L, n.a.perm); break;
      case Op::kReshape: {
        auto r = layout_reshape(L, shape(n.out));
        if (!r.is_ok()) return fail(k, r.status().message());
        L = std::move(*r);
        break;
      }
      case Op::kPad:
        if (!std::all_of(n.a.pad_amounts.begin(), n.a.pad_amounts.end(),
                         [](int64_t p) { return p == 0; }))
          return fail(k, "padding in the head");
        break;
      case Op::kReduceMean: STGCN_RETURN_IF_ERROR(reduce(n.a.axes, n.a.keepdims)); break;
      case Op::kGlobalAveragePool: {
        std::vector<int64_t> axes;
        for (size_t d = 2; d < L.dims.size(); ++d) axes.push_back(static_cast<int64_t>(d));
        STGCN_RETURN_IF_ERROR(reduce(axes, true));
        break;
      }
      case Op::kAveragePool:
        if (n.a.kernel != std::vector<int64_t>{dim_size(L.dims[2]), dim_size(L.dims[3])} ||
            n.a.pads != std::vector<int64_t>{0, 0, 0, 0} ||
            n.a.dilations != std::vector<int64_t>{1, 1})
          return fail(k, "an AveragePool that is not one window over all of (T, V)");
        STGCN_RETURN_IF_ERROR(reduce({2, 3}, true));
        break;
      case Op::kConv:
      case Op::kGemm:
      case Op::kMatMul: {
        if (fcn) return fail(k, "a second fcn");
        const Const& w = *n.in[n.in[0].is_const() ? 0 : 1].c;
        const size_t cd = n.op == Op::kConv ? 1 : L.dims.size() - 1;
        if (L.dims.size() < 2 || L.dims[cd] != whole(Axis::kCh, c_last) || n.in[0].is_const() ||
            w.shape.size() < 2)
          return fail(k, "expected the fcn over the " + str(c_last) + " channels of " + L.str());
        if (n.op == Op::kConv) {
          if (n.a.kernel != std::vector<int64_t>{1, 1} ||
              n.a.strides != std::vector<int64_t>{1, 1} ||
              n.a.pads != std::vector<int64_t>{0, 0, 0, 0} || n.a.group != 1)
            return fail(k, "an fcn conv must be a plain 1x1 conv");
          classes = w.shape[0];
          s.fcn_w = Tensor({classes, c_last, 1, 1}, w.f);
          s.fcn_b = n.in.size() > 2 && n.in[2].is_const() ? Tensor({classes}, n.in[2].c->f)
                                                          : Tensor({classes});
        } else {
          const bool t = n.op == Op::kGemm && n.a.trans_b;
          if (w.shape.size() != 2 || (n.op == Op::kGemm && n.a.trans_a))
            return fail(k, "an fcn of an unexpected form");
          classes = t ? w.shape[0] : w.shape[1];
          const double alpha = n.op == Op::kGemm ? n.a.alpha : 1.0;
          s.fcn_w = Tensor({classes, c_last, 1, 1});
          for (int64_t c = 0; c < classes; ++c)
            for (int64_t i = 0; i < c_last; ++i)
              s.fcn_w.data[static_cast<size_t>(c * c_last + i)] = static_cast<float>(
                  alpha * w.f[static_cast<size_t>(t ? c * c_last + i : i * classes + c)]);
          s.fcn_b = Tensor({classes});
        }
        L.dims[cd] = whole(Axis::kCls, classes);
        if (n.op == Op::kGemm && n.in.size() > 2 && n.in[2].is_const()) {
          auto b = const_over_axes(*n.in[2].c, L, {{Axis::kCls, classes}});
          if (!b.is_ok()) return fail(k, b.status().message());
          for (int64_t c = 0; c < classes; ++c)
            s.fcn_b.data[static_cast<size_t>(c)] =
                static_cast<float>(n.a.beta * (*b)[static_cast<size_t>(c)]);
        }
        fcn = true;
        after = Affine(static_cast<size_t>(classes));
        break;
      }
      case Op::kAdd:
      case Op::kSub:
      case Op::kMul:
      case Op::kDiv:
        if (!fcn || !split_const(n, di, kc))
          return fail(k, "a scale or shift of the features before the fcn");
        STGCN_RETURN_IF_ERROR(apply_affine(n, L, {{Axis::kCls, classes}}, after, nullptr));
        break;
      default: return fail(k, "expected the head: pooling over T, V and the persons, then the fcn");
    }
    v = n.out;
  }
  const int last = g_.values[static_cast<size_t>(v)].producer;
  if (!fcn)
    return fail(last, "the stream ends without the fcn (Conv 1x1, Gemm or MatMul) of the head");
  if (reduced[Axis::kT] != t_last || reduced[Axis::kV] != V_ || reduced[Axis::kM] != M_)
    return fail(last, "the head does not average over all of T, V and the persons");
  if (L.dims.size() != 2 || L.dims[0] != whole(Axis::kN, N_) ||
      L.dims[1] != whole(Axis::kCls, classes))
    return fail(last, "the stream's logits have layout " + L.str() + "; expected (N, classes)");
  for (int64_t c = 0; c < classes; ++c) {
    for (int64_t i = 0; i < c_last; ++i)
      s.fcn_w.data[static_cast<size_t>(c * c_last + i)] *=
          static_cast<float>(after.scale[static_cast<size_t>(c)]);
    float& b = s.fcn_b.data[static_cast<size_t>(c)];
    b = static_cast<float>(b * after.scale[static_cast<size_t>(c)] +
                           after.shift[static_cast<size_t>(c)]);
  }
  return v;
}

}  // namespace stgcn::onnx_import
