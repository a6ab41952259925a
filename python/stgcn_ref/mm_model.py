"""PyTorch reference of mmaction2 1.x / pyskl ST-GCN and ST-GCN++ (``STGCN`` backbone +
``GCNHead``), our own code, for the stgcn-rt fixtures.

``MMSTGCN(cfg).state_dict()`` has exactly the keys (and key order) of an mmaction2 1.x
``RecognizerGCN``::

    backbone.data_bn.*                                   (absent when data_bn_type is None)
    backbone.gcn.{i}.gcn.{PA, A, bn.*, conv.*, down.0.*, down.1.*}
    backbone.gcn.{i}.tcn.{conv, bn}.*                    (unit_tcn)
    backbone.gcn.{i}.tcn.branches.{0..3}.{0, 1, 3.conv}.*, branches.4.{0, 1}.*,
        branches.5.*, transform.{0, 2}.*, bn.*           (mstcn)
    backbone.gcn.{i}.residual.{conv, bn}.*               (conv residuals only)
    cls_head.fc.*  (mmaction2)  |  cls_head.fc_cls.*  (pyskl)

Maths (see ``/work/shared/design/MODEL_FAMILIES.md``; checked against the public mmaction2
source): input (N, M, T, V, C); data_bn over v*C + c ('VC') or m*V*C + v*C + c ('MVC');
blocks ``relu(tcn(gcn(x)) + residual(x))``; head: mean over (T, V) per person, mean over M,
Linear.

Block plan (mmaction2 ``STGCN.__init__``): block 0 = (in_channels -> base_channels, stride 1,
no residual) only when ``in_channels != base_channels`` (otherwise it is dropped and the
network has num_stages - 1 blocks); then for stage i = 2..num_stages: stride 2 if i in
down_stages, width multiplied by ch_ratio (``int(base * ratio**k + 1e-4)``) if i in
inflate_stages, residual identity if same width and stride 1 else ``unit_tcn`` kernel 1.

Our extra option ``temporal_padding='causal'``: every temporal conv pads ``(k-1)*dilation``
frames on the left only and the mstcn max-pool pads 2 frames of -inf on the left only, strides
unchanged, so T_out = (T - 1) // s + 1 in both modes and output frame t' of a layer of stride s
sees input frames <= s*t' only. The state-dict keys do not change.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .mm_graph import mm_graph

EPS = 1e-4
ADAPTIVE = ("importance", "offset", "init", None)
TEMPORAL_PADDINGS = ("centre", "causal")
MS_CFG = ((3, 1), (3, 2), (3, 3), (3, 4), ("max", 3), "1x1")


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class MMConfig:
    layout: str = "coco"
    mode: str = "spatial"
    in_channels: int = 3
    base_channels: int = 64
    ch_ratio: float = 2
    num_stages: int = 10
    inflate_stages: Tuple[int, ...] = (5, 8)
    down_stages: Tuple[int, ...] = (5, 8)
    data_bn_type: Optional[str] = "VC"      # 'VC' | 'MVC' | None
    num_person: int = 2                      # only for 'MVC'
    gcn_adaptive: Optional[str] = "importance"
    gcn_with_res: bool = False
    tcn_type: str = "unit_tcn"               # 'unit_tcn' | 'mstcn'
    num_classes: int = 60
    head: str = "fc"                         # 'fc' (mmaction2) | 'fc_cls' (pyskl)
    temporal_padding: str = "centre"

    @staticmethod
    def stgcn(**kw) -> "MMConfig":
        base = dict(gcn_adaptive="importance", gcn_with_res=False, tcn_type="unit_tcn",
                    mode="stgcn_spatial")
        base.update(kw)
        return MMConfig(**base)

    @staticmethod
    def stgcnpp(**kw) -> "MMConfig":
        base = dict(gcn_adaptive="init", gcn_with_res=True, tcn_type="mstcn", mode="spatial")
        base.update(kw)
        return MMConfig(**base)


def stage_plan(in_channels: int, base_channels: int, ch_ratio: float, num_stages: int,
               inflate_stages: Sequence[int], down_stages: Sequence[int]):
    """[(c_in, c_out, stride, residual)] per block, exactly as mmaction2 builds them."""
    blocks = []
    if in_channels != base_channels:
        blocks.append((in_channels, base_channels, 1, False))
    base0 = base_channels
    cur = base_channels
    inflate_times = 0
    for i in range(2, num_stages + 1):
        stride = 1 + (i in down_stages)
        c_in = cur
        if i in inflate_stages:
            inflate_times += 1
        c_out = int(base0 * ch_ratio ** inflate_times + EPS)
        cur = c_out
        blocks.append((c_in, c_out, stride, True))
    return blocks


def mstcn_channels(out_channels: int, num_branches: int = len(MS_CFG)) -> List[int]:
    """Per-branch widths: branch 0 gets the remainder ``C - (nb-1)*(C//nb)``, others C//nb."""
    mid = out_channels // num_branches
    rem = out_channels - mid * (num_branches - 1)
    return [rem] + [mid] * (num_branches - 1)


# --------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------


class UnitTCN(nn.Module):
    """``unit_tcn``: conv (k x 1, stride, dilation) + BN (or none) + dropout (eval: identity)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 9,
                 stride: int = 1, dilation: int = 1, norm: bool = True, causal: bool = False):
        super().__init__()
        span = (kernel_size - 1) * dilation
        self.left_pad = span if causal else 0
        pad = 0 if causal else (kernel_size + (kernel_size - 1) * (dilation - 1) - 1) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=(kernel_size, 1),
                              padding=(pad, 0), stride=(stride, 1), dilation=(dilation, 1))
        self.bn = nn.BatchNorm2d(out_channels) if norm else nn.Identity()
        self.drop = nn.Dropout(0.0)

    def forward(self, x):
        if self.left_pad:
            x = F.pad(x, (0, 0, self.left_pad, 0))
        return self.drop(self.bn(self.conv(x)))


class TemporalMaxPool(nn.Module):
    """MaxPool 3x1 over time, stride s; padding 1 frame of -inf each side ('centre') or 2
    frames of -inf on the left ('causal')."""

    def __init__(self, kernel: int, stride: int, causal: bool):
        super().__init__()
        self.kernel, self.stride, self.causal = kernel, stride, causal

    def forward(self, x):
        if self.causal:
            x = F.pad(x, (0, 0, self.kernel - 1, 0), value=float("-inf"))
            return F.max_pool2d(x, (self.kernel, 1), (self.stride, 1))
        return F.max_pool2d(x, (self.kernel, 1), (self.stride, 1), ((self.kernel - 1) // 2, 0))


class MSTCN(nn.Module):
    """``mstcn`` (ST-GCN++ multi-scale temporal unit). ``branch_channels`` overrides the
    per-branch widths (only to build deliberately broken checkpoints)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 causal: bool = False, branch_channels: Optional[Sequence[int]] = None):
        super().__init__()
        self.act = nn.ReLU()
        widths = list(branch_channels) if branch_channels else mstcn_channels(out_channels)
        branches = []
        for i, cfg in enumerate(MS_CFG):
            c = widths[i]
            if cfg == "1x1":
                branches.append(nn.Conv2d(in_channels, c, kernel_size=1, stride=(stride, 1)))
            elif cfg[0] == "max":
                branches.append(nn.Sequential(
                    nn.Conv2d(in_channels, c, kernel_size=1), nn.BatchNorm2d(c), self.act,
                    TemporalMaxPool(cfg[1], stride, causal)))
            else:
                branches.append(nn.Sequential(
                    nn.Conv2d(in_channels, c, kernel_size=1), nn.BatchNorm2d(c), self.act,
                    UnitTCN(c, c, kernel_size=cfg[0], stride=stride, dilation=cfg[1],
                            norm=False, causal=causal)))
        self.branches = nn.ModuleList(branches)
        tin = sum(widths)
        self.transform = nn.Sequential(nn.BatchNorm2d(tin), self.act,
                                       nn.Conv2d(tin, out_channels, kernel_size=1))
        self.bn = nn.BatchNorm2d(out_channels)
        self.drop = nn.Dropout(0.0)

    def forward(self, x):
        feat = torch.cat([b(x) for b in self.branches], dim=1)
        return self.drop(self.bn(self.transform(feat)))


