#!/usr/bin/env python3
"""Generate the stgcn-rt test fixtures (PyTorch oracle).

Usage: ``gen_fixtures.py OUT_DIR [--quick]``

Writes into OUT_DIR (deterministic: fixed seeds, fixed zip timestamps):

* ``manifest.json`` -- index of everything below (schema: ``python/README.md`` and the
  ``build_*`` docstrings; paths are relative to OUT_DIR);
* ``graphs/*.npy`` -- adjacency partitions A (K, V, V) float64;
* ``layouts/custom_hand.json`` -- the custom layout used by the ``custom`` graphs / cases;
* ``cases/NAME/{model.pt,input.npy,logits.npy,logits64.npy}`` -- model cases;
* ``formats/*`` -- one narrow two-stream model saved in many container / storage variants;
* ``bad/*`` -- broken or hostile checkpoints (the malicious ones are built from raw pickle
  opcodes and are never unpickled);
* ``bad_npy/*`` -- broken input arrays (+ one good float64 input);
* ``onnx/*.onnx`` -- ``torch.onnx.export`` files of case models (opsets, Einsum / MatMul
  aggregation, pooling forms, Softmax, dynamic batch, BatchNorms kept), each checked with
  onnxruntime; ``onnx/NAME/*`` their extra inputs / outputs and the tiny models' checkpoints;
* ``bad_onnx/*`` -- broken or foreign ONNX files;
* ``mm/*`` -- mmaction2 1.x / pyskl ST-GCN and ST-GCN++ fixtures (manifest section ``mm``, see
  ``gen_mm_fixtures.py``).

``--quick`` skips the full-width seed case (the slowest part).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # so torch.save(model) pickles classes as stgcn_ref.model.*

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stgcn_ref import ckpt_tools as ct  # noqa: E402
from stgcn_ref.graph import LAYOUTS, STRATEGIES, build_graph, self_test  # noqa: E402
from stgcn_ref.model import (SEED_STRIDES, SEED_WIDTHS, build_model,  # noqa: E402
                             count_parameters)
from gen_mm_fixtures import build_mm  # noqa: E402

SEED = 20240611
CONV_GAIN = 1.2
NARROW = [16, 16, 16, 16, 32, 32, 32, 64, 64, 64]
ODD_WIDTHS = [8, 16, 16, 24, 24, 32, 32, 48, 48, 48]
ODD_STRIDES = [1, 1, 2, 1, 1, 2, 1, 1, 1, 1]

CUSTOM_LAYOUT = {
    "name": "custom_hand",
    "V": 21,
    # 21-joint hand: wrist 0, thumb 1-4, index 5-8, middle 9-12, ring 13-16, pinky 17-20,
    # plus the palm arc 5-9-13-17.
    "edges": [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [0, 9], [9, 10],
              [10, 11], [11, 12], [0, 13], [13, 14], [14, 15], [15, 16], [0, 17], [17, 18],
              [18, 19], [19, 20], [5, 9], [9, 13], [13, 17]],
    "center": 0,
}
CUSTOM_PATH = "layouts/custom_hand.json"

# name, layout, strategy, max_hop, dilation, two_stream, motion, edge_importance,
# N, C, T, M, num_class, widths, strides
CASES = [
    ("openpose_spatial", "openpose", "spatial", 1, 1, False, None, True, 1, 3, 150, 1, 5),
    ("openpose_uniform_2s", "openpose", "uniform", 1, 1, True, "first_difference", False,
     3, 3, 37, 2, 4),
    ("ntu_spatial_2s_central", "ntu-rgb+d", "spatial", 1, 1, True, "central_difference", True,
     1, 3, 300, 2, 60),
    ("ntu_distance_h2", "ntu-rgb+d", "distance", 2, 1, False, None, False, 3, 3, 37, 1, 7),
    ("ntu_edge_spatial_m2", "ntu_edge", "spatial", 1, 1, False, None, True, 1, 3, 37, 2, 6),
    ("ntu_edge_distance_2s", "ntu_edge", "distance", 1, 1, True, "first_difference", True,
     1, 3, 150, 1, 3),
    ("mediapipe_spatial_2s_m5", "mediapipe", "spatial", 1, 1, True, "first_difference", True,
     1, 3, 150, 5, 2),
    ("mediapipe_uniform", "mediapipe", "uniform", 1, 1, False, None, False, 3, 3, 150, 1, 4),
    ("blazepose_spatial_2s_central", "blazepose", "spatial", 1, 1, True, "central_difference",
     True, 3, 3, 37, 1, 5),
    ("blazepose_distance_h2d2", "blazepose", "distance", 2, 2, False, None, True,
     1, 3, 300, 1, 3),
    ("coco_spatial_m2", "coco", "spatial", 1, 1, False, None, True, 3, 3, 37, 2, 8),
    ("coco_uniform_2s_central_m5", "coco", "uniform", 1, 1, True, "central_difference", False,
     1, 3, 150, 5, 3),
    ("custom_spatial_h2_2s", "custom", "spatial", 2, 1, True, "first_difference", True,
     3, 3, 37, 1, 4),
    ("custom_distance_c2", "custom", "distance", 1, 1, False, None, False, 1, 2, 37, 2, 5),
]
ODD_CASE = ("openpose_spatial_oddwidths", "openpose", "spatial", 1, 1, False, None, True,
            3, 3, 37, 1, 6)
SEED_CASE = ("seed_full", "mediapipe", "spatial", 1, 1, True, "first_difference", True,
             1, 3, 150, 1, 2)

EXTRA_GRAPHS = [  # (layout, strategy, max_hop, dilation) beyond the max_hop=1 grid
    ("openpose", "spatial", 2, 1), ("ntu-rgb+d", "distance", 2, 2), ("mediapipe", "spatial", 2, 2),
    ("blazepose", "spatial", 3, 1), ("coco", "uniform", 2, 1), ("custom", "spatial", 2, 1),
    ("ntu_edge", "distance", 3, 1), ("ntu-rgb+d", "spatial", 3, 1), ("coco", "spatial", 2, 2),
]


def slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", s)


def save_npy(out: str, rel: str, arr: np.ndarray) -> str:
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, arr)
    return rel


def torch_save(out: str, rel: str, obj, legacy: bool = False) -> str:
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if legacy:
        buf = io.BytesIO()
        torch.save(obj, buf, _use_new_zipfile_serialization=False)
        with open(path, "wb") as f:  # storage names made run-independent
            f.write(ct.canonicalize_legacy(buf.getvalue()))
    else:
        torch.save(obj, path)
    return rel


def make_input(gen: torch.Generator, N: int, C: int, T: int, V: int, M: int) -> torch.Tensor:
    """Random skeleton-like input (N, C, T, V, M) float32.

    Per (sample, person): a static random pose, a sinusoidal motion with its own frequency and
    phases, noise, and a random scale / offset, so different samples give clearly different
    logits (a batch-order bug cannot hide). For M > 1 the last person slot of every
    even-indexed sample is zeroed entirely (zero-padded persons are real).
    """
    def u(shape, lo, hi):
        return torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo

    t = torch.arange(T, dtype=torch.float64).view(1, 1, T, 1, 1)
    pose = torch.randn((N, C, 1, V, M), generator=gen, dtype=torch.float64)
    freq = u((N, 1, 1, 1, M), 0.5, 4.0)
    phase = u((N, C, 1, V, M), 0.0, 6.283185307179586)
    amp = u((N, C, 1, V, M), 0.0, 1.0)
    noise = torch.randn((N, C, T, V, M), generator=gen, dtype=torch.float64) * 0.3
    x = pose + amp * torch.sin(6.283185307179586 * freq * t / max(T, 1) + phase) + noise
    x = x * u((N, 1, 1, 1, M), 0.5, 2.0) + u((N, C, 1, 1, M), -1.0, 1.0)
    x = x.float()
    if M > 1:
        for n in range(0, N, 2):
            x[n, :, :, :, M - 1] = 0.0
    return x.contiguous()


def run_model(model: torch.nn.Module, x: torch.Tensor):
    """(float32 logits, float64 logits) of an eval-mode model."""
    model.eval()
    with torch.no_grad():
        y32 = model(x).numpy().astype(np.float32)
        m64 = copy.deepcopy(model).double().eval()
        y64 = m64(x.double()).numpy().astype(np.float64)
    return y32, y64


def graph_for(layout, strategy, max_hop, dilation, out):
    custom = os.path.join(out, CUSTOM_PATH) if layout == "custom" else None
    return build_graph(layout, strategy, max_hop, dilation, custom)


def build_graphs(out: str):
    """Manifest ``graphs``: [{layout, strategy, max_hop, dilation, custom_layout, file, K, V}]."""
    items = []
    combos = [(l, s, 1, 1) for l in list(LAYOUTS) + ["custom"] for s in STRATEGIES]
    for layout, strategy, h, d in combos + EXTRA_GRAPHS:
        A = graph_for(layout, strategy, h, d, out)
        rel = save_npy(out, f"graphs/{slug(layout)}_{strategy}_h{h}_d{d}.npy", A)
        items.append({"layout": layout, "strategy": strategy, "max_hop": h, "dilation": d,
                      "custom_layout": CUSTOM_PATH if layout == "custom" else None,
                      "file": rel, "K": int(A.shape[0]), "V": int(A.shape[1])})
    return items


def make_case_model(spec, idx: int, out: str, widths=NARROW, strides=SEED_STRIDES):
    (name, layout, strategy, h, d, two, motion, ei, N, C, T, M, ncls) = spec
    gen = torch.Generator().manual_seed(SEED + 1000 * (idx + 1))
    A = graph_for(layout, strategy, h, d, out)
    model = build_model(C, ncls, A, ei, widths, strides, two, motion,
                        temporal_padding=padding_of(name))
    ct.randomize_(model, gen, CONV_GAIN)
    model.eval()
    x = make_input(gen, N, C, T, A.shape[1], M)
    return model, x, A


def write_case(out: str, spec, idx: int, widths, strides):
    """One manifest ``cases`` entry: checkpoint (plain zip state dict), input, logits."""
    (name, layout, strategy, h, d, two, motion, ei, N, C, T, M, ncls) = spec
    model, x, A = make_case_model(spec, idx, out, widths, strides)
    y32, y64 = run_model(model, x)
    sd = model.state_dict()
    base = f"cases/{name}"
    entry = {
        "name": name,
        "checkpoint": torch_save(out, f"{base}/model.pt", sd),
        "input": save_npy(out, f"{base}/input.npy", x.numpy()),
        "logits": save_npy(out, f"{base}/logits.npy", y32),
        "logits64": save_npy(out, f"{base}/logits64.npy", y64),
        "layout": layout, "strategy": strategy, "max_hop": h, "dilation": d,
        "custom_layout": CUSTOM_PATH if layout == "custom" else None,
        "two_stream": two, "edge_importance": ei, "motion": motion if two else None,
        "N": N, "C": C, "T": T, "V": int(A.shape[1]), "M": M, "num_class": ncls,
        "K": int(A.shape[0]), "widths": list(widths), "strides": list(strides),
        "num_keys": len(sd), "num_parameters": count_parameters(model),
        "max_abs_logit": float(np.abs(y64).max()),
        "f32_vs_f64_max_diff": float(np.abs(y32.astype(np.float64) - y64).max()),
    }
    return entry, model


def build_cases(out: str, quick: bool):
    cases = []
    for i, spec in enumerate(CASES):
        cases.append(write_case(out, spec, i, NARROW, SEED_STRIDES)[0])
    cases.append(write_case(out, ODD_CASE, len(CASES), ODD_WIDTHS, ODD_STRIDES)[0])
    if not quick:
        entry, model = write_case(out, SEED_CASE, len(CASES) + 1, SEED_WIDTHS, SEED_STRIDES)
        assert entry["num_keys"] == 344, entry["num_keys"]
        assert entry["num_parameters"] == 6195788, entry["num_parameters"]
        cases.append(entry)
    return cases


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------

FORMATS_SPEC = ("formats_model", "mediapipe", "spatial", 1, 1, True, "first_difference", True,
                2, 3, 37, 2, 3)


def _same_tensors(a, b, exact_dtype=None):
    if list(a.keys()) != list(b.keys()):
        return False
    for k in a:
        va, vb = a[k], b[k]
        if exact_dtype is not None and vb.is_floating_point() and vb.dtype != exact_dtype:
            return False
        if va.shape != vb.shape or not torch.equal(va.to(vb.dtype), vb):
            return False
    return True


def build_formats(out: str):
    """Manifest ``formats``: {input, model: {config}, variants: [{name, file, logits64,
    same_tensors_as, legacy, container}]}. Returns (formats dict, plain sd, config)."""
    spec = FORMATS_SPEC
    model, x, A = make_case_model(spec, 900, out)
    sd = model.state_dict()
    _, y64 = run_model(model, x)
    cfg = {"layout": spec[1], "strategy": spec[2], "max_hop": spec[3], "dilation": spec[4],
           "custom_layout": None, "two_stream": spec[5], "motion": spec[6],
           "edge_importance": spec[7], "N": spec[8], "C": spec[9], "T": spec[10],
           "V": int(A.shape[1]), "M": spec[11], "num_class": spec[12], "K": int(A.shape[0]),
           "widths": NARROW, "strides": list(SEED_STRIDES)}
    inp = save_npy(out, "formats/input.npy", x.numpy())
    l64 = save_npy(out, "formats/logits64.npy", y64)

    sd16 = ct.map_float_tensors(sd, lambda t: t.half())
    m16 = copy.deepcopy(model)
    m16.load_state_dict(ct.map_float_tensors(sd16, lambda t: t.float()))
    l64_f16 = save_npy(out, "formats/f16_logits64.npy", run_model(m16, x)[1])

    optimizer = {"state": {}, "param_groups": [{"lr": 0.01, "momentum": 0.9, "dampening": 0,
                                                "weight_decay": 0.0001, "nesterov": True,
                                                "params": list(range(12))}],
                 "name": "SGD", "milestones": [10, 50], "history": [0.5, 0.25, 0.125]}
    dp_sd = torch.nn.DataParallel(model).state_dict()  # real "module." prefixes
    assert all(k.startswith("module.") for k in dp_sd)
    variants = [
        # name, object, legacy, same_tensors_as, logits64, expected float dtype
        ("plain", sd, False, "plain", l64, torch.float32),
        ("wrap_model", {"model": sd}, False, "plain", l64, torch.float32),
        ("wrap_state_dict", {"state_dict": sd, "epoch": 3, "optimizer": optimizer}, False,
         "plain", l64, torch.float32),
        ("wrap_model_state_dict", {"model_state_dict": sd, "epoch": 7, "best_acc": 0.93},
         False, "plain", l64, torch.float32),
        ("wrap_net", {"net": sd}, False, "plain", l64, torch.float32),
        ("module_prefix", dp_sd, False, "plain", l64, torch.float32),
        ("legacy", sd, True, "plain", l64, torch.float32),
        ("legacy_module_prefix", dp_sd, True, "plain", l64, torch.float32),
        ("whole_module", model, False, "plain", l64, torch.float32),
        ("f64", ct.map_float_tensors(sd, lambda t: t.double()), False, "plain", l64,
         torch.float64),
        ("f16", sd16, False, None, l64_f16, torch.float16),
        ("strided", ct.strided_state_dict(sd), False, "plain", l64, torch.float32),
        ("shared_storage", ct.shared_storage_state_dict(sd), False, "plain", l64,
         torch.float32),
    ]
    items = []
    for name, obj, legacy, same, logits, dtype in variants:
        rel = torch_save(out, f"formats/{name}.pt", obj, legacy)
        path = os.path.join(out, rel)
        with open(path, "rb") as f:
            head = f.read(2)
        assert (head == b"PK") != legacy, (name, head)
        loaded = ct.unwrap_state_dict(torch.load(path, map_location="cpu"))
        ref = sd16 if name == "f16" else sd
        assert _same_tensors(ref, loaded, dtype), f"variant {name} does not reload identically"
        if name == "strided":
            assert any(not t.is_contiguous() for t in loaded.values() if t.dim() >= 2)
            assert all(not t.is_contiguous() for t in loaded.values()
                       if t.dim() >= 2 and t.is_floating_point())
        if name == "shared_storage":
            ptrs = {t.storage().data_ptr() for t in loaded.values() if t.dtype == torch.float32}
            assert len(ptrs) == 2, ptrs  # one storage per stream
        items.append({"name": name, "file": rel, "logits64": logits, "same_tensors_as": same,
                      "legacy": legacy, "float_dtype": str(dtype).replace("torch.", "")})
    return {"input": inp, "model": cfg, "variants": items}, sd, cfg


# --------------------------------------------------------------------------------------------
# Bad checkpoints
# --------------------------------------------------------------------------------------------


def build_bad_checkpoints(out: str, plain_sd):
    """Manifest ``bad_checkpoints``: [{name, file, expect, expect_any}]. ``expect`` is a
    lowercase substring the C++ error message should contain; ``expect_any`` lists acceptable
    alternatives (``expect`` first)."""
    bad = os.path.join(out, "bad")
    os.makedirs(bad, exist_ok=True)
    items = []

    def add(name, rel, expect, *alts):
        items.append({"name": name, "file": rel, "expect": expect,
                      "expect_any": [expect] + list(alts)})

    def write(rel, data: bytes):
        with open(os.path.join(out, rel), "wb") as f:
            f.write(data)
        return rel

    add("missing", "bad/does_not_exist.pt", "not found")
    add("empty", write("bad/empty.pt", b""), "truncated", "corrupt", "empty")
    add("text", write("bad/text.pt", b"this is not a checkpoint\njust some text\n"),
        "pickle", "zip")
    plain = open(os.path.join(out, "formats/plain.pt"), "rb").read()
    legacy = open(os.path.join(out, "formats/legacy.pt"), "rb").read()
    add("truncated_zip", write("bad/truncated_zip.pt", plain[:len(plain) // 2]),
        "truncated", "corrupt")
    add("truncated_legacy", write("bad/truncated_legacy.pt", legacy[:len(legacy) * 6 // 10]),
        "truncated", "corrupt")

    # Hostile pickles: GLOBAL posix.system + REDUCE inside the state dict (never unpickled).
    entries = ct.read_zip_entries(os.path.join(out, "formats/plain.pt"))
    evil = []
    for n, d in ct.rename_zip_prefix(entries, "evil_reduce"):
        if n.endswith("/data.pkl"):
            d = ct.inject_into_first_setitems(d, ct.evil_pair())
            assert "posix system" in ct.pickle_globals(d)
        evil.append((n, d))
    ct.write_aligned_zip(os.path.join(bad, "evil_reduce.pt"), evil)
    add("evil_reduce", "bad/evil_reduce.pt", "unsafe")
    evil_leg = ct.inject_legacy(legacy, ct.evil_pair())
    obj_range = ct.split_legacy(evil_leg)[3]
    assert "posix system" in ct.pickle_globals(evil_leg[obj_range[0]:obj_range[1]])
    add("evil_legacy", write("bad/evil_legacy.pt", evil_leg), "unsafe")

    # A tensor whose storage_offset makes it reach past the end of its storage.
    small = []
    for n, d in ct.rename_zip_prefix(entries, "storage_too_small"):
        if n.endswith("/data.pkl"):
            d = ct.patch_first_storage_offset(d, 7)
        small.append((n, d))
    ct.write_aligned_zip(os.path.join(bad, "storage_too_small.pt"), small)
    add("storage_too_small", "bad/storage_too_small.pt", "storage")

    gen = torch.Generator().manual_seed(SEED + 77)
    other = {"encoder.layer1.weight": torch.randn(32, 16, generator=gen),
             "encoder.layer1.bias": torch.randn(32, generator=gen),
             "decoder.proj.weight": torch.randn(10, 32, generator=gen),
             "decoder.proj.bias": torch.randn(10, generator=gen)}
    add("not_stgcn", torch_save(out, "bad/not_stgcn.pt", other), "st-gcn")

    wrong = ct.map_float_tensors(plain_sd, lambda t: t.clone())
    key = "origin_stream.st_gcn_networks.2.tcn.2.weight"
    w = wrong[key]
    wrong[key] = torch.randn((w.shape[0], w.shape[1] - 3) + tuple(w.shape[2:]), generator=gen)
    add("wrong_shape", torch_save(out, "bad/wrong_shape.pt", wrong), "st-gcn")

    rnd = torch.randint(0, 256, (4096,), generator=gen, dtype=torch.uint8).numpy().tobytes()
    rnd = b"\x13" + rnd[1:]  # neither "PK" nor a pickle PROTO opcode
    add("random_bytes", write("bad/random_bytes.pt", rnd), "pickle", "zip", "corrupt")
    return items


# --------------------------------------------------------------------------------------------
# Bad npy inputs
# --------------------------------------------------------------------------------------------


def build_bad_npy(out: str, case_entry, model):
    """Manifest ``bad_npy``: {model, case, files: [{name, file, expect, expect_any}]}; the
    ``good_f64`` file has ``expect: null`` and a ``logits64`` path."""
    C, V, M = case_entry["C"], case_entry["V"], case_entry["M"]
    N, T = 2, 37
    gen = torch.Generator().manual_seed(SEED + 555)
    x = make_input(gen, N, C, T, V, M)
    xf = x.numpy()
    d = os.path.join(out, "bad_npy")
    os.makedirs(d, exist_ok=True)
    files = []

    def add(name, arr, expect, *alts):
        rel = f"bad_npy/{name}.npy"
        if arr is not None:
            np.save(os.path.join(out, rel), arr)
        files.append({"name": name, "file": rel, "expect": expect,
                      "expect_any": ([expect] + list(alts)) if expect else []})
        return rel

    add("rank4", xf[..., 0], "shape", "rank", "dim")
    add("int32", (xf * 100).astype(np.int32), "dtype")
    add("big_endian", xf.astype(">f4"), "endian", "dtype")
    fo = np.asfortranarray(xf)
    assert fo.flags.f_contiguous and not fo.flags.c_contiguous
    add("fortran", fo, "order")
    wrong_v = make_input(gen, N, C, T, V + 1, M).numpy()
    add("wrong_v", wrong_v, "shape")
    wrong_c = make_input(gen, N, C + 1, T, V, M).numpy()
    add("wrong_c", wrong_c, "shape")
    rel = add("truncated", xf, "truncated")
    data = open(os.path.join(out, rel), "rb").read()
    with open(os.path.join(out, rel), "wb") as f:
        f.write(data[: len(data) - xf.nbytes // 3])
    rel = "bad_npy/not_npy.npy"
    with open(os.path.join(out, rel), "wb") as f:
        f.write(b"hello, this is not an npy file\n")
    files.append({"name": "not_npy", "file": rel, "expect": "npy", "expect_any": ["npy"]})
    good = add("good_f64", xf.astype(np.float64), None)
    _, y64 = run_model(model, x)
    files[-1]["logits64"] = save_npy(out, "bad_npy/good_f64_logits64.npy", y64)
    assert good
    return {"model": case_entry["checkpoint"], "case": case_entry["name"], "files": files}


# --------------------------------------------------------------------------------------------
# ONNX exports (torch.onnx.export of the reference model)
# --------------------------------------------------------------------------------------------

# name, case, opset, softmax, do_constant_folding, keep BatchNorms (TrainingMode.PRESERVE),
# dynamic batch, aggregation, pooling (see stgcn_ref.model.set_export_variant)
ONNX_VARIANTS = [
    ("openpose_spatial_op12", "openpose_spatial", 12, False, True, False, False, "einsum", "mean"),
    ("openpose_spatial_op17_softmax", "openpose_spatial", 17, True, True, False, False, "einsum",
     "mean"),
    ("ntu_edge_spatial_m2_op13_dynbatch", "ntu_edge_spatial_m2", 13, False, True, False, True,
     "einsum", "mean"),
    ("mediapipe_spatial_2s_m5_op17", "mediapipe_spatial_2s_m5", 17, False, True, False, False,
     "einsum", "mean"),
    ("blazepose_spatial_2s_central_op13", "blazepose_spatial_2s_central", 13, False, True, False,
     False, "einsum", "mean"),
    ("coco_spatial_m2_op12_bn_unfolded", "coco_spatial_m2", 12, False, False, True, False,
     "einsum", "mean"),
    ("ntu_distance_h2_op17_nofold", "ntu_distance_h2", 17, False, False, False, False, "einsum",
     "mean"),
    ("openpose_oddwidths_op13_matmul_avgpool", "openpose_spatial_oddwidths", 13, False, True,
     False, False, "matmul", "avg_pool2d"),
    ("custom_spatial_h2_2s_op17_matmul_k_gap", "custom_spatial_h2_2s", 17, False, True, False,
     False, "matmul_k", "adaptive"),
    ("mediapipe_uniform_op12_avgpool", "mediapipe_uniform", 12, False, True, False, False,
     "einsum", "avg_pool2d"),
    ("coco_uniform_2s_central_m5_op17_softmax", "coco_uniform_2s_central_m5", 17, True, True,
     False, False, "einsum", "mean"),
    ("custom_distance_c2_op13", "custom_distance_c2", 13, False, True, False, False, "einsum",
     "mean"),
    ("seed_full_op17", "seed_full", 17, False, True, False, False, "einsum", "mean"),
]
# Tiny models of their own (small enough to seed the ONNX fuzzer): spec, widths, strides.
TINY_MODELS = {
    "onnx_tiny": (("onnx_tiny", "coco", "spatial", 1, 1, True, "first_difference", True,
                   2, 3, 12, 2, 3), [4, 4, 8], [1, 2, 1]),
    "onnx_tiny_1s": (("onnx_tiny_1s", "openpose", "distance", 1, 1, False, None, True,
                      2, 3, 10, 1, 4), [4, 8], [1, 2]),
    # Causal temporal padding: torch exports it as a Pad node before each temporal conv.
    "onnx_tiny_causal": (("onnx_tiny_causal", "coco", "spatial", 1, 1, True, "first_difference",
                          True, 2, 3, 13, 1, 3), [4, 8, 8], [1, 2, 1]),
}
CAUSAL_MODELS = {"onnx_tiny_causal"}


def padding_of(name: str) -> str:
    return "causal" if name in CAUSAL_MODELS else "centre"

TINY_VARIANTS = [
    ("tiny_2s_op17", "onnx_tiny", 17, False, True, False, False, "einsum", "mean"),
    ("tiny_1s_op12_bn_matmul_avgpool_dynbatch", "onnx_tiny_1s", 12, False, False, True, True,
     "matmul", "avg_pool2d"),
    ("tiny_2s_causal_op13", "onnx_tiny_causal", 13, False, True, False, False, "einsum", "mean"),
]


class WithSoftmax(torch.nn.Module):
    """The reference model followed by a softmax over the classes (an export option)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.softmax(self.model(x), dim=1)


