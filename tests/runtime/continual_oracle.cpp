// The first continual implementation, unchanged but for its namespace: the oracle of the
// backend's continual lowering (tests/runtime/test_continual.cpp) and the baseline of
// bench/continual_step.cpp. Test and benchmark code: it may use oneDNN's sgemm directly.
#include "runtime/continual_oracle.h"

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

namespace stgcn::oracle {
namespace {

// Row-major C = A * B (+ C when accumulate), oneDNN's sgemm.
void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
          int64_t ldb, bool accumulate, float* C, int64_t ldc) {
  dnnl_status_t st =
      dnnl_sgemm('N', 'N', M, N, K, 1.0f, A, lda, B, ldb, accumulate ? 1.0f : 0.0f, C, ldc);
  STGCN_CHECK(st == dnnl_success);
}

void bn_affine(const BatchNorm& bn, std::vector<double>& scale, std::vector<double>& shift) {
  scale.resize(bn.weight.size());
  shift.resize(bn.weight.size());
  for (size_t i = 0; i < bn.weight.size(); ++i) {
    double s = bn.weight[i] / std::sqrt(static_cast<double>(bn.var[i]) + BatchNorm::kEps);
    scale[i] = s;
    shift[i] = bn.bias[i] - bn.mean[i] * s;
  }
}

struct Block {
  // pl zero frames before the first input, pr after the last (flush): output
  // tau is due when input tau * stride + pr arrives.
  int cin = 0, cout = 0, stride = 1, kt = 9, pl = 4, pr = 4;
  ResidualKind res = ResidualKind::kNone;
  std::vector<float> wg;  // (K*Cout, Cin), gcn_bn scale folded
  std::vector<float> a;   // (K, V, V): A (x importance)
  std::vector<float> b1;  // (Cout, V): gcn bias through the aggregation, then gcn_bn
  std::vector<float> wt;  // (Cout, kt*Cout), column j*Cout + ci, tcn_bn folded
  std::vector<float> bt;  // (Cout)
  std::vector<float> wr, br;  // residual conv (Cout, Cin), (Cout), its BN folded
  size_t tcn_off = 0;  // kt frames of (Cout, V), frame of input t at (t + pl) % kt
  size_t res_off = 0;  // pr + 1 frames of (Cin, V), input t at t % (pr + 1)
};

struct StreamNet {
  bool motion = false;
  std::vector<float> bn_scale, bn_shift;  // (C, V)
  std::vector<Block> blocks;
  std::vector<float> fcn_w, fcn_b;  // (num_class, C_last), (num_class)
  int c_last = 0, t_last = 0;
  size_t head_off = 0;  // t_last pooled vectors of C_last
};

struct SlotMeta {
  std::vector<int64_t> n_in;        // inputs seen, per (stream, block)
  std::vector<int64_t> head_count;  // outputs of the last block, per stream
  int64_t frames = 0;
  bool flushed = false;
};

struct Scratch {
  std::vector<float> x, y, z, x9, o, r;
};
thread_local Scratch tls;

void ensure(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace

struct ContinualModel::Impl {
  int C = 0, V = 0, K = 0, num_class = 0, T = 0, nslots = 0, nscratch = 0;
  // Slots [0, nslots) are the tracks', nslots the empty person's, then nscratch scratch ones.
  std::vector<StreamNet> nets;
  size_t slot_floats = 0;  // [prev frame C*V][per stream state]
  std::unique_ptr<float[]> pool;
  std::vector<SlotMeta> meta;
  int64_t macs = 0;
  std::once_flag zero_once;
  std::vector<float> zero_features;

  float* slot_ptr(int s) { return pool.get() + static_cast<size_t>(s) * slot_floats; }
  const float* slot_ptr(int s) const { return pool.get() + static_cast<size_t>(s) * slot_floats; }
  size_t nblocks() const { return nets.front().blocks.size(); }
  int64_t& n_in(int slot, size_t s, size_t l) { return meta[slot].n_in[s * nblocks() + l]; }

  // Runs block l for the slots in `act` on input `xin` (Cin x nb*V). With
  // `pad_limit` (one entry per slot of `act`) the input is the layer's right
  // padding and only outputs tau <= pad_limit[i] are produced. On return `act`
  // holds the slots that produced an output and `xin` that output (Cout x nd*V).
  void block(size_t s, size_t l, std::vector<int>& act, std::vector<float>& xin,
             const std::vector<int64_t>* pad_limit) {
    const Block& b = nets[s].blocks[l];
    const int64_t nb = static_cast<int64_t>(act.size()), VV = V, cols = nb * V;
    const int R = b.pr + 1;
    Scratch& sc = tls;
    if (pad_limit == nullptr) {
      if (b.res != ResidualKind::kNone) {
        for (int64_t i = 0; i < nb; ++i) {
          float* dst = slot_ptr(act[i]) + b.res_off +
                       static_cast<size_t>(n_in(act[i], s, l) % R) * b.cin * V;
          for (int c = 0; c < b.cin; ++c)
            std::memcpy(dst + static_cast<size_t>(c) * V, xin.data() + c * cols + i * VV,
                        sizeof(float) * V);
        }
      }
      // gcn: Y (K*Cout x cols) = Wg * X; aggregation over k with the rows
      // (c, slot) of Y_k as a (Cout*nb x V) matrix.
      ensure(sc.y, static_cast<size_t>(K) * b.cout * cols);
      ensure(sc.z, static_cast<size_t>(b.cout) * cols);
      gemm(static_cast<int64_t>(K) * b.cout, cols, b.cin, b.wg.data(), b.cin, xin.data(), cols,
           false, sc.y.data(), cols);
      for (int k = 0; k < K; ++k)
        gemm(b.cout * nb, V, V, sc.y.data() + static_cast<size_t>(k) * b.cout * cols, V,
             b.a.data() + static_cast<size_t>(k) * V * V, V, k > 0, sc.z.data(), V);
      float* z = sc.z.data();
      const std::vector<int>& slots = act;
#pragma omp parallel for
      for (int c = 0; c < b.cout; ++c) {
        const float* bias = b.b1.data() + static_cast<size_t>(c) * V;
        for (int64_t i = 0; i < nb; ++i) {
          const int64_t t = n_in(slots[i], s, l);
          float* dst = slot_ptr(slots[i]) + b.tcn_off +
                       static_cast<size_t>((t + b.pl) % b.kt) * b.cout * V +
                       static_cast<size_t>(c) * V;
          const float* src = z + (static_cast<size_t>(c) * nb + i) * V;
          for (int w = 0; w < V; ++w) dst[w] = std::max(0.0f, src[w] + bias[w]);
        }
      }
    } else {
      for (int slot : act) {
        const int64_t t = n_in(slot, s, l);
        std::memset(
            slot_ptr(slot) + b.tcn_off + static_cast<size_t>((t + b.pl) % b.kt) * b.cout * V, 0,
            sizeof(float) * b.cout * V);
      }
    }
    // Which slots have an output due: the input just pushed is t; the output
    // tau = (t - pr) / stride needs inputs t - (kt - 1) .. t.
    std::vector<int> due;
    std::vector<int64_t> due_t;
    for (size_t i = 0; i < act.size(); ++i) {
      const int slot = act[i];
      const int64_t t = n_in(slot, s, l)++;
      if (t < b.pr || (t - b.pr) % b.stride != 0) continue;
      if (pad_limit && (t - b.pr) / b.stride > (*pad_limit)[i]) continue;
      due.push_back(slot);
      due_t.push_back(t);
    }
    act = std::move(due);
    if (act.empty()) return;
    const int64_t nd = static_cast<int64_t>(act.size()), dcols = nd * V;
    ensure(sc.x9, static_cast<size_t>(b.kt) * b.cout * dcols);
    float* x9 = sc.x9.data();
#pragma omp parallel for collapse(2)
    for (int64_t i = 0; i < nd; ++i)
      for (int j = 0; j < b.kt; ++j) {
        const int64_t tj = due_t[i] - (b.kt - 1) + j;  // >= -pl: the zero left padding
        const float* src = slot_ptr(act[i]) + b.tcn_off +
                           static_cast<size_t>((tj + b.pl) % b.kt) * b.cout * V;
        for (int c = 0; c < b.cout; ++c)
          std::memcpy(x9 + (static_cast<size_t>(j) * b.cout + c) * dcols + i * VV,
                      src + static_cast<size_t>(c) * V, sizeof(float) * V);
      }
    ensure(sc.o, static_cast<size_t>(b.cout) * dcols);
    float* o = sc.o.data();
    if (b.res != ResidualKind::kNone) {
      // The residual of output tau is the block input at tau * stride = t - pr.
      ensure(sc.r, static_cast<size_t>(b.cin) * dcols);
      for (int64_t i = 0; i < nd; ++i) {
        const float* src = slot_ptr(act[i]) + b.res_off +
                           static_cast<size_t>((due_t[i] - b.pr) % R) * b.cin * V;
        for (int c = 0; c < b.cin; ++c)
          std::memcpy(sc.r.data() + c * dcols + i * VV, src + static_cast<size_t>(c) * V,
                      sizeof(float) * V);
      }
      if (b.res == ResidualKind::kIdentity) {
        std::memcpy(o, sc.r.data(), sizeof(float) * b.cout * dcols);
      } else {
        gemm(b.cout, dcols, b.cin, b.wr.data(), b.cin, sc.r.data(), dcols, false, o, dcols);
      }
      gemm(b.cout, dcols, static_cast<int64_t>(b.kt) * b.cout, b.wt.data(),
           static_cast<int64_t>(b.kt) * b.cout, x9, dcols, true, o, dcols);
    } else {
      gemm(b.cout, dcols, static_cast<int64_t>(b.kt) * b.cout, b.wt.data(),
           static_cast<int64_t>(b.kt) * b.cout, x9, dcols, false, o, dcols);
    }
    ensure(xin, static_cast<size_t>(b.cout) * dcols);
    float* out = xin.data();
    const bool conv_res = b.res == ResidualKind::kConv;
#pragma omp parallel for
    for (int c = 0; c < b.cout; ++c) {
      const float bias = b.bt[c] + (conv_res ? b.br[c] : 0.0f);
      for (int64_t k = 0; k < dcols; ++k)
        out[c * dcols + k] = std::max(0.0f, o[c * dcols + k] + bias);
    }
  }

  // Blocks l0.. of stream s, then the running average of the last block.
  void forward(size_t s, size_t l0, std::vector<int>& act, std::vector<float>& x) {
    StreamNet& net = nets[s];
    for (size_t l = l0; l < net.blocks.size() && !act.empty(); ++l) block(s, l, act, x, nullptr);
    if (act.empty()) return;
    head(s, act, x);
  }

  void head(size_t s, const std::vector<int>& act, const std::vector<float>& x) {
    StreamNet& net = nets[s];
    const int64_t cols = static_cast<int64_t>(act.size()) * V;
    for (size_t i = 0; i < act.size(); ++i) {
      const int slot = act[i];
      int64_t& h = meta[slot].head_count[s];
      float* dst = slot_ptr(slot) + net.head_off + static_cast<size_t>(h % net.t_last) * net.c_last;
      for (int c = 0; c < net.c_last; ++c) {
        const float* src = x.data() + c * cols + static_cast<int64_t>(i) * V;
        double sum = 0;
        for (int v = 0; v < V; ++v) sum += src[v];
        dst[c] = static_cast<float>(sum / V);
      }
      ++h;
    }
  }

  void compute_zero_features() {
    const int slot = nslots;  // the internal slot
    reset_slot(slot);
    std::vector<float> zero(static_cast<size_t>(C) * V, 0.0f);
    for (int t = 0; t < T; ++t) step_slots({&slot, 1}, std::vector<const float*>{zero.data()});
    flush_slot(slot);
    features_of(slot, zero_features);
  }

  void reset_slot(int slot) {
    std::memset(slot_ptr(slot), 0, sizeof(float) * slot_floats);
    SlotMeta& m = meta[slot];
    std::fill(m.n_in.begin(), m.n_in.end(), 0);
    std::fill(m.head_count.begin(), m.head_count.end(), 0);
    m.frames = 0;
    m.flushed = false;
  }

  void step_slots(std::span<const int> slots, std::span<const float* const> frames) {
    const int64_t nb = static_cast<int64_t>(slots.size()), cols = nb * V;
    Scratch& sc = tls;
    for (size_t s = 0; s < nets.size(); ++s) {
      const StreamNet& net = nets[s];
      std::vector<float>& x = sc.x;  // the input, then each block's output
      x.resize(static_cast<size_t>(C) * cols);
      for (int64_t i = 0; i < nb; ++i) {
        const float* f = frames[i];
        const float* prev = slot_ptr(slots[i]);  // previous raw frame
        const bool first = meta[slots[i]].frames == 0;
        for (int c = 0; c < C; ++c)
          for (int v = 0; v < V; ++v) {
            float val = f[c * V + v];
            if (net.motion) val = first ? 0.0f : val - prev[c * V + v];
            x[c * cols + i * V + v] = val * net.bn_scale[c * V + v] + net.bn_shift[c * V + v];
          }
      }
      std::vector<int> act(slots.begin(), slots.end());
      forward(s, 0, act, x);
    }
    for (int64_t i = 0; i < nb; ++i) {
      std::memcpy(slot_ptr(slots[i]), frames[i], sizeof(float) * C * V);
      ++meta[slots[i]].frames;
    }
  }

  // Appends each layer's right padding for every slot, block by block, all
  // slots together: block l's padded outputs flow on through the deeper
  // blocks before block l + 1 is padded.
  void flush_slots(const std::vector<int>& slots) {
    std::vector<int> todo;
    for (int slot : slots)
      if (!meta[slot].flushed) {
        meta[slot].flushed = true;
        todo.push_back(slot);
      }
    for (size_t s = 0; s < nets.size(); ++s) {
      for (size_t l = 0; l < nets[s].blocks.size(); ++l) {
        const Block& b = nets[s].blocks[l];
        std::vector<int> act;
        std::vector<int64_t> limit;
        for (int slot : todo) {
          const int64_t real = n_in(slot, s, l);
          if (real == 0) continue;
          act.push_back(slot);
          limit.push_back((real - 1) / b.stride);
        }
        if (act.empty()) break;
        for (int q = 0; q < b.pr; ++q) {
          std::vector<int> a = act;
          std::vector<float> x;
          block(s, l, a, x, &limit);
          if (!a.empty()) forward(s, l + 1, a, x);
        }
      }
    }
  }

  void flush_slot(int slot) { flush_slots({slot}); }

  bool features_of(int slot, std::vector<float>& out) const {
    size_t total = 0;
    for (const StreamNet& n : nets) total += n.c_last;
    out.assign(total, 0.0f);
    size_t off = 0;
    for (size_t s = 0; s < nets.size(); ++s) {
      const StreamNet& net = nets[s];
      const int64_t h = meta[slot].head_count[s];
      if (h == 0) return false;
      const int64_t n = std::min<int64_t>(h, net.t_last);
      const float* ring = slot_ptr(slot) + net.head_off;
      for (int c = 0; c < net.c_last; ++c) {
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += ring[i * net.c_last + c];
        out[off + c] = static_cast<float>(sum / static_cast<double>(n));
      }
      off += net.c_last;
    }
    return true;
  }
};

ContinualModel::ContinualModel() : impl_(std::make_unique<Impl>()) {}
ContinualModel::~ContinualModel() = default;

Result<std::unique_ptr<ContinualModel>> ContinualModel::create(const Model& model, int T,
                                                               int slots, int scratch) {
  const ModelSpec& spec = model.spec;
  if (T < 1) return invalid_argument(fmt::format("continual mode: T={} must be >= 1", T));
  if (slots < 1) return invalid_argument(fmt::format("continual mode: {} track slots", slots));
  if (scratch < 0 || scratch > 1024)
    return invalid_argument(fmt::format("continual mode: {} scratch slots", scratch));
  if (spec.streams.empty() || spec.streams.size() != model.streams.size())
    return invalid_argument("continual mode: the model has no streams");
  if (spec.two_stream && spec.motion != MotionMode::kFirstDifference)
    return unsupported(
        "continual mode supports the first_difference motion input only (central_difference "
        "needs the next frame)");
  std::unique_ptr<ContinualModel> cm(new ContinualModel());
  Impl& m = *cm->impl_;
  m.C = spec.C();
  m.V = spec.V();
  m.num_class = spec.num_class();
  m.T = T;
  m.nslots = slots;
  m.nscratch = scratch;
  const int V = m.V, C = m.C;
  size_t off = static_cast<size_t>(C) * V;  // previous raw frame
  for (size_t s = 0; s < spec.streams.size(); ++s) {
    const StreamSpec& ss = spec.streams[s];
    const StreamWeights& sw = model.streams[s];
    if (ss.V != V || ss.C != C || ss.blocks.size() != spec.streams.front().blocks.size())
      return invalid_argument("continual mode: the two streams differ in shape");
    const int K = ss.K;
    m.K = K;
    StreamNet net;
    net.motion = s == 1;
    std::vector<double> sc, sh;
    bn_affine(sw.data_bn, sc, sh);
    net.bn_scale.resize(static_cast<size_t>(C) * V);
    net.bn_shift.resize(static_cast<size_t>(C) * V);
    for (int c = 0; c < C; ++c)
      for (int v = 0; v < V; ++v) {
        net.bn_scale[c * V + v] = static_cast<float>(sc[v * C + c]);
        net.bn_shift[c * V + v] = static_cast<float>(sh[v * C + c]);
      }
    double rate = 1.0;
    int t = T;
    for (size_t l = 0; l < ss.blocks.size(); ++l) {
      const BlockSpec& bs = ss.blocks[l];
      const BlockWeights& bw = sw.blocks[l];
      Block b;
      b.cin = bs.in_channels;
      b.cout = bs.out_channels;
      b.stride = bs.stride;
      b.kt = ss.temporal_kernel;
      b.pl = ss.pad_left();
      b.pr = ss.pad_right();
      b.res = bs.residual;
      if (b.kt % 2 != 1)
        return unsupported(fmt::format("continual mode: temporal kernel {} is even", b.kt));
      const int co = b.cout, ci = b.cin;
      // Â = A (x importance)
      b.a.resize(static_cast<size_t>(K) * V * V);
      for (size_t i = 0; i < b.a.size(); ++i)
        b.a[i] = sw.A.data[i] * (bw.importance.data.empty() ? 1.0f : bw.importance.data[i]);
      std::vector<double> gs, gh;
      bn_affine(bw.gcn_bn, gs, gh);
      b.wg.resize(static_cast<size_t>(K) * co * ci);
      for (int k = 0; k < K; ++k)
        for (int c = 0; c < co; ++c)
          for (int i = 0; i < ci; ++i) {
            const size_t idx = (static_cast<size_t>(k) * co + c) * ci + i;
            b.wg[idx] = static_cast<float>(bw.gcn_weight.data[idx] * gs[c]);
          }
      b.b1.resize(static_cast<size_t>(co) * V);
      for (int c = 0; c < co; ++c)
        for (int w = 0; w < V; ++w) {
          double acc = 0;
          for (int k = 0; k < K; ++k) {
            double colsum = 0;
            for (int v = 0; v < V; ++v) colsum += b.a[(static_cast<size_t>(k) * V + v) * V + w];
            acc += bw.gcn_bias.data[static_cast<size_t>(k) * co + c] * colsum;
          }
          b.b1[static_cast<size_t>(c) * V + w] = static_cast<float>(acc * gs[c] + gh[c]);
        }
      std::vector<double> ts, th;
      bn_affine(bw.tcn_bn, ts, th);
      b.wt.resize(static_cast<size_t>(co) * b.kt * co);
      b.bt.resize(co);
      for (int o = 0; o < co; ++o) {
        for (int i = 0; i < co; ++i)
          for (int j = 0; j < b.kt; ++j)
            b.wt[static_cast<size_t>(o) * b.kt * co + static_cast<size_t>(j) * co + i] =
                static_cast<float>(
                    bw.tcn_weight.data[(static_cast<size_t>(o) * co + i) * b.kt + j] * ts[o]);
        b.bt[o] = static_cast<float>(bw.tcn_bias.data[o] * ts[o] + th[o]);
      }
      if (b.res == ResidualKind::kConv) {
        std::vector<double> rs, rh;
        bn_affine(bw.residual_bn, rs, rh);
        b.wr.resize(static_cast<size_t>(co) * ci);
        b.br.resize(co);
        for (int o = 0; o < co; ++o) {
          for (int i = 0; i < ci; ++i)
            b.wr[static_cast<size_t>(o) * ci + i] =
                static_cast<float>(bw.residual_weight.data[static_cast<size_t>(o) * ci + i] * rs[o]);
          b.br[o] = static_cast<float>(bw.residual_bias.data[o] * rs[o] + rh[o]);
        }
      } else if (b.res == ResidualKind::kIdentity && (ci != co || b.stride != 1)) {
        return invalid_argument(
            fmt::format("continual mode: block {} has an identity residual but {}->{} channels, "
                        "stride {}",
                        l, ci, co, b.stride));
      }
      b.tcn_off = off;
      off += static_cast<size_t>(b.kt) * co * V;
      if (b.res != ResidualKind::kNone) {
        b.res_off = off;
        off += static_cast<size_t>(b.pr + 1) * ci * V;
      }
      // MACs at this block's input rate, temporal conv at its output rate.
      m.macs += static_cast<int64_t>(
          rate * (static_cast<double>(K) * co * ci * V + static_cast<double>(K) * co * V * V) +
          rate / b.stride *
              (static_cast<double>(b.kt) * co * co * V +
               (b.res == ResidualKind::kConv ? static_cast<double>(co) * ci * V : 0.0)));
      rate /= b.stride;
      t = temporal_out(t, b.stride);
      net.blocks.push_back(std::move(b));
    }
    net.c_last = ss.blocks.back().out_channels;
    net.t_last = t;
    net.head_off = off;
    off += static_cast<size_t>(net.t_last) * net.c_last;
    net.fcn_w.assign(sw.fcn_weight.data.begin(), sw.fcn_weight.data.end());
    net.fcn_b.assign(sw.fcn_bias.data.begin(), sw.fcn_bias.data.end());
    m.nets.push_back(std::move(net));
  }
  m.slot_floats = (off + 15) / 16 * 16;
  const size_t total = m.slot_floats * static_cast<size_t>(slots + 1 + scratch);
  m.pool.reset(new (std::nothrow) float[total]);
  if (!m.pool)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("continual mode: cannot allocate {} MiB for {} track slots",
                              total * 4 >> 20, slots));
  SlotMeta proto;
  proto.n_in.assign(m.nets.size() * m.nblocks(), 0);
  proto.head_count.assign(m.nets.size(), 0);
  m.meta.assign(slots + 1 + scratch, proto);
  return cm;
}

int ContinualModel::slots() const { return impl_->nslots; }
int ContinualModel::C() const { return impl_->C; }
int ContinualModel::V() const { return impl_->V; }
int ContinualModel::num_class() const { return impl_->num_class; }
int64_t ContinualModel::state_bytes_per_slot() const {
  return static_cast<int64_t>(impl_->slot_floats) * 4;
}
int64_t ContinualModel::macs_per_step() const { return impl_->macs; }
int ContinualModel::feature_size() const {
  int n = 0;
  for (const auto& net : impl_->nets) n += net.c_last;
  return n;
}

void ContinualModel::reset(int slot) {
  STGCN_CHECK(slot >= 0 && slot < impl_->nslots);
  impl_->reset_slot(slot);
}

void ContinualModel::step(std::span<const int> slots, std::span<const float* const> frames) {
  STGCN_CHECK(slots.size() == frames.size());
  if (slots.empty()) return;
  for (int s : slots) STGCN_CHECK(s >= 0 && s < impl_->nslots && !impl_->meta[s].flushed);
  impl_->step_slots(slots, frames);
}

void ContinualModel::flush(int slot) {
  STGCN_CHECK(slot >= 0 && slot < impl_->nslots);
  impl_->flush_slot(slot);
}

bool ContinualModel::features(int slot, std::vector<float>& out) const {
  STGCN_CHECK(slot >= 0 && slot < impl_->nslots);
  return impl_->features_of(slot, out);
}

bool ContinualModel::features_lookahead(int slot, int scratch, std::vector<float>& out) {
  std::vector<std::vector<float>> f;
  std::vector<char> ok;
  features_lookahead({&slot, 1}, scratch, f, ok);
  out = std::move(f.front());
  return ok.front();
}

void ContinualModel::features_lookahead(std::span<const int> slots, int scratch_base,
                                        std::vector<std::vector<float>>& out,
                                        std::vector<char>& ok) {
  Impl& m = *impl_;
  out.assign(slots.size(), {});
  ok.assign(slots.size(), 0);
  for (size_t start = 0; start < slots.size(); start += kLookaheadChunk) {
    const size_t n = std::min(slots.size() - start, static_cast<size_t>(kLookaheadChunk));
    std::vector<int> copies;
    for (size_t i = 0; i < n; ++i) {
      const int slot = slots[start + i];
      STGCN_CHECK(slot >= 0 && slot < m.nslots);
      const int s = m.nslots + 1 + scratch_base + static_cast<int>(i);
      STGCN_CHECK(scratch_base >= 0 && scratch_base + static_cast<int>(i) < m.nscratch);
      std::memcpy(m.slot_ptr(s), m.slot_ptr(slot), sizeof(float) * m.slot_floats);
      m.meta[s] = m.meta[slot];
      copies.push_back(s);
    }
    m.flush_slots(copies);
    for (size_t i = 0; i < n; ++i) ok[start + i] = m.features_of(copies[i], out[start + i]);
  }
}

void ContinualModel::logits(std::span<const std::vector<float>* const> persons,
                            std::span<float> out) {
  Impl& m = *impl_;
  STGCN_CHECK(static_cast<int>(out.size()) == m.num_class && !persons.empty());
  for (const auto* p : persons)
    if (p == nullptr) {
      std::call_once(m.zero_once, [&m] { m.compute_zero_features(); });
      break;
    }
  std::fill(out.begin(), out.end(), 0.0f);
  size_t off = 0;
  const double inv = 1.0 / static_cast<double>(persons.size());
  for (const StreamNet& net : m.nets) {
    std::vector<double> mean(net.c_last, 0.0);
    for (const auto* p : persons) {
      const std::vector<float>& f = p ? *p : m.zero_features;
      for (int c = 0; c < net.c_last; ++c) mean[c] += f[off + c] * inv;
    }
    for (int n = 0; n < m.num_class; ++n) {
      double acc = net.fcn_b[n];
      for (int c = 0; c < net.c_last; ++c)
        acc += static_cast<double>(net.fcn_w[static_cast<size_t>(n) * net.c_last + c]) * mean[c];
      out[n] += static_cast<float>(acc);
    }
    off += net.c_last;
  }
}

}  // namespace stgcn::oracle