class UnitGCN(nn.Module):
    """``unit_gcn`` with conv_pos 'pre'. Registration order mirrors mmaction2 (bn, act, A, PA,
    conv, down) so the state-dict key order is the same: PA (parameter) before A (buffer),
    or A first when it is the parameter ('init')."""

    def __init__(self, in_channels: int, out_channels: int, A: torch.Tensor,
                 adaptive: Optional[str] = "importance", with_res: bool = False):
        super().__init__()
        if adaptive not in ADAPTIVE:
            raise ValueError(f"unknown gcn_adaptive {adaptive!r}; known: {ADAPTIVE}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_subsets = int(A.size(0))
        self.adaptive = adaptive
        self.with_res = with_res
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU()
        if adaptive == "init":
            self.A = nn.Parameter(A.clone())
        else:
            self.register_buffer("A", A.clone())
        if adaptive == "importance":
            self.PA = nn.Parameter(torch.ones_like(A))
        elif adaptive == "offset":
            self.PA = nn.Parameter(torch.zeros_like(A))
        self.conv = nn.Conv2d(in_channels, out_channels * self.num_subsets, 1)
        self.down_mode = "none"
        if with_res:
            if in_channels != out_channels:
                self.down = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1),
                                          nn.BatchNorm2d(out_channels))
                self.down_mode = "conv"
            else:
                self.down_mode = "identity"

    def effective_A(self) -> torch.Tensor:
        if self.adaptive == "importance":
            return self.A * self.PA
        if self.adaptive == "offset":
            return self.A + self.PA
        return self.A

    def forward(self, x):
        n, c, t, v = x.shape
        if self.down_mode == "conv":
            res = self.down(x)
        elif self.down_mode == "identity":
            res = x
        else:
            res = 0
        A = self.effective_A()
        x = self.conv(x)
        x = x.view(n, self.num_subsets, -1, t, v)
        x = torch.einsum("nkctv,kvw->nctw", x, A).contiguous()
        return self.act(self.bn(x) + res)


class STGCNBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, A: torch.Tensor, stride: int = 1,
                 residual: bool = True, gcn_adaptive: Optional[str] = "importance",
                 gcn_with_res: bool = False, tcn_type: str = "unit_tcn", causal: bool = False):
        super().__init__()
        self.gcn = UnitGCN(in_channels, out_channels, A, gcn_adaptive, gcn_with_res)
        if tcn_type == "unit_tcn":
            self.tcn = UnitTCN(out_channels, out_channels, 9, stride=stride, causal=causal)
        elif tcn_type == "mstcn":
            self.tcn = MSTCN(out_channels, out_channels, stride=stride, causal=causal)
        else:
            raise ValueError(f"unknown tcn_type {tcn_type!r}")
        self.relu = nn.ReLU()
        if not residual:
            self.residual_mode = "none"
        elif in_channels == out_channels and stride == 1:
            self.residual_mode = "identity"
        else:
            self.residual_mode = "conv"
            self.residual = UnitTCN(in_channels, out_channels, kernel_size=1, stride=stride)

    def forward(self, x):
        if self.residual_mode == "none":
            res = 0
        elif self.residual_mode == "identity":
            res = x
        else:
            res = self.residual(x)
        return self.relu(self.tcn(self.gcn(x)) + res)


class STGCNBackbone(nn.Module):
    def __init__(self, cfg: MMConfig, A: Optional[np.ndarray] = None):
        super().__init__()
        if cfg.temporal_padding not in TEMPORAL_PADDINGS:
            raise ValueError(f"unknown temporal_padding {cfg.temporal_padding!r}")
        if A is None:
            A = mm_graph(cfg.layout, cfg.mode, dtype=np.float32)
        A = torch.tensor(np.asarray(A), dtype=torch.float32)
        V = int(A.size(1))
        C = cfg.in_channels
        self.data_bn_type = cfg.data_bn_type
        if cfg.data_bn_type == "MVC":
            self.data_bn = nn.BatchNorm1d(cfg.num_person * C * V)
        elif cfg.data_bn_type == "VC":
            self.data_bn = nn.BatchNorm1d(C * V)
        else:
            self.data_bn = nn.Identity()
        self.plan = stage_plan(cfg.in_channels, cfg.base_channels, cfg.ch_ratio, cfg.num_stages,
                               cfg.inflate_stages, cfg.down_stages)
        causal = cfg.temporal_padding == "causal"
        self.gcn = nn.ModuleList([
            STGCNBlock(ci, co, A, s, residual=r, gcn_adaptive=cfg.gcn_adaptive,
                       gcn_with_res=cfg.gcn_with_res, tcn_type=cfg.tcn_type, causal=causal)
            for (ci, co, s, r) in self.plan])
        self.num_stages = len(self.plan)

    def forward(self, x):
        N, M, T, V, C = x.size()
        x = x.permute(0, 1, 3, 4, 2).contiguous()
        if self.data_bn_type == "MVC":
            x = self.data_bn(x.view(N, M * V * C, T))
        else:
            x = self.data_bn(x.view(N * M, V * C, T))
        x = x.view(N, M, V, C, T).permute(0, 1, 3, 4, 2).contiguous().view(N * M, C, T, V)
        for i in range(self.num_stages):
            x = self.gcn[i](x)
        return x.reshape((N, M) + x.shape[1:])


