// Shape rules and constant folding for the ONNX importer (see import_fold.h).
#include "onnx/import_fold.h"

#include <algorithm>
#include <cmath>

namespace stgcn::onnx_import {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// Row-major strides of `shape`.
std::vector<int64_t> strides_of(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) s[d - 1] = s[d] * shape[d];
  return s;
}

// Calls f(flat output index, multi-index) for every element of `shape`.
template <typename F>
void for_each_index(const std::vector<int64_t>& shape, int64_t n, F&& f) {
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t k = 0; k < n; ++k) {
    f(k, idx);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

std::shared_ptr<Const> like(const Const& a, std::vector<int64_t> shape, size_t n) {
  auto c = std::make_shared<Const>();
  c->shape = std::move(shape);
  c->is_float = a.is_float;
  if (a.is_float)
    c->f.resize(n);
  else
    c->i.resize(n);
  return c;
}

Status too_big(const std::string& what, const std::vector<int64_t>& shape) {
  return unsupported(what + ": a constant of shape " + shape_str(shape) + " is too large to fold");
}

}  // namespace

Result<int64_t> resolve_axis(int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r)
    return invalid_argument("axis " + str(axis) + " is out of range for rank " + str(r));
  return axis < 0 ? axis + r : axis;
}

Result<std::vector<int64_t>> broadcast_shapes(const std::vector<int64_t>& a,
                                              const std::vector<int64_t>& b) {
  const size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      return invalid_argument("shapes " + shape_str(a) + " and " + shape_str(b) +
                              " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Result<std::vector<int64_t>> reshape_shape(const std::vector<int64_t>& in,
                                           const std::vector<int64_t>& target, bool allowzero) {
  const int64_t n = checked_numel(in);
  if (n < 0 || target.size() > static_cast<size_t>(kMaxRank))
    return invalid_argument("cannot reshape " + shape_str(in) + " to " + shape_str(target));
  std::vector<int64_t> out(target.size());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == 0 && !allowzero) {
      if (i >= in.size())
        return invalid_argument("reshape target " + shape_str(target) +
                                " copies a missing dimension");
      d = in[i];
    }
    if (d == -1) {
      if (infer >= 0)
        return invalid_argument("reshape target " + shape_str(target) + " has two -1");
      infer = static_cast<int>(i);
      continue;
    }
    if (d < 0 || d > kMaxDim)
      return invalid_argument("reshape target " + shape_str(target) + " is invalid");
    out[i] = d;
    if (d != 0 && known > kMaxElements / d)
      return invalid_argument("reshape target " + shape_str(target) + " is too large");
    known *= d;
  }
  if (infer >= 0) {
    if (known == 0 || n % known != 0)
      return invalid_argument("cannot reshape " + shape_str(in) + " to " + shape_str(target));
    out[static_cast<size_t>(infer)] = n / known;
  } else if (known != n) {
    return invalid_argument("cannot reshape " + shape_str(in) + " (" + str(n) + " elements) to " +
                            shape_str(target));
  }
  return out;
}

Result<std::vector<int64_t>> unsqueeze_shape(const std::vector<int64_t>& in,
                                             std::vector<int64_t> axes) {
  const size_t r = in.size() + axes.size();
  if (r > static_cast<size_t>(kMaxRank))
    return invalid_argument("unsqueeze to rank " + str(static_cast<int64_t>(r)));
  std::vector<bool> inserted(r, false);
  for (int64_t& a : axes) {
    STGCN_ASSIGN_OR_RETURN(a, resolve_axis(a, r));
    if (inserted[static_cast<size_t>(a)])
      return invalid_argument("unsqueeze axes repeat " + str(a));
    inserted[static_cast<size_t>(a)] = true;
  }
  std::vector<int64_t> out;
  size_t k = 0;
  for (size_t i = 0; i < r; ++i) out.push_back(inserted[i] ? 1 : in[k++]);
  return out;
}

