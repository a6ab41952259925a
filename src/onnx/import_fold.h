// Internal to the ONNX importer: shape rules and constant folding of the ops
// that torch.onnx.export leaves around an ST-GCN (import_fold.cpp). Every
// function checks its inputs and returns an error rather than trusting them.
#pragma once

#include <string>
#include <vector>

#include "onnx/import_ir.h"

namespace stgcn::onnx_import {

Result<std::vector<int64_t>> broadcast_shapes(const std::vector<int64_t>& a,
                                              const std::vector<int64_t>& b);

// Output shape of Reshape(in, target) with ONNX's 0 (copy) and -1 (infer) rules.
Result<std::vector<int64_t>> reshape_shape(const std::vector<int64_t>& in,
                                           const std::vector<int64_t>& target, bool allowzero);
Result<std::vector<int64_t>> unsqueeze_shape(const std::vector<int64_t>& in,
                                             std::vector<int64_t> axes);
// Empty `axes` with `all` set: every extent-1 dimension.
Result<std::vector<int64_t>> squeeze_shape(const std::vector<int64_t>& in,
                                           std::vector<int64_t> axes, bool all);
Result<std::vector<int64_t>> flatten_shape(const std::vector<int64_t>& in, int64_t axis);
Result<std::vector<int64_t>> transpose_perm(size_t rank, const std::vector<int64_t>* perm);

// Resolves a possibly negative axis against `rank`.
Result<int64_t> resolve_axis(int64_t axis, size_t rank);

// ONNX Slice on one dimension of extent `dim`: first index, step, count.
struct SliceDim {
  int64_t start = 0, step = 1, count = 0;
};
Result<SliceDim> slice_dim(int64_t dim, int64_t start, int64_t end, int64_t step);

// Per-dimension slice of `shape` given the Slice operands (axes may be empty:
// all leading dimensions).
Result<std::vector<SliceDim>> slice_dims(const std::vector<int64_t>& shape,
                                         const std::vector<int64_t>& starts,
                                         const std::vector<int64_t>& ends,
                                         const std::vector<int64_t>& axes,
                                         const std::vector<int64_t>& steps);

// Integer view of a constant (floats must be integral).
Result<std::vector<int64_t>> const_ints(const Const& c, const std::string& what);

// Folding. `label` names the node in messages.
enum class BinOp { kAdd, kSub, kMul, kDiv };
Result<ConstPtr> fold_binary(BinOp op, const ConstPtr& a, const ConstPtr& b,
                             const std::string& label);
Result<ConstPtr> fold_reshape(const ConstPtr& a, std::vector<int64_t> shape);
Result<ConstPtr> fold_transpose(const Const& a, const std::vector<int64_t>& perm);
Result<ConstPtr> fold_gather(const Const& data, const Const& idx, int64_t axis,
                             const std::string& label);
Result<ConstPtr> fold_slice(const Const& data, const std::vector<SliceDim>& dims);
Result<ConstPtr> fold_concat(const std::vector<ConstPtr>& parts, int64_t axis,
                             const std::string& label);
ConstPtr make_ints(std::vector<int64_t> shape, std::vector<int64_t> values);

}  // namespace stgcn::onnx_import
