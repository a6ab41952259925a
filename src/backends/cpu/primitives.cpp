#include "backends/cpu/primitives.h"

#include <fmt/format.h>

#include <cstring>

#include "backends/cpu/cpu_backend.h"

namespace stgcn::cpu {
using ir::ConstId;
using ir::Graph;
using ir::kNoConst;
using ir::Node;
using ir::Op;

PrimSpec make_prim(const Graph& g, const Node& n, const dnnl::memory::desc* weights) {
  auto& eng = cpu_engine();
  const auto& in = g.values[n.inputs[0]].shape;
  const auto& out = g.values[n.output].shape;
  // Activations in the value's type; weights like the activations they meet;
  // biases and accumulation FP32.
  const dt act_in = onednn_type(g.values[n.inputs[0]].dtype);
  const dt act_out = onednn_type(g.values[n.output].dtype);
  const bool int8 = ir::is_int8(g.values[n.output].dtype);
  const float in_step = g.values[n.inputs[0]].scale, out_step = g.values[n.output].scale;
  PrimSpec s;
  switch (n.op) {
    case Op::kGcnConv: {
      // One 2D GEMM (V*T, Cin) x (Cin, Cout) per person and partition: the
      // brgemm kernels take these; batched 3D forms fall back to slow ones.
      const auto& a = n.as<ir::GcnConvAttrs>();
      const int64_t M = in[0], VT = in[1] * in[2], cin = in[3], cout = out[4];
      dnnl::memory::desc src({VT, cin}, act_in, tag::ab);
      dnnl::memory::desc wei =
          weights ? *weights : dnnl::memory::desc({cin, cout}, int8 ? dt::s8 : act_in, tag::any);
      dnnl::memory::desc bias({1, cout}, dt::f32, tag::ab);
      dnnl::memory::desc dst({VT, cout}, act_out, tag::ab);
      dnnl::primitive_attr attr = user_scratchpad();
      if (int8) {
        const auto& ws = wscales(g, a.wscale);
        attr.set_output_scales(1 << 1, output_scales(in_step, ws, out_step));
        for (float w : ws) s.weight_inv_scales.push_back(1.f / w);
      }
      s.pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, bias, dst), attr, eng);
      s.runs = a.K;
      s.persons = static_cast<int>(M);
      s.plain_weights = dnnl::memory::desc({cin, cout}, dt::f32, tag::ba);
      s.plain_weight_floats = cin * cout;
      return s;
    }
    case Op::kAggregate: {
      const auto& a = n.as<ir::AggregateAttrs>();
      const int64_t M = in[0], K = in[1], V = in[2], TC = in[3] * in[4];
      dnnl::memory::desc src({1, V, K * V}, act_in, tag::abc);
      dnnl::memory::desc wei({M, K * V, TC}, act_in, tag::abc);
      dnnl::memory::desc dst({M, V, TC}, act_out, tag::abc);
      dnnl::memory::desc bias;
      if (a.bias != kNoConst) bias = dnnl::memory::desc({1, 1, TC}, dt::f32, tag::abc);
      if (int8) src = dnnl::memory::desc({1, V, K * V}, dt::s8, tag::abc);
      dnnl::post_ops po;
      if (a.add_residual) {  // the residual sits in dst's buffer (int8: its own type and step)
        const ir::Value& r = g.values[n.inputs[1]];
        if (int8)
          po.append_sum(r.scale / out_step, onednn_type(r.dtype));
        else
          po.append_sum(1.f);
      }
      if (a.relu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      dnnl::primitive_attr attr = user_scratchpad(po);
      if (int8) attr.set_output_scales(0, {gemm_step(g, a) * in_step / out_step});
      s.pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, bias, dst), attr, eng);
      return s;
    }
    case Op::kTemporalConv:
    case Op::kResidualConv: {
      const bool tcn = n.op == Op::kTemporalConv;
      const int64_t M = in[0], V = in[1], T = in[2], cin = in[3], cout = out[3], T2 = out[2];
      int kernel = 1, stride = 1, pad = 0, dilation = 1;
      dnnl::post_ops po;
      ConstId wscale = kNoConst;
      if (tcn) {
        const auto& a = n.as<ir::TemporalConvAttrs>();
        kernel = a.kernel;
        stride = a.stride;
        pad = a.pad;
        dilation = a.dilation;
        wscale = a.wscale;
        if (a.add_residual) {
          const ir::Value& r = g.values[n.inputs[1]];
          if (int8)  // the residual sits in dst's buffer in its own int8 type and step
            po.append_sum(r.scale / out_step, onednn_type(r.dtype));
          else
            po.append_sum(1.f);
        }
        if (a.relu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      } else {
        stride = n.as<ir::ResidualConvAttrs>().stride;
        wscale = n.as<ir::ResidualConvAttrs>().wscale;
      }
      dnnl::primitive_attr attr = user_scratchpad(po);
      if (int8) {
        const auto& ws = wscales(g, wscale);
        attr.set_output_scales(1 << 1, output_scales(in_step, ws, out_step));
        for (float w : ws) s.weight_inv_scales.push_back(1.f / w);
      }
      const int right =
          static_cast<int>((T2 - 1) * stride + (kernel - 1) * dilation + 1 - T - pad);
      dnnl::memory::desc src({M, cin, V, T}, act_in, tag::nhwc);
      dnnl::memory::desc wei =
          weights ? *weights
                  : dnnl::memory::desc({cout, cin, 1, kernel}, int8 ? dt::s8 : act_in, tag::any);
      dnnl::memory::desc bias({cout}, dt::f32, tag::a);
      dnnl::memory::desc dst({M, cout, V, T2}, act_out, tag::nhwc);
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                        dnnl::algorithm::convolution_direct, src, wei, bias, dst,
                                        {1, stride}, {0, dilation - 1}, {0, pad}, {0, right});
      s.pd = dnnl::convolution_forward::primitive_desc(d, attr, eng);
      s.plain_weights = dnnl::memory::desc({cout, cin, 1, kernel}, dt::f32, tag::oihw);
      s.plain_weight_floats = cout * cin * kernel;
      return s;
    }
    default: break;
  }
  throw dnnl::error(dnnl_unimplemented, "no oneDNN primitive for this op");
}

