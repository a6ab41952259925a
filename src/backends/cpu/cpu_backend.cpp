#include "backends/cpu/cpu_backend.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/kernels.h"
#include "backends/cpu/primitives.h"
#include "core/float16.h"
#include "io/files.h"

namespace stgcn::cpu {
namespace {

using ir::ConstId;
using ir::Graph;
using ir::kNoConst;
using ir::Node;
using ir::Op;

}  // namespace

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("{}.{}.{}", v->major, v->minor, v->patch);
}

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      std::string s = line.substr(line.find(':') + 1);
      s.erase(0, s.find_first_not_of(' '));
      return s;
    }
  return "unknown";
}

unsigned isa_bits(const std::string& name) {
  static const std::pair<const char*, unsigned> kIsas[] = {
      {"sse41", dnnl_cpu_isa_sse41},
      {"avx", dnnl_cpu_isa_avx},
      {"avx2", dnnl_cpu_isa_avx2},
      {"avx2_vnni", dnnl_cpu_isa_avx2_vnni},
      {"avx512_core", dnnl_cpu_isa_avx512_core},
      {"avx512_core_vnni", dnnl_cpu_isa_avx512_core_vnni},
      {"avx512_core_bf16", dnnl_cpu_isa_avx512_core_bf16},
      {"avx512_core_amx", dnnl_cpu_isa_avx512_core_amx},
  };
  for (const auto& [n, bits] : kIsas)
    if (name == n) return bits;
  return 0;
}

Status check_arena_fits(int64_t arena_bytes) {
  const int64_t available = available_memory_bytes();
  if (arena_bytes > available)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("the engine needs a {:.1f} MB activation arena per context, this "
                              "machine has {:.1f} MB available: build with a smaller --T, --M "
                              "or --batch",
                              arena_bytes / 1e6, available / 1e6));
  return Status::ok();
}

unsigned cpu_isa_bits() { return static_cast<unsigned>(dnnl_get_effective_cpu_isa()); }

std::string cpu_isa_name() {
  static const char* kNames[] = {"avx512_core_amx",
                                 "avx512_core_bf16",
                                 "avx512_core_vnni",
                                 "avx512_core",
                                 "avx2_vnni",
                                 "avx2",
                                 "avx",
                                 "sse41"};
  const unsigned bits = cpu_isa_bits();
  for (const char* n : kNames)
    if ((bits & isa_bits(n)) == isa_bits(n)) return n;
  return "generic";
}


struct Step {
  int node = 0;
  bool onednn = false;
  dnnl::primitive_desc pd;
  int runs = 1;
  int persons = 1;
  std::vector<const void*> weights;  // per run
  AlignedBuffer owned_weights;       // when the constant was plain
  const float* bias = nullptr;       // plain bias (per run: + k * Cout)
  int64_t bias_stride = 0;
  std::vector<float> owned_bias;    // aggregation bias repeated over T
  const void* gemm_src = nullptr;   // aggregation: G in the activations' type
  std::vector<uint16_t> owned_src;  // G converted to bfloat16
  std::vector<int8_t> owned_src8;   // G quantised to s8
  size_t scratch_bytes = 0;
  bool copy_residual = false;
};

struct Executable::Impl {
  Graph graph;
  passes::MemoryPlan plan;
  int max_batch = 1;
  std::vector<Step> steps;
  std::vector<std::vector<int>> branch_steps;  // [branch + 1] -> step indices (0: join)
  int branches = 1;
  int64_t head_scratch = 0;
};

Executable::~Executable() = default;
const Graph& Executable::graph() const { return impl_->graph; }
const passes::MemoryPlan& Executable::plan() const { return impl_->plan; }
int Executable::max_batch() const { return impl_->max_batch; }

std::vector<std::string> Executable::implementations() const {
  std::vector<std::string> out(impl_->graph.nodes.size());
  for (const Step& s : impl_->steps)
    if (s.onednn) out[s.node] = s.pd.impl_info_str();
  return out;
}

