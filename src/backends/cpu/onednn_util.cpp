#include "backends/cpu/onednn_util.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "passes/memory_plan.h"

namespace stgcn::cpu {
using ir::ConstId;
using ir::Graph;
using ir::kNoConst;
using ir::Node;
using ir::Op;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

int64_t aligned_bytes(const ir::Value& v) {
  return (v.bytes() + passes::kArenaAlignment - 1) / passes::kArenaAlignment *
         passes::kArenaAlignment;
}

dnnl::primitive_attr user_scratchpad(const dnnl::post_ops& po) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_post_ops(po);
  return attr;
}

// Throws dnnl::error (caught by the callers).
dt onednn_type(ir::DType t) {
  switch (t) {
    case ir::DType::kBF16: return dt::bf16;
    case ir::DType::kU8: return dt::u8;
    case ir::DType::kS8: return dt::s8;
    case ir::DType::kF32: break;
  }
  return dt::f32;
}

// int8: the per-tensor step of the lowered aggregation matrix G (max |G| / 127).
float gemm_step(const Graph& g, const ir::AggregateAttrs& a) {
  float m = 0.f;
  for (float v : g.constants[a.gemm_matrix].data) m = std::max(m, std::fabs(v));
  return m > 0.f ? m / 127.f : 1.f;
}

const std::vector<float>& wscales(const Graph& g, ConstId c) {
  if (c == kNoConst) throw dnnl::error(dnnl_invalid_arguments, "int8 layer without weight scales");
  return g.constants[c].data;
}

// int8 requantisation: dst = step_in * wscale[c] / step_out * (acc + bias / (step_in * wscale[c])).
std::vector<float> output_scales(float in_step, const std::vector<float>& ws, float out_step) {
  std::vector<float> o(ws.size());
  for (size_t c = 0; c < ws.size(); ++c) o[c] = in_step * ws[c] / out_step;
  return o;
}


bool plausible_layout(const dnnl_memory_desc_t& raw, const dnnl_memory_desc_t& want) {
  if (raw.ndims != want.ndims || raw.ndims < 1 || raw.ndims > DNNL_MAX_NDIMS ||
      raw.data_type != want.data_type || raw.format_kind != dnnl_blocked || raw.offset0 != 0)
    return false;
  for (int i = 0; i < raw.ndims; ++i)
    if (raw.dims[i] != want.dims[i] || raw.padded_offsets[i] != 0 ||
        raw.padded_dims[i] < raw.dims[i] || raw.padded_dims[i] > raw.dims[i] + 64 ||
        raw.format_desc.blocking.strides[i] < 0)
      return false;
  const dnnl_blocking_desc_t& b = raw.format_desc.blocking;
  if (b.inner_nblks < 0 || b.inner_nblks > DNNL_MAX_NDIMS) return false;
  for (int i = 0; i < b.inner_nblks; ++i)
    if (b.inner_blks[i] < 1 || b.inner_blks[i] > 64 || b.inner_idxs[i] < 0 ||
        b.inner_idxs[i] >= raw.ndims)
      return false;
  const uint64_t known = dnnl_memory_extra_flag_compensation_conv_s8s8 |
                         dnnl_memory_extra_flag_scale_adjust |
                         dnnl_memory_extra_flag_compensation_conv_asymmetric_src;
  return (raw.extra.flags & ~known) == 0 && raw.extra.compensation_mask >= 0 &&
         raw.extra.compensation_mask < (1 << DNNL_MAX_NDIMS) &&
         raw.extra.asymm_compensation_mask >= 0 &&
         raw.extra.asymm_compensation_mask < (1 << DNNL_MAX_NDIMS) &&
         std::isfinite(raw.extra.scale_adjust);
}

// A primitive for `n` that reads weights packed in `packed`. oneDNN picks the packed layout
// by the threads available when the primitive is created (AMX kernels do): when its own

std::string impl_isa(const dnnl::primitive_desc& pd) {
  const std::string name = pd.impl_info_str();
  const auto colon = name.find(':');
  if (colon == std::string::npos) return std::string();
  const std::string isa = name.substr(colon + 1);
  if (isa.find("amx") != std::string::npos) return "avx512_core_amx";
  for (const char* known :
       {"avx512_core_bf16", "avx512_core_vnni", "avx512_core", "avx2_vnni", "avx2", "avx", "sse41"})
    if (isa.rfind(known, 0) == 0) return known;
  return std::string();
}

std::vector<uint8_t> md_bytes(const dnnl::memory::desc& md) {
  std::vector<uint8_t> b(sizeof(dnnl_memory_desc_t));
  std::memcpy(b.data(), &md.data, b.size());
  return b;
}

// Plain FP32 weights of one run into the primitive's layout (int8: divided

AlignedBuffer aligned_buffer(size_t bytes) {
  size_t n = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, n);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, n);
  return AlignedBuffer(static_cast<uint8_t*>(p));
}

}  // namespace stgcn::cpu