class MeanPool2d(nn.Module):
    """What mmaction2's ``export_onnx_gcn.py`` puts in place of ``AdaptiveAvgPool2d(1)``."""

    def forward(self, x):
        return x.mean(dim=(-1, -2), keepdim=True)


class GCNHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, fc_name: str = "fc"):
        super().__init__()
        if fc_name not in ("fc", "fc_cls"):
            raise ValueError(f"unknown head name {fc_name!r}")
        self.in_channels = in_channels
        self.fc_name = fc_name
        self.pool = nn.AdaptiveAvgPool2d(1)
        setattr(self, fc_name, nn.Linear(in_channels, num_classes))

    def forward(self, x):
        N, M, C, T, V = x.shape
        x = x.view(N * M, C, T, V)
        x = self.pool(x)
        x = x.view(N, M, C)
        x = x.mean(dim=1)
        return getattr(self, self.fc_name)(x)


class MMSTGCN(nn.Module):
    """Recognizer: ``cls_head(backbone(x))``; input (N, M, T, V, C), output logits (N, classes)."""

    def __init__(self, cfg: MMConfig, A: Optional[np.ndarray] = None):
        super().__init__()
        self.cfg = cfg
        self.backbone = STGCNBackbone(cfg, A)
        self.cls_head = GCNHead(self.backbone.plan[-1][1], cfg.num_classes, cfg.head)

    def forward(self, x):
        return self.cls_head(self.backbone(x))

    @property
    def widths(self) -> List[int]:
        return [p[1] for p in self.backbone.plan]

    @property
    def strides(self) -> List[int]:
        return [p[2] for p in self.backbone.plan]


class GCNNet(nn.Module):
    """The wrapper of mmaction2 ``tools/deployment/export_onnx_gcn.py``: backbone + head with
    the head's adaptive pool replaced by a mean over (T, V); optional softmax (ours)."""

    def __init__(self, model: MMSTGCN, softmax: bool = False):
        super().__init__()
        self.backbone = model.backbone
        self.head = model.cls_head
        self.head.pool = MeanPool2d()
        self.softmax = softmax

    def forward(self, input_tensor):
        y = self.head(self.backbone(input_tensor))
        return torch.softmax(y, dim=1) if self.softmax else y


