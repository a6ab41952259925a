// The CPU (oneDNN) backend behind the seam of backends/backend.h.
#include <fmt/format.h>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/primitives.h"
#include "backends/cpu/streaming.h"
#include "backends/cpu/streaming_impl.h"
#include "passes/memory_plan.h"

namespace stgcn::cpu {
namespace {

using ir::DType;
using ir::Op;

class CpuBackend final : public backend::Backend {
 public:
  const char* name() const override { return "cpu"; }

  backend::DeviceInfo device() const override {
    return {"oneDNN " + onednn_version(), cpu_model_name(), cpu_isa_name()};
  }

  // oneDNN runs the gcn conv, the lowered aggregation and the temporal / residual convs in
  // f32, bf16 or int8; our own loops (motion, data_bn, head, convert) have their own rules.
  bool computes_in_low_precision(const ir::Graph&, const ir::Node& n) const override {
    switch (n.op) {
      case Op::kGcnConv:
      case Op::kTemporalConv:
      case Op::kResidualConv:
      case Op::kMaxPool:  // our own loops, in any of the activation types
      case Op::kConcat: return true;
      case Op::kAggregate: return n.as<ir::AggregateAttrs>().gemm_matrix != ir::kNoConst;
      default: return false;
    }
  }

  Status check_types(const ir::Graph& g, const ir::Node& n) const override {
    auto in_t = [&](size_t i) { return g.values[n.inputs[i]].dtype; };
    const DType ot = g.values[n.output].dtype;
    auto fail = [](const std::string& m) { return Status(ErrorCode::kCorrupt, m); };
    // f32 / bf16 in and out alike; int8 (u8 or s8) in and out alike.
    if (ir::is_int8(in_t(0)) != ir::is_int8(ot) || (!ir::is_int8(ot) && in_t(0) != ot))
      return fail(fmt::format("mixes {} and {} activations", ir::dtype_name(in_t(0)),
                              ir::dtype_name(ot)));
    for (size_t i = 1; n.op == Op::kConcat && i < n.inputs.size(); ++i)
      if (ir::is_int8(in_t(i)) != ir::is_int8(ot) || (!ir::is_int8(ot) && in_t(i) != ot) ||
          (ot == DType::kU8 && in_t(i) != DType::kU8))
        return fail(fmt::format("concatenates {} into {}", ir::dtype_name(in_t(i)),
                                ir::dtype_name(ot)));
    if ((n.op == Op::kTemporalConv || n.op == Op::kAggregate) && n.inputs.size() == 2) {
      const DType rt = in_t(1);
      if (ir::is_int8(rt) != ir::is_int8(ot) || (!ir::is_int8(ot) && rt != ot))
        return fail(fmt::format("adds a {} residual to a {} output", ir::dtype_name(rt),
                                ir::dtype_name(ot)));
    }
    if (ot == DType::kU8) {
      const bool relu = (n.op == Op::kAggregate && n.as<ir::AggregateAttrs>().relu) ||
                        (n.op == Op::kTemporalConv && n.as<ir::TemporalConvAttrs>().relu) ||
                        (n.op == Op::kMaxPool && n.as<ir::MaxPoolAttrs>().relu);
      const bool all_u8 = n.op == Op::kConcat && in_t(0) == DType::kU8;  // checked above
      if (!relu && !all_u8) return fail("produces u8 without a relu");
    }
    return Status::ok();
  }

  bool supports(const ir::Graph& g, const ir::Node& n) const override {
    if (!computes_in_low_precision(g, n)) {
      if (n.op == Op::kInput || n.op == Op::kMotion || n.op == Op::kDataBn ||
          n.op == Op::kConvert || n.op == Op::kHead)
        return true;
      for (ir::ValueId v : n.inputs)
        if (g.values[v].dtype != DType::kF32) return false;
      return g.values[n.output].dtype == DType::kF32;
    }
    return check_types(g, n).is_ok();
  }

  Status check_precision(const std::string& precision) const override {
    const unsigned bf16 = isa_bits("avx512_core_bf16");
    if (precision == "bf16" && (cpu_isa_bits() & bf16) != bf16)
      return Status(ErrorCode::kUnsupported,
                    fmt::format("this CPU ({}) has no AVX512-BF16 instructions", cpu_isa_name()));
    return Status::ok();
  }

  Status pack(ir::Graph& g, bool half_storage, std::string* kernel_isa) const override {
    return pack_weights(g, kernel_isa, half_storage);
  }

  Status check_kernel_isa(const std::string& kernel_isa, const std::string& file,
                          const std::string& build_device) const override {
    const unsigned need = isa_bits(kernel_isa);
    if (need == 0 && kernel_isa != "generic")
      return Status(ErrorCode::kCorrupt,
                    fmt::format("cannot load '{}': unknown ISA '{}'", file, kernel_isa));
    if ((cpu_isa_bits() & need) != need)
      return Status(
          ErrorCode::kUnsupported,
          fmt::format("cannot load '{}': the engine needs {} kernels (built on {}), this CPU "
                      "offers {}: rebuild the engine on this machine",
                      file, kernel_isa, build_device, cpu_isa_name()));
    return Status::ok();
  }

  Status check_arena_fits(int64_t arena_bytes) const override {
    return cpu::check_arena_fits(arena_bytes);
  }

  Result<std::shared_ptr<const backend::Executable>> prepare(
      const ir::Graph& graph, const backend::PrepareOptions& options) const override {
    STGCN_ASSIGN_OR_RETURN(auto exe, Executable::prepare(graph, options.max_batch));
    return std::shared_ptr<const backend::Executable>(std::move(exe));
  }

  int64_t arena_bytes(const ir::Graph& graph, int max_batch) const override {
    return passes::plan_memory(graph, max_batch).arena_bytes;
  }

  Status check_streaming(const ir::Graph& graph) const override {
    return streaming::check(graph);
  }

  Result<std::unique_ptr<backend::Streaming>> prepare_streaming(
      const ir::Graph& graph, const backend::StreamingOptions& options) const override {
    return cpu::prepare_streaming(graph, options);
  }
};

}  // namespace

const backend::Backend& cpu_backend() {
  static const CpuBackend kBackend;
  return kBackend;
}

}  // namespace stgcn::cpu
