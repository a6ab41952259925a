// Internal to the ONNX importer: which logical axis every dimension of an
// activation holds. An exporter may permute and reshape the activations at
// will (torch's data_bn prelude, a MatMul form of the graph aggregation, the
// head's pooling): instead of matching one op sequence, the matcher follows
// each dimension as a row-major list of factors of logical axes (N, C, T, V,
// M, the gcn conv channels G, ...) and checks what the ops do to them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "onnx/import_ir.h"

namespace stgcn::onnx_import {

enum class Axis : uint8_t {
  kN,    // batch
  kC,    // input channels
  kT,    // frames
  kV,    // joints
  kM,    // persons
  kG,    // gcn conv output channels (K * C_out, k-major)
  kW,    // joints after the graph aggregation
  kCh,   // feature channels inside the network
  kCls,  // classes
  kP,    // the K partitions, when an exporter aggregates before the gcn projection
};
const char* axis_name(Axis a);

// `extent` values of the axis with index step `stride`: this factor's index
// is (axis index / stride) % extent. Extent-1 factors are never stored.
struct Factor {
  Axis axis;
  int64_t extent;
  int64_t stride;
  bool operator==(const Factor& o) const {
    return axis == o.axis && extent == o.extent && stride == o.stride;
  }
};
using Dim = std::vector<Factor>;  // row-major, outer first; empty = extent 1

struct AxisLayout {
  std::vector<Dim> dims;
  std::vector<int64_t> shape() const;
  std::string str() const;  // e.g. "[N*M][C][T][V]"
};

int64_t dim_size(const Dim& d);
Dim whole(Axis a, int64_t total);  // one factor covering the axis (empty when total is 1)

AxisLayout make_layout(const std::vector<std::pair<Axis, int64_t>>& dims);
// Reshape to `shape` (same element count): factors are regrouped in order and
// split where a new dimension boundary falls inside one.
Result<AxisLayout> layout_reshape(const AxisLayout& in, const std::vector<int64_t>& shape);
AxisLayout layout_transpose(const AxisLayout& in, const std::vector<int64_t>& perm);
// Drops the dimensions in `axes` (sorted), or makes them extent 1 with keepdims.
AxisLayout layout_reduce(const AxisLayout& in, const std::vector<int64_t>& axes, bool keepdims);

// Evaluates the constant `k`, broadcast against a tensor with layout `L`, at
// every index of the axes `axes` (row-major over them, first outermost; each
// with its total extent). Fails when `k` varies along any other axis.
Result<std::vector<double>> const_over_axes(const Const& k, const AxisLayout& L,
                                            const std::vector<std::pair<Axis, int64_t>>& axes);

// The index, within dimension `d`, of the element whose axis indices are
// `index_of(axis)`.
template <typename F>
int64_t position_in_dim(const Dim& d, F&& index_of) {
  int64_t pos = 0;
  for (const Factor& f : d) pos = pos * f.extent + (index_of(f.axis) / f.stride) % f.extent;
  return pos;
}

}  // namespace stgcn::onnx_import
