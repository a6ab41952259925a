// Runs the continual step program (streaming_impl.h): a step call moves up to kMaxLanes
// tracks at a time through every step op in graph order; a node's rows are the tracks whose
// input frame arrived in this round.
#include "backends/cpu/streaming.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <mutex>

#include "backends/cpu/kernels.h"
#include "backends/cpu/streaming_impl.h"
#include "core/float16.h"

namespace stgcn::cpu::streaming {
namespace {

using ir::DType;

// Sums a frame's (V, C) rows over the joints (int8: in quantisation steps).
template <typename T>
void sum_rows(const T* x, int64_t V, int64_t C, float* out) {
  std::fill(out, out + C, 0.f);
  for (int64_t v = 0; v < V; ++v)
    for (int64_t c = 0; c < C; ++c) out[c] += static_cast<float>(x[v * C + c]);
}

void pool_joints(const uint8_t* x, DType t, int64_t V, int64_t C, float* out) {
  switch (t) {
    case DType::kF32: sum_rows(reinterpret_cast<const float*>(x), V, C, out); return;
    case DType::kU8: sum_rows(x, V, C, out); return;
    case DType::kS8: sum_rows(reinterpret_cast<const int8_t*>(x), V, C, out); return;
    case DType::kBF16: {
      std::fill(out, out + C, 0.f);
      const uint16_t* b = reinterpret_cast<const uint16_t*>(x);
      for (int64_t v = 0; v < V; ++v)
        for (int64_t c = 0; c < C; ++c) out[c] += bfloat16_to_float(b[v * C + c]);
      return;
    }
  }
}

// The rows of a round that a temporal conv's flush pads: slots and their last real output.
struct Pad {
  int op = -1;
  std::vector<int> slots;
  std::vector<int64_t> limit;
};

class CpuStreaming final : public backend::Streaming {
 public:
  Program p;
  std::unique_ptr<uint8_t[]> pool;
  std::vector<SlotMeta> meta;
  std::mutex ws_mu;
  std::vector<std::unique_ptr<Workspace>> free_ws;
  std::once_flag zero_once;
  std::vector<float> zero_features;
  Status zero_status;

  int slots() const override { return p.nslots; }
  int C() const override { return p.C; }
  int V() const override { return p.V; }
  int num_class() const override { return p.num_class; }
  int feature_size() const override {
    int n = 0;
    for (int h : p.heads) n += p.ops[h].channels;
    return n;
  }
  int64_t state_bytes_per_slot() const override { return p.slot_bytes; }
  int64_t macs_per_step() const override { return p.macs; }

  uint8_t* slot_ptr(int s) { return pool.get() + static_cast<size_t>(s) * p.slot_bytes; }
  const uint8_t* slot_ptr(int s) const {
    return pool.get() + static_cast<size_t>(s) * p.slot_bytes;
  }

  void reset_slot(int s) {
    std::memset(slot_ptr(s), 0, static_cast<size_t>(p.slot_bytes));
    SlotMeta& m = meta[s];
    std::fill(m.counters.begin(), m.counters.end(), 0);
    m.frames = 0;
    m.flushed = false;
  }
  void reset(int slot) override {
    STGCN_CHECK(slot >= 0 && slot < p.nslots);
    reset_slot(slot);
  }

  std::unique_ptr<Workspace> acquire() {
    {
      std::lock_guard<std::mutex> lock(ws_mu);
      if (!free_ws.empty()) {
        auto w = std::move(free_ws.back());
        free_ws.pop_back();
        return w;
      }
    }
    auto w = std::make_unique<Workspace>();
    w->values.resize(p.values.size());
    for (size_t v = 0; v < p.values.size(); ++v)
      if (p.values[v].buffered)
        w->values[v] = aligned_buffer(static_cast<size_t>(kMaxLanes * p.values[v].frame_bytes));
    w->lanes.resize(p.values.size());
    w->gather = aligned_buffer(static_cast<size_t>(p.gather_bytes));
    w->compact = aligned_buffer(static_cast<size_t>(p.compact_bytes));
    w->scratch = aligned_buffer(static_cast<size_t>(p.scratch_bytes));
    w->stream = dnnl::stream(cpu_engine());
    w->bound.resize(p.ops.size());
    return w;
  }
  void release(std::unique_ptr<Workspace> w) {
    std::lock_guard<std::mutex> lock(ws_mu);
    free_ws.push_back(std::move(w));
  }