Result<std::vector<int64_t>> squeeze_shape(const std::vector<int64_t>& in,
                                           std::vector<int64_t> axes, bool all) {
  std::vector<bool> drop(in.size(), false);
  if (all) {
    for (size_t i = 0; i < in.size(); ++i) drop[i] = in[i] == 1;
  }
  for (int64_t a : axes) {
    STGCN_ASSIGN_OR_RETURN(int64_t ax, resolve_axis(a, in.size()));
    if (in[static_cast<size_t>(ax)] != 1)
      return invalid_argument("cannot squeeze dimension " + str(ax) + " of " + shape_str(in));
    drop[static_cast<size_t>(ax)] = true;
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < in.size(); ++i)
    if (!drop[i]) out.push_back(in[i]);
  return out;
}

Result<std::vector<int64_t>> flatten_shape(const std::vector<int64_t>& in, int64_t axis) {
  const int64_t r = static_cast<int64_t>(in.size());
  if (axis < -r || axis > r) return invalid_argument("flatten axis " + str(axis) + " out of range");
  if (axis < 0) axis += r;
  std::vector<int64_t> a(in.begin(), in.begin() + axis), b(in.begin() + axis, in.end());
  const int64_t na = checked_numel(a), nb = checked_numel(b);
  if (na < 0 || nb < 0 || na > kMaxDim || nb > kMaxDim)
    return invalid_argument("flatten of " + shape_str(in) + " is too large");
  return std::vector<int64_t>{na, nb};
}

Result<std::vector<int64_t>> transpose_perm(size_t rank, const std::vector<int64_t>* perm) {
  std::vector<int64_t> p(rank);
  if (!perm) {
    for (size_t i = 0; i < rank; ++i) p[i] = static_cast<int64_t>(rank - 1 - i);
    return p;
  }
  if (perm->size() != rank)
    return invalid_argument("perm " + shape_str(*perm) + " does not match rank " +
                            str(static_cast<int64_t>(rank)));
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < rank; ++i) {
    STGCN_ASSIGN_OR_RETURN(p[i], resolve_axis((*perm)[i], rank));
    if (seen[static_cast<size_t>(p[i])])
      return invalid_argument("perm " + shape_str(*perm) + " is not a permutation");
    seen[static_cast<size_t>(p[i])] = true;
  }
  return p;
}

Result<SliceDim> slice_dim(int64_t dim, int64_t start, int64_t end, int64_t step) {
  if (step == 0) return invalid_argument("slice step 0");
  if (start < 0) start = start < -dim ? 0 : start + dim;  // written to avoid overflow
  if (end < 0) end = end < -dim ? -1 : end + dim;
  SliceDim s;
  s.step = step;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    s.count = end > start ? (end - start - 1) / step + 1 : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    const int64_t st = step == INT64_MIN ? INT64_MAX : -step;
    s.count = start > end ? (start - end - 1) / st + 1 : 0;
  }
  if (dim == 0) s.count = 0;
  s.start = start;
  return s;
}

Result<std::vector<SliceDim>> slice_dims(const std::vector<int64_t>& shape,
                                         const std::vector<int64_t>& starts,
                                         const std::vector<int64_t>& ends,
                                         const std::vector<int64_t>& axes,
                                         const std::vector<int64_t>& steps) {
  if (starts.size() != ends.size() || (!axes.empty() && axes.size() != starts.size()) ||
      (!steps.empty() && steps.size() != starts.size()) || starts.size() > shape.size())
    return invalid_argument("slice starts/ends/axes/steps have inconsistent lengths");
  std::vector<SliceDim> dims(shape.size());
  std::vector<bool> seen(shape.size(), false);
  for (size_t d = 0; d < shape.size(); ++d) dims[d] = SliceDim{0, 1, shape[d]};
  for (size_t k = 0; k < starts.size(); ++k) {
    int64_t ax = static_cast<int64_t>(k);
    if (!axes.empty()) {
      STGCN_ASSIGN_OR_RETURN(ax, resolve_axis(axes[k], shape.size()));
    }
    if (seen[static_cast<size_t>(ax)]) return invalid_argument("slice axes repeat");
    seen[static_cast<size_t>(ax)] = true;
    STGCN_ASSIGN_OR_RETURN(dims[static_cast<size_t>(ax)],
                           slice_dim(shape[static_cast<size_t>(ax)], starts[k], ends[k],
                                     steps.empty() ? 1 : steps[k]));
  }
  return dims;
}