Result<std::shared_ptr<const Executable>> Executable::prepare(const Graph& graph, int max_batch) {
  STGCN_RETURN_IF_ERROR(ir::verify(graph, &cpu_backend()));
  if (max_batch < 1) return Status(ErrorCode::kInvalidArgument, "max batch must be >= 1");
  std::shared_ptr<Executable> exe(new Executable());
  exe->impl_ = std::make_unique<Impl>();
  Impl& im = *exe->impl_;
  im.graph = graph;
  im.max_batch = max_batch;
  im.plan = passes::plan_memory(im.graph, max_batch);
  im.branches = std::max(1, im.graph.branch_count());
  im.branch_steps.resize(im.branches + 1);
  const Graph& g = im.graph;
  try {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      // Only the weights a oneDNN node packs may be packed; every other constant is
      // read as plain FP32 and must hold all of its values (a crafted file could say otherwise).
      const ConstId packable = uses_onednn(n) ? packed_weight(n) : kNoConst;
      for (ConstId c : ir::const_refs(n)) {
        if (c == kNoConst || c == packable) continue;
        const ir::Constant& k = g.constants[c];
        if (k.is_packed() || static_cast<int64_t>(k.data.size()) != k.numel())
          return Status(ErrorCode::kCorrupt,
                        fmt::format("constant '{}' of node '{}' must be plain FP32 with {} values",
                                    k.name, n.name, k.numel()));
      }
      Step s;
      s.node = static_cast<int>(i);
      if (n.op == Op::kHead)
        im.head_scratch = std::max(im.head_scratch, g.values[n.inputs[0]].shape[3]);
      if (uses_onednn(n)) {
        for (ir::ValueId v : n.inputs)
          if (im.plan.offset[v] < 0 || im.plan.per_sample[v])
            return Status(ErrorCode::kInternal,
                          fmt::format("node '{}' reads a value outside the arena", n.name));
        if (im.plan.per_sample[n.output] || im.plan.offset[n.output] < 0)
          return Status(ErrorCode::kInternal,
                        fmt::format("node '{}' writes outside the arena", n.name));
        PrimSpec ps = make_prim(g, n);
        ConstId wid = packed_weight(n);
        // Packed weights: a kernel that reads the layout they were packed in, whatever the
        // thread count now (the build's may have differed).
        if (wid != kNoConst && g.constants[wid].is_packed() &&
            g.constants[wid].layout.size() == sizeof(dnnl_memory_desc_t)) {
          dnnl_memory_desc_t raw;
          std::memcpy(&raw, g.constants[wid].layout.data(), sizeof raw);
          PrimSpec packed_ps;
          if (plausible_layout(raw, ps.pd.weights_desc().data) &&
              prim_for_layout(g, n, dnnl::memory::desc(raw), &packed_ps))
            ps = packed_ps;
        }
        const bool int8 = ir::is_int8(g.values[n.output].dtype);
        const float in_step = g.values[n.inputs[0]].scale;
        s.onednn = true;
        s.pd = ps.pd;
        s.runs = ps.runs;
        s.persons = ps.persons;
        s.scratch_bytes = ps.pd.scratchpad_desc().get_size();
        if (wid != kNoConst) {
          const ir::Constant& c = g.constants[wid];
          const dnnl::memory::desc want = ps.pd.weights_desc();
          const size_t per = want.get_size();
          if (c.is_packed()) {
            if (c.layout.size() != sizeof(dnnl_memory_desc_t))
              return Status(ErrorCode::kCorrupt,
                            fmt::format("constant '{}': layout record of {} bytes, expected {}",
                                        c.name, c.layout.size(), sizeof(dnnl_memory_desc_t)));
            dnnl_memory_desc_t raw;
            std::memcpy(&raw, c.layout.data(), sizeof raw);
            if (!dnnl_memory_desc_equal(&raw, &want.data))
              return Status(ErrorCode::kUnsupported,
                            fmt::format("constant '{}' was packed for another CPU or oneDNN build "
                                        "(kernel here: {}): rebuild the engine on this machine",
                                        c.name, ps.pd.impl_info_str()));
            auto bytes = c.packed_bytes();
            if (bytes.size() != per * ps.runs)
              return Status(ErrorCode::kCorrupt,
                            fmt::format("constant '{}' holds {} packed bytes, expected {}", c.name,
                                        bytes.size(), per * ps.runs));
            for (int k = 0; k < ps.runs; ++k) s.weights.push_back(bytes.data() + k * per);
          } else {
            s.owned_weights = aligned_buffer(per * ps.runs);
            for (int k = 0; k < ps.runs; ++k) {
              reorder_weights(ps, c.data.data() + k * ps.plain_weight_floats, want,
                              s.owned_weights.get() + k * per);
              s.weights.push_back(s.owned_weights.get() + k * per);
            }
          }
        }
        if (n.op == Op::kGcnConv) {
          const auto& a = n.as<ir::GcnConvAttrs>();
          const int64_t cout = g.values[n.output].shape[4];
          if (a.bias != kNoConst) {
            s.bias = g.constants[a.bias].data.data();
            s.bias_stride = cout;
          } else {
            s.owned_bias.assign(cout, 0.f);  // the matmul was built with a bias
            s.bias = s.owned_bias.data();
          }
          if (int8 && a.bias != kNoConst) {  // bias in accumulator units
            const auto& ws = wscales(g, a.wscale);
            s.owned_bias.assign(s.bias, s.bias + a.K * cout);
            for (int k = 0; k < a.K; ++k)
              for (int64_t c = 0; c < cout; ++c) s.owned_bias[k * cout + c] /= in_step * ws[c];
            s.bias = s.owned_bias.data();
          }
        } else if (n.op == Op::kAggregate) {
          const auto& a = n.as<ir::AggregateAttrs>();
          const auto& gm = g.constants[a.gemm_matrix].data;
          s.gemm_src = gm.data();
          float bias_div = 1.f;
          if (g.values[n.inputs[0]].dtype == ir::DType::kBF16) {
            for (float v : gm) s.owned_src.push_back(float_to_bfloat16(v));
            s.gemm_src = s.owned_src.data();
          } else if (int8) {
            const float step = gemm_step(g, a);
            for (float v : gm)
              s.owned_src8.push_back(
                  static_cast<int8_t>(std::nearbyint(std::clamp(v / step, -127.f, 127.f))));
            s.gemm_src = s.owned_src8.data();
            bias_div = step * in_step;
          }
          if (a.add_residual)
            s.copy_residual = im.plan.offset[n.inputs[1]] != im.plan.offset[n.output];
          if (a.bias != kNoConst) {
            const auto& shape = g.values[n.output].shape;  // M V T C
            const auto& b = g.constants[a.bias].data;
            s.owned_bias.resize(shape[2] * shape[3]);
            for (int64_t t = 0; t < shape[2]; ++t)
              for (int64_t c = 0; c < shape[3]; ++c)
                s.owned_bias[t * shape[3] + c] = b[c] / bias_div;
            s.bias = s.owned_bias.data();
          }
        } else {
          ConstId b = n.op == Op::kTemporalConv ? n.as<ir::TemporalConvAttrs>().bias
                                                : n.as<ir::ResidualConvAttrs>().bias;
          const int64_t cout = g.values[n.output].shape[3];
          if (b != kNoConst) {
            s.bias = g.constants[b].data.data();
          } else {
            s.owned_bias.assign(cout, 0.f);
            s.bias = s.owned_bias.data();
          }
          if (int8 && b != kNoConst) {
            const auto& ws =
                wscales(g, n.op == Op::kTemporalConv ? n.as<ir::TemporalConvAttrs>().wscale
                                                     : n.as<ir::ResidualConvAttrs>().wscale);
            s.owned_bias.assign(s.bias, s.bias + cout);
            for (int64_t c = 0; c < cout; ++c) s.owned_bias[c] /= in_step * ws[c];
            s.bias = s.owned_bias.data();
          }
          if (n.op == Op::kTemporalConv && n.as<ir::TemporalConvAttrs>().add_residual)
            s.copy_residual = im.plan.offset[n.inputs[1]] != im.plan.offset[n.output];
        }
      }
      im.branch_steps[n.branch + 1].push_back(static_cast<int>(im.steps.size()));
      im.steps.push_back(std::move(s));
    }
  } catch (const dnnl::error& e) {
    return Status(ErrorCode::kInternal, fmt::format("oneDNN: {}", e.what()));
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kInternal, "out of memory while preparing the engine");
  }
  return std::shared_ptr<const Executable>(std::move(exe));
}