  // The memory objects of one (op, piece) matmul in a workspace, made once; a call only
  // points the activations' two at this round's buffers.
  Workspace::Bound& bound(Workspace& w, size_t op_index, int piece) {
    const StepOp& op = p.ops[op_index];
    const Gemm& gm = op.gemm;
    Workspace::Bound& b = w.bound[op_index][piece];
    if (b.ready) return b;
    auto& eng = cpu_engine();
    const auto& pd = gm.pd[piece];
    const bool aggregate = op.kind == Kind::kAggregate;
    b.src = dnnl::memory(pd.src_desc(), eng,
                         aggregate ? const_cast<uint8_t*>(gm.gsrc.data()) : DNNL_MEMORY_NONE);
    b.wei = dnnl::memory(pd.weights_desc(), eng,
                         aggregate ? DNNL_MEMORY_NONE : const_cast<void*>(gm.weights[piece]));
    b.dst = dnnl::memory(pd.dst_desc(), eng, DNNL_MEMORY_NONE);
    b.scr = dnnl::memory(pd.scratchpad_desc(), eng, w.scratch.get());
    b.args = {{DNNL_ARG_SRC, b.src.get()},
              {DNNL_ARG_WEIGHTS, b.wei.get()},
              {DNNL_ARG_DST, b.dst.get()},
              {DNNL_ARG_SCRATCHPAD, b.scr.get()}};
    if (!gm.bias.empty()) {
      b.bias = dnnl::memory(pd.query_md(dnnl::query::weights_md, 1), eng,
                            const_cast<float*>(gm.bias.data()));
      b.args.push_back({DNNL_ARG_BIAS, b.bias.get()});
    }
    b.ready = true;
    return b;
  }

  // One matmul over `lanes` tracks (<= kMaxLanes): the largest piece that fits, then the rest
  // as one piece rounded up to a power of two, so at most two calls per op. The rows of the
  // rounding are spare rows of the workspace buffers (sized for kMaxLanes tracks): computed,
  // never read. src/dst advance by a track's bytes (the aggregation's activations are its
  // weights).
  Status gemm(Workspace& w, size_t op_index, int64_t lanes, const uint8_t* src,
              int64_t src_lane, uint8_t* dst, int64_t dst_lane) {
    if (lanes <= 0) return Status::ok();
    STGCN_CHECK(lanes <= kMaxLanes);
    const StepOp& op = p.ops[op_index];
    const bool aggregate = op.kind == Kind::kAggregate;
    auto run = [&](int64_t at, int64_t n) {
      const int piece = std::countr_zero(static_cast<uint64_t>(n));
      Workspace::Bound& b = bound(w, op_index, piece);
      (aggregate ? b.wei : b.src).set_data_handle(const_cast<uint8_t*>(src + at * src_lane));
      b.dst.set_data_handle(dst + at * dst_lane);
      const dnnl_status_t rc =
          dnnl_primitive_execute(op.gemm.prim[piece].get(), w.stream.get(),
                                 static_cast<int>(b.args.size()), b.args.data());
      if (rc != dnnl_success)
        return Status(ErrorCode::kInternal,
                      fmt::format("oneDNN failed on node '{}' (continual step, status {})",
                                  p.graph.nodes[op.node].name, static_cast<int>(rc)));
      return Status::ok();
    };
    const int64_t first = static_cast<int64_t>(std::bit_floor(static_cast<uint64_t>(lanes)));
    STGCN_RETURN_IF_ERROR(run(0, first));
    if (lanes > first)
      STGCN_RETURN_IF_ERROR(
          run(first, static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(lanes - first)))));
    return Status::ok();
  }

  // Stores produced frames of a residual value in the rings of the convs that add it.
  void keep_residual(Workspace& w, ir::ValueId v) {
    const ValueInfo& vi = p.values[v];
    if (vi.residual_of.empty()) return;
    const auto& lanes = w.lanes[v];
    for (size_t r = 0; r < lanes.size(); ++r) {
      const int64_t idx = meta[lanes[r]].counters[vi.counter]++;
      for (int c : vi.residual_of) {
        const StepOp& op = p.ops[c];
        std::memcpy(slot_ptr(lanes[r]) + op.res_off + (idx % op.R) * vi.frame_bytes,
                    w.values[v].get() + r * vi.frame_bytes, static_cast<size_t>(vi.frame_bytes));
      }
    }
  }