# --------------------------------------------------------------------------------------------
# Deterministic random weights
# --------------------------------------------------------------------------------------------


def _u(shape, lo, hi, gen):
    return torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo


def _n(shape, std, gen):
    return torch.randn(shape, generator=gen, dtype=torch.float64) * std


def randomize_mm_(model: nn.Module, gen: torch.Generator, conv_gain: float = 1.0) -> None:
    """Fill every parameter / buffer with nontrivial values (drawn in float64).

    * BatchNorm: weight U(0.5, 1.5), bias N(0, 0.1), running_mean N(0, 0.2), running_var
      U(0.5, 2), num_batches_tracked a random positive int.
    * Conv / Linear: N(0, 1) * gain / sqrt(fan_in), bias N(0, 0.05).
    * unit_gcn 'importance' PA: U(0.5, 1.5) everywhere; 'offset' PA: U(-0.15, 0.15) everywhere
      (so A + PA is dense); 'init' A (the parameter): graph * U(0.6, 1.4) + N(0, 0.03)
      everywhere. The A buffers of the other modes stay the graph.
    """
    with torch.no_grad():
        for _, mod in model.named_modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = mod.num_features
                mod.weight.copy_(_u((n,), 0.5, 1.5, gen))
                mod.bias.copy_(_n((n,), 0.1, gen))
                mod.running_mean.copy_(_n((n,), 0.2, gen))
                mod.running_var.copy_(_u((n,), 0.5, 2.0, gen))
                mod.num_batches_tracked.fill_(
                    int(torch.randint(1, 100000, (1,), generator=gen).item()))
            elif isinstance(mod, (nn.Conv2d, nn.Linear)):
                w = mod.weight
                fan_in = int(np.prod(w.shape[1:]))
                w.copy_(_n(w.shape, conv_gain / max(fan_in, 1) ** 0.5, gen))
                if mod.bias is not None:
                    mod.bias.copy_(_n(mod.bias.shape, 0.05, gen))
            elif isinstance(mod, UnitGCN):
                if mod.adaptive == "importance":
                    mod.PA.copy_(_u(mod.PA.shape, 0.5, 1.5, gen))
                elif mod.adaptive == "offset":
                    mod.PA.copy_(_u(mod.PA.shape, -0.15, 0.15, gen))
                elif mod.adaptive == "init":
                    A = mod.A.detach().double()
                    mod.A.copy_(A * _u(A.shape, 0.6, 1.4, gen) + _n(A.shape, 0.03, gen))


def calibrate_bn_(model: nn.Module, x: torch.Tensor, gen: torch.Generator,
                  mean_noise: float = 0.2, var_lo: float = 0.5, var_hi: float = 2.0) -> None:
    """Set every BatchNorm's running stats from one eval-mode pass over the calibration input
    ``x``, like a trained network's, but perturbed: ``running_mean = mean + N(0, mean_noise) *
    std`` and ``running_var = max(var, 1e-2) * U(var_lo, var_hi)`` of the BN's actual input
    (per channel, over all other axes). Each BN is set just before it runs, so downstream BNs
    see the calibrated upstream ones. Keeps activations O(1) at any depth and leaves no ReLU
    channel dead, so every tensor influences the logits."""
    def pre(mod, inp):
        t = inp[0].detach().double()
        dims = [0] + list(range(2, t.dim()))
        mean = t.mean(dims)
        var = t.var(dims, unbiased=False)
        n = mod.num_features
        mod.running_mean.copy_(mean + _n((n,), mean_noise, gen) * var.sqrt())
        mod.running_var.copy_(var.clamp_min(1e-2) * _u((n,), var_lo, var_hi, gen))

    hooks = [m.register_forward_pre_hook(pre) for m in model.modules()
             if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))
