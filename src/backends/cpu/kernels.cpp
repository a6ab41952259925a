#include "backends/cpu/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/float16.h"

namespace stgcn::cpu::kernels {

void motion(const float* x, float* out, int64_t C, int64_t T, int64_t V, int64_t M,
            MotionMode mode) {
  const int64_t frame = V * M;
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + c * T * frame;
    float* oc = out + c * T * frame;
    for (int64_t t = 0; t < T; ++t) {
      float* o = oc + t * frame;
      const float* cur = xc + t * frame;
      if (mode == MotionMode::kFirstDifference) {
        if (t == 0) {
          std::fill(o, o + frame, 0.f);
        } else {
          const float* prev = cur - frame;
          for (int64_t i = 0; i < frame; ++i) o[i] = cur[i] - prev[i];
        }
      } else {
        if (t == 0 || t == T - 1) {
          std::fill(o, o + frame, 0.f);
        } else {
          const float* prev = cur - frame;
          const float* next = cur + frame;
          for (int64_t i = 0; i < frame; ++i) o[i] = cur[i] - 0.5f * next[i] - 0.5f * prev[i];
        }
      }
    }
  }
}

namespace {
inline void store(float* p, float v) { *p = v; }
inline void store(uint16_t* p, float v) { *p = float_to_bfloat16(v); }
inline float load(const float* p) { return *p; }
inline float load(const uint16_t* p) { return bfloat16_to_float(*p); }
// Saturating round-to-nearest; NaN goes to the lowest level (no undefined cast).
inline int8_t quantize_s8(float v) {
  v = v > -127.f ? (v < 127.f ? v : 127.f) : -127.f;
  return static_cast<int8_t>(std::nearbyint(v));
}
inline uint8_t quantize_u8(float v) {
  v = v > 0.f ? (v < 255.f ? v : 255.f) : 0.f;
  return static_cast<uint8_t>(std::nearbyint(v));
}
struct S8Store {
  float inv;
  void operator()(int8_t* p, float v) const { *p = quantize_s8(v * inv); }
};

struct PlainStore {
  template <typename T>
  void operator()(T* p, float v) const {
    store(p, v);
  }
};

template <typename Out, typename Store = PlainStore>
void data_bn_t(const float* x, Out* out, int64_t C, int64_t T, int64_t V, int64_t M,
               const float* scale_all, const float* shift_all, int64_t person_stride,
               Store st = Store()) {
  for (int64_t m = 0; m < M; ++m) {
    const float* scale = scale_all + m * person_stride;
    const float* shift = shift_all + m * person_stride;
    for (int64_t v = 0; v < V; ++v)
      for (int64_t t = 0; t < T; ++t) {
        Out* o = out + ((m * V + v) * T + t) * C;
        for (int64_t c = 0; c < C; ++c)
          st(o + c, x[((c * T + t) * V + v) * M + m] * scale[v * C + c] + shift[v * C + c]);
      }
  }
}

template <typename In, typename Out, typename F>
void convert_t(const In* in, Out* out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(in[i]);
}

template <typename In>
void head_t(const In* x, float* out, int64_t M, int64_t VT, int64_t C, int64_t classes,
            const float* w, const float* b, float* scratch) {
  std::fill(scratch, scratch + C, 0.f);
  for (int64_t r = 0; r < M * VT; ++r)
    for (int64_t c = 0; c < C; ++c) scratch[c] += load(x + r * C + c);
  const float inv = 1.f / static_cast<float>(M * VT);
  for (int64_t c = 0; c < C; ++c) scratch[c] *= inv;
  fcn(scratch, out, C, classes, w, b);
}
}  // namespace

void data_bn(const float* x, float* out, int64_t C, int64_t T, int64_t V, int64_t M,
             const float* scale, const float* shift, int64_t person_stride) {
  data_bn_t(x, out, C, T, V, M, scale, shift, person_stride);
}
void data_bn(const float* x, int8_t* out, int64_t C, int64_t T, int64_t V, int64_t M,
             const float* scale, const float* shift, float step, int64_t person_stride) {
  data_bn_t(x, out, C, T, V, M, scale, shift, person_stride, S8Store{1.f / step});
}
void convert(const void* in, ir::DType in_type, float in_step, void* out, ir::DType out_type,
             float out_step, int64_t n) {
  using ir::DType;
  // To real values first (as float), then to the output type.
  auto to_out = [&](auto read) {
    switch (out_type) {
      case DType::kF32:
        for (int64_t i = 0; i < n; ++i) static_cast<float*>(out)[i] = read(i);
        break;
      case DType::kBF16:
        for (int64_t i = 0; i < n; ++i)
          static_cast<uint16_t*>(out)[i] = float_to_bfloat16(read(i));
        break;
      case DType::kU8: {
        const float inv = 1.f / out_step;
        for (int64_t i = 0; i < n; ++i) static_cast<uint8_t*>(out)[i] = quantize_u8(read(i) * inv);
        break;
      }
      case DType::kS8: {
        const float inv = 1.f / out_step;
        for (int64_t i = 0; i < n; ++i) static_cast<int8_t*>(out)[i] = quantize_s8(read(i) * inv);
        break;
      }
    }
  };
  switch (in_type) {
    case DType::kF32: {
      const float* p = static_cast<const float*>(in);
      to_out([p](int64_t i) { return p[i]; });
      break;
    }
    case DType::kBF16: {
      const uint16_t* p = static_cast<const uint16_t*>(in);
      to_out([p](int64_t i) { return bfloat16_to_float(p[i]); });
      break;
    }
    case DType::kU8: {
      const uint8_t* p = static_cast<const uint8_t*>(in);
      to_out([p, in_step](int64_t i) { return static_cast<float>(p[i]) * in_step; });
      break;
    }
    case DType::kS8: {
      const int8_t* p = static_cast<const int8_t*>(in);
      to_out([p, in_step](int64_t i) { return static_cast<float>(p[i]) * in_step; });
      break;
    }
  }
}
void data_bn(const float* x, uint16_t* out, int64_t C, int64_t T, int64_t V, int64_t M,
             const float* scale, const float* shift, int64_t person_stride) {
  data_bn_t(x, out, C, T, V, M, scale, shift, person_stride);
}