// ---- the runner ----------------------------------------------------------------------------

struct Runner::State {
  std::shared_ptr<const Executable> exe;
  int threads = 1;
  AlignedBuffer arena;
  int64_t arena_bytes = 0;
  std::vector<AlignedBuffer> scratch;     // per branch slot (branch + 1)
  std::vector<dnnl::stream> streams;      // per branch slot
  std::vector<float> head_scratch;        // per branch slot, C floats each
  std::vector<dnnl::memory> keep;         // memory objects referenced by `args`
  std::vector<dnnl::primitive_desc> pds;  // per step, created for this runner's threads
  std::vector<dnnl::primitive> prims;
  std::vector<std::vector<std::vector<dnnl_exec_arg_t>>> args;  // [step][run]
  bool profiling = false;
  bool skip_library = false;
  Runner::Observer observer;
  std::vector<double> node_ms;
  std::vector<Status> branch_status;
};

Result<std::unique_ptr<Runner>> Executable::create_runner(int threads) const {
  if (threads < 1) return Status(ErrorCode::kInvalidArgument, "threads must be >= 1");
  if (threads > 1024) return Status(ErrorCode::kInvalidArgument, "threads must be <= 1024");
  std::unique_ptr<Runner> r(new Runner());
  r->state_ = std::make_unique<Runner::State>();
  Runner::State& st = *r->state_;
  const Impl& im = *impl_;
  const Graph& g = im.graph;
  st.exe = shared_from_this();
  st.threads = threads;
  st.node_ms.assign(g.nodes.size(), 0.0);
  st.branch_status.assign(im.branches + 1, Status::ok());
  STGCN_RETURN_IF_ERROR(check_arena_fits(im.plan.arena_bytes));
  try {
    st.arena_bytes = im.plan.arena_bytes;
    st.arena = aligned_buffer(static_cast<size_t>(st.arena_bytes));
    auto& eng = cpu_engine();
    // oneDNN sizes a primitive's work split by the threads available when it
    // is created: create this runner's primitives for the threads each
    // stream will have (streams run concurrently, sharing `threads`).
    const int per_stream =
        im.branches >= 2 && threads >= 2 ? std::max(1, threads / im.branches) : threads;
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(per_stream);
    st.pds.resize(im.steps.size());
    st.prims.resize(im.steps.size());
    for (size_t si = 0; si < im.steps.size(); ++si) {
      const Step& s = im.steps[si];
      if (!s.onednn) continue;
      PrimSpec ps;
      if (packed_weight(g.nodes[s.node]) == kNoConst) {
        ps = make_prim(g, g.nodes[s.node]);
      } else if (!prim_for_layout(g, g.nodes[s.node], s.pd.weights_desc(), &ps)) {
        omp_set_num_threads(saved_threads);
        return Status(
            ErrorCode::kUnsupported,
            fmt::format("node '{}': with {} threads oneDNN has no kernel for the weight layout "
                        "the engine was packed in; use the thread count it was built with",
                        g.nodes[s.node].name, per_stream));
      }
      st.pds[si] = ps.pd;
      st.prims[si] = dnnl::primitive(ps.pd);
    }
    omp_set_num_threads(saved_threads);
    for (int b = 0; b <= im.branches; ++b) {
      size_t scratch = 0;
      for (int si : im.branch_steps[b])
        if (im.steps[si].onednn)
          scratch = std::max(scratch, st.pds[si].scratchpad_desc().get_size());
      st.scratch.push_back(aligned_buffer(scratch));
      st.streams.emplace_back(eng);
    }
    st.head_scratch.assign(
        static_cast<size_t>((im.branches + 1) * std::max<int64_t>(1, im.head_scratch)), 0.f);
    st.args.resize(im.steps.size());
    auto mem = [&](const dnnl::memory::desc& md, const void* p) {
      st.keep.emplace_back(md, eng, const_cast<void*>(p));
      return st.keep.back().get();
    };
    uint8_t* arena = st.arena.get();
    for (size_t si = 0; si < im.steps.size(); ++si) {
      const Step& s = im.steps[si];
      if (!s.onednn) continue;
      const Node& n = g.nodes[s.node];
      const int slot = n.branch + 1;
      const dnnl::primitive_desc& pd = st.pds[si];
      dnnl_memory_t scratch = mem(pd.scratchpad_desc(), st.scratch[slot].get());
      uint8_t* in = arena + im.plan.offset[n.inputs[0]];
      uint8_t* out = arena + im.plan.offset[n.output];
      for (int k = 0; k < s.runs; ++k)
        for (int m = 0; m < s.persons; ++m) {
          std::vector<dnnl_exec_arg_t> a;
          size_t src_off = 0, dst_off = 0;
          if (n.op == Op::kGcnConv) {
            const auto& shape = g.values[n.output].shape;  // M K V T C
            const size_t vt = static_cast<size_t>(shape[2] * shape[3]);
            src_off = m * vt * g.values[n.inputs[0]].shape[3] *
                      ir::dtype_bytes(g.values[n.inputs[0]].dtype);
            dst_off = (static_cast<size_t>(m) * shape[1] + k) * vt * shape[4] *
                      ir::dtype_bytes(g.values[n.output].dtype);
          }
          if (n.op == Op::kAggregate) {
            a.push_back({DNNL_ARG_SRC, mem(pd.src_desc(), s.gemm_src)});
            a.push_back({DNNL_ARG_WEIGHTS, mem(pd.weights_desc(), in)});
          } else {
            a.push_back({DNNL_ARG_SRC, mem(pd.src_desc(), in + src_off)});
            a.push_back({DNNL_ARG_WEIGHTS, mem(pd.weights_desc(), s.weights[k])});
          }
          if (s.bias)
            a.push_back({DNNL_ARG_BIAS,
                         mem(pd.query_md(dnnl::query::weights_md, 1), s.bias + k * s.bias_stride)});
          a.push_back({DNNL_ARG_DST, mem(pd.dst_desc(), out + dst_off)});
          a.push_back({DNNL_ARG_SCRATCHPAD, scratch});
          st.args[si].push_back(std::move(a));
        }
    }
  } catch (const dnnl::error& e) {
    return Status(ErrorCode::kInternal, fmt::format("oneDNN: {}", e.what()));
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kInternal,
                  fmt::format("out of memory for a {}-byte arena", st.arena_bytes));
  }
  return r;
}

