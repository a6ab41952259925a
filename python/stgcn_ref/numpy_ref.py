"""Independent float64 NumPy forward pass straight from a state dict (cross-check oracle).

Written from the reference page's formulas (not from the PyTorch module code), so that the
PyTorch model in :mod:`stgcn_ref.model` is checked against a second implementation:

* data_bn over joint-major channels ``v*C + c``;
* gcn 1x1 conv to ``K*C_out`` channels, k-major; aggregation ``z = sum_k y_k @ (A_k * imp_k)``;
* BN -> ReLU -> 9x1 temporal conv (stride s, zero pad 4) -> BN; residual; ReLU;
* head: mean over (T, V), mean over persons, 1x1 fcn.

Block count and widths come from the state dict's shapes; temporal strides cannot be recovered
from a state dict and must be given.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

EPS = 1e-5


def _bn(x: np.ndarray, sd: Dict[str, np.ndarray], p: str, axis: int) -> np.ndarray:
    shape = [1] * x.ndim
    shape[axis] = -1
    scale = sd[p + ".weight"] / np.sqrt(sd[p + ".running_var"] + EPS)
    shift = sd[p + ".bias"] - sd[p + ".running_mean"] * scale
    return x * scale.reshape(shape) + shift.reshape(shape)


def _conv1x1(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1) -> np.ndarray:
    """x (B, Cin, T, V) -> (B, Cout, ceil(T/stride), V); w (Cout, Cin, 1, 1)."""
    x = x[:, :, ::stride]
    return _mix(w[:, :, 0, 0], x) + b.reshape(1, -1, 1, 1)


def _mix(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """out[b, o, t, v] = sum_i w[o, i] x[b, i, t, v] (BLAS matmul)."""
    B, Cin, T, V = x.shape
    return np.matmul(w, np.ascontiguousarray(x).reshape(B, Cin, T * V)).reshape(B, -1, T, V)


def _tconv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """Temporal conv, kernel (Kt, 1), zero padding (Kt-1)/2 on both sides, stride s."""
    B, Cin, T, V = x.shape
    kt = w.shape[2]
    pad = (kt - 1) // 2
    xp = np.zeros((B, Cin, T + 2 * pad, V))
    xp[:, :, pad:pad + T] = x
    T_out = (T + 2 * pad - kt) // stride + 1
    out = np.zeros((B, w.shape[0], T_out, V))
    for dt in range(kt):
        xs = xp[:, :, dt:dt + stride * (T_out - 1) + 1:stride]
        out += _mix(w[:, :, dt, 0], xs)
    return out + b.reshape(1, -1, 1, 1)


def stream_forward(sd: Dict[str, np.ndarray], x: np.ndarray, strides: Sequence[int],
                   prefix: str = "") -> np.ndarray:
    """One ST-GCN stream. ``sd``: name -> float64 array; ``x``: (N, C, T, V, M)."""
    g = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    N, C, T, V, M = x.shape
    A = g["A"]
    K = A.shape[0]
    # data_bn, joint-major channel v*C + c, per person.
    h = x.transpose(0, 4, 3, 1, 2).reshape(N * M, V * C, T)
    h = _bn(h, g, "data_bn", 1)
    h = h.reshape(N * M, V, C, T).transpose(0, 2, 3, 1)       # (N*M, C, T, V)
    nblocks = 1 + max(int(k.split(".")[1]) for k in g if k.startswith("st_gcn_networks."))
    assert len(strides) == nblocks
    for i in range(nblocks):
        p = f"st_gcn_networks.{i}."
        s = int(strides[i])
        Ahat = A * g[f"edge_importance.{i}"] if f"edge_importance.{i}" in g else A
        w = g[p + "gcn.conv.weight"]
        cout = w.shape[0] // K
        y = _conv1x1(h, w, g[p + "gcn.conv.bias"])             # (B, K*cout, T, V), k-major
        y = y.reshape(y.shape[0], K, cout, y.shape[2], V)
        Bn, _, _, Tn, _ = y.shape
        z = np.matmul(y.reshape(Bn, K, cout * Tn, V), Ahat[None]).sum(axis=1)
        z = z.reshape(Bn, cout, Tn, V)                         # sum_k sum_v y[k,v] A[k,v,w]
        z = np.maximum(_bn(z, g, p + "tcn.0", 1), 0.0)
        z = _tconv(z, g[p + "tcn.2.weight"], g[p + "tcn.2.bias"], s)
        z = _bn(z, g, p + "tcn.3", 1)
        if p + "residual.0.weight" in g:
            res = _bn(_conv1x1(h, g[p + "residual.0.weight"], g[p + "residual.0.bias"], s),
                      g, p + "residual.1", 1)
        elif i == 0:
            res = 0.0
        else:
            res = h
        h = np.maximum(z + res, 0.0)
    feat = h.mean(axis=(2, 3)).reshape(N, M, -1).mean(axis=1)   # (N, C_last)
    return feat @ g["fcn.weight"][:, :, 0, 0].T + g["fcn.bias"]


def motion(x: np.ndarray, mode: str) -> np.ndarray:
    """first_difference / central_difference along T (axis 2), boundaries zero."""
    m = np.zeros_like(x)
    if mode == "first_difference":
        m[:, :, 1:] = x[:, :, 1:] - x[:, :, :-1]
    elif mode == "central_difference":
        m[:, :, 1:-1] = x[:, :, 1:-1] - 0.5 * x[:, :, 2:] - 0.5 * x[:, :, :-2]
    else:
        raise ValueError(mode)
    return m


def forward(sd: Dict[str, np.ndarray], x: np.ndarray, strides: Sequence[int],
            two_stream: bool, motion_mode: Optional[str] = None) -> np.ndarray:
    """Logits (N, num_class) float64 of a (single or two-stream) state dict."""
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()
          if not k.endswith("num_batches_tracked")}
    x = np.asarray(x, dtype=np.float64)
    if not two_stream:
        return stream_forward(sd, x, strides)
    return (stream_forward(sd, x, strides, "origin_stream.")
            + stream_forward(sd, motion(x, motion_mode), strides, "motion_stream."))
