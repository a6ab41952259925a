// Reference executor. Activations of one person are (channels, T, V),
// row-major; persons are processed one at a time.
#include "stgcn/reference.h"

#include <algorithm>
#include <cmath>

namespace stgcn {
namespace {

struct Act {
  int C = 0, T = 0, V = 0;
  std::vector<float> d;
  Act() = default;
  Act(int c, int t, int v) : C(c), T(t), V(v), d(static_cast<size_t>(c) * t * v, 0.0f) {}
  float* ch(int c) { return d.data() + static_cast<size_t>(c) * T * V; }
  const float* ch(int c) const { return d.data() + static_cast<size_t>(c) * T * V; }
};

// out[o][t'][v] = bias[o] + sum_i W[o][i] * x[i][t'*stride][v]
Act conv1x1(const Act& x, const Tensor& w, const Tensor& bias, int stride) {
  const int cout = static_cast<int>(w.shape[0]);
  const int t_out = temporal_out(x.T, stride);
  Act y(cout, t_out, x.V);
  for (int o = 0; o < cout; ++o) {
    float* yo = y.ch(o);
    std::fill(yo, yo + t_out * x.V, bias.data[o]);
    for (int i = 0; i < x.C; ++i) {
      const float wi = w.data[static_cast<size_t>(o) * x.C + i];
      const float* xi = x.ch(i);
      for (int t = 0; t < t_out; ++t)
        for (int v = 0; v < x.V; ++v) yo[t * x.V + v] += wi * xi[t * stride * x.V + v];
    }
  }
  return y;
}

void batch_norm(Act& x, const BatchNorm& bn) {
  for (int c = 0; c < x.C; ++c) {
    const float scale = bn.weight[c] / std::sqrt(bn.var[c] + BatchNorm::kEps);
    const float shift = bn.bias[c] - bn.mean[c] * scale;
    float* xc = x.ch(c);
    for (int p = 0; p < x.T * x.V; ++p) xc[p] = xc[p] * scale + shift;
  }
}

void relu(Act& x) {
  for (float& v : x.d) v = std::max(v, 0.0f);
}

// z[c][t][w] = sum_k sum_v y[k*C + c][t][v] * A[k][v][w]
Act aggregate(const Act& y, const std::vector<float>& a_hat, int K) {
  const int C = y.C / K, V = y.V;
  Act z(C, y.T, V);
  for (int c = 0; c < C; ++c) {
    float* zc = z.ch(c);
    for (int k = 0; k < K; ++k) {
      const float* yk = y.ch(k * C + c);
      const float* ak = a_hat.data() + static_cast<size_t>(k) * V * V;
      for (int t = 0; t < y.T; ++t)
        for (int v = 0; v < V; ++v) {
          const float yv = yk[t * V + v];
          for (int w = 0; w < V; ++w) zc[t * V + w] += yv * ak[v * V + w];
        }
    }
  }
  return z;
}

// Temporal conv, kernel kt along T with dilation d, `pad` zero frames on the left
// ((kt-1)*d-pad on the right), stride s.
Act temporal_conv(const Act& x, const Tensor& w, const Tensor& bias, int stride, int pad,
                  int dilation = 1) {
  const int cout = static_cast<int>(w.shape[0]), kt = static_cast<int>(w.shape[2]);
  const int t_out = temporal_out(x.T, stride);
  Act y(cout, t_out, x.V);
  for (int o = 0; o < cout; ++o) {
    float* yo = y.ch(o);
    std::fill(yo, yo + t_out * x.V, bias.data[o]);
    for (int i = 0; i < x.C; ++i) {
      const float* xi = x.ch(i);
      for (int j = 0; j < kt; ++j) {
        const float wj = w.data[(static_cast<size_t>(o) * x.C + i) * kt + j];
        for (int t = 0; t < t_out; ++t) {
          const int ts = t * stride + j * dilation - pad;
          if (ts < 0 || ts >= x.T) continue;
          for (int v = 0; v < x.V; ++v) yo[t * x.V + v] += wj * xi[ts * x.V + v];
        }
      }
    }
  }
  return y;
}

// Max over a 3-frame window (dilation 1) with `pad` frames of -inf on the left, stride s.
Act temporal_max_pool(const Act& x, int stride, int pad) {
  const int t_out = temporal_out(x.T, stride);
  Act y(x.C, t_out, x.V);
  for (int c = 0; c < x.C; ++c)
    for (int t = 0; t < t_out; ++t)
      for (int v = 0; v < x.V; ++v) {
        float m = -INFINITY;
        for (int j = 0; j < 3; ++j) {
          const int ts = t * stride + j - pad;
          if (ts >= 0 && ts < x.T) m = std::max(m, x.ch(c)[ts * x.V + v]);
        }
        y.ch(c)[t * x.V + v] = m;
      }
  return y;
}

// mstcn: six branches on z, concatenated, then transform (BN, ReLU, 1x1 conv) and tcn_bn.
Act multi_scale(const Act& z, const BlockSpec& spec, const BlockWeights& w, bool causal) {
  std::vector<Act> outs;
  int total = 0;
  for (int b = 0; b < kMultiScaleBranches; ++b) {
    const MultiScaleBranch& br = w.branches[b];
    Act y;
    if (b == kMultiScalePointBranch) {
      y = conv1x1(z, br.weight, br.bias, spec.stride);
    } else {
      y = conv1x1(z, br.pre_weight, br.pre_bias, 1);
      batch_norm(y, br.pre_bn);
      relu(y);
      if (b < kMultiScaleDilatedBranches) {
        const int d = b + 1;
        y = temporal_conv(y, br.weight, br.bias, spec.stride, causal ? 2 * d : d, d);
      } else {
        y = temporal_max_pool(y, spec.stride, causal ? 2 : 1);
      }
    }
    total += y.C;
    outs.push_back(std::move(y));
  }
  Act cat(total, outs[0].T, outs[0].V);
  size_t at = 0;
  for (const Act& y : outs) {
    std::copy(y.d.begin(), y.d.end(), cat.d.begin() + static_cast<std::ptrdiff_t>(at));
    at += y.d.size();
  }
  batch_norm(cat, w.transform_bn);
  relu(cat);
  Act out = conv1x1(cat, w.transform_weight, w.transform_bias, 1);
  batch_norm(out, w.tcn_bn);
  return out;
}

Act block_forward(const Act& x, const BlockSpec& spec, const BlockWeights& w, const Tensor& A,
                  int K, int pad, bool causal) {
  std::vector<float> a_hat = w.A.data.empty() ? A.data : w.A.data;
  if (!w.importance.data.empty())
    for (size_t i = 0; i < a_hat.size(); ++i) a_hat[i] *= w.importance.data[i];

  Act z = aggregate(conv1x1(x, w.gcn_weight, w.gcn_bias, 1), a_hat, K);
  batch_norm(z, w.gcn_bn);
  if (spec.gcn_residual == ResidualKind::kIdentity) {
    for (size_t p = 0; p < z.d.size(); ++p) z.d[p] += x.d[p];
  } else if (spec.gcn_residual == ResidualKind::kConv) {
    Act r = conv1x1(x, w.gcn_down_weight, w.gcn_down_bias, 1);
    batch_norm(r, w.gcn_down_bn);
    for (size_t p = 0; p < z.d.size(); ++p) z.d[p] += r.d[p];
  }
  relu(z);
  Act out;
  if (spec.temporal == TemporalUnit::kMultiScale) {
    out = multi_scale(z, spec, w, causal);
  } else {
    out = temporal_conv(z, w.tcn_weight, w.tcn_bias, spec.stride, pad);
    batch_norm(out, w.tcn_bn);
  }
  switch (spec.residual) {
    case ResidualKind::kNone: break;
    case ResidualKind::kIdentity:
      for (size_t p = 0; p < out.d.size(); ++p) out.d[p] += x.d[p];
      break;
    case ResidualKind::kConv: {
      Act r = conv1x1(x, w.residual_weight, w.residual_bias, spec.stride);
      batch_norm(r, w.residual_bn);
      for (size_t p = 0; p < out.d.size(); ++p) out.d[p] += r.d[p];
      break;
    }
  }
  relu(out);
  return out;
}

// Logits (N, num_class) of one stream.
Tensor stream_forward(const StreamSpec& spec, const StreamWeights& w, const Tensor& x) {
  const int N = static_cast<int>(x.shape[0]), C = static_cast<int>(x.shape[1]),
            T = static_cast<int>(x.shape[2]), V = static_cast<int>(x.shape[3]),
            M = static_cast<int>(x.shape[4]);
  const int c_last = spec.blocks.back().out_channels;
  Tensor logits({N, spec.num_class});
  for (int n = 0; n < N; ++n) {
    std::vector<double> pooled(c_last, 0.0);  // mean over T, V and persons
    for (int m = 0; m < M; ++m) {
      Act a(C, T, V);
      for (int c = 0; c < C; ++c)
        for (int t = 0; t < T; ++t)
          for (int v = 0; v < V; ++v) {
            const size_t src = ((((static_cast<size_t>(n) * C + c) * T + t) * V + v) * M + m);
            // data_bn is joint-major; MVC adds the person: (m * V + v) * C + c.
            const int ch = ((spec.data_bn_persons > 1 ? m : 0) * V + v) * C + c;
            const float scale =
                w.data_bn.weight[ch] / std::sqrt(w.data_bn.var[ch] + BatchNorm::kEps);
            a.ch(c)[t * V + v] = (x.data[src] - w.data_bn.mean[ch]) * scale + w.data_bn.bias[ch];
          }
      for (size_t b = 0; b < spec.blocks.size(); ++b)
        a = block_forward(a, spec.blocks[b], w.blocks[b], w.A, spec.K, spec.pad_left(),
                          spec.temporal_padding == TemporalPadding::kCausal);
      for (int c = 0; c < c_last; ++c) {
        double s = 0;
        for (int p = 0; p < a.T * a.V; ++p) s += a.ch(c)[p];
        pooled[c] += s / (static_cast<double>(a.T) * a.V) / M;
      }
    }
    for (int k = 0; k < spec.num_class; ++k) {
      double s = w.fcn_bias.data[k];
      for (int c = 0; c < c_last; ++c)
        s += w.fcn_weight.data[static_cast<size_t>(k) * c_last + c] * pooled[c];
      logits.data[static_cast<size_t>(n) * spec.num_class + k] = static_cast<float>(s);
    }
  }
  return logits;
}

}  // namespace

Status check_model_input(const ModelSpec& spec, const Tensor& input, const std::string& source) {
  if (input.rank() != 5)
    return invalid_argument("input '" + source + "' has shape " + shape_string(input.shape) +
                            "; expected rank 5 (N, C, T, V, M)");
  const auto& s = input.shape;
  if (s[1] != spec.C() || s[3] != spec.V())
    return invalid_argument("input '" + source + "' has shape " + shape_string(s) +
                            "; the model expects C=" + std::to_string(spec.C()) +
                            " and V=" + std::to_string(spec.V()) + " in (N, C, T, V, M)");
  if (spec.fixed_persons() > 0 && s[4] != spec.fixed_persons())
    return invalid_argument("input '" + source + "' has shape " + shape_string(s) + "; the model " +
                            "normalises per person (data_bn 'MVC') and needs M=" +
                            std::to_string(spec.fixed_persons()));
  for (int i : {0, 2, 4})
    if (s[i] < 1)
      return invalid_argument("input '" + source + "' has shape " + shape_string(s) +
                              "; N, T and M must be at least 1");
  return check_finite_input(input.data, s[1], s[2], s[3], s[4], source);
}

Tensor motion_input(const Tensor& x, MotionMode mode) {
  const int64_t N = x.shape[0], C = x.shape[1], T = x.shape[2], VM = x.shape[3] * x.shape[4];
  Tensor m(x.shape);
  auto at = [&](int64_t n, int64_t c, int64_t t) { return ((n * C + c) * T + t) * VM; };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < T; ++t) {
        float* out = &m.data[at(n, c, t)];
        const float* cur = &x.data[at(n, c, t)];
        if (mode == MotionMode::kFirstDifference) {
          if (t == 0) continue;  // m[0] = 0
          const float* prev = &x.data[at(n, c, t - 1)];
          for (int64_t p = 0; p < VM; ++p) out[p] = cur[p] - prev[p];
        } else {
          if (t == 0 || t == T - 1) continue;  // m[0] = m[T-1] = 0
          const float* prev = &x.data[at(n, c, t - 1)];
          const float* next = &x.data[at(n, c, t + 1)];
          for (int64_t p = 0; p < VM; ++p) out[p] = cur[p] - 0.5f * next[p] - 0.5f * prev[p];
        }
      }
  return m;
}

Result<Tensor> run_reference(const Model& model, const Tensor& input) {
  STGCN_RETURN_IF_ERROR(check_model_input(model.spec, input, "input"));
  Tensor logits = stream_forward(model.spec.streams[0], model.streams[0], input);
  if (model.spec.two_stream) {
    Tensor motion = motion_input(input, model.spec.motion);
    Tensor m = stream_forward(model.spec.streams[1], model.streams[1], motion);
    for (size_t i = 0; i < logits.data.size(); ++i) logits.data[i] += m.data[i];
  }
  return logits;
}

}  // namespace stgcn