Result<std::unique_ptr<backend::Context>> Executable::create_context(int threads) const {
  STGCN_ASSIGN_OR_RETURN(auto r, create_runner(threads));
  return std::unique_ptr<backend::Context>(std::move(r));
}

Runner::~Runner() = default;
void Runner::set_profiling(bool on) {
  state_->profiling = on;
  std::fill(state_->node_ms.begin(), state_->node_ms.end(), 0.0);
}
const std::vector<double>& Runner::node_ms() const { return state_->node_ms; }
int64_t Runner::arena_bytes() const { return state_->arena_bytes; }
void Runner::skip_library_calls_for_testing(bool on) { state_->skip_library = on; }
void Runner::set_observer(Observer observer) { state_->observer = std::move(observer); }
int Runner::onednn_calls_per_sample() const {
  int n = 0;
  for (const auto& a : state_->args) n += static_cast<int>(a.size());
  return n;
}

namespace {

struct Exec {
  Runner::State& st;
  const Executable::Impl& im;
  const float* input;
  float* output;

  float* ptr(ir::ValueId v, int n) const {
    const Graph& g = im.graph;
    if (v == g.input) return const_cast<float*>(input) + n * g.values[v].numel();
    if (v == g.output) return output + n * g.values[v].numel();
    uint8_t* base = st.arena.get() + im.plan.offset[v];
    if (im.plan.per_sample[v]) base += static_cast<int64_t>(n) * aligned_bytes(g.values[v]);
    return reinterpret_cast<float*>(base);
  }
  const float* cdata(ConstId c) const {
    return c == kNoConst ? nullptr : im.graph.constants[c].data.data();
  }

