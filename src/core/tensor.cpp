#include "stgcn/tensor.h"

#include <cmath>

namespace stgcn {

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kF32: return "float32";
    case DType::kF64: return "float64";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
    case DType::kI64: return "int64";
    case DType::kI32: return "int32";
    case DType::kI16: return "int16";
    case DType::kI8: return "int8";
    case DType::kU8: return "uint8";
    case DType::kBool: return "bool";
  }
  return "?";
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

const Tensor* find_tensor(const StateDict& sd, const std::string& name) {
  for (const auto& [k, t] : sd)
    if (k == name) return &t;
  return nullptr;
}

Status check_finite_input(std::span<const float> data, int64_t C, int64_t T, int64_t V, int64_t M,
                          const std::string& source, int64_t first_sample) {
  for (size_t i = 0; i < data.size(); ++i) {
    if (std::isfinite(data[i])) continue;
    int64_t k = static_cast<int64_t>(i);
    const int64_t m = k % M;
    k /= M;
    const int64_t v = k % V;
    k /= V;
    const int64_t t = k % T;
    k /= T;
    const int64_t c = k % C;
    const int64_t n = k / C + first_sample;
    return invalid_argument(
        "input '" + source + "' holds " + (std::isnan(data[i]) ? "NaN" : "an infinity") +
        " at sample " + std::to_string(n) + ", channel " + std::to_string(c) + ", frame " +
        std::to_string(t) + ", joint " + std::to_string(v) + ", person " + std::to_string(m) +
        ": non-finite inputs are refused (mark a missing joint with 0, not NaN)");
  }
  return Status::ok();
}

}  // namespace stgcn