  // Stores the frames the inputs produced this round in their rings; emits, for each track,
  // the next frame once every input has it (branches of different delays line up here).
  void concat(Workspace& w, const StepOp& op) {
    const ir::Graph& g = p.graph;
    const ir::Value& ov = g.values[op.out];
    const ValueInfo& vout = p.values[op.out];
    std::vector<int> touched;
    for (size_t k = 0; k < op.ins.size(); ++k) {
      const int64_t fb = p.values[op.ins[k]].frame_bytes;
      const auto& lanes = w.lanes[op.ins[k]];
      for (size_t r = 0; r < lanes.size(); ++r) {
        const int64_t idx = meta[lanes[r]].counters[op.in_counter[k]]++;
        std::memcpy(slot_ptr(lanes[r]) + op.in_ring_off[k] + (idx % kConcatRing) * fb,
                    w.values[op.ins[k]].get() + r * fb, static_cast<size_t>(fb));
        if (std::find(touched.begin(), touched.end(), lanes[r]) == touched.end())
          touched.push_back(lanes[r]);
      }
    }
    std::vector<int>& out_lanes = w.lanes[op.out];
    const int n = static_cast<int>(op.ins.size());
    std::vector<const void*> xs(n);
    std::vector<DType> types(n);
    std::vector<float> steps(n);
    std::vector<int64_t> channels(n);
    for (int k = 0; k < n; ++k) {
      const ir::Value& iv = g.values[op.ins[k]];
      types[k] = iv.dtype;
      steps[k] = iv.scale;
      channels[k] = iv.shape[3];
    }
    for (int slot : touched) {
      int64_t& e = meta[slot].counters[op.counter];
      bool ready = true;
      for (int k = 0; k < n; ++k) ready &= meta[slot].counters[op.in_counter[k]] > e;
      if (!ready) continue;
      for (int k = 0; k < n; ++k)
        xs[k] = slot_ptr(slot) + op.in_ring_off[k] +
                (e % kConcatRing) * p.values[op.ins[k]].frame_bytes;
      kernels::concat(xs.data(), types.data(), steps.data(), channels.data(), n,
                      w.values[op.out].get() + out_lanes.size() * vout.frame_bytes, ov.dtype,
                      ov.scale, p.V);
      out_lanes.push_back(slot);
      ++e;
    }
  }