Result<std::vector<int64_t>> const_ints(const Const& c, const std::string& what) {
  if (!c.is_float) return c.i;
  std::vector<int64_t> out(c.f.size());
  for (size_t k = 0; k < c.f.size(); ++k) {
    const float v = c.f[k];
    if (!std::isfinite(v) || v != std::trunc(v) || std::abs(v) > 9e15f)
      return invalid_argument(what + " holds a non-integer value");
    out[k] = static_cast<int64_t>(v);
  }
  return out;
}

ConstPtr make_ints(std::vector<int64_t> shape, std::vector<int64_t> values) {
  auto c = std::make_shared<Const>();
  c->shape = std::move(shape);
  c->is_float = false;
  c->i = std::move(values);
  return c;
}

Result<ConstPtr> fold_binary(BinOp op, const ConstPtr& a, const ConstPtr& b,
                             const std::string& label) {
  if (a->is_float != b->is_float) return not_understood(label, "mixes float and integer constants");
  auto shape = broadcast_shapes(a->shape, b->shape);
  if (!shape.is_ok()) return not_understood(label, shape.status().message());
  const int64_t n = checked_numel(*shape, kMaxFoldedElements);
  if (n < 0) return too_big(label, *shape);
  auto c = like(*a, *shape, static_cast<size_t>(n));
  const size_t r = shape->size();
  auto bstrides = [&](const Const& x) {
    std::vector<int64_t> s(r, 0), own = strides_of(x.shape);
    for (size_t i = 0; i < x.shape.size(); ++i)
      if (x.shape[i] != 1) s[r - x.shape.size() + i] = own[i];
    return s;
  };
  const auto sa = bstrides(*a), sb = bstrides(*b);
  bool div_zero = false;
  for_each_index(*shape, n, [&](int64_t k, const std::vector<int64_t>& idx) {
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < r; ++d) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    if (c->is_float) {
      const double x = a->f[static_cast<size_t>(ia)], y = b->f[static_cast<size_t>(ib)];
      double v = op == BinOp::kAdd   ? x + y
                 : op == BinOp::kSub ? x - y
                 : op == BinOp::kMul ? x * y
                                     : x / y;
      c->f[static_cast<size_t>(k)] = static_cast<float>(v);
    } else {
      const int64_t x = a->i[static_cast<size_t>(ia)], y = b->i[static_cast<size_t>(ib)];
      int64_t v = 0;
      if (op == BinOp::kDiv) {
        if (y == 0 || (x == INT64_MIN && y == -1))
          div_zero = true;
        else
          v = x / y;
      } else if (op == BinOp::kMul   ? __builtin_mul_overflow(x, y, &v)
                 : op == BinOp::kAdd ? __builtin_add_overflow(x, y, &v)
                                     : __builtin_sub_overflow(x, y, &v)) {
        div_zero = true;
      }
      c->i[static_cast<size_t>(k)] = v;
    }
  });
  if (div_zero) return not_understood(label, "integer division by zero or overflow while folding");
  if (op == BinOp::kMul && a->is_float && a->size() == b->size() && a->size() == c->size() &&
      a->size() > 1) {
    c->factor_a = a;
    c->factor_b = b;
  }
  return ConstPtr(c);
}

Result<ConstPtr> fold_reshape(const ConstPtr& a, std::vector<int64_t> shape) {
  auto c = std::make_shared<Const>(*a);
  c->shape = std::move(shape);
  return ConstPtr(c);
}

Result<ConstPtr> fold_transpose(const Const& a, const std::vector<int64_t>& perm) {
  std::vector<int64_t> shape(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) shape[i] = a.shape[static_cast<size_t>(perm[i])];
  const int64_t n = static_cast<int64_t>(a.size());
  auto c = like(a, shape, static_cast<size_t>(n));
  const auto in_strides = strides_of(a.shape);
  for_each_index(shape, n, [&](int64_t k, const std::vector<int64_t>& idx) {
    int64_t src = 0;
    for (size_t d = 0; d < perm.size(); ++d)
      src += idx[d] * in_strides[static_cast<size_t>(perm[d])];
    if (a.is_float)
      c->f[static_cast<size_t>(k)] = a.f[static_cast<size_t>(src)];
    else
      c->i[static_cast<size_t>(k)] = a.i[static_cast<size_t>(src)];
  });
  return ConstPtr(c);
}

