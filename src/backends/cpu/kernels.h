// The CPU backend's own small kernels: the cheap ops oneDNN has no single
// primitive for (input transform, head) and the unfused forms the passes
// normally remove (they keep every pass disable-able). Plain loops the
// compiler vectorises; each is tested against the reference executor.
#pragma once

#include <cstdint>

#include "ir/ir.h"
#include "stgcn/model.h"

namespace stgcn::cpu::kernels {

// (C, T, V, M) -> (C, T, V, M) motion of one sample.
void motion(const float* x, float* out, int64_t C, int64_t T, int64_t V, int64_t M,
            MotionMode mode);
// (C, T, V, M) -> (M, V, T, C), y = x * scale[v*C + c] + shift[v*C + c].
// With person_stride V*C the scales are per (person, joint, channel) (mmaction2 'MVC').
void data_bn(const float* x, float* out, int64_t C, int64_t T, int64_t V, int64_t M,
             const float* scale, const float* shift, int64_t person_stride = 0);
// The same, writing bfloat16 (round to nearest even).
void data_bn(const float* x, uint16_t* out, int64_t C, int64_t T, int64_t V, int64_t M,
             const float* scale, const float* shift, int64_t person_stride = 0);
// The same, quantised to s8: q = clamp(round(y / step), -127, 127).
void data_bn(const float* x, int8_t* out, int64_t C, int64_t T, int64_t V, int64_t M,
             const float* scale, const float* shift, float step, int64_t person_stride = 0);
// Element type change of n values; int8 sides use their quantisation step
// (real = q * step): quantise (round to nearest, saturate), dequantise, requantise.
void convert(const void* in, ir::DType in_type, float in_step, void* out, ir::DType out_type,
             float out_step, int64_t n);
// y = x * scale[c] + shift[c] over rows of C.
void channel_affine(const float* x, float* out, int64_t rows, int64_t C, const float* scale,
                    const float* shift);
void relu(const float* x, float* out, int64_t n);
void add(const float* a, const float* b, float* out, int64_t n, bool relu);
// Dense aggregation (M, K, V, T, C) -> (M, V, T, C): A (K, V, V) [k, v, w],
// optional importance (K, V, V), optional bias (C), optional ReLU.
void aggregate_dense(const float* y, float* out, int64_t M, int64_t K, int64_t V, int64_t T,
                     int64_t C, const float* A, const float* importance, const float* bias,
                     bool relu, const float* residual = nullptr);
// (M, V, T, C) -> (M, C) mean over V, T.
void global_pool(const float* x, float* out, int64_t M, int64_t VT, int64_t C);
// (M, C) -> (C) mean over persons.
void person_mean(const float* x, float* out, int64_t M, int64_t C);
// (C) -> (classes): w (classes, C), optional bias.
void fcn(const float* x, float* out, int64_t C, int64_t classes, const float* w, const float* b);
// Fused pool + person mean + fcn: (M, V, T, C) -> (classes). `scratch` holds C floats.
void head(const float* x, float* out, int64_t M, int64_t VT, int64_t C, int64_t classes,
          const float* w, const float* b, float* scratch);
// The same over bfloat16 activations (sums in FP32).
void head(const uint16_t* x, float* out, int64_t M, int64_t VT, int64_t C, int64_t classes,
          const float* w, const float* b, float* scratch);
// The same over quantised activations (real = q * step; sums exact in int32 per row block).
void head(const uint8_t* x, float step, float* out, int64_t M, int64_t VT, int64_t C,
          int64_t classes, const float* w, const float* b, float* scratch);
void head(const int8_t* x, float step, float* out, int64_t M, int64_t VT, int64_t C,
          int64_t classes, const float* w, const float* b, float* scratch);

// kernels_multiscale.cpp. Temporal max-pool (M*V rows of (T, C)) -> (M*V, T2, C): max over
// `kernel` frames from t*stride - pad (frames outside count as -inf), then optional
// y * scale[c] + shift[c] and ReLU; element types as the graph gives them (int8: q * step).
void max_pool(const void* x, ir::DType xt, float x_step, void* out, ir::DType ot, float out_step,
              int64_t MV, int64_t T, int64_t T2, int64_t C, int kernel, int stride, int pad,
              const float* scale, const float* shift, bool relu);
// Channel concat of n inputs of `rows` rows of channels[i] values each (requantised to the
// output's step where int8 steps differ).
void concat(const void* const* xs, const ir::DType* types, const float* steps,
            const int64_t* channels, int n, void* out, ir::DType ot, float out_step, int64_t rows);

}  // namespace stgcn::cpu::kernels
