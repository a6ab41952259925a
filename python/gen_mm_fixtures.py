#!/usr/bin/env python3
"""Fixtures for mmaction2 1.x / pyskl ST-GCN and ST-GCN++ checkpoints (PyTorch oracle).

``build_mm(out_dir)`` writes everything under ``OUT/mm/`` and returns the manifest section
(``manifest["mm"]`` of ``gen_fixtures.py``; paths relative to OUT). Standalone:
``gen_mm_fixtures.py OUT`` writes the files and ``OUT/manifest_mm.json`` = ``{"mm": section}``.

Section schema::

    generator, seed, bn_eps, torch_version, numpy_version, onnx_version, onnxruntime_version
    graphs:   [{layout, mode, max_hop, file (float64 A (K,V,V) .npy), K, V}]
    cases:    [{name, checkpoint, format, family ("stgcn"|"stgcn++": by tcn_type),
                canonical (the family's own settings), gcn_adaptive
                ("importance"|"offset"|"init"|"none"), gcn_with_res, tcn_type, data_bn_type
                ("VC"|"MVC"), num_person (data_bn's M for MVC, else null), layout, mode, K,
                input_kind ("2d_score"|"2d"|"3d"), C, V, M, T, N, num_classes, base_channels,
                ch_ratio, num_stages, inflate_stages, down_stages, num_blocks,
                block0_dropped, widths, strides, in_channels_per_block, residual
                (per block "none"|"identity"|"conv"), gcn_down (per block "none"|"identity"|
                "conv"), head ("fc"|"fc_cls"), temporal_padding ("centre"|"causal"), T_out,
                state_dict_prefix ("" or "module."), input ((N,M,T,V,C) float32 .npy),
                logits ((N,classes) float32, float32 model), logits64 (float64 model),
                num_keys, num_parameters, max_abs_logit, f32_vs_f64_max_diff}]
    onnx:     [{name, file, case, opset, softmax, input_names, output_names, dynamic_axes,
                input_shape, input, logits (onnxruntime output: probabilities when softmax),
                torch_max_abs_diff, extra: [{input, logits}] (other N / M / T through the
                dynamic axes), ops (sorted node op_types), op_counts}]
    features: [{name, layout, input_kind, input, j, b, jm, bm}]
    bad:      [{name, file, base_case, expect, expect_any}]

Deterministic: fixed seeds; ``torch.save`` zips carry no timestamps.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stgcn_ref import ckpt_tools as ct  # noqa: E402
from stgcn_ref.features import FEATS, gen_ske_feat  # noqa: E402
from stgcn_ref.mm_graph import FIXTURE_LAYOUTS, MM_MODES, mm_graph  # noqa: E402
from stgcn_ref.mm_model import (GCNNet, MMConfig, MMSTGCN, calibrate_bn_,  # noqa: E402
                                count_parameters, randomize_mm_)

SEED = 20240917
CONV_GAIN = 1.0
ROOT = "mm"

# --------------------------------------------------------------------------------------------
# The case matrix
# --------------------------------------------------------------------------------------------
# Common keys: name, fam ("stgcn"|"stgcn++": the family's defaults), kind (input kind), N, M, T,
# format, and MMConfig overrides.
S8_6 = dict(base_channels=8, num_stages=6, inflate_stages=(3, 5), down_stages=(3, 5))
S8_5 = dict(base_channels=8, num_stages=5, inflate_stages=(3, 5), down_stages=(3, 5))
S8_4 = dict(base_channels=8, num_stages=4, inflate_stages=(3,), down_stages=(3,))

CASES = [
    dict(name="stgcn_coco2d_mmengine", fam="stgcn", kind="2d_score", layout="coco",
         mode="stgcn_spatial", N=2, M=2, T=37, num_classes=5, head="fc", format="mmengine",
         **S8_6),
    dict(name="stgcnpp_coco2d_mmengine", fam="stgcn++", kind="2d_score", layout="coco",
         mode="spatial", N=2, M=2, T=20, num_classes=6, head="fc", format="mmengine", **S8_5),
    dict(name="stgcn_ntu3d_pyskl", fam="stgcn", kind="3d", layout="nturgb+d",
         mode="stgcn_spatial", N=3, M=2, T=13, num_classes=7, head="fc_cls", format="pyskl",
         **S8_4),
    dict(name="stgcnpp_ntu3d_mvc_pyskl", fam="stgcn++", kind="3d", layout="nturgb+d",
         mode="spatial", data_bn_type="MVC", N=2, M=2, T=37, num_classes=9, head="fc_cls",
         format="pyskl", base_channels=12, num_stages=5, inflate_stages=(3, 5),
         down_stages=(4,)),
    dict(name="stgcn_openpose2d_bare", fam="stgcn", kind="2d_score", layout="openpose",
         mode="stgcn_spatial", N=2, M=1, T=20, num_classes=4, head="fc", format="bare",
         base_channels=8, num_stages=5, inflate_stages=(4,), down_stages=(4,)),
    dict(name="stgcnpp_openpose2d_mvc_module_prefix", fam="stgcn++", kind="2d_score",
         layout="openpose", mode="spatial", data_bn_type="MVC", N=1, M=2, T=13,
         num_classes=3, head="fc", format="module_prefix", **S8_4),
    dict(name="offset_unittcn_coco3d_binary_bare", fam="stgcn", kind="3d", layout="coco",
         mode="binary_adj", gcn_adaptive="offset", N=2, M=1, T=20, num_classes=5, head="fc",
         format="bare", **S8_5),
    dict(name="none_mstcn_nores_ntu_binary_mmengine", fam="stgcn++", kind="3d",
         layout="nturgb+d", mode="binary_adj", gcn_adaptive=None, gcn_with_res=False, N=1,
         M=2, T=13, num_classes=6, head="fc", format="mmengine", base_channels=12,
         num_stages=4, inflate_stages=(3,), down_stages=(3,)),
    dict(name="init_unittcn_res_openpose_pyskl", fam="stgcn", kind="2d_score",
         layout="openpose", mode="spatial", gcn_adaptive="init", gcn_with_res=True, N=2, M=2,
         T=9, num_classes=5, head="fc_cls", format="pyskl", **S8_5),
    dict(name="importance_mstcn_nores_coco_mvc_module_prefix", fam="stgcn++", kind="2d_score",
         layout="coco", mode="stgcn_spatial", gcn_adaptive="importance", gcn_with_res=False,
         data_bn_type="MVC", N=1, M=2, T=20, num_classes=4, head="fc", format="module_prefix",
         **S8_4),
    dict(name="offset_res_mstcn_ntu_mmengine", fam="stgcn++", kind="3d", layout="nturgb+d",
         mode="stgcn_spatial", gcn_adaptive="offset", N=2, M=1, T=37, num_classes=8, head="fc",
         format="mmengine", **S8_5),
    dict(name="stgcn_in_eq_base_coco_bare", fam="stgcn", kind="2d_score", layout="coco",
         mode="spatial", N=2, M=1, T=13, num_classes=4, head="fc", format="bare",
         base_channels=3, num_stages=5, inflate_stages=(3, 5), down_stages=(3,)),
    dict(name="stgcnpp_inflate_ne_down_coco2d_noscore_mmengine", fam="stgcn++", kind="2d",
         layout="coco", mode="spatial", N=2, M=1, T=20, num_classes=5, head="fc",
         format="mmengine", base_channels=8, num_stages=5, inflate_stages=(2, 4),
         down_stages=(3, 5)),
    dict(name="stgcn_ratio1p5_ntu_pyskl", fam="stgcn", kind="3d", layout="nturgb+d",
         mode="spatial", N=1, M=2, T=37, num_classes=6, head="fc_cls", format="pyskl",
         ch_ratio=1.5, **S8_5),
    dict(name="causal_stgcnpp_coco2d_mmengine", fam="stgcn++", kind="2d_score", layout="coco",
         mode="spatial", temporal_padding="causal", N=2, M=1, T=37, num_classes=5, head="fc",
         format="mmengine", **S8_5),
    dict(name="causal_stgcn_ntu3d_bare", fam="stgcn", kind="3d", layout="nturgb+d",
         mode="stgcn_spatial", temporal_padding="causal", N=1, M=2, T=20, num_classes=6,
         head="fc", format="bare", **S8_5),
    dict(name="full_stgcnpp_coco2d_mmengine", fam="stgcn++", kind="2d_score", layout="coco",
         mode="spatial", N=1, M=2, T=20, num_classes=60, head="fc", format="mmengine",
         base_channels=64, num_stages=10, inflate_stages=(5, 8), down_stages=(5, 8)),
    dict(name="stgcn_coco_short_T5_fccls_bare", fam="stgcn", kind="2d_score", layout="coco",
         mode="stgcn_spatial", N=3, M=2, T=5, num_classes=3, head="fc_cls", format="bare",
         **S8_5),
    dict(name="stgcn_openpose_binary_mvc_T6_mmengine", fam="stgcn", kind="2d_score",
         layout="openpose", mode="binary_adj", data_bn_type="MVC", N=2, M=2, T=6,
         num_classes=4, head="fc", format="mmengine", **S8_4),
    dict(name="none_unittcn_res_coco3d_module_prefix", fam="stgcn", kind="3d", layout="coco",
         mode="spatial", gcn_adaptive=None, gcn_with_res=True, N=2, M=1, T=13, num_classes=5,
         head="fc", format="module_prefix", **S8_5),
]

ONNX_EXPORTS = [  # name, case, opset, softmax
    ("stgcn_coco2d_op12", "stgcn_coco2d_mmengine", 12, False),
    ("stgcnpp_coco2d_op12", "stgcnpp_coco2d_mmengine", 12, False),
    ("stgcn_ntu3d_op17_softmax", "stgcn_ntu3d_pyskl", 17, True),
]
ONNX_INPUT_NAMES = ["input_tensor"]
ONNX_OUTPUT_NAMES = ["cls_score"]
ONNX_DYNAMIC_AXES = {"input_tensor": {0: "batch_size", 1: "num_person", 2: "num_frames"},
                     "cls_score": {0: "batch_size"}}

FEATURE_INPUTS = [("coco2d", "stgcn_coco2d_mmengine"), ("ntu3d", "stgcn_ntu3d_pyskl")]

CANONICAL = {"stgcn": dict(gcn_adaptive="importance", gcn_with_res=False, tcn_type="unit_tcn"),
             "stgcn++": dict(gcn_adaptive="init", gcn_with_res=True, tcn_type="mstcn")}
_NON_CFG = ("name", "fam", "kind", "N", "M", "T", "format")


def case_config(spec) -> MMConfig:
    kw = {k: v for k, v in spec.items() if k not in _NON_CFG}
    C = 2 if spec["kind"] == "2d" else 3
    kw.setdefault("num_person", spec["M"])
    kw["in_channels"] = C
    if spec["fam"] == "stgcn":
        return MMConfig.stgcn(**kw)
    return MMConfig.stgcnpp(**kw)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _path(out, rel):
    p = os.path.join(out, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def save_npy(out, rel, arr):
    np.save(_path(out, rel), arr)
    return rel


def torch_save(out, rel, obj):
    torch.save(obj, _path(out, rel))
    return rel


def make_input(gen: torch.Generator, N, M, T, V, kind) -> torch.Tensor:
    """Skeleton-like (N, M, T, V, C) float32.

    Per (sample, person): a random pose + sinusoidal motion + noise, scaled / shifted.
    '2d_score': x, y roughly in [-1, 1] (as after PreNormalize2D) and a score in [0.05, 1];
    about 6% of the joints are "undetected" (x = y = 0, score 0). '2d': x, y only. '3d':
    coordinates of order 1. For M > 1 the last person of every even-indexed sample is all zero.
    """
    C = 2 if kind == "2d" else 3
    ncoord = 3 if kind == "3d" else 2

    def u(shape, lo, hi):
        return torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo

    t = torch.arange(T, dtype=torch.float64).view(1, 1, T, 1, 1)
    pose = torch.randn((N, M, 1, V, ncoord), generator=gen, dtype=torch.float64) * 0.4
    freq = u((N, M, 1, 1, 1), 0.5, 4.0)
    phase = u((N, M, 1, V, ncoord), 0.0, 2 * np.pi)
    amp = u((N, M, 1, V, ncoord), 0.0, 0.3)
    noise = torch.randn((N, M, T, V, ncoord), generator=gen, dtype=torch.float64) * 0.05
    xyz = pose + amp * torch.sin(2 * np.pi * freq * t / max(T, 1) + phase) + noise
    xyz = xyz * u((N, M, 1, 1, 1), 0.6, 1.4) + u((N, M, 1, 1, ncoord), -0.3, 0.3)
    if kind == "2d_score":
        score = u((N, M, T, V, 1), 0.05, 1.0)
        missing = torch.rand((N, M, T, V, 1), generator=gen, dtype=torch.float64) < 0.06
        xyz = torch.where(missing, torch.zeros_like(xyz), xyz)
        score = torch.where(missing, torch.zeros_like(score), score)
        x = torch.cat([xyz, score], dim=-1)
    else:
        x = xyz
    x = x.float().contiguous()
    assert x.shape[-1] == C
    if M > 1:
        for n in range(0, N, 2):
            x[n, M - 1] = 0.0
    return x


def run_model(model, x):
    model.eval()
    with torch.no_grad():
        y32 = model(x).numpy().astype(np.float32)
        m64 = copy.deepcopy(model).double().eval()
        y64 = m64(x.double()).numpy().astype(np.float64)
    return y32, y64


def build_case_model(spec, idx):
    cfg = case_config(spec)
    gen = torch.Generator().manual_seed(SEED + 1000 * (idx + 1))
    model = MMSTGCN(cfg)
    randomize_mm_(model, gen, CONV_GAIN)
    V = int(model.backbone.gcn[0].gcn.A.shape[1])
    calib = make_input(gen, max(spec["N"], 3), spec["M"], spec["T"], V, spec["kind"])
    calibrate_bn_(model, calib, gen)
    model.eval()
    x = make_input(gen, spec["N"], spec["M"], spec["T"], V, spec["kind"])
    return model, x, cfg


# --------------------------------------------------------------------------------------------
# Checkpoint containers
# --------------------------------------------------------------------------------------------

_STUB_HISTORY_BUFFER = '''\
"""Stand-in for mmengine.logging.history_buffer (fixture generation only)."""
import numpy as np


class HistoryBuffer:
    def __init__(self, log_history=(), count_history=(), max_length=1000000):
        self.max_length = max_length
        self._log_history = np.array(log_history)
        self._count_history = np.array(count_history)
'''


@contextlib.contextmanager
def stub_mmengine():
    """A throw-away ``mmengine.logging.history_buffer`` package on sys.path, so that pickle
    records instances as ``mmengine.logging.history_buffer.HistoryBuffer``."""
    if "mmengine" in sys.modules:
        raise RuntimeError("a real mmengine is imported; refusing to shadow it")
    tmp = tempfile.mkdtemp(prefix="stgcn_mmstub_")
    pkg = os.path.join(tmp, "mmengine", "logging")
    os.makedirs(pkg)
    for d in (os.path.join(tmp, "mmengine"), pkg):
        with open(os.path.join(d, "__init__.py"), "w", encoding="utf-8") as f:
            f.write("")
    with open(os.path.join(pkg, "history_buffer.py"), "w", encoding="utf-8") as f:
        f.write(_STUB_HISTORY_BUFFER)
    sys.path.insert(0, tmp)
    try:
        yield importlib.import_module("mmengine.logging.history_buffer").HistoryBuffer
    finally:
        sys.path.remove(tmp)
        for k in [k for k in sys.modules if k == "mmengine" or k.startswith("mmengine.")]:
            del sys.modules[k]
        shutil.rmtree(tmp, ignore_errors=True)


def _config_text(spec, cfg: MMConfig, head_in: int) -> str:
    gcn_adaptive = repr(cfg.gcn_adaptive)
    return (
        "model = dict(\n"
        "    type='RecognizerGCN',\n"
        "    backbone=dict(\n"
        "        type='STGCN',\n"
        f"        in_channels={cfg.in_channels}, base_channels={cfg.base_channels},\n"
        f"        ch_ratio={cfg.ch_ratio}, num_stages={cfg.num_stages},\n"
        f"        inflate_stages={list(cfg.inflate_stages)}, down_stages={list(cfg.down_stages)},\n"
        f"        data_bn_type='{cfg.data_bn_type}', num_person={cfg.num_person},\n"
        f"        gcn_adaptive={gcn_adaptive}, gcn_with_res={cfg.gcn_with_res},\n"
        f"        tcn_type='{cfg.tcn_type}',\n"
        f"        graph_cfg=dict(layout='{cfg.layout}', mode='{cfg.mode}')),\n"
        f"    cls_head=dict(type='GCNHead', num_classes={cfg.num_classes},\n"
        f"                  in_channels={head_in}))\n"
        f"# fixture case {spec['name']}\n")


def _optimizer_state(model, limit=None):
    params = list(model.parameters())
    n = len(params) if limit is None else min(limit, len(params))
    g = torch.Generator().manual_seed(SEED + 77)
    state = {i: {"momentum_buffer": torch.randn(params[i].shape, generator=g) * 1e-3}
             for i in range(n)}
    groups = [{"lr": 0.1, "momentum": 0.9, "dampening": 0, "weight_decay": 0.0005,
               "nesterov": True, "maximize": False, "foreach": None, "differentiable": False,
               "initial_lr": 0.1, "params": list(range(len(params)))}]
    return {"state": state, "param_groups": groups}


def mmengine_checkpoint(spec, cfg, model, sd, HistoryBuffer):
    classes = [f"action_{i:02d}" for i in range(cfg.num_classes)]
    meta = {
        "epoch": 16, "iter": 4096,
        "cfg": _config_text(spec, cfg, model.widths[-1]),
        "seed": 1675923391,
        "experiment_name": f"{spec['name']}_20240101_120000",
        "time": "20240101_133702",
        "mmengine_version": "0.10.3",
        "dataset_meta": {"classes": classes},
    }
    hb_lr = HistoryBuffer([0.1, 0.0975, 0.0904], [1, 1, 1])
    hb_loss = HistoryBuffer(np.linspace(2.3, 0.41, 12).tolist(), [16] * 12)
    hb_acc = HistoryBuffer([0.125, 0.5, 0.8125], [1, 1, 1])
    message_hub = {
        "log_scalars": collections.OrderedDict([
            ("train/lr", hb_lr), ("train/loss", hb_loss), ("train/top1_acc", hb_acc)]),
        "runtime_info": collections.OrderedDict([
            ("epoch", 16), ("iter", 4096), ("max_epochs", 16), ("max_iters", 4096),
            ("dataset_meta", {"classes": classes}),
            ("best_score", np.float64(0.8734)),
            ("last_ckpt", f"work_dirs/{spec['name']}/epoch_16.pth"),
            ("confusion", np.arange(6, dtype=np.int64).reshape(2, 3)),
            ("lr_trace", np.array([0.1, 0.05, 0.0], dtype=np.float32)),
        ]),
        "resumed_keys": collections.OrderedDict([("epoch", False), ("iter", False)]),
    }
    big = count_parameters(model) > 200000
    sched = [{"T_max": 16, "eta_min": 0.0, "begin": 0, "end": 16, "by_epoch": True,
              "_global_step": 16, "verbose": False, "_get_value_called_within_step": False,
              "last_step": 16, "base_values": [0.1], "_last_value": [0.0]}]
    return {"meta": meta, "state_dict": sd, "message_hub": message_hub,
            "optimizer": _optimizer_state(model, 20 if big else None),
            "param_schedulers": sched}


def pyskl_checkpoint(spec, cfg, model, sd):
    meta = {"mmcv_version": "1.5.0", "time": "Thu Jan  4 09:15:27 2024",
            "env_info": "sys.platform: linux\nPython: 3.8.13\nPyTorch: 1.11.0\n",
            "config": _config_text(spec, cfg, model.widths[-1]), "seed": 1183302119,
            "exp_name": "j.py", "epoch": 24, "iter": 9000,
            "hook_msgs": {"last_ckpt": "work_dirs/j/epoch_24.pth", "best_score": 0.9117,
                          "best_ckpt": "work_dirs/j/best_top1_acc_epoch_22.pth"}}
    return {"meta": meta, "state_dict": sd, "optimizer": _optimizer_state(model)}


def zip_pickle_globals(path):
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        return ct.pickle_globals(z.read(name))


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def build_graphs(out):
    items = []
    for layout in FIXTURE_LAYOUTS:
        for mode in MM_MODES:
            A = mm_graph(layout, mode, dtype=np.float64)
            rel = save_npy(out, f"{ROOT}/graphs/{layout.replace('+', 'p')}_{mode}.npy", A)
            items.append({"layout": layout, "mode": mode, "max_hop": 1, "file": rel,
                          "K": int(A.shape[0]), "V": int(A.shape[1])})
    return items


def _per_block(model):
    res, down = [], []
    for blk in model.backbone.gcn:
        res.append(blk.residual_mode)
        down.append(blk.gcn.down_mode)
    return res, down


def write_case(out, spec, idx, HistoryBuffer):
    model, x, cfg = build_case_model(spec, idx)
    y32, y64 = run_model(model, x)
    sd = model.state_dict()
    fmt = spec["format"]
    if fmt == "mmengine":
        obj = mmengine_checkpoint(spec, cfg, model, sd, HistoryBuffer)
    elif fmt == "pyskl":
        assert cfg.head == "fc_cls", spec["name"]
        obj = pyskl_checkpoint(spec, cfg, model, sd)
    elif fmt == "bare":
        obj = sd
    elif fmt == "module_prefix":
        obj = torch.nn.DataParallel(model).state_dict()
        assert all(k.startswith("module.") for k in obj)
    else:
        raise ValueError(fmt)
    base = f"{ROOT}/cases/{spec['name']}"
    ckpt = torch_save(out, f"{base}/model.pt", obj)

    # Reload through the container and check the logits.
    loaded = torch.load(os.path.join(out, ckpt), map_location="cpu")
    lsd = loaded["state_dict"] if fmt in ("mmengine", "pyskl") else loaded
    lsd = collections.OrderedDict(
        (k[len("module."):] if k.startswith("module.") else k, v) for k, v in lsd.items())
    fresh = MMSTGCN(cfg)
    fresh.load_state_dict(lsd, strict=True)
    z32, _ = run_model(fresh, x)
    assert np.array_equal(z32, y32), spec["name"]
    if fmt == "mmengine":
        g = zip_pickle_globals(os.path.join(out, ckpt))
        assert "mmengine.logging.history_buffer HistoryBuffer" in g, g
        assert isinstance(loaded["message_hub"]["log_scalars"]["train/loss"], HistoryBuffer)

    res, down = _per_block(model)
    plan = model.backbone.plan
    T_out = spec["T"]
    for s in model.strides:
        T_out = (T_out - 1) // s + 1
    gcn_adaptive = cfg.gcn_adaptive if cfg.gcn_adaptive is not None else "none"
    fam = "stgcn++" if cfg.tcn_type == "mstcn" else "stgcn"
    canonical = all(getattr(cfg, k) == v for k, v in CANONICAL[fam].items())
    entry = {
        "name": spec["name"], "checkpoint": ckpt, "format": fmt, "family": fam,
        "canonical": canonical, "gcn_adaptive": gcn_adaptive, "gcn_with_res": cfg.gcn_with_res,
        "tcn_type": cfg.tcn_type, "data_bn_type": cfg.data_bn_type,
        "num_person": cfg.num_person if cfg.data_bn_type == "MVC" else None,
        "layout": cfg.layout, "mode": cfg.mode,
        "K": int(model.backbone.gcn[0].gcn.A.shape[0]),
        "input_kind": spec["kind"], "C": cfg.in_channels, "V": int(x.shape[3]),
        "M": spec["M"], "T": spec["T"], "N": spec["N"], "num_classes": cfg.num_classes,
        "base_channels": cfg.base_channels, "ch_ratio": cfg.ch_ratio,
        "num_stages": cfg.num_stages, "inflate_stages": list(cfg.inflate_stages),
        "down_stages": list(cfg.down_stages), "num_blocks": len(plan),
        "block0_dropped": cfg.in_channels == cfg.base_channels,
        "widths": model.widths, "strides": model.strides,
        "in_channels_per_block": [p[0] for p in plan], "residual": res, "gcn_down": down,
        "head": cfg.head, "temporal_padding": cfg.temporal_padding, "T_out": T_out,
        "state_dict_prefix": "module." if fmt == "module_prefix" else "",
        "input": save_npy(out, f"{base}/input.npy", x.numpy()),
        "logits": save_npy(out, f"{base}/logits.npy", y32),
        "logits64": save_npy(out, f"{base}/logits64.npy", y64),
        "num_keys": len(sd), "num_parameters": count_parameters(model),
        "max_abs_logit": float(np.abs(y64).max()),
        "f32_vs_f64_max_diff": float(np.abs(y32.astype(np.float64) - y64).max()),
    }
    assert entry["max_abs_logit"] < 50, (spec["name"], entry["max_abs_logit"])
    return entry, model, x


def ort_session(path):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def build_onnx(out, models):
    import onnx
    items = []
    for k, (name, case, opset, smax) in enumerate(ONNX_EXPORTS):
        model, x, spec = models[case]
        net = GCNNet(copy.deepcopy(model), softmax=smax).eval()
        net64 = copy.deepcopy(net).double().eval()
        rel = f"{ROOT}/onnx/{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (x,), _path(out, rel), input_names=ONNX_INPUT_NAMES,
                              output_names=ONNX_OUTPUT_NAMES, export_params=True,
                              do_constant_folding=True, verbose=False, opset_version=opset,
                              dynamic_axes=ONNX_DYNAMIC_AXES)
        sess = ort_session(os.path.join(out, rel))
        base = f"{ROOT}/onnx/{name}"

        def check(xx, tag):
            got = sess.run(None, {ONNX_INPUT_NAMES[0]: xx.numpy()})[0]
            with torch.no_grad():
                want = net64(xx.double()).numpy()
            diff = float(np.abs(got.astype(np.float64) - want).max())
            assert diff <= 1e-4, (name, tag, diff)
            return got, diff

        got, diff = check(x, "main")
        extra = []
        gen = torch.Generator().manual_seed(SEED + 5000 + k)
        V = x.shape[3]
        other_shapes = [(1, spec["M"], spec["T"] + 4)]
        if spec.get("data_bn_type") != "MVC":
            other_shapes.append((3, 1, 11))
        for j, (n2, m2, t2) in enumerate(other_shapes):
            x2 = make_input(gen, n2, m2, t2, V, spec["kind"])
            got2, _ = check(x2, f"extra{j}")
            extra.append({"input": save_npy(out, f"{base}/input_{j}.npy", x2.numpy()),
                          "logits": save_npy(out, f"{base}/logits_{j}.npy", got2),
                          "shape": list(x2.shape)})
        m = onnx.load(os.path.join(out, rel))
        counts = collections.Counter(n.op_type for n in m.graph.node)
        items.append({
            "name": name, "file": rel, "case": case, "opset": opset, "softmax": smax,
            "input_names": ONNX_INPUT_NAMES, "output_names": ONNX_OUTPUT_NAMES,
            "dynamic_axes": {k2: {str(a): n for a, n in v.items()}
                             for k2, v in ONNX_DYNAMIC_AXES.items()},
            "input_shape": list(x.shape),
            "input": save_npy(out, f"{base}/input.npy", x.numpy()),
            "logits": save_npy(out, f"{base}/logits.npy", got),
            "torch_max_abs_diff": diff, "extra": extra,
            "ops": sorted(counts), "op_counts": dict(sorted(counts.items())),
        })
    return items


def build_features(out, models):
    items = []
    for tag, case in FEATURE_INPUTS:
        _, x, spec = models[case]
        arr = x.numpy()
        base = f"{ROOT}/features/{tag}"
        e = {"name": tag, "layout": spec["layout"], "input_kind": spec["kind"],
             "case": case, "input": save_npy(out, f"{base}/input.npy", arr)}
        for f in FEATS:
            e[f] = save_npy(out, f"{base}/{f}.npy", gen_ske_feat(arr, spec["layout"], f))
        items.append(e)
    return items


def build_bad(out, models):
    """Broken checkpoints (bare state dicts unless said otherwise)."""
    items = []

    def add(name, obj, base_case, expect, *alts):
        rel = torch_save(out, f"{ROOT}/bad/{name}.pt", obj)
        items.append({"name": name, "file": rel, "base_case": base_case, "expect": expect,
                      "expect_any": [expect] + list(alts)})

    # 1. both dialects in one file.
    case = "stgcn_coco2d_mmengine"
    sd = copy.copy(models[case][0].state_dict())
    g = torch.Generator().manual_seed(SEED + 9001)
    sd["A"] = torch.tensor(mm_graph("coco", "stgcn_spatial"))
    sd["st_gcn_networks.0.gcn.conv.weight"] = torch.randn((24, 3, 1, 1), generator=g)
    sd["st_gcn_networks.0.gcn.conv.bias"] = torch.randn((24,), generator=g)
    sd["edge_importance.0"] = torch.ones((3, 17, 17))
    add("mixed_dialects", sd, case, "st_gcn_networks", "dialect", "mixed")

    # 2. ST-GCN++ missing one branch tensor (in an mmengine-like wrapper, no HistoryBuffer).
    case = "stgcnpp_coco2d_mmengine"
    sd = copy.copy(models[case][0].state_dict())
    missing = "backbone.gcn.3.tcn.branches.2.3.conv.weight"
    assert missing in sd
    del sd[missing]
    add("stgcnpp_missing_branch_tensor", {"meta": {"epoch": 1}, "state_dict": sd}, case,
        missing, "branches.2.3.conv.weight")

    # 3. mstcn branch 1 one channel wider than the 'mid' rule, coherent within the branch
    #    (1x1 conv, BN, 3x1 conv) and in transform.0 / transform.2, so only the rule breaks.
    model = models[case][0]
    blk = 2
    mst = model.backbone.gcn[blk].tcn
    cout = mst.bn.num_features
    from stgcn_ref.mm_model import MSTCN, mstcn_channels
    widths = mstcn_channels(cout)
    widths[1] += 1
    wide = MSTCN(cout, cout, stride=model.strides[blk], branch_channels=widths)
    randomize_mm_(wide, torch.Generator().manual_seed(SEED + 9003), CONV_GAIN)
    sd = copy.copy(model.state_dict())
    prefix = f"backbone.gcn.{blk}.tcn."
    for k in [k for k in sd if k.startswith(prefix)]:
        del sd[k]
    for k, v in wide.state_dict().items():
        sd[prefix + k] = v
    add("mstcn_branch_width_rule", sd, case, f"backbone.gcn.{blk}.tcn.branches.1.0.weight",
        f"gcn.{blk}.tcn.branches.1", "branch", "mstcn")

    # 4. data_bn whose size is not a multiple of V*C.
    case = "stgcn_ntu3d_pyskl"
    sd = copy.copy(models[case][0].state_dict())
    n = 25 * 3 + 1
    sd["backbone.data_bn.weight"] = torch.ones(n)
    sd["backbone.data_bn.bias"] = torch.zeros(n)
    sd["backbone.data_bn.running_mean"] = torch.zeros(n)
    sd["backbone.data_bn.running_var"] = torch.ones(n)
    add("data_bn_not_multiple_of_vc", sd, case, "data_bn", "backbone.data_bn")
    return items


# --------------------------------------------------------------------------------------------


def build_mm(out_dir: str) -> dict:
    """Write ``OUT/mm/*`` and return the manifest section (see the module docstring)."""
    out = os.path.abspath(out_dir)
    shutil.rmtree(os.path.join(out, ROOT), ignore_errors=True)
    # One intra-op thread: these models are tiny, and with 2 OpenMP threads on a busy 2-core
    # machine every small conv waits on a spinning barrier (measured 0.05 ms -> 18 ms).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _build_mm(out)
    finally:
        torch.set_num_threads(threads)


def _build_mm(out: str) -> dict:
    import onnx
    import onnxruntime
    graphs = build_graphs(out)
    cases, models = [], {}
    with stub_mmengine() as HistoryBuffer:
        for i, spec in enumerate(CASES):
            entry, model, x = write_case(out, spec, i, HistoryBuffer)
            cases.append(entry)
            models[spec["name"]] = (model, x, dict(spec, data_bn_type=entry["data_bn_type"]))
    onnx_items = build_onnx(out, models)
    features = build_features(out, models)
    bad = build_bad(out, models)
    return {
        "generator": "python/gen_mm_fixtures.py", "seed": SEED, "bn_eps": 1e-5,
        "torch_version": torch.__version__, "numpy_version": np.__version__,
        "onnx_version": onnx.__version__, "onnxruntime_version": onnxruntime.__version__,
        "graphs": graphs, "cases": cases, "onnx": onnx_items, "features": features,
        "bad": bad,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    args = ap.parse_args(argv)
    torch.manual_seed(SEED)
    t0 = time.time()
    section = build_mm(args.out_dir)
    with open(os.path.join(args.out_dir, "manifest_mm.json"), "w", encoding="utf-8") as f:
        json.dump({"mm": section}, f, indent=1)
    print(f"gen_mm_fixtures: {len(section['graphs'])} graphs, {len(section['cases'])} cases, "
          f"{len(section['onnx'])} ONNX, {len(section['features'])} feature sets, "
          f"{len(section['bad'])} bad -> {args.out_dir} in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
