// Factor layouts of activations (see import_layout.h).
#include "onnx/import_layout.h"

#include <algorithm>
#include <deque>

namespace stgcn::onnx_import {
namespace {

// Merges adjacent factors of one axis that are contiguous (outer stride =
// inner extent * inner stride).
void canonicalise(Dim& d) {
  Dim out;
  for (const Factor& f : d) {
    if (!out.empty() && out.back().axis == f.axis && out.back().stride == f.extent * f.stride) {
      out.back().extent *= f.extent;
      out.back().stride = f.stride;
    } else {
      out.push_back(f);
    }
  }
  d = std::move(out);
}

}  // namespace

const char* axis_name(Axis a) {
  switch (a) {
    case Axis::kN: return "N";
    case Axis::kC: return "C";
    case Axis::kT: return "T";
    case Axis::kV: return "V";
    case Axis::kM: return "M";
    case Axis::kG: return "K*C_out";
    case Axis::kW: return "W";
    case Axis::kCh: return "channels";
    case Axis::kCls: return "classes";
    case Axis::kP: return "K";
  }
  return "?";
}

int64_t dim_size(const Dim& d) {
  int64_t n = 1;
  for (const Factor& f : d) n *= f.extent;
  return n;
}

Dim whole(Axis a, int64_t total) {
  if (total == 1) return {};
  return {Factor{a, total, 1}};
}

std::vector<int64_t> AxisLayout::shape() const {
  std::vector<int64_t> s;
  for (const Dim& d : dims) s.push_back(dim_size(d));
  return s;
}

std::string AxisLayout::str() const {
  std::string s;
  for (const Dim& d : dims) {
    s.push_back('[');
    for (size_t i = 0; i < d.size(); ++i) {
      if (i) s.push_back('*');
      s.append(axis_name(d[i].axis));
      if (d[i].stride != 1 || d.size() > 1) {
        s.push_back('(');
        s.append(std::to_string(d[i].extent));
        s.push_back(')');
      }
    }
    s.push_back(']');
  }
  return s;
}

AxisLayout make_layout(const std::vector<std::pair<Axis, int64_t>>& dims) {
  AxisLayout L;
  for (const auto& [a, n] : dims) L.dims.push_back(whole(a, n));
  return L;
}

Result<AxisLayout> layout_reshape(const AxisLayout& in, const std::vector<int64_t>& shape) {
  std::deque<Factor> q;
  for (const Dim& d : in.dims) q.insert(q.end(), d.begin(), d.end());
  AxisLayout out;
  for (int64_t s : shape) {
    Dim d;
    int64_t prod = 1;
    while (prod < s) {
      if (q.empty() || s % prod != 0)
        return invalid_argument("reshaping " + in.str() + " to " + shape_str(shape) +
                                " mixes axes");
      Factor& f = q.front();
      const int64_t need = s / prod;
      if (f.extent <= need) {
        if (need % f.extent != 0)
          return invalid_argument("reshaping " + in.str() + " to " + shape_str(shape) +
                                  " mixes axes");
        d.push_back(f);
        prod *= f.extent;
        q.pop_front();
      } else {
        if (f.extent % need != 0)
          return invalid_argument("reshaping " + in.str() + " to " + shape_str(shape) +
                                  " splits an axis unevenly");
        const int64_t inner = f.extent / need;
        d.push_back(Factor{f.axis, need, f.stride * inner});
        f.extent = inner;
        prod *= need;
      }
    }
    if (prod != s)
      return invalid_argument("reshaping " + in.str() + " to " + shape_str(shape) + " mixes axes");
    canonicalise(d);
    out.dims.push_back(std::move(d));
  }
  if (!q.empty())
    return invalid_argument("reshaping " + in.str() + " to " + shape_str(shape) +
                            " loses elements");
  return out;
}

AxisLayout layout_transpose(const AxisLayout& in, const std::vector<int64_t>& perm) {
  AxisLayout out;
  for (int64_t p : perm) out.dims.push_back(in.dims[static_cast<size_t>(p)]);
  return out;
}

AxisLayout layout_reduce(const AxisLayout& in, const std::vector<int64_t>& axes, bool keepdims) {
  AxisLayout out;
  for (size_t d = 0; d < in.dims.size(); ++d) {
    if (!std::binary_search(axes.begin(), axes.end(), static_cast<int64_t>(d)))
      out.dims.push_back(in.dims[d]);
    else if (keepdims)
      out.dims.push_back({});
  }
  return out;
}

Result<std::vector<double>> const_over_axes(const Const& k, const AxisLayout& L,
                                            const std::vector<std::pair<Axis, int64_t>>& axes) {
  const size_t r = L.dims.size();
  if (k.shape.size() > r) {
    for (size_t d = 0; d < k.shape.size() - r; ++d)
      if (k.shape[d] != 1)
        return invalid_argument("constant " + shape_str(k.shape) + " has more dimensions than " +
                                L.str());
  }
  // Constant dimension aligned with each tensor dimension (broadcast from the right).
  std::vector<int64_t> kext(r, 1), kstride(r, 0);
  int64_t stride = 1;
  for (size_t j = 0; j < std::min(k.shape.size(), r); ++j) {
    const size_t kd = k.shape.size() - 1 - j, d = r - 1 - j;
    kext[d] = k.shape[kd];
    kstride[d] = stride;
    stride *= k.shape[kd];
  }
  int64_t total = 1;
  for (const auto& [a, n] : axes) total *= n;
  for (size_t d = 0; d < r; ++d) {
    if (kext[d] == 1) continue;
    if (kext[d] != dim_size(L.dims[d]))
      return invalid_argument("constant " + shape_str(k.shape) + " does not broadcast against " +
                              L.str());
    for (const Factor& f : L.dims[d]) {
      bool allowed = false;
      for (const auto& [a, n] : axes) allowed |= f.axis == a;
      if (!allowed)
        return invalid_argument("constant " + shape_str(k.shape) + " varies along " +
                                axis_name(f.axis) + " of " + L.str());
    }
  }
  if (total < 0 || total > kMaxFoldedElements) return invalid_argument("too many values");
  std::vector<double> out(static_cast<size_t>(total));
  std::vector<int64_t> idx(axes.size(), 0);
  for (int64_t e = 0; e < total; ++e) {
    int64_t rem = e;
    for (size_t j = axes.size(); j-- > 0;) {
      idx[j] = rem % axes[j].second;
      rem /= axes[j].second;
    }
    auto index_of = [&](Axis a) -> int64_t {
      for (size_t j = 0; j < axes.size(); ++j)
        if (axes[j].first == a) return idx[j];
      return 0;
    };
    int64_t flat = 0;
    for (size_t d = 0; d < r; ++d)
      if (kext[d] != 1) flat += position_in_dim(L.dims[d], index_of) * kstride[d];
    out[static_cast<size_t>(e)] = k.at(static_cast<size_t>(flat));
  }
  return out;
}

}  // namespace stgcn::onnx_import
