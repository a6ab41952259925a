// A dense, row-major FP32 tensor. Checkpoint tensors of other dtypes are
// converted on load; `source_dtype` remembers what the file held.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "stgcn/status.h"

namespace stgcn {

enum class DType { kF32, kF64, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

const char* dtype_name(DType d);
constexpr int dtype_size(DType d) {
  switch (d) {
    case DType::kF64:
    case DType::kI64: return 8;
    case DType::kF32:
    case DType::kI32: return 4;
    case DType::kF16:
    case DType::kBF16:
    case DType::kI16: return 2;
    case DType::kI8:
    case DType::kU8:
    case DType::kBool: return 1;
  }
  return 1;
}

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major, numel() elements
  DType source_dtype = DType::kF32;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> s) : shape(std::move(s)), data(count(shape), 0.0f) {}
  Tensor(std::vector<int64_t> s, std::vector<float> d) : shape(std::move(s)), data(std::move(d)) {}

  int64_t numel() const { return count(shape); }
  int rank() const { return static_cast<int>(shape.size()); }
  static int64_t count(const std::vector<int64_t>& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
  }
};

// "[64, 3, 1, 1]"
std::string shape_string(const std::vector<int64_t>& shape);

// Non-finite inputs (NaN, +-inf) are refused, never computed: an engine's kernels would turn
// them into finite, confident logits (docs/safety.md). `data` holds samples of
// (C, T, V, M) floats each; the error names `source` and the first bad sample (counted
// from `first_sample`), channel, frame, joint and person.
Status check_finite_input(std::span<const float> data, int64_t C, int64_t T, int64_t V, int64_t M,
                          const std::string& source, int64_t first_sample = 0);

// Ordered name -> tensor map, in file order.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

const Tensor* find_tensor(const StateDict& sd, const std::string& name);

}  // namespace stgcn
