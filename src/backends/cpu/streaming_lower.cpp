// The continual lowering of a fused graph: one step op per node, its matmuls for every piece
// size with weights packed for them, and the per-slot state layout (streaming_impl.h).
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "backends/cpu/primitives.h"
#include "backends/cpu/streaming_impl.h"
#include "core/float16.h"

namespace stgcn::cpu::streaming {
namespace {

using ir::ConstId;
using ir::Graph;
using ir::kNoConst;
using ir::Node;
using ir::Op;

int64_t align64(int64_t n) { return (n + 63) / 64 * 64; }

// The real-valued FP32 weights of a oneDNN node in its constant's plain order: plain
// constants as they are; packed ones (an engine file's window layouts) reordered back, int8
// ones times their per-channel scales.
std::vector<float> real_weights(const Graph& g, const Node& n) {
  const ConstId wid = packed_weight(n);
  const ir::Constant& c = g.constants[wid];
  if (!c.is_packed()) {
    if (static_cast<int64_t>(c.data.size()) != c.numel())
      throw dnnl::error(dnnl_invalid_arguments, "weights without values");
    return c.data;
  }
  const PrimSpec ws = make_prim(g, n);
  if (c.layout.size() != sizeof(dnnl_memory_desc_t))
    throw dnnl::error(dnnl_invalid_arguments, "bad weight layout record");
  dnnl_memory_desc_t raw;
  std::memcpy(&raw, c.layout.data(), sizeof raw);
  if (!plausible_layout(raw, ws.pd.weights_desc().data))
    throw dnnl::error(dnnl_invalid_arguments, "implausible weight layout record");
  const size_t per = dnnl::memory::desc(raw).get_size();
  const auto bytes = c.packed_bytes();
  if (bytes.size() != per * static_cast<size_t>(ws.runs))
    throw dnnl::error(dnnl_invalid_arguments, "packed weights of the wrong size");
  // The values precede the int8 compensation extras: read them through a plain-data desc.
  const float adjust = (raw.extra.flags & dnnl_memory_extra_flag_scale_adjust) != 0
                           ? raw.extra.scale_adjust
                           : 1.f;
  dnnl_memory_desc_t values = raw;
  values.extra = dnnl_memory_extra_desc_t{};
  std::vector<float> out(static_cast<size_t>(ws.plain_weight_floats) * ws.runs);
  auto& eng = cpu_engine();
  dnnl::stream st(eng);
  for (int k = 0; k < ws.runs; ++k) {
    dnnl::memory src(dnnl::memory::desc(values), eng,
                     const_cast<uint8_t*>(bytes.data() + static_cast<size_t>(k) * per));
    dnnl::memory dst(ws.plain_weights, eng, out.data() + k * ws.plain_weight_floats);
    dnnl::reorder(src, dst).execute(st, src, dst);
  }
  st.wait();
  if (raw.data_type == dnnl_s8) {
    ConstId sc = kNoConst;
    if (n.op == Op::kGcnConv) sc = n.as<ir::GcnConvAttrs>().wscale;
    if (n.op == Op::kTemporalConv) sc = n.as<ir::TemporalConvAttrs>().wscale;
    if (n.op == Op::kResidualConv) sc = n.as<ir::ResidualConvAttrs>().wscale;
    const std::vector<float>& s = wscales(g, sc);
    // Plain order per run: (Cout, ...) -- gcn runs are (Cout, Cin), convs (Cout, Cin, kt).
    const size_t cout = s.size(), run = static_cast<size_t>(ws.plain_weight_floats);
    const size_t inner = run / cout;
    for (size_t i = 0; i < out.size(); ++i) out[i] *= s[(i % run) / inner] / adjust;
  }
  return out;
}

struct Shape {
  dnnl::memory::desc src, wei, bias, dst;
  dnnl::primitive_attr attr;
};
using ShapeFn = std::function<Shape(int64_t lanes, const dnnl::memory::desc* packed)>;

dnnl::matmul::primitive_desc make_pd(const Shape& s) {
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(s.src, s.wei, s.bias, s.dst), s.attr,
                                      cpu_engine());
}

// The matmul of every piece size. `plain` (null for the aggregation, whose weights are the
// activations): the FP32 weights in `plain->plain_weights`' layout, packed once for the
// largest piece and reused by the others where their kernels read that layout.
void build_gemm(Gemm& gm, const ShapeFn& shape, const PrimSpec* plain, const float* weights) {
  dnnl::memory::desc packed;
  for (int p = kPieces - 1; p >= 0; --p) {
    const int64_t lanes = int64_t{1} << p;
    if (plain == nullptr) {
      gm.pd[p] = make_pd(shape(lanes, nullptr));
    } else {
      bool reuse = false;
      if (p < kPieces - 1) {
        try {
          gm.pd[p] = make_pd(shape(lanes, &packed));
          reuse = gm.pd[p].weights_desc() == packed;
        } catch (const dnnl::error&) {
          reuse = false;
        }
      }
      if (reuse) {
        gm.weights[p] = gm.weights[kPieces - 1];
      } else {
        gm.pd[p] = make_pd(shape(lanes, nullptr));
        const dnnl::memory::desc want = gm.pd[p].weights_desc();
        gm.owned.push_back(aligned_buffer(want.get_size()));
        reorder_weights(*plain, weights, want, gm.owned.back().get());
        gm.weights[p] = gm.owned.back().get();
        if (p == kPieces - 1) packed = want;
      }
    }
    gm.prim[p] = dnnl::matmul(gm.pd[p]);
  }
}

// Per output column: the requantisation scales of int8 (per channel, repeated `reps` times).
void set_int8_scales(dnnl::primitive_attr& attr, const Graph& g, const Node& n, ConstId wscale,
                     int reps) {
  const float in_step = g.values[n.inputs[0]].scale, out_step = g.values[n.output].scale;
  const std::vector<float> o = output_scales(in_step, wscales(g, wscale), out_step);
  std::vector<float> all;
  for (int r = 0; r < reps; ++r) all.insert(all.end(), o.begin(), o.end());
  attr.set_output_scales(1 << 1, all);
}

// Biases in accumulator units for int8 (divided by in_step * wscale[c]).
std::vector<float> layer_bias(const Graph& g, const Node& n, ConstId bias, ConstId wscale,
                              int64_t cout, int reps) {
  std::vector<float> b(static_cast<size_t>(cout * reps), 0.f);
  if (bias != kNoConst) b = g.constants[bias].data;
  if (static_cast<int64_t>(b.size()) != cout * reps)
    throw dnnl::error(dnnl_invalid_arguments, "bias of the wrong size");
  if (ir::is_int8(g.values[n.output].dtype)) {
    const std::vector<float>& ws = wscales(g, wscale);
    const float in_step = g.values[n.inputs[0]].scale;
    for (size_t i = 0; i < b.size(); ++i) b[i] /= in_step * ws[i % cout];
  }
  return b;
}

// Frame elements of a value: the graph input (C, T, V, M) and the channels-last activations
// (M, V, T, C) / the gcn output (M, K, V, T, C), per person and frame.
int64_t frame_elems(const Graph& g, ir::ValueId v) {
  const auto& s = g.values[v].shape;
  if (v == g.input || (s.size() == 4 && g.producer(v) >= 0 &&
                       g.nodes[g.producer(v)].op == Op::kMotion))
    return s[0] * s[2];
  if (s.size() == 4) return s[1] * s[3];
  if (s.size() == 5) return s[1] * s[2] * s[4];
  return 0;
}

}  // namespace