def export_onnx(model, x, path, opset, fold=True, keep_bn=False, dynamic=False):
    import warnings
    kw = dict(opset_version=opset, do_constant_folding=fold, input_names=["input"],
              output_names=["output"])
    if dynamic:
        kw["dynamic_axes"] = {"input": {0: "N"}, "output": {0: "N"}}
    if keep_bn:  # an eval-mode model exported with PRESERVE keeps its BatchNormalization nodes
        kw["training"] = torch.onnx.TrainingMode.PRESERVE
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, path, **kw)


def ort_run(path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def softmax64(y: np.ndarray) -> np.ndarray:
    e = np.exp(y - y.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def build_onnx(out: str, cases, quick: bool):
    """Manifest ``onnx``: [{name, file, opset, softmax, two_stream, motion, dynamic_batch, case,
    checkpoint, input, logits64, output64, folded_bn, aggregation, pool, M, layout, custom_layout,
    edge_importance, C, V, K, num_class, widths, strides, ort_max_abs_diff, ops}].
    ``logits64`` are the model's logits before any softmax (what an importer returns);
    ``output64`` is what the ONNX graph outputs (softmax(logits64) for the softmax exports).
    ``folded_bn``: whether torch folded the BatchNorms after convs into them. Every export is
    checked with onnxruntime against PyTorch before it is listed."""
    from stgcn_ref.model import set_export_variant
    by_name = {c["name"]: c for c in cases}
    specs = {s[0]: (i, s, NARROW, SEED_STRIDES) for i, s in enumerate(CASES)}
    specs[ODD_CASE[0]] = (len(CASES), ODD_CASE, ODD_WIDTHS, ODD_STRIDES)
    specs[SEED_CASE[0]] = (len(CASES) + 1, SEED_CASE, SEED_WIDTHS, SEED_STRIDES)
    for k, (name, (spec, widths, strides)) in enumerate(TINY_MODELS.items()):
        specs[name] = (2000 + k, spec, widths, strides)
    items = []
    for (name, case, opset, smax, fold, keep_bn, dyn, agg, pool) in ONNX_VARIANTS + TINY_VARIANTS:
        if case not in by_name and case not in TINY_MODELS:
            continue  # --quick: no seed_full
        idx, spec, widths, strides = specs[case]
        model, x, A = make_case_model(spec, idx, out, widths, strides)
        base = f"onnx/{name}"
        if case in by_name:
            c = by_name[case]
            checkpoint, inp, l64 = c["checkpoint"], c["input"], c["logits64"]
        else:  # the tiny model: its own checkpoint
            checkpoint = torch_save(out, f"{base}/model.pt", model.state_dict())
            inp = save_npy(out, f"{base}/input.npy", x.numpy())
            l64 = save_npy(out, f"{base}/logits64.npy", run_model(model, x)[1])
        if dyn:  # exported with batch 1, checked with batch 3
            gen = torch.Generator().manual_seed(SEED + 4242)
            x = make_input(gen, 3, spec[9], spec[10], x.shape[3], spec[11])
            inp = save_npy(out, f"{base}/input.npy", x.numpy())
            l64 = save_npy(out, f"{base}/logits64.npy", run_model(model, x)[1])
        set_export_variant(model, agg, pool)
        net = WithSoftmax(model).eval() if smax else model
        rel = f"onnx/{name}.onnx"
        export_onnx(net, x[:1] if dyn else x, os.path.join(out, rel), opset, fold, keep_bn, dyn)
        y64 = np.load(os.path.join(out, l64))
        want = softmax64(y64) if smax else y64
        o64 = save_npy(out, f"{base}/output64.npy", want) if smax else l64
        got = ort_run(os.path.join(out, rel), x.numpy())
        diff = float(np.abs(got.astype(np.float64) - want).max())
        assert diff <= 1e-4 * max(1.0, float(np.abs(want).max())), (name, diff)
        import onnx
        m = onnx.load(os.path.join(out, rel))
        ops = {n.op_type for n in m.graph.node}
        two = spec[5]
        # Unfolded, every BatchNorm is a node; torch folds those after convs into the convs.
        n_bn = sum(n.op_type == "BatchNormalization" for n in m.graph.node)
        folded = n_bn == (2 if two else 1) * (1 + len(widths))
        assert folded != keep_bn, (name, n_bn)
        items.append({
            "name": name, "file": rel, "opset": opset, "softmax": smax, "two_stream": two,
            "motion": spec[6] if two else None, "dynamic_batch": dyn, "case": case,
            "checkpoint": checkpoint, "input": inp, "logits64": l64, "output64": o64,
            "folded_bn": folded,
            "aggregation": agg, "pool": pool, "M": spec[11],
            "layout": spec[1], "custom_layout": CUSTOM_PATH if spec[1] == "custom" else None,
            "edge_importance": spec[7], "C": spec[9], "V": int(A.shape[1]), "K": int(A.shape[0]),
            "num_class": spec[12], "widths": list(widths), "strides": list(strides),
            "ort_max_abs_diff": diff, "ops": sorted(ops),
            "temporal_padding": padding_of(case),
        })
    return items


def build_bad_onnx(out: str, tiny_rel: str):
    """Manifest ``bad_onnx``: [{name, file, expect, expect_any}] (lowercase substrings)."""
    import onnx
    d = os.path.join(out, "bad_onnx")
    os.makedirs(d, exist_ok=True)
    items = []

    def add(name, data: bytes, expect, *alts):
        rel = f"bad_onnx/{name}.onnx"
        with open(os.path.join(out, rel), "wb") as f:
            f.write(data)
        items.append({"name": name, "file": rel, "expect": expect,
                      "expect_any": [expect] + list(alts)})

    def parses(data: bytes) -> bool:
        try:
            onnx.ModelProto().ParseFromString(data)
            return True
        except Exception:  # noqa: BLE001 -- any protobuf decode error
            return False

    tiny = open(os.path.join(out, tiny_rel), "rb").read()
    add("empty", b"", "empty")
    cut = tiny[: len(tiny) * 6 // 10]
    assert not parses(cut)
    add("truncated", cut, "corrupt", "truncated")
    gen = torch.Generator().manual_seed(SEED + 99)
    rnd = torch.randint(0, 256, (4096,), generator=gen, dtype=torch.uint8).numpy().tobytes()
    rnd = b"\xff" + rnd[1:]  # field 31, wire type 7: invalid
    assert not parses(rnd)
    add("random_bytes", rnd, "corrupt", "onnx")

    # Valid ONNX files that are not ST-GCNs: the error names the first node not understood.
    import warnings
    for name, net, shape in [
        ("not_stgcn_mlp", torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                              torch.nn.Linear(32, 10)), (2, 16)),
        ("not_stgcn_conv3d", torch.nn.Sequential(torch.nn.Conv3d(3, 8, (3, 3, 1)), torch.nn.ReLU()),
         (1, 3, 12, 17, 2)),
    ]:
        torch.manual_seed(SEED + 5)
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net.eval(), torch.zeros(shape), buf, opset_version=13,
                              input_names=["input"], output_names=["output"])
        add(name, buf.getvalue(), "node")

    # The tiny ST-GCN with one weight initializer's shape corrupted: data size no longer
    # matches (names the initializer), or same size but the wrong shape (names the Conv).
    m = onnx.load_from_string(tiny)
    conv_w = next(i for i in m.graph.initializer if len(i.dims) == 4 and i.dims[2] == 9)
    conv_w.dims[1] -= 1
    add("bad_initializer_size", m.SerializeToString(), "initializer")
    m = onnx.load_from_string(tiny)
    conv_w = next(i for i in m.graph.initializer if len(i.dims) == 4 and i.dims[2] == 9)
    conv_w.dims[2], conv_w.dims[3] = conv_w.dims[3], conv_w.dims[2]
    add("bad_initializer_shape", m.SerializeToString(), "node")
    return items


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--quick", action="store_true", help="skip the full-width seed case")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    t0 = time.time()
    self_test()
    out = os.path.abspath(args.out_dir)
    os.makedirs(os.path.join(out, "layouts"), exist_ok=True)
    with open(os.path.join(out, CUSTOM_PATH), "w", encoding="utf-8") as f:
        json.dump(CUSTOM_LAYOUT, f, indent=1)

    graphs = build_graphs(out)
    cases = build_cases(out, args.quick)
    formats, plain_sd, _ = build_formats(out)
    bad = build_bad_checkpoints(out, plain_sd)
    npy_case = next(c for c in cases if c["name"] == "mediapipe_uniform")
    npy_model, _, _ = make_case_model(next(s for s in CASES if s[0] == "mediapipe_uniform"),
                                      0, out)
    npy_model.load_state_dict(torch.load(os.path.join(out, npy_case["checkpoint"])))
    bad_npy = build_bad_npy(out, npy_case, npy_model)
    onnx_items = build_onnx(out, cases, args.quick)
    bad_onnx = build_bad_onnx(out, next(o["file"] for o in onnx_items if o["name"] == "tiny_2s_op17"))

    manifest = {
        "generator": "python/gen_fixtures.py", "seed": SEED, "quick": bool(args.quick),
        "torch_version": torch.__version__, "numpy_version": np.__version__,
        "bn_eps": 1e-5, "custom_layouts": [CUSTOM_PATH],
        "graphs": graphs, "cases": cases, "formats": formats,
        "bad_checkpoints": bad, "bad_npy": bad_npy,
        "onnx": onnx_items, "bad_onnx": bad_onnx,
    }
    manifest["mm"] = build_mm(out)  # mmaction2 / pyskl ST-GCN(++) fixtures under OUT/mm/
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    print(f"gen_fixtures: {len(graphs)} graphs, {len(cases)} cases, "
          f"{len(formats['variants'])} format variants, {len(bad)} bad checkpoints, "
          f"{len(bad_npy['files'])} npy files, {len(onnx_items)} ONNX exports, "
          f"{len(bad_onnx)} bad ONNX files -> {out} in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
