// Helpers shared by the CPU backend's files: the oneDNN engine, element types, attributes,
// int8 scale arithmetic, untrusted layout records, aligned buffers. Internal to backends/cpu.
#pragma once

#include <cstdint>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "ir/ir.h"

namespace stgcn::cpu {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& cpu_engine();
// A value's bytes rounded up to the arena alignment.
int64_t aligned_bytes(const ir::Value& v);
// Primitive attributes with a user scratchpad and the given post-ops.
dnnl::primitive_attr user_scratchpad(const dnnl::post_ops& po = dnnl::post_ops());
// oneDNN's type of an activation type. Throws dnnl::error (caught by the callers).
dt onednn_type(ir::DType t);
// int8: the per-tensor step of the lowered aggregation matrix G (max |G| / 127).
float gemm_step(const ir::Graph& g, const ir::AggregateAttrs& a);
// int8: a layer's per-output-channel weight scales (throws when absent).
const std::vector<float>& wscales(const ir::Graph& g, ir::ConstId c);
// int8 requantisation: dst = step_in * wscale[c] / step_out * (acc + bias / (step_in * wscale[c])).
std::vector<float> output_scales(float in_step, const std::vector<float>& ws, float out_step);
// A layout record from an engine file is untrusted: before oneDNN sees it, it must describe
// the same tensor as `want` (rank, dims, type) in a dense blocked layout with bounded blocks,
// no offsets and only the compensation extras int8 weights carry.
bool plausible_layout(const dnnl_memory_desc_t& raw, const dnnl_memory_desc_t& want);
// The ISA of an implementation, as a name of isa_bits()'s table: oneDNN's implementation
// names carry more detail ("brg:avx512_core_amx_int8", "jit:avx512_core_bf16_amx_bf16",
// "brgconv:avx512_core_vnni"); any AMX kernel needs the AMX ISA (and packs for it).
std::string impl_isa(const dnnl::primitive_desc& pd);
std::vector<uint8_t> md_bytes(const dnnl::memory::desc& md);

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8_t, AlignedFree>;
// Zeroed, 64-byte aligned; throws std::bad_alloc.
AlignedBuffer aligned_buffer(size_t bytes);

}  // namespace stgcn::cpu