bool uses_onednn(const Node& n) {
  switch (n.op) {
    case Op::kGcnConv:
    case Op::kTemporalConv:
    case Op::kResidualConv: return true;
    case Op::kAggregate: return n.as<ir::AggregateAttrs>().gemm_matrix != kNoConst;
    case Op::kInput:
    case Op::kMotion:
    case Op::kDataBn:
    case Op::kBatchNorm:
    case Op::kRelu:
    case Op::kAdd:
    case Op::kGlobalPool:
    case Op::kPersonMean:
    case Op::kFcn:
    case Op::kConvert:
    case Op::kMaxPool:
    case Op::kConcat:
    case Op::kHead: return false;
  }
  return false;
}

// The weight constant a oneDNN node packs (aggregation: none).
ConstId packed_weight(const Node& n) {
  switch (n.op) {
    case Op::kGcnConv: return n.as<ir::GcnConvAttrs>().weight;
    case Op::kTemporalConv: return n.as<ir::TemporalConvAttrs>().weight;
    case Op::kResidualConv: return n.as<ir::ResidualConvAttrs>().weight;
    default: return kNoConst;
  }
}

// choice differs, ask for a kernel that reads the given layout. False when none does.
bool prim_for_layout(const Graph& g, const Node& n, const dnnl::memory::desc& packed,
                     PrimSpec* ps) {
  *ps = make_prim(g, n);
  if (ps->pd.weights_desc() == packed) return true;
  try {
    *ps = make_prim(g, n, &packed);
  } catch (const dnnl::error&) {
    return false;
  }
  return ps->pd && ps->pd.weights_desc() == packed;
}

void reorder_weights(const PrimSpec& ps, const float* from, const dnnl::memory::desc& to_md,
                     void* to) {
  auto& eng = cpu_engine();
  dnnl::memory src(ps.plain_weights, eng, const_cast<float*>(from));
  dnnl::memory dst(to_md, eng, to);
  dnnl::stream st(eng);
  // int8: scale each output channel here (the plain layouts are channel-major:
  // gcn (cin, cout) as `ba`, convs oihw) -- oneDNN's reorders refuse
  // per-channel scales into the layouts with s8-source compensation.
  std::vector<float> scaled;
  if (!ps.weight_inv_scales.empty()) {
    const size_t cout = ps.weight_inv_scales.size();
    const size_t per = static_cast<size_t>(ps.plain_weight_floats) / cout;
    scaled.assign(from, from + ps.plain_weight_floats);
    for (size_t c = 0; c < cout; ++c)
      for (size_t i = 0; i < per; ++i) scaled[c * per + i] *= ps.weight_inv_scales[c];
    src = dnnl::memory(ps.plain_weights, eng, scaled.data());
  }
  dnnl::reorder(src, dst).execute(st, src, dst);
  st.wait();
}

Status pack_weights(Graph& g, std::string* kernel_isa, bool half_storage) {
  unsigned required = 0;
  std::string required_name = "generic";
  try {
    for (const Node& n : g.nodes) {
      if (!uses_onednn(n)) continue;
      PrimSpec s = make_prim(g, n);
      std::string isa = impl_isa(s.pd);
      unsigned bits = isa_bits(isa);
      if ((bits | required) != required) {
        required |= bits;
        required_name = isa;
      }
      ConstId wid = packed_weight(n);
      if (wid == kNoConst) continue;
      ir::Constant& c = g.constants[wid];
      if (c.is_packed()) continue;
      const dnnl::memory::desc packed = s.pd.weights_desc();
      const size_t per = packed.get_size();
      c.packed.assign(per * s.runs, 0);
      for (int k = 0; k < s.runs; ++k)
        reorder_weights(s, c.data.data() + k * s.plain_weight_floats, packed,
                        c.packed.data() + k * per);
      c.layout = md_bytes(packed);
      c.half = half_storage;  // stored as half in the file, unpacked to FP32 at load
      c.data.clear();
      c.data.shrink_to_fit();
    }
  } catch (const dnnl::error& e) {
    return Status(ErrorCode::kInternal, fmt::format("oneDNN: {}", e.what()));
  }
  if (kernel_isa) *kernel_isa = required_name;
  return Status::ok();
}


}  // namespace stgcn::cpu