  Status run_ops(Workspace& w, size_t first, const Pad* pad) {
    const ir::Graph& g = p.graph;
    const int64_t V = p.V;
    for (size_t i = first; i < p.ops.size(); ++i) {
      const StepOp& op = p.ops[i];
      const ir::Node& n = g.nodes[op.node];
      if (op.kind == Kind::kSkip || op.kind == Kind::kInput) continue;
      if (op.kind == Kind::kConcat) {
        concat(w, op);
        keep_residual(w, op.out);
        continue;
      }
      const bool padding = pad && pad->op == static_cast<int>(i);
      const std::vector<int>& in_lanes = padding ? pad->slots : w.lanes[op.in];
      if (in_lanes.empty()) continue;
      const int64_t nl = static_cast<int64_t>(in_lanes.size());
      const ir::Value& iv = g.values[op.in];
      const ir::Value& ov = g.values[op.out];
      const ValueInfo& vin = p.values[op.in];
      const ValueInfo& vout = p.values[op.out];
      const uint8_t* in = padding ? nullptr : w.values[op.in].get();
      uint8_t* out = vout.buffered ? w.values[op.out].get() : nullptr;
      std::vector<int>& out_lanes = w.lanes[op.out];
      switch (op.kind) {
        case Kind::kMotion: {
          const int64_t cv = vin.frame_elems;
          for (int64_t r = 0; r < nl; ++r) {
            const float* x = reinterpret_cast<const float*>(in) + r * cv;
            float* y = reinterpret_cast<float*>(out) + r * cv;
            float* prev = reinterpret_cast<float*>(slot_ptr(in_lanes[r]) + op.prev_off);
            const bool first_frame = meta[in_lanes[r]].frames == 0;
            for (int64_t k = 0; k < cv; ++k) y[k] = first_frame ? 0.f : x[k] - prev[k];
            std::memcpy(prev, x, static_cast<size_t>(cv) * 4);
          }
          out_lanes = in_lanes;
          break;
        }
        case Kind::kDataBn: {
          const auto& a = n.as<ir::DataBnAttrs>();
          const float* sc = g.constants[a.scale].data.data();
          const float* sh = g.constants[a.shift].data.data();
          for (int64_t r = 0; r < nl; ++r) {
            const float* x = reinterpret_cast<const float*>(in) + r * vin.frame_elems;
            uint8_t* y = out + r * vout.frame_bytes;
            if (ov.dtype == DType::kBF16)
              kernels::data_bn(x, reinterpret_cast<uint16_t*>(y), p.C, 1, V, 1, sc, sh);
            else if (ov.dtype == DType::kS8)
              kernels::data_bn(x, reinterpret_cast<int8_t*>(y), p.C, 1, V, 1, sc, sh, ov.scale);
            else
              kernels::data_bn(x, reinterpret_cast<float*>(y), p.C, 1, V, 1, sc, sh);
          }
          out_lanes = in_lanes;
          break;
        }
        case Kind::kConvert:
          kernels::convert(in, iv.dtype, iv.scale, out, ov.dtype, ov.scale, nl * vin.frame_elems);
          out_lanes = in_lanes;
          break;
        case Kind::kGcn:
          STGCN_RETURN_IF_ERROR(gemm(w, i, nl, in, vin.frame_bytes, out, vout.frame_bytes));
          out_lanes = in_lanes;
          break;
        case Kind::kAggregate:
          if (op.frame_res >= 0) {  // the block input of this frame, same rows: summed onto
            const int64_t fb = p.values[op.frame_res].frame_bytes;
            STGCN_CHECK(w.lanes[op.frame_res] == in_lanes);
            for (int64_t r = 0; r < nl; ++r)
              std::memcpy(out + r * vout.frame_bytes, w.values[op.frame_res].get() + r * fb,
                          static_cast<size_t>(fb));
          }
          STGCN_RETURN_IF_ERROR(gemm(w, i, nl, in, vin.frame_bytes, out, vout.frame_bytes));
          out_lanes = in_lanes;
          break;
        case Kind::kResidualConv: {
          std::vector<int> due;
          std::vector<int64_t> rows;
          for (int64_t r = 0; r < nl; ++r) {
            const int64_t t = meta[in_lanes[r]].counters[op.counter]++;
            if (t % op.stride == 0) {
              due.push_back(in_lanes[r]);
              rows.push_back(r);
            }
          }
          const uint8_t* src = in;
          if (due.size() != in_lanes.size()) {
            for (size_t k = 0; k < rows.size(); ++k)
              std::memcpy(w.compact.get() + k * vin.frame_bytes, in + rows[k] * vin.frame_bytes,
                          static_cast<size_t>(vin.frame_bytes));
            src = w.compact.get();
          }
          STGCN_RETURN_IF_ERROR(gemm(w, i, static_cast<int64_t>(due.size()), src,
                                     vin.frame_bytes, out, vout.frame_bytes));
          out_lanes = std::move(due);
          break;
        }
        case Kind::kTemporal:
        case Kind::kMaxPool: {
          const int64_t cin = iv.shape[3], eb = ir::dtype_bytes(iv.dtype);
          const int64_t row = cin * eb, ring_v = op.span * row;  // bytes per joint's ring
          const int64_t window = V * op.kt * row;                 // one track's gathered taps
          std::vector<int> due;
          std::vector<int64_t> due_t, due_tau;
          for (int64_t r = 0; r < nl; ++r) {
            const int slot = in_lanes[r];
            uint8_t* ring = slot_ptr(slot) + op.ring_off;
            const int64_t t = meta[slot].counters[op.counter]++;
            const int64_t pos = (t + op.pl) % op.span;
            for (int64_t v = 0; v < V; ++v) {
              uint8_t* a = ring + v * ring_v + pos * row;
              if (padding)
                std::memset(a, 0, static_cast<size_t>(row));
              else
                std::memcpy(a, in + r * vin.frame_bytes + v * row, static_cast<size_t>(row));
            }
            if (t < op.pr || (t - op.pr) % op.stride != 0) continue;
            const int64_t tau = (t - op.pr) / op.stride;
            if (padding && tau > pad->limit[r]) continue;
            due.push_back(slot);
            due_t.push_back(t);
            due_tau.push_back(tau);
          }
          // Gather and multiply a few tracks at a time, so that the gathered windows are still
          // in the core's L2 when the matmul reads them (the rings themselves come from DRAM).
          const int64_t nd = static_cast<int64_t>(due.size());
          int64_t sub = 1;  // a power of two: one matmul piece per sub-batch
          while (sub * 2 <= kMaxLanes && sub * 2 * window <= kGatherBudget) sub *= 2;
          for (int64_t at = 0; at < nd; at += sub) {
            const int64_t n = std::min(sub, nd - at);
            for (int64_t k = 0; k < n; ++k) {
              const int slot = due[at + k];
              const uint8_t* ring = slot_ptr(slot) + op.ring_off;
              // The taps, oldest frame first: span positions p0, p0 + dil, ... (mod span).
              const int64_t p0 = (due_t[at + k] + op.pl + 1) % op.span;
              uint8_t* dst = w.gather.get() + k * window;
              for (int64_t v = 0; v < V; ++v) {
                const uint8_t* jr = ring + v * ring_v;
                uint8_t* d = dst + v * op.kt * row;
                if (op.dil == 1) {
                  const size_t head = static_cast<size_t>((op.span - p0) * row);
                  const size_t tail = static_cast<size_t>(p0 * row);
                  std::memcpy(d, jr + p0 * row, head);
                  if (tail) std::memcpy(d + head, jr, tail);
                } else {
                  for (int64_t j = 0; j < op.kt; ++j)
                    std::memcpy(d + j * row, jr + ((p0 + j * op.dil) % op.span) * row,
                                static_cast<size_t>(row));
                }
              }
              if (op.res >= 0) {
                const int64_t fb = p.values[op.res].frame_bytes;
                std::memcpy(out + (at + k) * vout.frame_bytes,
                            slot_ptr(slot) + op.res_off + (due_tau[at + k] % op.R) * fb,
                            static_cast<size_t>(fb));
              }
            }
            if (op.kind == Kind::kMaxPool) {
              const auto& a = g.nodes[op.node].as<ir::MaxPoolAttrs>();
              const float* sc = a.scale == ir::kNoConst ? nullptr : g.constants[a.scale].data.data();
              const float* sh = a.shift == ir::kNoConst ? nullptr : g.constants[a.shift].data.data();
              for (int64_t k = 0; k < n; ++k)
                kernels::max_pool(w.gather.get() + k * window, iv.dtype, iv.scale,
                                  out + (at + k) * vout.frame_bytes, ov.dtype, ov.scale, V, op.kt,
                                  1, cin, op.kt, 1, 0, sc, sh, a.relu);
            } else {
              STGCN_RETURN_IF_ERROR(gemm(w, i, n, w.gather.get(), window,
                                         out + at * vout.frame_bytes, vout.frame_bytes));
            }
          }
          out_lanes = std::move(due);
          break;
        }
        case Kind::kHead: {
          const int64_t Cl = op.channels;
          w.pooled.resize(static_cast<size_t>(Cl));
          const float inv = 1.f / static_cast<float>(V);
          for (int64_t r = 0; r < nl; ++r) {
            const int slot = in_lanes[r];
            int64_t& h = meta[slot].counters[op.counter];
            float* dst = reinterpret_cast<float*>(slot_ptr(slot) + op.head_off) +
                         (h % op.t_last) * Cl;
            double* sum = reinterpret_cast<double*>(slot_ptr(slot) + op.head_sum_off);
            pool_joints(in + r * vin.frame_bytes, iv.dtype, V, Cl, w.pooled.data());
            const float step = ir::is_int8(iv.dtype) ? iv.scale : 1.f;
            const bool evict = h >= op.t_last;  // the ring is full: its oldest vector leaves
            for (int64_t c = 0; c < Cl; ++c) {
              const float x = w.pooled[c] * step * inv;
              sum[c] += static_cast<double>(x) - (evict ? static_cast<double>(dst[c]) : 0.0);
              dst[c] = x;
            }
            ++h;
          }
          break;
        }
        case Kind::kInput:
        case Kind::kConcat:
        case Kind::kSkip: break;
      }
      if (vout.buffered) keep_residual(w, op.out);
    }
    return Status::ok();
  }