Status check(const Graph& g) {
  for (const Node& n : g.nodes) {
    if (n.op == Op::kDataBn) {
      const auto& s = g.values[n.inputs[0]].shape;  // C T V M
      if (g.constants[n.as<ir::DataBnAttrs>().scale].numel() != s[0] * s[2])
        return Status(ErrorCode::kUnsupported,
                      "continual mode runs one person per track: a model that normalises per "
                      "person slot (data_bn 'MVC') needs window mode");
    }
    switch (n.op) {
      case Op::kInput:
      case Op::kDataBn:
      case Op::kConvert:
      case Op::kGcnConv:
      case Op::kResidualConv:
      case Op::kHead: break;
      case Op::kMotion:
        if (n.as<ir::MotionAttrs>().mode != MotionMode::kFirstDifference)
          return Status(ErrorCode::kUnsupported,
                        "continual mode supports the first_difference motion input only "
                        "(central_difference needs the next frame)");
        break;
      case Op::kAggregate:
        if (n.as<ir::AggregateAttrs>().gemm_matrix == kNoConst)
          return Status(ErrorCode::kUnsupported,
                        fmt::format("continual mode needs the lowered aggregation (node '{}')",
                                    n.name));
        break;
      case Op::kConcat: break;
      case Op::kMaxPool: {
        // The ring starts (and the flush pads) with zeros: right for a max-pool only when its
        // input cannot be negative (ST-GCN++: after the branch's ReLU).
        const int q = g.producer(n.inputs[0]);
        const bool relu_in = g.values[n.inputs[0]].dtype == ir::DType::kU8 ||
                             (q >= 0 && g.nodes[q].op == Op::kTemporalConv &&
                              g.nodes[q].as<ir::TemporalConvAttrs>().relu);
        if (!relu_in)
          return Status(ErrorCode::kUnsupported,
                        fmt::format("continual mode: max-pool '{}' reads values that may be "
                                    "negative (it needs a ReLU before it)",
                                    n.name));
        break;
      }
      case Op::kTemporalConv: {
        const auto& a = n.as<ir::TemporalConvAttrs>();
        if (a.pad < 0 || (a.kernel - 1) * a.dilation - a.pad < 0)
          return Status(ErrorCode::kUnsupported,
                        fmt::format("continual mode: node '{}' pads {} frames before a kernel "
                                    "of {}",
                                    n.name, a.pad, a.kernel));
        break;
      }
      case Op::kAdd:
        if (n.branch < 0) break;  // the join of the streams' logits
        [[fallthrough]];
      default:
        return Status(ErrorCode::kUnsupported,
                      fmt::format("continual mode needs the fused graph: node '{}' ({}) is left",
                                  n.name, ir::op_name(n.op)));
    }
  }
  return Status::ok();
}

