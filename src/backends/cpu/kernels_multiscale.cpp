// The CPU backend's kernels for ST-GCN++'s multi-scale temporal unit: the temporal max-pool
// (with the transform's BN slice and ReLU folded in) and the channel concat. Plain loops over
// channels-last rows, in every element type the precision passes give them; each is tested
// against the reference executor.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/float16.h"

namespace stgcn::cpu::kernels {
namespace {

using ir::DType;

// Real values in and out of an element type (int8: real = q * step).
struct Elem {
  DType type;
  float step;
  float read(const void* p, int64_t i) const {
    switch (type) {
      case DType::kF32: return static_cast<const float*>(p)[i];
      case DType::kBF16: return bfloat16_to_float(static_cast<const uint16_t*>(p)[i]);
      case DType::kU8: return static_cast<const uint8_t*>(p)[i] * step;
      case DType::kS8: return static_cast<const int8_t*>(p)[i] * step;
    }
    return 0.f;
  }
  void write(void* p, int64_t i, float v) const {
    switch (type) {
      case DType::kF32: static_cast<float*>(p)[i] = v; return;
      case DType::kBF16: static_cast<uint16_t*>(p)[i] = float_to_bfloat16(v); return;
      case DType::kU8: {
        float q = v / step;
        q = q > 0.f ? (q < 255.f ? q : 255.f) : 0.f;
        static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(std::nearbyint(q));
        return;
      }
      case DType::kS8: {
        float q = v / step;
        q = q > -127.f ? (q < 127.f ? q : 127.f) : -127.f;
        static_cast<int8_t*>(p)[i] = static_cast<int8_t>(std::nearbyint(q));
        return;
      }
    }
  }
};

// The f32 -> f32 form without per-element dispatch (the common case).
void max_pool_f32(const float* x, float* out, int64_t MV, int64_t T, int64_t T2, int64_t C,
                  int kernel, int stride, int pad, const float* scale, const float* shift,
                  bool relu) {
  for (int64_t r = 0; r < MV; ++r)
    for (int64_t t = 0; t < T2; ++t) {
      float* o = out + (r * T2 + t) * C;
      std::fill(o, o + C, -std::numeric_limits<float>::infinity());
      for (int j = 0; j < kernel; ++j) {
        const int64_t ts = t * stride + j - pad;
        if (ts < 0 || ts >= T) continue;
        const float* xi = x + (r * T + ts) * C;
        for (int64_t c = 0; c < C; ++c) o[c] = std::max(o[c], xi[c]);
      }
      if (scale)
        for (int64_t c = 0; c < C; ++c) o[c] = o[c] * scale[c] + shift[c];
      if (relu)
        for (int64_t c = 0; c < C; ++c) o[c] = std::max(o[c], 0.f);
    }
}

// Round to nearest even without a libm call, so that the loops below vectorise (|v| < 2^22).
inline float round_even(float v) {
  constexpr float kMagic = 12582912.f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;
}

// Typed loads and stores for the fast paths: real = q * step for int8, bf16 widened.
template <typename T>
struct Typed;
template <>
struct Typed<uint16_t> {  // bf16
  static float load(uint16_t h, float) { return bfloat16_to_float(h); }
  static uint16_t store(float v, float) { return float_to_bfloat16(v); }
};
template <>
struct Typed<uint8_t> {
  static float load(uint8_t q, float step) { return static_cast<float>(q) * step; }
  static uint8_t store(float v, float inv) {
    const float q = round_even(v * inv);
    return static_cast<uint8_t>(q > 0.f ? (q < 255.f ? q : 255.f) : 0.f);
  }
};
template <>
struct Typed<int8_t> {
  static float load(int8_t q, float step) { return static_cast<float>(q) * step; }
  static int8_t store(float v, float inv) {
    const float q = round_even(v * inv);
    return static_cast<int8_t>(q > -127.f ? (q < 127.f ? q : 127.f) : -127.f);
  }
};

// One element type in and out (bf16, or int8 with its steps): max in the stored type (order
// preserving for int8 and for bf16 read as float), then the affine and ReLU in FP32.
template <typename T>
void max_pool_typed(const T* x, float x_step, T* out, float out_step, int64_t MV, int64_t T_in,
                    int64_t T2, int64_t C, int kernel, int stride, int pad, const float* scale,
                    const float* shift, bool relu) {
  const float inv = std::is_same_v<T, uint16_t> ? 1.f : 1.f / out_step;
  std::vector<float> m(static_cast<size_t>(C));
  for (int64_t r = 0; r < MV; ++r)
    for (int64_t t = 0; t < T2; ++t) {
      std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
      for (int j = 0; j < kernel; ++j) {
        const int64_t ts = t * stride + j - pad;
        if (ts < 0 || ts >= T_in) continue;
        const T* xi = x + (r * T_in + ts) * C;
        for (int64_t c = 0; c < C; ++c) m[c] = std::max(m[c], Typed<T>::load(xi[c], x_step));
      }
      T* o = out + (r * T2 + t) * C;
      for (int64_t c = 0; c < C; ++c) {
        float v = scale ? m[c] * scale[c] + shift[c] : m[c];
        if (relu) v = std::max(v, 0.f);
        o[c] = Typed<T>::store(v, inv);
      }
    }
}

// Requantises n int8 values from one step to another (or widens / narrows bf16: no-op here).
template <typename In, typename Out>
void requantise(const In* x, float in_step, Out* out, float out_step, int64_t n) {
  const float ratio = in_step / out_step;
  for (int64_t i = 0; i < n; ++i) out[i] = Typed<Out>::store(static_cast<float>(x[i]) * ratio, 1.f);
}

}  // namespace

void max_pool(const void* x, DType xt, float x_step, void* out, DType ot, float out_step,
              int64_t MV, int64_t T, int64_t T2, int64_t C, int kernel, int stride, int pad,
              const float* scale, const float* shift, bool relu) {
  if (xt == DType::kF32 && ot == DType::kF32)
    return max_pool_f32(static_cast<const float*>(x), static_cast<float*>(out), MV, T, T2, C,
                        kernel, stride, pad, scale, shift, relu);
  if (xt == ot && xt == DType::kBF16)
    return max_pool_typed(static_cast<const uint16_t*>(x), x_step, static_cast<uint16_t*>(out),
                          out_step, MV, T, T2, C, kernel, stride, pad, scale, shift, relu);
  if (xt == ot && xt == DType::kU8)
    return max_pool_typed(static_cast<const uint8_t*>(x), x_step, static_cast<uint8_t*>(out),
                          out_step, MV, T, T2, C, kernel, stride, pad, scale, shift, relu);
  if (xt == ot && xt == DType::kS8)
    return max_pool_typed(static_cast<const int8_t*>(x), x_step, static_cast<int8_t*>(out),
                          out_step, MV, T, T2, C, kernel, stride, pad, scale, shift, relu);
  const Elem in{xt, x_step}, o{ot, out_step};
  for (int64_t r = 0; r < MV; ++r)
    for (int64_t t = 0; t < T2; ++t)
      for (int64_t c = 0; c < C; ++c) {
        float m = -std::numeric_limits<float>::infinity();
        for (int j = 0; j < kernel; ++j) {
          const int64_t ts = t * stride + j - pad;
          if (ts >= 0 && ts < T) m = std::max(m, in.read(x, (r * T + ts) * C + c));
        }
        if (scale) m = m * scale[c] + shift[c];
        if (relu) m = std::max(m, 0.f);
        o.write(out, (r * T2 + t) * C + c, m);
      }
}

void concat(const void* const* xs, const DType* types, const float* steps,
            const int64_t* channels, int n, void* out, DType ot, float out_step, int64_t rows) {
  int64_t total = 0;
  for (int i = 0; i < n; ++i) total += channels[i];
  const Elem o{ot, out_step};
  const int64_t esize = ir::dtype_bytes(ot);
  int64_t at = 0;
  for (int i = 0; i < n; ++i) {
    const int64_t c = channels[i];
    // Same type (and int8 step): rows are copied as bytes; otherwise through real values.
    const bool same = types[i] == ot && (!ir::is_int8(ot) || steps[i] == out_step);
    const Elem in{types[i], steps[i]};
    for (int64_t r = 0; r < rows; ++r) {
      char* dst = static_cast<char*>(out) + (r * total + at) * esize;
      const char* src = static_cast<const char*>(xs[i]) + r * c * ir::dtype_bytes(types[i]);
      if (same) {
        std::memcpy(dst, src, static_cast<size_t>(c * esize));
      } else if (types[i] == DType::kU8 && ot == DType::kU8) {
        requantise(reinterpret_cast<const uint8_t*>(src), steps[i],
                   reinterpret_cast<uint8_t*>(dst), out_step, c);
      } else if (types[i] == DType::kS8 && ot == DType::kS8) {
        requantise(reinterpret_cast<const int8_t*>(src), steps[i], reinterpret_cast<int8_t*>(dst),
                   out_step, c);
      } else if (types[i] == DType::kU8 && ot == DType::kS8) {
        requantise(reinterpret_cast<const uint8_t*>(src), steps[i],
                   reinterpret_cast<int8_t*>(dst), out_step, c);
      } else {
        for (int64_t k = 0; k < c; ++k) o.write(out, r * total + at + k, in.read(xs[i], r * c + k));
      }
    }
    at += c;
  }
}

}  // namespace stgcn::cpu::kernels