  void clear(Workspace& w) {
    for (auto& l : w.lanes) l.clear();
  }

  Status step_chunk(Workspace& w, std::span<const int> slots,
                    std::span<const float* const> frames) {
    clear(w);
    const ir::ValueId in = p.graph.input;
    const int64_t fb = p.values[in].frame_bytes;
    for (size_t i = 0; i < slots.size(); ++i)
      std::memcpy(w.values[in].get() + i * fb, frames[i], static_cast<size_t>(fb));
    w.lanes[in].assign(slots.begin(), slots.end());
    STGCN_RETURN_IF_ERROR(run_ops(w, 0, nullptr));
    for (int s : slots) ++meta[s].frames;
    return Status::ok();
  }

  Status step_slots(std::span<const int> slots, std::span<const float* const> frames) {
    auto w = acquire();
    Status st = Status::ok();
    try {
      for (size_t at = 0; at < slots.size() && st.is_ok(); at += kMaxLanes) {
        const size_t n = std::min<size_t>(kMaxLanes, slots.size() - at);
        st = step_chunk(*w, slots.subspan(at, n), frames.subspan(at, n));
      }
    } catch (const dnnl::error& e) {
      st = Status(ErrorCode::kInternal, fmt::format("oneDNN: {}", e.what()));
    }
    release(std::move(w));
    return st;
  }