Status lower(const Graph& graph, Program& p) {
  STGCN_RETURN_IF_ERROR(ir::verify(graph));
  STGCN_RETURN_IF_ERROR(check(graph));
  p.graph = graph;
  Graph& g = p.graph;
  const auto& in_shape = g.values[g.input].shape;  // C T V M
  p.C = static_cast<int>(in_shape[0]);
  p.T = static_cast<int>(in_shape[1]);
  p.V = static_cast<int>(in_shape[2]);
  p.num_class = static_cast<int>(g.values[g.output].shape[0]);
  const int64_t V = p.V;
  p.values.resize(g.values.size());
  for (size_t v = 0; v < g.values.size(); ++v) {
    p.values[v].frame_elems = frame_elems(g, static_cast<ir::ValueId>(v));
    p.values[v].frame_bytes = p.values[v].frame_elems * ir::dtype_bytes(g.values[v].dtype);
  }
  std::vector<double> rate(g.values.size(), 1.0);  // frames per input frame
  int64_t off = 0;
  auto take = [&](int64_t bytes) {
    const int64_t at = off;
    off += align64(bytes);
    return at;
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    StepOp op;
    op.node = static_cast<int>(i);
    op.out = n.output;
    if (!n.inputs.empty()) op.in = n.inputs[0];
    if (op.in >= 0) rate[n.output] = rate[op.in];
    const ir::Value* iv = op.in >= 0 ? &g.values[op.in] : nullptr;
    const ir::Value& ov = g.values[n.output];
    const bool int8 = ir::is_int8(ov.dtype);
    const dt act_in = iv ? onednn_type(iv->dtype) : dt::f32, act_out = onednn_type(ov.dtype);
    switch (n.op) {
      case Op::kInput: op.kind = Kind::kInput; break;
      case Op::kMotion:
        if (n.as<ir::MotionAttrs>().mode != MotionMode::kFirstDifference)
          return Status(ErrorCode::kUnsupported,
                        "continual mode supports the first_difference motion input only "
                        "(central_difference needs the next frame)");
        op.kind = Kind::kMotion;
        op.prev_off = take(static_cast<int64_t>(p.C) * V * 4);
        break;
      case Op::kDataBn: op.kind = Kind::kDataBn; break;
      case Op::kConvert: op.kind = Kind::kConvert; break;
      case Op::kGcnConv: {
        op.kind = Kind::kGcn;
        const auto& a = n.as<ir::GcnConvAttrs>();
        const int64_t cin = iv->shape[3], cout = ov.shape[4], K = a.K;
        const std::vector<float> w = real_weights(g, n);  // (K, Cout, Cin) = (K*Cout, Cin)
        PrimSpec plain;
        plain.plain_weights = dnnl::memory::desc({cin, K * cout}, dt::f32, tag::ba);
        plain.plain_weight_floats = K * cout * cin;
        if (int8)
          for (int k = 0; k < K; ++k)
            for (float s : wscales(g, a.wscale)) plain.weight_inv_scales.push_back(1.f / s);
        ShapeFn fn = [&](int64_t lanes, const dnnl::memory::desc* packed) {
          Shape s;
          s.src = dnnl::memory::desc({lanes * V, cin}, act_in, tag::ab);
          s.wei = packed ? *packed
                         : dnnl::memory::desc({cin, K * cout}, int8 ? dt::s8 : act_in, tag::any);
          s.bias = dnnl::memory::desc({1, K * cout}, dt::f32, tag::ab);
          s.dst = dnnl::memory::desc({lanes * V, K * cout}, act_out, tag::ab);
          s.attr = user_scratchpad();
          if (int8) set_int8_scales(s.attr, g, n, a.wscale, static_cast<int>(K));
          return s;
        };
        build_gemm(op.gemm, fn, &plain, w.data());
        op.gemm.bias = layer_bias(g, n, a.bias, a.wscale, cout, static_cast<int>(K));
        p.macs += static_cast<int64_t>(rate[op.in] * static_cast<double>(V * cin * K * cout));
        break;
      }
      case Op::kAggregate: {
        op.kind = Kind::kAggregate;
        const auto& a = n.as<ir::AggregateAttrs>();
        if (a.gemm_matrix == kNoConst)
          return Status(ErrorCode::kUnsupported,
                        fmt::format("continual mode needs the lowered aggregation (node '{}')",
                                    n.name));
        const int64_t K = iv->shape[1], cout = ov.shape[3];
        const std::vector<float>& G = g.constants[a.gemm_matrix].data;  // (V, K*V) [w, k*V+v]
        std::vector<float> Gp(static_cast<size_t>(V * K * V));           // [w, v*K + k]
        for (int64_t w = 0; w < V; ++w)
          for (int64_t k = 0; k < K; ++k)
            for (int64_t v = 0; v < V; ++v) Gp[(w * V + v) * K + k] = G[w * K * V + k * V + v];
        const float step = int8 ? gemm_step(g, a) : 1.f;
        float bias_div = 1.f;
        if (int8) {
          bias_div = step * iv->scale;
          for (float x : Gp)
            op.gemm.gsrc.push_back(static_cast<uint8_t>(
                static_cast<int8_t>(std::nearbyint(std::clamp(x / step, -127.f, 127.f)))));
        } else if (iv->dtype == ir::DType::kBF16) {
          op.gemm.gsrc.resize(Gp.size() * 2);
          for (size_t k = 0; k < Gp.size(); ++k) {
            const uint16_t h = float_to_bfloat16(Gp[k]);
            std::memcpy(op.gemm.gsrc.data() + 2 * k, &h, 2);
          }
        } else {
          op.gemm.gsrc.resize(Gp.size() * 4);
          std::memcpy(op.gemm.gsrc.data(), Gp.data(), Gp.size() * 4);
        }
        const bool has_bias = a.bias != kNoConst;
        if (a.add_residual) op.frame_res = n.inputs[1];
        if (has_bias) {
          op.gemm.bias = g.constants[a.bias].data;
          for (float& b : op.gemm.bias) b /= bias_div;
        }
        ShapeFn fn = [&](int64_t lanes, const dnnl::memory::desc*) {
          Shape s;
          s.src = dnnl::memory::desc({1, V, V * K}, int8 ? dt::s8 : act_in, tag::abc);
          s.wei = dnnl::memory::desc({lanes, V * K, cout}, act_in, tag::abc);
          if (has_bias) s.bias = dnnl::memory::desc({1, 1, cout}, dt::f32, tag::abc);
          s.dst = dnnl::memory::desc({lanes, V, cout}, act_out, tag::abc);
          dnnl::post_ops po;
          if (a.add_residual) {
            const ir::Value& r = g.values[n.inputs[1]];
            if (int8)
              po.append_sum(r.scale / ov.scale, onednn_type(r.dtype));
            else
              po.append_sum(1.f);
          }
          if (a.relu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
          s.attr = user_scratchpad(po);
          if (int8) s.attr.set_output_scales(0, {step * iv->scale / ov.scale});
          return s;
        };
        build_gemm(op.gemm, fn, nullptr, nullptr);
        p.macs += static_cast<int64_t>(rate[op.in] * static_cast<double>(V * V * K * cout));
        break;
      }
      case Op::kTemporalConv:
      case Op::kResidualConv: {
        const bool tcn = n.op == Op::kTemporalConv;
        op.kind = tcn ? Kind::kTemporal : Kind::kResidualConv;
        const int64_t cin = iv->shape[3], cout = ov.shape[3];
        ConstId wscale = kNoConst, bias = kNoConst;
        dnnl::post_ops po;
        if (tcn) {
          const auto& a = n.as<ir::TemporalConvAttrs>();
          op.kt = a.kernel;
          op.stride = a.stride;
          op.dil = a.dilation;
          op.span = (a.kernel - 1) * a.dilation + 1;
          op.pl = a.pad;
          op.pr = op.span - 1 - a.pad;
          wscale = a.wscale;
          bias = a.bias;
          if (a.add_residual) {
            op.res = n.inputs[1];
            const ir::Value& r = g.values[op.res];
            if (int8)
              po.append_sum(r.scale / ov.scale, onednn_type(r.dtype));
            else
              po.append_sum(1.f);
          }
          if (a.relu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
          if (op.pl < 0 || op.pr < 0)
            return Status(ErrorCode::kUnsupported,
                          fmt::format("continual mode: node '{}' pads {} frames before a kernel "
                                      "of {}",
                                      n.name, op.pl, op.kt));
        } else {
          op.stride = n.as<ir::ResidualConvAttrs>().stride;
          wscale = n.as<ir::ResidualConvAttrs>().wscale;
          bias = n.as<ir::ResidualConvAttrs>().bias;
        }
        const int64_t kt = op.kt, taps = kt * cin;
        const std::vector<float> w = real_weights(g, n);  // (Cout, Cin, kt)
        std::vector<float> wt(w.size());                  // (Cout, kt*Cin): [o, j*Cin + i]
        for (int64_t o = 0; o < cout; ++o)
          for (int64_t i = 0; i < cin; ++i)
            for (int64_t j = 0; j < kt; ++j)
              wt[(o * kt + j) * cin + i] = w[(o * cin + i) * kt + j];
        PrimSpec plain;
        plain.plain_weights = dnnl::memory::desc({taps, cout}, dt::f32, tag::ba);
        plain.plain_weight_floats = taps * cout;
        if (int8)
          for (float s : wscales(g, wscale)) plain.weight_inv_scales.push_back(1.f / s);
        ShapeFn fn = [&](int64_t lanes, const dnnl::memory::desc* packed) {
          Shape s;
          s.src = dnnl::memory::desc({lanes * V, taps}, act_in, tag::ab);
          s.wei = packed ? *packed
                         : dnnl::memory::desc({taps, cout}, int8 ? dt::s8 : act_in, tag::any);
          s.bias = dnnl::memory::desc({1, cout}, dt::f32, tag::ab);
          s.dst = dnnl::memory::desc({lanes * V, cout}, act_out, tag::ab);
          s.attr = user_scratchpad(po);
          if (int8) set_int8_scales(s.attr, g, n, wscale, 1);
          return s;
        };
        build_gemm(op.gemm, fn, &plain, wt.data());
        op.gemm.bias = layer_bias(g, n, bias, wscale, cout, 1);
        op.counter = p.ncounters++;
        rate[n.output] = rate[op.in] / op.stride;
        p.macs += static_cast<int64_t>(rate[n.output] * static_cast<double>(V * taps * cout));
        if (tcn) {
          op.ring_off = take(V * op.span * cin * ir::dtype_bytes(iv->dtype));
          p.gather_bytes = std::max(p.gather_bytes,
                                    kMaxLanes * V * taps * ir::dtype_bytes(iv->dtype));
          if (op.res >= 0) {
            // Behind a concat the residual waits for the slowest branch as well.
            const int q = g.producer(op.in);
            const bool behind_concat = q >= 0 && g.nodes[q].op == Op::kConcat;
            op.R = behind_concat ? std::max(op.pr + 1, kConcatRing) : op.pr + 1;
            op.res_off = take(op.R * p.values[op.res].frame_bytes);
            if (p.values[op.res].frame_bytes != p.values[n.output].frame_elems *
                                                    ir::dtype_bytes(g.values[op.res].dtype))
              return Status(ErrorCode::kUnsupported,
                            fmt::format("continual mode: node '{}' adds a residual of another "
                                        "shape",
                                        n.name));
          }
        } else {
          p.compact_bytes = std::max(p.compact_bytes, kMaxLanes * p.values[op.in].frame_bytes);
        }
        break;
      }
      case Op::kMaxPool: {
        op.kind = Kind::kMaxPool;
        const auto& a = n.as<ir::MaxPoolAttrs>();
        const int64_t c = iv->shape[3];
        op.kt = op.span = a.kernel;
        op.stride = a.stride;
        op.pl = a.pad;
        op.pr = a.kernel - 1 - a.pad;
        op.counter = p.ncounters++;
        rate[n.output] = rate[op.in] / op.stride;
        op.ring_off = take(V * op.span * c * ir::dtype_bytes(iv->dtype));
        p.gather_bytes =
            std::max(p.gather_bytes, kMaxLanes * V * op.kt * c * ir::dtype_bytes(iv->dtype));
        break;
      }
      case Op::kConcat: {
        op.kind = Kind::kConcat;
        op.ins = n.inputs;
        for (ir::ValueId v : n.inputs) {
          op.in_ring_off.push_back(take(kConcatRing * p.values[v].frame_bytes));
          op.in_counter.push_back(p.ncounters++);
          if (rate[v] != rate[n.inputs[0]])
            return Status(ErrorCode::kUnsupported,
                          fmt::format("continual mode: concat '{}' joins inputs of different "
                                      "frame rates",
                                      n.name));
        }
        op.counter = p.ncounters++;
        break;
      }
      case Op::kHead: {
        op.kind = Kind::kHead;
        op.channels = static_cast<int>(iv->shape[3]);
        op.t_last = static_cast<int>(iv->shape[2]);
        op.counter = p.ncounters++;
        op.head_off = take(static_cast<int64_t>(op.t_last) * op.channels * 4);
        op.head_sum_off = take(static_cast<int64_t>(op.channels) * 8);
        p.heads.push_back(static_cast<int>(p.ops.size()));
        break;
      }
      case Op::kAdd:
        if (n.branch >= 0)
          return Status(ErrorCode::kUnsupported,
                        fmt::format("continual mode needs the fused graph: node '{}' (add) is left",
                                    n.name));
        break;  // the join of the streams' logits: logits() sums the heads
      default:
        return Status(ErrorCode::kUnsupported,
                      fmt::format("continual mode needs the fused graph: node '{}' ({}) is left",
                                  n.name, ir::op_name(n.op)));
    }
    if (op.kind != Kind::kSkip && op.kind != Kind::kHead && op.kind != Kind::kInput)
      p.values[n.output].buffered = true;
    for (const auto& pd : op.gemm.pd)
      if (pd) p.scratch_bytes = std::max<int64_t>(p.scratch_bytes, pd.scratchpad_desc().get_size());
    p.ops.push_back(std::move(op));
  }
  p.values[g.input].buffered = true;
  for (size_t i = 0; i < p.ops.size(); ++i)
    if (p.ops[i].res >= 0) {
      ValueInfo& r = p.values[p.ops[i].res];
      if (r.counter < 0) r.counter = p.ncounters++;
      r.residual_of.push_back(static_cast<int>(i));
    }
  if (p.heads.empty()) return Status(ErrorCode::kUnsupported, "continual mode: no head");
  p.slot_bytes = std::max<int64_t>(64, off);
  // The weights now live in the step ops: drop the graph's (mapped bytes belong to the file).
  for (ir::Constant& c : g.constants) {
    c.packed.clear();
    c.packed.shrink_to_fit();
    c.mapped = {};
  }
  return Status::ok();
}

}  // namespace stgcn::cpu::streaming
