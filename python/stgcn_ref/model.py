"""PyTorch reference ST-GCN models (single and two stream) for the stgcn-rt test oracle.

The ``state_dict()`` keys are exactly those of the common PyTorch ST-GCN code (see the project
reference page ``STGCN_REFERENCE.md``)::

    A, data_bn.*, st_gcn_networks.{i}.gcn.conv.*, st_gcn_networks.{i}.tcn.{0,2,3}.*,
    st_gcn_networks.{i}.residual.{0,1}.* (non-identity residuals only),
    edge_importance.{i} (only when edge importance weighting is on), fcn.*

Two-stream models prefix those with ``origin_stream.`` / ``motion_stream.``.

Differences from upstream that do not change results or keys: the residual "none" / "identity"
cases are recorded as a string attribute instead of lambdas (so ``torch.save(model)`` pickles),
the head uses a global mean instead of ``avg_pool2d`` with a traced kernel, and block widths and
strides are configurable.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

SEED_WIDTHS = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)
SEED_STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)
TEMPORAL_KERNEL = 9
MOTION_MODES = ("first_difference", "central_difference")
# How a temporal conv pads time: "centre" ((kt-1)/2 both sides, the upstream ST-GCN) or "causal"
# (kt-1 on the left, none on the right: output t sees inputs t-kt+1 .. t only, which streams
# without delay; see docs/runtime.md).
TEMPORAL_PADDINGS = ("centre", "causal")


class ReLUPadLeft(nn.Module):
    """``tcn.1`` of a causal block: ReLU, then ``pad`` zero frames before the first (no
    parameters, so the state-dict keys stay those of the centre-padded block)."""

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(torch.relu(x), (0, 0, self.pad, 0))


class ConvTemporalGraphical(nn.Module):
    """1x1 conv to ``K*C_out`` channels (k-major) followed by graph aggregation with ``A``."""

    def __init__(self, in_channels: int, out_channels: int, K: int):
        super().__init__()
        self.K = K
        self.conv = nn.Conv2d(in_channels, out_channels * K, kernel_size=(1, 1), bias=True)

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        n, kc, t, v = x.size()
        x = x.view(n, self.K, kc // self.K, t, v)
        # z[n,c,t,w] = sum_k sum_v y[n,k,c,t,v] * A[k,v,w]
        mode = getattr(self, "aggregation", "einsum")
        if mode == "matmul":  # one GEMM: (n, c, t, K*V) @ (K*V, V)
            K, c = self.K, kc // self.K
            y = x.permute(0, 2, 3, 1, 4).reshape(n, c, t, K * v)
            return torch.matmul(y, A.reshape(K * v, v))
        if mode == "matmul_k":  # K batched GEMMs, then a sum over k
            y = x.reshape(n, self.K, (kc // self.K) * t, v)
            return torch.matmul(y, A).sum(dim=1).view(n, kc // self.K, t, v)
        return torch.einsum("nkctv,kvw->nctw", x, A).contiguous()


class STGCNBlock(nn.Module):
    """One spatial-temporal block: gcn -> BN -> ReLU -> conv(9x1, stride s) -> BN -> Dropout,
    plus residual, then ReLU.

    ``residual_mode`` is ``"none"`` (block 0), ``"identity"`` (C_in == C_out and stride 1) or
    ``"conv"`` (``residual`` = Sequential(Conv2d 1x1 stride (s,1), BN)).
    """

    def __init__(self, in_channels: int, out_channels: int, K: int, stride: int = 1,
                 dropout: float = 0.0, residual: bool = True, temporal_padding: str = "centre"):
        super().__init__()
        if temporal_padding not in TEMPORAL_PADDINGS:
            raise ValueError(f"unknown temporal padding {temporal_padding!r}; "
                             f"known: {TEMPORAL_PADDINGS}")
        causal = temporal_padding == "causal"
        pad = 0 if causal else (TEMPORAL_KERNEL - 1) // 2
        self.gcn = ConvTemporalGraphical(in_channels, out_channels, K)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            ReLUPadLeft(TEMPORAL_KERNEL - 1) if causal else nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (TEMPORAL_KERNEL, 1), (stride, 1), (pad, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout, inplace=True),
        )
        if not residual:
            self.residual_mode = "none"
        elif in_channels == out_channels and stride == 1:
            self.residual_mode = "identity"
        else:
            self.residual_mode = "conv"
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)),
                nn.BatchNorm2d(out_channels),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        if self.residual_mode == "none":
            res = None
        elif self.residual_mode == "identity":
            res = x
        else:
            res = self.residual(x)
        y = self.tcn(self.gcn(x, A))
        if res is not None:
            y = y + res
        return self.relu(y)


class STGCN(nn.Module):
    """Single-stream ST-GCN (``st_gcn.Model``).

    Args:
        in_channels: C of the input (N, C, T, V, M).
        num_class: number of logits.
        A: graph partition (K, V, V) (numpy or tensor); registered as float32 buffer ``A``.
        edge_importance: learnable (K, V, V) multipliers per block; when False there is no
            ``edge_importance`` entry at all (neither attribute nor state-dict key).
        widths / strides: per-block output channels and temporal strides (10 blocks by default,
            any length >= 1 accepted).
        dropout: dropout probability in blocks 1.. (identity in eval mode).
        temporal_padding: ``centre`` (upstream) or ``causal`` (see ``TEMPORAL_PADDINGS``).
    """

    def __init__(self, in_channels: int, num_class: int, A, edge_importance: bool = True,
                 widths: Sequence[int] = SEED_WIDTHS, strides: Sequence[int] = SEED_STRIDES,
                 dropout: float = 0.5, temporal_padding: str = "centre"):
        super().__init__()
        widths = [int(w) for w in widths]
        strides = [int(s) for s in strides]
        if len(widths) != len(strides) or not widths:
            raise ValueError("widths and strides must be non-empty and of equal length")
        A_t = torch.as_tensor(np.asarray(A), dtype=torch.float32).clone()
        if A_t.dim() != 3 or A_t.size(1) != A_t.size(2):
            raise ValueError(f"A must be (K, V, V), got {tuple(A_t.shape)}")
        self.register_buffer("A", A_t)
        K, V = A_t.size(0), A_t.size(1)
        self.in_channels = in_channels
        self.num_class = num_class
        self.widths = widths
        self.strides = strides
        self.temporal_padding = temporal_padding
        self.data_bn = nn.BatchNorm1d(in_channels * V)
        blocks = []
        c_in = in_channels
        for i, (w, s) in enumerate(zip(widths, strides)):
            blocks.append(STGCNBlock(c_in, w, K, s, dropout=0.0 if i == 0 else dropout,
                                     residual=(i != 0), temporal_padding=temporal_padding))
            c_in = w
        self.st_gcn_networks = nn.ModuleList(blocks)
        self.use_edge_importance = bool(edge_importance)
        if self.use_edge_importance:
            self.edge_importance = nn.ParameterList(
                [nn.Parameter(torch.ones(A_t.size())) for _ in blocks])
        self.fcn = nn.Conv2d(c_in, num_class, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, T, V, M = x.size()
        # data_bn over joint-major channels v*C + c, per person.
        x = x.permute(0, 4, 3, 1, 2).contiguous()          # N, M, V, C, T
        x = x.view(N * M, V * C, T)
        x = self.data_bn(x)
        x = x.view(N, M, V, C, T)
        x = x.permute(0, 1, 3, 4, 2).contiguous()          # N, M, C, T, V
        x = x.view(N * M, C, T, V)
        for i, block in enumerate(self.st_gcn_networks):
            A = self.A * self.edge_importance[i] if self.use_edge_importance else self.A
            x = block(x, A)
        # Head: global average over (T, V), mean over persons, 1x1 conv.
        pool = getattr(self, "pool", "mean")
        if pool == "avg_pool2d":  # AveragePool with the (constant) full kernel
            x = nn.functional.avg_pool2d(x, (int(x.size(2)), int(x.size(3)))).flatten(1)
        elif pool == "adaptive":  # GlobalAveragePool
            x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        else:
            x = x.mean(dim=(2, 3))                          # N*M, C
        x = x.view(N, M, -1).mean(dim=1)                    # N, C
        x = self.fcn(x.view(N, -1, 1, 1))
        return x.view(N, -1)


def motion_of(x: torch.Tensor, motion: str) -> torch.Tensor:
    """Motion input computed on the raw input (all channels), along T (dim 2).

    ``first_difference``: m[t] = x[t] - x[t-1], m[0] = 0.
    ``central_difference``: m[t] = x[t] - 0.5*x[t+1] - 0.5*x[t-1] for 1 <= t <= T-2, m[0] =
    m[T-1] = 0 (evaluated left to right, as upstream).
    """
    N, C, T, V, M = x.size()
    zero = x.new_zeros((N, C, 1, V, M))
    if motion == "first_difference":
        if T < 2:
            return torch.zeros_like(x)
        return torch.cat((zero, x[:, :, 1:] - x[:, :, :-1]), 2)
    if motion == "central_difference":
        if T < 3:
            return torch.zeros_like(x)
        mid = x[:, :, 1:-1] - 0.5 * x[:, :, 2:] - 0.5 * x[:, :, :-2]
        return torch.cat((zero, mid, zero), 2)
    raise ValueError(f"unknown motion mode {motion!r}; known: {MOTION_MODES}")


class TwoStreamSTGCN(nn.Module):
    """Two-stream ST-GCN: ``origin_stream(x) + motion_stream(motion(x))`` (logits summed).

    Both streams are independent :class:`STGCN` copies built from the same arguments. ``motion``
    is a build option (not stored in a checkpoint's state dict).
    """

    def __init__(self, in_channels: int, num_class: int, A, edge_importance: bool = True,
                 widths: Sequence[int] = SEED_WIDTHS, strides: Sequence[int] = SEED_STRIDES,
                 dropout: float = 0.5, motion: str = "first_difference",
                 temporal_padding: str = "centre"):
        super().__init__()
        if motion not in MOTION_MODES:
            raise ValueError(f"unknown motion mode {motion!r}; known: {MOTION_MODES}")
        self.motion = motion
        self.origin_stream = STGCN(in_channels, num_class, A, edge_importance, widths, strides,
                                   dropout, temporal_padding)
        self.motion_stream = STGCN(in_channels, num_class, A, edge_importance, widths, strides,
                                   dropout, temporal_padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.origin_stream(x) + self.motion_stream(motion_of(x, self.motion))


def build_model(in_channels: int, num_class: int, A, edge_importance: bool = True,
                widths: Sequence[int] = SEED_WIDTHS, strides: Sequence[int] = SEED_STRIDES,
                two_stream: bool = False, motion: Optional[str] = "first_difference",
                dropout: float = 0.5, temporal_padding: str = "centre") -> nn.Module:
    """Convenience constructor for either model kind."""
    if two_stream:
        return TwoStreamSTGCN(in_channels, num_class, A, edge_importance, widths, strides,
                              dropout, motion or "first_difference", temporal_padding)
    return STGCN(in_channels, num_class, A, edge_importance, widths, strides, dropout,
                 temporal_padding)


AGGREGATIONS = ("einsum", "matmul", "matmul_k")
POOLS = ("mean", "avg_pool2d", "adaptive")


def set_export_variant(model: nn.Module, aggregation: str = "einsum", pool: str = "mean") -> None:
    """Switch how a built model computes the graph aggregation and the head's pooling (for ONNX
    export variants; same weights, same state dict, same results up to float rounding).

    ``aggregation``: ``einsum`` (default, what upstream does), ``matmul`` (one GEMM with A
    reshaped to (K*V, V)) or ``matmul_k`` (K batched GEMMs with A (K, V, V), then a sum over k).
    ``pool``: ``mean`` (default, ReduceMean), ``avg_pool2d`` (AveragePool with the full (T, V)
    kernel) or ``adaptive`` (GlobalAveragePool).
    """
    if aggregation not in AGGREGATIONS or pool not in POOLS:
        raise ValueError(f"unknown variant {aggregation!r} / {pool!r}")
    for mod in model.modules():
        if isinstance(mod, ConvTemporalGraphical):
            mod.aggregation = aggregation
        if isinstance(mod, STGCN):
            mod.pool = pool


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameter elements (buffers such as A excluded)."""
    return sum(p.numel() for p in model.parameters())