  Status step(std::span<const int> slots, std::span<const float* const> frames) override {
    STGCN_CHECK(slots.size() == frames.size());
    for (int s : slots) STGCN_CHECK(s >= 0 && s < p.nslots && !meta[s].flushed);
    return step_slots(slots, frames);
  }

  // Appends every temporal conv's right padding for the slots, layer by layer: a layer's
  // padded outputs flow on through the deeper layers before the next layer is padded.
  Status flush_slots(const std::vector<int>& slots) {
    std::vector<int> todo;
    for (int s : slots)
      if (!meta[s].flushed) {
        meta[s].flushed = true;
        todo.push_back(s);
      }
    if (todo.empty()) return Status::ok();
    auto w = acquire();
    Status st = Status::ok();
    try {
      for (size_t i = 0; i < p.ops.size() && st.is_ok(); ++i) {
        const StepOp& op = p.ops[i];
        if ((op.kind != Kind::kTemporal && op.kind != Kind::kMaxPool) || op.pr == 0) continue;
        for (size_t at = 0; at < todo.size() && st.is_ok(); at += kMaxLanes) {
          Pad pad;
          pad.op = static_cast<int>(i);
          for (size_t k = at; k < std::min(todo.size(), at + kMaxLanes); ++k) {
            const int64_t real = meta[todo[k]].counters[op.counter];
            if (real == 0) continue;
            pad.slots.push_back(todo[k]);
            pad.limit.push_back((real - 1) / op.stride);
          }
          for (int q = 0; q < op.pr && !pad.slots.empty() && st.is_ok(); ++q) {
            clear(*w);
            st = run_ops(*w, i, &pad);
          }
        }
      }
    } catch (const dnnl::error& e) {
      st = Status(ErrorCode::kInternal, fmt::format("oneDNN: {}", e.what()));
    }
    release(std::move(w));
    return st;
  }

  Status flush(int slot) override {
    STGCN_CHECK(slot >= 0 && slot < p.nslots);
    return flush_slots({slot});
  }

  bool features_of(int slot, std::vector<float>& out) const {
    out.assign(static_cast<size_t>(feature_size()), 0.f);
    size_t off = 0;
    for (int hi : p.heads) {
      const StepOp& op = p.ops[hi];
      const int64_t h = meta[slot].counters[op.counter];
      if (h == 0) return false;
      // The running sum of the last t_last pooled vectors (kept in double by the head).
      const double n = static_cast<double>(std::min<int64_t>(h, op.t_last));
      const double* sum = reinterpret_cast<const double*>(slot_ptr(slot) + op.head_sum_off);
      for (int c = 0; c < op.channels; ++c) out[off + c] = static_cast<float>(sum[c] / n);
      off += op.channels;
    }
    return true;
  }

  bool features(int slot, std::vector<float>& out) const override {
    STGCN_CHECK(slot >= 0 && slot < p.nslots);
    return features_of(slot, out);
  }