Result<ConstPtr> fold_gather(const Const& data, const Const& idx, int64_t axis,
                             const std::string& label) {
  if (idx.is_float || data.shape.empty())
    return not_understood(label, "gathers with non-integer indices or from a scalar");
  auto ax = resolve_axis(axis, data.shape.size());
  if (!ax.is_ok()) return not_understood(label, ax.status().message());
  const size_t a = static_cast<size_t>(*ax);
  std::vector<int64_t> shape(data.shape.begin(), data.shape.begin() + static_cast<int64_t>(a));
  shape.insert(shape.end(), idx.shape.begin(), idx.shape.end());
  shape.insert(shape.end(), data.shape.begin() + static_cast<int64_t>(a) + 1, data.shape.end());
  if (shape.size() > static_cast<size_t>(kMaxRank))
    return not_understood(label, "gather result rank too large");
  const int64_t n = checked_numel(shape, kMaxFoldedElements);
  if (n < 0) return too_big(label, shape);
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < a; ++d) outer *= data.shape[d];
  for (size_t d = a + 1; d < data.shape.size(); ++d) inner *= data.shape[d];
  const int64_t dim = data.shape[a];
  auto c = like(data, shape, static_cast<size_t>(n));
  size_t k = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j : idx.i) {
      if (j < -dim || j >= dim)
        return not_understood(label, "gather index " + str(j) + " out of range");
      if (j < 0) j += dim;
      for (int64_t in = 0; in < inner; ++in, ++k) {
        const size_t src = static_cast<size_t>((o * dim + j) * inner + in);
        if (data.is_float)
          c->f[k] = data.f[src];
        else
          c->i[k] = data.i[src];
      }
    }
  return ConstPtr(c);
}

Result<ConstPtr> fold_slice(const Const& data, const std::vector<SliceDim>& dims) {
  std::vector<int64_t> shape(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) shape[d] = dims[d].count;
  const int64_t n = checked_numel(shape, kMaxFoldedElements);
  if (n < 0) return too_big("slice", shape);
  auto c = like(data, shape, static_cast<size_t>(n));
  const auto in_strides = strides_of(data.shape);
  for_each_index(shape, n, [&](int64_t k, const std::vector<int64_t>& idx) {
    int64_t src = 0;
    for (size_t d = 0; d < dims.size(); ++d)
      src += (dims[d].start + idx[d] * dims[d].step) * in_strides[d];
    if (data.is_float)
      c->f[static_cast<size_t>(k)] = data.f[static_cast<size_t>(src)];
    else
      c->i[static_cast<size_t>(k)] = data.i[static_cast<size_t>(src)];
  });
  return ConstPtr(c);
}

Result<ConstPtr> fold_concat(const std::vector<ConstPtr>& parts, int64_t axis,
                             const std::string& label) {
  if (parts.empty()) return not_understood(label, "concatenates nothing");
  const Const& first = *parts.front();
  auto ax = resolve_axis(axis, first.shape.size());
  if (!ax.is_ok()) return not_understood(label, ax.status().message());
  const size_t a = static_cast<size_t>(*ax);
  std::vector<int64_t> shape = first.shape;
  shape[a] = 0;
  for (const auto& p : parts) {
    if (p->is_float != first.is_float || p->shape.size() != first.shape.size())
      return not_understood(label, "concatenates constants of different types or ranks");
    for (size_t d = 0; d < shape.size(); ++d)
      if (d != a && p->shape[d] != first.shape[d])
        return not_understood(label, "concatenates mismatched shapes");
    shape[a] += p->shape[a];
    if (shape[a] > kMaxDim) return too_big(label, shape);
  }
  const int64_t n = checked_numel(shape, kMaxFoldedElements);
  if (n < 0) return too_big(label, shape);
  int64_t outer = 1;
  for (size_t d = 0; d < a; ++d) outer *= shape[d];
  auto c = like(first, shape, static_cast<size_t>(n));
  size_t k = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (const auto& p : parts) {
      const size_t chunk = p->size() / static_cast<size_t>(outer == 0 ? 1 : outer);
      for (size_t j = 0; j < chunk; ++j, ++k) {
        const size_t src = static_cast<size_t>(o) * chunk + j;
        if (first.is_float)
          c->f[k] = p->f[src];
        else
          c->i[k] = p->i[src];
      }
    }
  return ConstPtr(c);
}

}  // namespace stgcn::onnx_import