void channel_affine(const float* x, float* out, int64_t rows, int64_t C, const float* scale,
                    const float* shift) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = x[r * C + c] * scale[c] + shift[c];
}

void relu(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::max(x[i], 0.f);
}

void add(const float* a, const float* b, float* out, int64_t n, bool relu) {
  if (relu)
    for (int64_t i = 0; i < n; ++i) out[i] = std::max(a[i] + b[i], 0.f);
  else
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void aggregate_dense(const float* y, float* out, int64_t M, int64_t K, int64_t V, int64_t T,
                     int64_t C, const float* A, const float* importance, const float* bias,
                     bool relu, const float* residual) {
  const int64_t TC = T * C;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t w = 0; w < V; ++w) {
      float* o = out + (m * V + w) * TC;
      const float* res = residual ? residual + (m * V + w) * TC : nullptr;
      for (int64_t i = 0; i < TC; ++i) o[i] = (bias ? bias[i % C] : 0.f) + (res ? res[i] : 0.f);
      for (int64_t k = 0; k < K; ++k)
        for (int64_t v = 0; v < V; ++v) {
          const int64_t a_idx = (k * V + v) * V + w;
          const float a = A[a_idx] * (importance ? importance[a_idx] : 1.f);
          if (a == 0.f) continue;
          const float* src = y + ((m * K + k) * V + v) * TC;
          for (int64_t i = 0; i < TC; ++i) o[i] += a * src[i];
        }
      if (relu)
        for (int64_t i = 0; i < TC; ++i) o[i] = std::max(o[i], 0.f);
    }
}

void global_pool(const float* x, float* out, int64_t M, int64_t VT, int64_t C) {
  for (int64_t m = 0; m < M; ++m) {
    float* o = out + m * C;
    std::fill(o, o + C, 0.f);
    for (int64_t r = 0; r < VT; ++r)
      for (int64_t c = 0; c < C; ++c) o[c] += x[(m * VT + r) * C + c];
    for (int64_t c = 0; c < C; ++c) o[c] /= static_cast<float>(VT);
  }
}

void person_mean(const float* x, float* out, int64_t M, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    float s = 0.f;
    for (int64_t m = 0; m < M; ++m) s += x[m * C + c];
    out[c] = s / static_cast<float>(M);
  }
}

void fcn(const float* x, float* out, int64_t C, int64_t classes, const float* w, const float* b) {
  for (int64_t j = 0; j < classes; ++j) {
    float s = b ? b[j] : 0.f;
    for (int64_t c = 0; c < C; ++c) s += w[j * C + c] * x[c];
    out[j] = s;
  }
}

void head(const float* x, float* out, int64_t M, int64_t VT, int64_t C, int64_t classes,
          const float* w, const float* b, float* scratch) {
  head_t(x, out, M, VT, C, classes, w, b, scratch);
}
void head(const uint16_t* x, float* out, int64_t M, int64_t VT, int64_t C, int64_t classes,
          const float* w, const float* b, float* scratch) {
  head_t(x, out, M, VT, C, classes, w, b, scratch);
}

namespace {
template <typename Q>
void head_q(const Q* x, float step, float* out, int64_t M, int64_t VT, int64_t C,
            int64_t classes, const float* w, const float* b, float* scratch) {
  std::fill(scratch, scratch + C, 0.f);
  for (int64_t r = 0; r < M * VT; ++r)
    for (int64_t c = 0; c < C; ++c) scratch[c] += static_cast<float>(x[r * C + c]);
  const float f = step / static_cast<float>(M * VT);
  for (int64_t c = 0; c < C; ++c) scratch[c] *= f;
  fcn(scratch, out, C, classes, w, b);
}
}  // namespace

void head(const uint8_t* x, float step, float* out, int64_t M, int64_t VT, int64_t C,
          int64_t classes, const float* w, const float* b, float* scratch) {
  head_q(x, step, out, M, VT, C, classes, w, b, scratch);
}
void head(const int8_t* x, float step, float* out, int64_t M, int64_t VT, int64_t C,
          int64_t classes, const float* w, const float* b, float* scratch) {
  head_q(x, step, out, M, VT, C, classes, w, b, scratch);
}

}  // namespace stgcn::cpu::kernels