  Status step(int si, int n) const {
    const Step& s = im.steps[si];
    const Node& node = im.graph.nodes[s.node];
    const Graph& g = im.graph;
    const auto& in_shape =
        node.inputs.empty() ? g.values[node.output].shape : g.values[node.inputs[0]].shape;
    const int slot = node.branch + 1;
    if (s.onednn) {
      if (s.copy_residual) {
        const ir::Value& out = g.values[node.output];
        std::memcpy(ptr(node.output, n), ptr(node.inputs[1], n), static_cast<size_t>(out.bytes()));
      }
      for (const auto& args : st.args[si]) {
        if (st.skip_library) break;
        dnnl_status_t rc = dnnl_primitive_execute(st.prims[si].get(), st.streams[slot].get(),
                                                  static_cast<int>(args.size()), args.data());
        if (rc != dnnl_success)
          return Status(ErrorCode::kInternal, fmt::format("oneDNN failed on node '{}' (status {})",
                                                          node.name, static_cast<int>(rc)));
      }
      return Status::ok();
    }
    float* out = ptr(node.output, n);
    switch (node.op) {
      case Op::kInput: break;
      case Op::kMotion:
        kernels::motion(ptr(node.inputs[0], n), out, in_shape[0], in_shape[1], in_shape[2],
                        in_shape[3], node.as<ir::MotionAttrs>().mode);
        break;
      case Op::kDataBn: {
        const auto& a = node.as<ir::DataBnAttrs>();
        const ir::Value& ov = g.values[node.output];
        // (C, T, V, M): per-person scales when the constant holds M*V*C of them.
        const int64_t vc = in_shape[0] * in_shape[2];
        const int64_t ps = g.constants[a.scale].numel() > vc ? vc : 0;
        if (ov.dtype == ir::DType::kBF16)
          kernels::data_bn(ptr(node.inputs[0], n), reinterpret_cast<uint16_t*>(out), in_shape[0],
                           in_shape[1], in_shape[2], in_shape[3], cdata(a.scale), cdata(a.shift),
                           ps);
        else if (ov.dtype == ir::DType::kS8)
          kernels::data_bn(ptr(node.inputs[0], n), reinterpret_cast<int8_t*>(out), in_shape[0],
                           in_shape[1], in_shape[2], in_shape[3], cdata(a.scale), cdata(a.shift),
                           ov.scale, ps);
        else
          kernels::data_bn(ptr(node.inputs[0], n), out, in_shape[0], in_shape[1], in_shape[2],
                           in_shape[3], cdata(a.scale), cdata(a.shift), ps);
        break;
      }
      case Op::kMaxPool: {
        const auto& a = node.as<ir::MaxPoolAttrs>();
        const ir::Value& iv = g.values[node.inputs[0]];
        const ir::Value& ov = g.values[node.output];
        kernels::max_pool(ptr(node.inputs[0], n), iv.dtype, iv.scale, out, ov.dtype, ov.scale,
                          in_shape[0] * in_shape[1], in_shape[2], ov.shape[2], in_shape[3],
                          a.kernel, a.stride, a.pad, cdata(a.scale), cdata(a.shift), a.relu);
        break;
      }
      case Op::kConcat: {
        const ir::Value& ov = g.values[node.output];
        const int k = static_cast<int>(node.inputs.size());
        const void* xs[8];
        ir::DType types[8];
        float steps[8];
        int64_t channels[8];
        for (int i = 0; i < k && i < 8; ++i) {
          const ir::Value& iv = g.values[node.inputs[i]];
          xs[i] = ptr(node.inputs[i], n);
          types[i] = iv.dtype;
          steps[i] = iv.scale;
          channels[i] = iv.shape[3];
        }
        kernels::concat(xs, types, steps, channels, std::min(k, 8), out, ov.dtype, ov.scale,
                        ov.shape[0] * ov.shape[1] * ov.shape[2]);
        break;
      }
      case Op::kAggregate: {
        const auto& a = node.as<ir::AggregateAttrs>();
        kernels::aggregate_dense(ptr(node.inputs[0], n), out, in_shape[0], in_shape[1], in_shape[2],
                                 in_shape[3], in_shape[4], cdata(a.adjacency), cdata(a.importance),
                                 cdata(a.bias), a.relu,
                                 a.add_residual ? ptr(node.inputs[1], n) : nullptr);
        break;
      }
      case Op::kBatchNorm: {
        const auto& a = node.as<ir::BatchNormAttrs>();
        const int64_t C = in_shape.back();
        kernels::channel_affine(ptr(node.inputs[0], n), out, g.values[node.output].numel() / C, C,
                                cdata(a.scale), cdata(a.shift));
        break;
      }
      case Op::kRelu:
        kernels::relu(ptr(node.inputs[0], n), out, g.values[node.output].numel());
        break;
      case Op::kAdd:
        kernels::add(ptr(node.inputs[0], n), ptr(node.inputs[1], n), out,
                     g.values[node.output].numel(), node.as<ir::AddAttrs>().relu);
        break;
      case Op::kGlobalPool:
        kernels::global_pool(ptr(node.inputs[0], n), out, in_shape[0], in_shape[1] * in_shape[2],
                             in_shape[3]);
        break;
      case Op::kPersonMean:
        kernels::person_mean(ptr(node.inputs[0], n), out, in_shape[0], in_shape[1]);
        break;
      case Op::kFcn: {
        const auto& a = node.as<ir::FcnAttrs>();
        kernels::fcn(ptr(node.inputs[0], n), out, in_shape[0], g.values[node.output].shape[0],
                     cdata(a.weight), cdata(a.bias));
        break;
      }
      case Op::kHead: {
        const auto& a = node.as<ir::HeadAttrs>();
        float* scratch = st.head_scratch.data() + slot * std::max<int64_t>(1, im.head_scratch);
        const int64_t classes = g.values[node.output].shape[0];
        const ir::Value& iv = g.values[node.inputs[0]];
        if (iv.dtype == ir::DType::kU8)
          kernels::head(reinterpret_cast<const uint8_t*>(ptr(node.inputs[0], n)), iv.scale, out,
                        in_shape[0], in_shape[1] * in_shape[2], in_shape[3], classes,
                        cdata(a.weight), cdata(a.bias), scratch);
        else if (iv.dtype == ir::DType::kS8)
          kernels::head(reinterpret_cast<const int8_t*>(ptr(node.inputs[0], n)), iv.scale, out,
                        in_shape[0], in_shape[1] * in_shape[2], in_shape[3], classes,
                        cdata(a.weight), cdata(a.bias), scratch);
        else if (iv.dtype == ir::DType::kBF16)
          kernels::head(reinterpret_cast<const uint16_t*>(ptr(node.inputs[0], n)), out, in_shape[0],
                        in_shape[1] * in_shape[2], in_shape[3], classes, cdata(a.weight),
                        cdata(a.bias), scratch);
        else
          kernels::head(ptr(node.inputs[0], n), out, in_shape[0], in_shape[1] * in_shape[2],
                        in_shape[3], classes, cdata(a.weight), cdata(a.bias), scratch);
        break;
      }
      case Op::kConvert: {
        const ir::Value& iv = g.values[node.inputs[0]];
        const ir::Value& ov = g.values[node.output];
        kernels::convert(ptr(node.inputs[0], n), iv.dtype, iv.scale, out, ov.dtype, ov.scale,
                         ov.numel());
        break;
      }
      case Op::kGcnConv:
      case Op::kTemporalConv:
      case Op::kResidualConv:
        return Status(ErrorCode::kInternal, fmt::format("node '{}' has no kernel", node.name));
    }
    return Status::ok();
  }