  Status features_lookahead(std::span<const int> slots, int scratch_base,
                            std::vector<std::vector<float>>& out, std::vector<char>& ok) override {
    out.assign(slots.size(), {});
    ok.assign(slots.size(), 0);
    for (size_t start = 0; start < slots.size(); start += kLookaheadChunk) {
      const size_t n = std::min(slots.size() - start, static_cast<size_t>(kLookaheadChunk));
      std::vector<int> copies;
      for (size_t i = 0; i < n; ++i) {
        const int slot = slots[start + i];
        STGCN_CHECK(slot >= 0 && slot < p.nslots);
        STGCN_CHECK(scratch_base >= 0 && scratch_base + static_cast<int>(i) < p.nscratch);
        const int s = p.nslots + 1 + scratch_base + static_cast<int>(i);
        std::memcpy(slot_ptr(s), slot_ptr(slot), static_cast<size_t>(p.slot_bytes));
        meta[s] = meta[slot];
        copies.push_back(s);
      }
      STGCN_RETURN_IF_ERROR(flush_slots(copies));
      for (size_t i = 0; i < n; ++i) ok[start + i] = features_of(copies[i], out[start + i]);
    }
    return Status::ok();
  }

  void compute_zero_features() {
    const int slot = p.nslots;  // the internal slot
    reset_slot(slot);
    std::vector<float> zero(static_cast<size_t>(p.C) * p.V, 0.f);
    const float* f = zero.data();
    for (int t = 0; t < p.T && zero_status.is_ok(); ++t)
      zero_status = step_slots({&slot, 1}, {&f, 1});
    if (zero_status.is_ok()) zero_status = flush_slots({slot});
    if (zero_status.is_ok()) features_of(slot, zero_features);
  }

  Status logits(std::span<const std::vector<float>* const> persons,
                std::span<float> out) override {
    STGCN_CHECK(static_cast<int>(out.size()) == p.num_class && !persons.empty());
    for (const auto* q : persons)
      if (q == nullptr) {
        std::call_once(zero_once, [this] { compute_zero_features(); });
        STGCN_RETURN_IF_ERROR(zero_status);
        break;
      }
    std::fill(out.begin(), out.end(), 0.f);
    const ir::Graph& g = p.graph;
    const double inv = 1.0 / static_cast<double>(persons.size());
    size_t off = 0;
    for (int hi : p.heads) {
      const StepOp& op = p.ops[hi];
      const auto& a = g.nodes[op.node].as<ir::HeadAttrs>();
      const float* wt = g.constants[a.weight].data.data();
      const float* b = a.bias == ir::kNoConst ? nullptr : g.constants[a.bias].data.data();
      std::vector<double> mean(op.channels, 0.0);
      for (const auto* q : persons) {
        const std::vector<float>& f = q ? *q : zero_features;
        for (int c = 0; c < op.channels; ++c) mean[c] += f[off + c] * inv;
      }
      for (int k = 0; k < p.num_class; ++k) {
        double acc = b ? b[k] : 0.0;
        for (int c = 0; c < op.channels; ++c)
          acc += static_cast<double>(wt[static_cast<size_t>(k) * op.channels + c]) * mean[c];
        out[k] += static_cast<float>(acc);
      }
      off += op.channels;
    }
    return Status::ok();
  }
};

}  // namespace
}  // namespace stgcn::cpu::streaming

namespace stgcn::cpu {

Result<std::unique_ptr<backend::Streaming>> prepare_streaming(
    const ir::Graph& graph, const backend::StreamingOptions& options) {
  if (options.slots < 1)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("continual mode: {} track slots", options.slots));
  if (options.scratch < 0 || options.scratch > 1024)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("continual mode: {} scratch slots", options.scratch));
  auto s = std::make_unique<streaming::CpuStreaming>();
  try {
    STGCN_RETURN_IF_ERROR(streaming::lower(graph, s->p));
  } catch (const dnnl::error& e) {
    return Status(ErrorCode::kUnsupported, fmt::format("continual mode: oneDNN: {}", e.what()));
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kInternal, "continual mode: out of memory while preparing");
  }
  streaming::Program& p = s->p;
  p.nslots = options.slots;
  p.nscratch = options.scratch;
  const size_t n = static_cast<size_t>(options.slots) + 1 + options.scratch;
  s->pool.reset(new (std::nothrow) uint8_t[n * static_cast<size_t>(p.slot_bytes)]);
  if (!s->pool)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("continual mode: cannot allocate {} MiB for {} track slots",
                              (n * p.slot_bytes) >> 20, options.slots));
  streaming::SlotMeta proto;
  proto.counters.assign(static_cast<size_t>(p.ncounters), 0);
  s->meta.assign(n, proto);
  for (size_t i = 0; i < n; ++i) s->reset_slot(static_cast<int>(i));
  return std::unique_ptr<backend::Streaming>(std::move(s));
}

}  // namespace stgcn::cpu