  Status slot(int slot_index, int batch) const {
    for (int n = 0; n < batch; ++n)
      for (int si : im.branch_steps[slot_index]) {
        auto t0 = std::chrono::steady_clock::now();
        STGCN_RETURN_IF_ERROR(step(si, n));
        if (st.observer) {
          const int node = im.steps[si].node;
          st.observer(node, n, ptr(im.graph.nodes[node].output, n));
        }
        if (st.profiling)
          st.node_ms[im.steps[si].node] +=
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count();
      }
    return Status::ok();
  }
};

}  // namespace

Status Runner::run(const float* input, int batch, float* output) {
  State& st = *state_;
  const Executable::Impl& im = st.exe->impl();
  if (batch < 1 || batch > im.max_batch)
    return Status(
        ErrorCode::kInvalidArgument,
        fmt::format("batch {} is outside 1..{} (the engine's maximum batch)", batch, im.max_batch));
  Exec ex{st, im, input, output};
  if (im.branches >= 2 && st.threads >= 2) {
    const int inner = st.threads / im.branches;
    omp_set_max_active_levels(inner > 1 ? 2 : 1);
#pragma omp parallel num_threads(im.branches)
    {
      const int b = omp_get_thread_num();
      omp_set_num_threads(inner);
      st.branch_status[b + 1] = ex.slot(b + 1, batch);
    }
    for (int b = 1; b <= im.branches; ++b) STGCN_RETURN_IF_ERROR(st.branch_status[b]);
  } else {
    omp_set_num_threads(st.threads);
    for (int b = 1; b <= im.branches; ++b) STGCN_RETURN_IF_ERROR(ex.slot(b, batch));
  }
  return ex.slot(0, batch);
}

}  // namespace stgcn::cpu
