#!/usr/bin/env python3
"""Train an mmaction2-style ST-GCN++ on the procedural skeleton-action dataset (COCO-17 joints).

Usage (from ``python/``, with the project venv)::

    nice -n 19 ../.venv/bin/python train_mm.py [--out ../models/trained/stgcnpp]
        [--work /tmp/stgcnpp_train] [--dump /tmp/stgcnpp_data] [--epochs 6]
        [--time-budget SECONDS] [--base-channels 64] [--resume] [--export-only] [--tiny]
        [--temporal-padding causal --init ../models/trained/stgcnpp/stgcnpp_actions.pth]

Model: ``stgcn_ref.mm_model.MMSTGCN`` configured as mmaction2 1.x's ST-GCN++ (``STGCN`` backbone
with ``gcn_adaptive='init'``, ``gcn_with_res=True``, ``tcn_type='mstcn'``, graph ``coco`` /
``spatial``, ``data_bn_type='VC'``, ``base_channels`` 64, ``ch_ratio`` 2, 10 stages, inflate /
down stages 5 and 8; ``GCNHead`` with ``cls_head.fc``); 1.38 M parameters for 10 classes. Its
state-dict keys are exactly mmaction2's (``backbone.*``, ``cls_head.fc.*``).

Input, as mmaction2 feeds ``RecognizerGCN``: ``(N, M=1, T, V=17, C=3)`` (``nmtvc``), channels
(x, y, score): the generator's image-normalised 2-D projection (x = u / width, y = v / height)
and its per-joint confidence as the score; a missing joint is (0, 0, 0). The 17 joints are the
COCO keypoints, copied from the generator's 33 MediaPipe joints (``skeleton_data`` layout
``coco``). No further normalisation (``data_bn`` sees the raw values).

Data, splits and seeds follow ``train.py``: ``skeleton_data.generate(split, per_class, seed,
layout='coco')`` in memory (the same motions as ``train.py``'s splits), train / calib / test;
training on random temporal crops covering each sample's event window (``--crops``), model
selection on the calib split, evaluation at the full T = 150. ``--time-budget S`` caps the
training steps' time: the cosine learning-rate schedule then runs on
``max(step progress, time progress)`` and training stops when either reaches 1 (so the run fits
the budget on a loaded machine; the number of steps done is recorded).

Writes into ``--out`` (``OUT/causal/`` with ``--temporal-padding causal``):
``stgcnpp_actions.pth`` (an mmengine-style checkpoint dict ``{'meta': {...}, 'state_dict':
OrderedDict}``, float tensors stored as FP16), ``classes.json``, ``test_input.npy`` (the first 16
test sequences covering every class, ``(16, 1, 150, 17, 3)`` float32 nmtvc), ``test_labels.npy``
(int64), ``test_logits.npy`` (float32: the FP16 checkpoint widened to FP32, run in FP32) and
``metrics.json``. Into ``--dump`` (never inside the repository): ``calib_input.npy`` /
``calib_labels.npy`` / ``test_input.npy`` / ``test_labels.npy`` (full splits, nmtvc float32,
int64 labels) and ``meta.json``, for ``stgcn build --precision int8 --calib`` and
``stgcn validate``. Training state goes to ``--work`` (``last.pt`` / ``best.pt``; ``--resume``).
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import math
import os
import platform
import sys
import time
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from skeleton_data import CLASSES  # noqa: E402
from skeleton_data.generate import generate  # noqa: E402
from stgcn_ref import ckpt_tools as ct  # noqa: E402
from stgcn_ref.mm_model import (MMSTGCN, MMConfig, TEMPORAL_PADDINGS,  # noqa: E402
                                count_parameters)
from train import HEAVY_DROPOUT, augment_xy, crop_batch, metrics_of, save_atomic  # noqa: E402

LAYOUT, MODE = "coco", "spatial"
CKPT_NAME = "stgcnpp_actions.pth"
COCO_JOINTS = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
               "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
               "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]


def log(msg: str, fh=None) -> None:
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    if fh is not None:
        fh.write(line + "\n")
        fh.flush()


def inside(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([path, root]) == root


def mm_config(num_class: int, base_channels: int = 64, temporal_padding: str = "centre") -> MMConfig:
    return MMConfig.stgcnpp(layout=LAYOUT, mode=MODE, in_channels=3, base_channels=base_channels,
                            ch_ratio=2, num_stages=10, inflate_stages=(5, 8), down_stages=(5, 8),
                            data_bn_type="VC", num_person=1, num_classes=num_class, head="fc",
                            temporal_padding=temporal_padding)


def build(num_class: int, base_channels: int = 64, temporal_padding: str = "centre") -> MMSTGCN:
    return MMSTGCN(mm_config(num_class, base_channels, temporal_padding))


def config_text(cfg: MMConfig, head_in: int) -> str:
    """The equivalent mmaction2 1.x model config (``temporal_padding='causal'`` is ours)."""
    extra = "" if cfg.temporal_padding == "centre" else \
        "        # NOT mmaction2: every temporal conv / max-pool padded on the left only (causal)\n"
    return ("model = dict(\n    type='RecognizerGCN',\n    backbone=dict(\n        type='STGCN',\n"
            f"        in_channels={cfg.in_channels}, base_channels={cfg.base_channels}, "
            f"ch_ratio={cfg.ch_ratio}, num_stages={cfg.num_stages},\n"
            f"        inflate_stages={list(cfg.inflate_stages)}, "
            f"down_stages={list(cfg.down_stages)}, data_bn_type='{cfg.data_bn_type}',\n"
            f"        gcn_adaptive='{cfg.gcn_adaptive}', gcn_with_res={cfg.gcn_with_res}, "
            f"tcn_type='{cfg.tcn_type}',\n"
            f"        graph_cfg=dict(layout='{cfg.layout}', mode='{cfg.mode}')),\n" + extra +
            f"    cls_head=dict(type='GCNHead', num_classes={cfg.num_classes}, "
            f"in_channels={head_in}))\n")


def to_nmtvc(x: np.ndarray) -> np.ndarray:
    """(N, C, T, V, M) -> (N, M, T, V, C) float32, contiguous."""
    return np.ascontiguousarray(x.transpose(0, 4, 2, 3, 1), dtype=np.float32)


@torch.no_grad()
def predict(model, x: np.ndarray, batch: int = 20, dtype=torch.float32) -> np.ndarray:
    """Logits (float64 numpy) of nmtvc samples ``x``."""
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        out.append(model(torch.from_numpy(x[i:i + batch]).to(dtype)).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def fp16_roundtrip(model):
    m = copy.deepcopy(model)
    m.load_state_dict(ct.map_float_tensors(model.state_dict(), lambda t: t.half().float()))
    return m


def lr_at(step: int, progress: float, base: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from ``base`` to 2 % of it over
    ``progress`` in [0, 1]."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def load_state_dict_any(path: str):
    ck = torch.load(path, map_location="cpu")
    if isinstance(ck, dict) and "state_dict" in ck:
        ck = ck["state_dict"]
    return ct.map_float_tensors(ck, lambda t: t.float())


def main(argv: List[str] = None) -> int:
    t_start = time.time()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "trained", "stgcnpp"))
    ap.add_argument("--work", default="/tmp/stgcnpp_train")
    ap.add_argument("--dump", default="/tmp/stgcnpp_data",
                    help="calib / test splits as nmtvc .npy for the C++ tools (not in the repo); "
                         "'' = do not write them")
    ap.add_argument("--seed", type=int, default=20240611, help="dataset seed")
    ap.add_argument("--train-seed", type=int, default=1, help="init / batch order / crops")
    ap.add_argument("--train-per-class", type=int, default=120)
    ap.add_argument("--calib-per-class", type=int, default=20)
    ap.add_argument("--test-per-class", type=int, default=30)
    ap.add_argument("--base-channels", type=int, default=64,
                    help="mmaction2 base_channels (widths b, 2b, 4b); default 64 = mmaction2's")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--time-budget", type=float, default=0.0,
                    help="seconds of training steps; 0 = no limit (pure step schedule)")
    ap.add_argument("--batch", type=int, default=16,
                    help="16: also the smallest batch for which PyTorch uses oneDNN for 1x1 "
                         "convs on one thread (batch 8 is ~3x slower per sample)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.05)
    ap.add_argument("--crops", default="32:0.3,48:0.4,96:0.2,150:0.1",
                    help="crop lengths and probabilities (a length >= T = the whole sequence)")
    ap.add_argument("--augment", type=int, default=0, help="random scale/shift of (x, y)")
    ap.add_argument("--val-max", type=int, default=100, help="calib samples evaluated per epoch")
    ap.add_argument("--ckpt-every", type=int, default=20, help="steps between checkpoints")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--heavy", type=int, default=1,
                    help="also evaluate the test motions with heavy drop-outs (fp32)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export-only", action="store_true",
                    help="skip training; evaluate and export from --work/best.pt")
    ap.add_argument("--tiny", action="store_true",
                    help="smoke test: 2 samples/class, 1 epoch, short crops")
    ap.add_argument("--n-bundle", type=int, default=16, help="bundled test sequences")
    ap.add_argument("--temporal-padding", choices=TEMPORAL_PADDINGS, default="centre",
                    help="causal: every temporal conv / the mstcn max-pool pad on the left only "
                         "(mm_model's causal variant); writes OUT/causal/*_causal.pth")
    ap.add_argument("--init", default=None,
                    help="start from this checkpoint's weights (mmengine-style dict or bare "
                         "state dict, e.g. the centre-padded model to fine-tune a causal one)")
    args = ap.parse_args(argv)
    if args.tiny:
        args.train_per_class, args.calib_per_class, args.test_per_class = 2, 1, 2
        args.epochs, args.crops, args.val_max, args.ckpt_every = 1, "16:0.5,24:0.5", 10, 1
        args.heavy = 0
    if args.dump and inside(args.dump, ROOT):
        ap.error(f"--dump {args.dump} is inside the repository")
    causal = args.temporal_padding == "causal"
    tp = args.temporal_padding
    out_dir = os.path.join(args.out, "causal") if causal else args.out
    ckpt_name = CKPT_NAME.replace(".pth", "_causal.pth") if causal else CKPT_NAME

    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    fh = open(os.path.join(args.work, "train.log"), "a", encoding="utf-8")
    log(f"args: {vars(args)}", fh)

    # ---------------- data ----------------
    t0 = time.time()
    data = {s: generate(s, n, args.seed, layout=LAYOUT) for s, n in
            (("train", args.train_per_class), ("calib", args.calib_per_class),
             ("test", args.test_per_class))}
    seen = set()
    for s, d in data.items():
        assert not (seen & set(d["hashes"])), f"split overlap in {s}"
        seen |= set(d["hashes"])
    classes = list(CLASSES)
    C, T = len(classes), data["train"]["data"].shape[2]
    V = data["train"]["data"].shape[3]
    assert V == len(COCO_JOINTS) == 17
    xca, yca = to_nmtvc(data["calib"]["data"]), data["calib"]["label"]
    xte, yte = to_nmtvc(data["test"]["data"]), data["test"]["label"]
    log(f"data ready in {time.time() - t0:.1f} s: " +
        ", ".join(f"{s} {data[s]['data'].shape} (nctvm)" for s in ("train", "calib", "test")), fh)
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
        for name, arr in (("calib_input.npy", xca), ("calib_labels.npy", yca.astype(np.int64)),
                          ("test_input.npy", xte), ("test_labels.npy", yte.astype(np.int64))):
            np.save(os.path.join(args.dump, name), arr)
        with open(os.path.join(args.dump, "meta.json"), "w", encoding="utf-8") as f:
            json.dump({"generator": "skeleton_data", "layout": LAYOUT, "joints": COCO_JOINTS,
                       "classes": classes, "input_layout": "nmtvc",
                       "shape": "N, M, T, V, C", "channels": ["x", "y", "score"],
                       "seed": args.seed,
                       "per_class": {"calib": args.calib_per_class, "test": args.test_per_class},
                       "calib": list(xca.shape), "test": list(xte.shape),
                       "written_by": "python/train_mm.py"}, f, indent=1)
        log(f"dumped calib {xca.shape} / test {xte.shape} (nmtvc) to {args.dump}", fh)

    # ---------------- model ----------------
    torch.manual_seed(args.train_seed)
    model = build(C, args.base_channels, tp)
    if args.init and not (args.resume and os.path.exists(os.path.join(args.work, "last.pt"))):
        model.load_state_dict(load_state_dict_any(args.init))
        log(f"initialised from {args.init}", fh)
    n_params = count_parameters(model)
    log(f"model: ST-GCN++ base {args.base_channels}, widths {model.widths}, strides "
        f"{model.strides}, {n_params} parameters, {len(model.state_dict())} state-dict keys, "
        f"temporal padding {tp}", fh)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    crops = [(int(a), float(b)) for a, b in (c.split(":") for c in args.crops.split(","))]
    crop_len = np.array([c[0] for c in crops])
    crop_p = np.array([c[1] for c in crops]) / sum(c[1] for c in crops)

    xtr, ytr, wtr = data["train"]["data"], data["train"]["label"], data["train"]["window"]
    ntr = len(ytr)
    steps_per_epoch = ntr // args.batch
    total = steps_per_epoch * args.epochs
    warmup = min(30, total // 10 + 1)
    state = {"epoch": 0, "step": 0, "global_step": 0, "history": [], "best_acc": -1.0,
             "train_seconds": 0.0, "stopped_by_time_budget": False}
    last_path = os.path.join(args.work, "last.pt")
    best_path = os.path.join(args.work, "best.pt")
    if args.resume or args.export_only:
        if os.path.exists(last_path):
            ck = torch.load(last_path, map_location="cpu")
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
            state = ck["state"]
            log(f"resumed from {last_path}: epoch {state['epoch']} step {state['step']}", fh)
        elif args.export_only:
            raise SystemExit(f"--export-only needs {last_path}")

    def checkpoint(path=last_path):
        save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                     "args": vars(args)}, path)

    def progress() -> float:
        p = (state["global_step"] - warmup) / max(1, total - warmup)
        if args.time_budget > 0:
            p = max(p, state["train_seconds"] / args.time_budget)
        return p

    xva, yva = xca[:args.val_max], yca[:args.val_max]
    done = args.export_only or state["epoch"] >= args.epochs or state["stopped_by_time_budget"]
    while not done:
        ep = state["epoch"]
        perm = np.random.default_rng([args.train_seed, ep]).permutation(ntr)
        model.train()
        t_ep = time.time()
        run_loss, run_acc, run_n = 0.0, 0.0, 0
        while state["step"] < steps_per_epoch:
            b = state["step"]
            t_step = time.time()
            idx = perm[b * args.batch:(b + 1) * args.batch]
            rng = np.random.default_rng([args.train_seed, ep, b])
            L = int(rng.choice(crop_len, p=crop_p))
            xb = crop_batch(xtr[idx], wtr[idx], L, rng)
            if args.augment:
                xb = augment_xy(xb, rng)
            xb = torch.from_numpy(to_nmtvc(xb))
            yb = torch.from_numpy(ytr[idx])
            torch.manual_seed(args.train_seed * 1000003 + ep * 10007 + b)
            lr = lr_at(state["global_step"], progress(), args.lr, warmup)
            for g in opt.param_groups:
                g["lr"] = lr
            model.train()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run_loss += loss.item() * len(idx)
            run_acc += (logits.argmax(1) == yb).float().sum().item()
            run_n += len(idx)
            state["step"] += 1
            state["global_step"] += 1
            state["train_seconds"] += time.time() - t_step
            over = 0 < args.time_budget <= state["train_seconds"] and state["global_step"] < total
            if state["step"] % 5 == 0 or state["step"] == steps_per_epoch or over:
                log(f"ep {ep + 1}/{args.epochs} step {state['step']}/{steps_per_epoch} L={L} "
                    f"loss {run_loss / run_n:.3f} acc {run_acc / run_n:.3f} lr {lr:.2e} "
                    f"{time.time() - t_step:.1f} s/step, trained {state['train_seconds']:.0f} s",
                    fh)
            if over:
                state["stopped_by_time_budget"] = True
                log(f"time budget {args.time_budget:.0f} s reached after "
                    f"{state['global_step']} steps", fh)
                break
            if state["step"] % args.ckpt_every == 0 and state["step"] < steps_per_epoch:
                checkpoint()
        t_val = time.time()
        acc = metrics_of(predict(model, xva), yva, C)["accuracy"]
        ep_time = time.time() - t_ep
        partial = state["step"] < steps_per_epoch
        state["history"].append({"epoch": ep + (state["step"] / steps_per_epoch if partial else 1),
                                 "steps": state["step"],
                                 "train_loss": run_loss / max(run_n, 1),
                                 "train_acc_running": run_acc / max(run_n, 1),
                                 "calib_acc": acc, "epoch_seconds": ep_time,
                                 "val_seconds": time.time() - t_val})
        log(f"epoch {ep + 1}{' (partial)' if partial else ''} done in {ep_time:.0f} s "
            f"(val {time.time() - t_val:.0f} s): calib acc (T={T}, {len(yva)} samples) {acc:.3f}",
            fh)
        state["epoch"] += 1
        state["step"] = 0
        if acc >= state["best_acc"]:
            state["best_acc"] = acc
            state["best_epoch"] = state["history"][-1]["epoch"]
            state["best_global_step"] = state["global_step"]
            checkpoint(best_path)
        checkpoint()
        done = state["epoch"] >= args.epochs or state["stopped_by_time_budget"]

    # ---------------- evaluation + export ----------------
    if os.path.exists(best_path):
        model.load_state_dict(torch.load(best_path, map_location="cpu")["model"])
        log(f"exporting best.pt (epoch {state.get('best_epoch')}, calib acc "
            f"{state['best_acc']:.3f})", fh)
    model.eval()
    m16 = fp16_roundtrip(model)
    res: Dict = {}
    t_ev = time.time()
    ntrain_eval = min(ntr, 100)
    lg = predict(model, to_nmtvc(xtr[:ntrain_eval]))
    res["train_subset"] = {"fp32": metrics_of(lg, ytr[:ntrain_eval], C)}
    log(f"train_subset: fp32 acc {res['train_subset']['fp32']['accuracy']:.4f} "
        f"(N={ntrain_eval})", fh)
    for s, x, y, both in (("calib", xca, yca, False), ("test", xte, yte, True)):
        lg16 = predict(m16, x)
        r = {"fp16_weights": metrics_of(lg16, y, C)}
        if both:  # FP32 master weights too (agreement of the FP16 checkpoint)
            lg32 = predict(model, x)
            r["fp32"] = metrics_of(lg32, y, C)
            r["fp16_vs_fp32_pred_agreement"] = float((lg16.argmax(1) == lg32.argmax(1)).mean())
            r["fp16_vs_fp32_max_abs_logit_diff"] = float(np.abs(lg16 - lg32).max())
        res[s] = r
        log(f"{s}: fp16-weights acc {r['fp16_weights']['accuracy']:.4f}" +
            (f"  fp32 acc {r['fp32']['accuracy']:.4f}  agreement "
             f"{r['fp16_vs_fp32_pred_agreement']:.4f}" if both else "") + f"  (N={len(y)})", fh)
    if args.heavy:
        heavy = generate("test", args.test_per_class, args.seed, layout=LAYOUT, **HEAVY_DROPOUT)
        lg = predict(m16, to_nmtvc(heavy["data"]))
        res["test_heavy_dropout"] = {"fp16_weights": metrics_of(lg, heavy["label"], C),
                                     "generator_overrides": HEAVY_DROPOUT,
                                     "missing_fraction": float((heavy["data"][:, 2] == 0).mean())}
        log(f"test with heavy drop-outs ({res['test_heavy_dropout']['missing_fraction']:.3f} "
            f"missing): fp16-weights acc "
            f"{res['test_heavy_dropout']['fp16_weights']['accuracy']:.4f}", fh)
    log(f"evaluation took {time.time() - t_ev:.0f} s", fh)

    cfg = model.cfg
    sd16 = ct.map_float_tensors(model.state_dict(), lambda t: t.half())
    assert isinstance(sd16, collections.OrderedDict)
    assert all(k.startswith(("backbone.", "cls_head.fc.")) for k in sd16)
    meta = {
        # mmengine: completed epochs / iterations of the saved weights (best calib accuracy)
        "epoch": int(state.get("best_epoch") or 0), "iter": state.get("best_global_step"),
        "cfg": config_text(cfg, model.widths[-1]),
        "seed": args.train_seed,
        "experiment_name": "stgcnpp_actions" + ("_causal" if causal else ""),
        "time": time.strftime("%Y%m%d_%H%M%S"),
        "dataset_meta": {"classes": classes},
        "trainer": "stgcn-rt python/train_mm.py (not mmengine); float tensors stored as FP16",
        "temporal_padding": tp,
        "input_layout": "nmtvc",
    }
    ck_path = os.path.join(out_dir, ckpt_name)
    torch.save({"meta": meta, "state_dict": sd16}, ck_path)
    back = torch.load(ck_path, map_location="cpu")["state_dict"]
    assert list(back) == list(sd16) and all(torch.equal(back[k], sd16[k]) for k in sd16)
    m32 = build(C, args.base_channels, tp)
    m32.load_state_dict(ct.map_float_tensors(back, lambda t: t.float()))

    # Bundled test set: the first test samples covering every class, then the next ones.
    first = [int(np.nonzero(yte == c)[0][0]) for c in range(C) if np.any(yte == c)]
    rest = [i for i in range(len(yte)) if i not in first]
    pick = sorted((first + rest)[:args.n_bundle])
    x_b = np.ascontiguousarray(xte[pick])
    y_b = yte[pick].astype(np.int64)
    lg_b = predict(m32, x_b).astype(np.float32)
    data_dir = "../" if causal else ""
    shared = os.path.dirname(out_dir) if causal else out_dir
    for name, arr in (("test_input.npy", x_b), ("test_labels.npy", y_b)):
        path = os.path.join(shared, name)
        if causal and os.path.exists(path):
            assert np.array_equal(np.load(path), arr), f"{path} holds other sequences"
        else:
            np.save(path, arr)
    np.save(os.path.join(out_dir, "test_logits.npy"), lg_b)
    bundled = {"input": data_dir + "test_input.npy", "labels": data_dir + "test_labels.npy",
               "logits": "test_logits.npy (float32, FP16 weights widened to FP32)",
               "test_split_indices": pick}
    log(f"bundled test set: {len(pick)} sequences, accuracy "
        f"{float((lg_b.argmax(1) == y_b).mean()):.3f}", fh)

    spec = {
        "classes": classes, "num_class": C,
        "input_layout": "nmtvc",
        "input": {"shape": ["N", 1, T, V, 3], "layout": "nmtvc",
                  "channels": ["x", "y", "score"],
                  "coordinates": "image-normalised: x = u / width, y = v / height, nominally "
                                 "[0, 1] (origin top-left, y down); score = the generator's "
                                 "per-joint confidence; missing joint = (0, 0, 0); no further "
                                 "normalisation",
                  "joints": "COCO-17 keypoints (" + ", ".join(COCO_JOINTS) + "), copied from "
                            "the generator's MediaPipe joints (skeleton_data layout 'coco')",
                  "T": T, "fps": 30},
        "model": {"family": "stgcn++", "framework": "mmaction2 1.x RecognizerGCN "
                                                    "(STGCN backbone + GCNHead)",
                  "layout": LAYOUT, "graph_mode": MODE, "gcn_adaptive": cfg.gcn_adaptive,
                  "gcn_with_res": cfg.gcn_with_res, "tcn_type": cfg.tcn_type,
                  "data_bn_type": cfg.data_bn_type, "base_channels": cfg.base_channels,
                  "ch_ratio": cfg.ch_ratio, "num_stages": cfg.num_stages,
                  "inflate_stages": list(cfg.inflate_stages),
                  "down_stages": list(cfg.down_stages),
                  "temporal_padding": tp,
                  "widths": model.widths, "strides": model.strides,
                  "in_channels": 3, "V": V, "M": 1, "K": 3,
                  "num_parameters": n_params,
                  "checkpoint": ckpt_name,
                  "checkpoint_dtype": "float16 (mmengine-style dict: meta + state_dict)",
                  "input_layout": "nmtvc"},
        "output": "logits (N, num_class), no softmax",
        "dataset": {"name": "skeleton_data (procedural), layout coco", "seed": args.seed,
                    "per_class": {"train": args.train_per_class, "calib": args.calib_per_class,
                                  "test": args.test_per_class}},
        "accuracy": {s: {k: r[k]["accuracy"] for k in ("fp32", "fp16_weights") if k in r}
                     for s, r in res.items()},
        "bundled_test": bundled,
    }
    with open(os.path.join(out_dir, "classes.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=1)
    wall = time.time() - t_start
    metrics = {"results": res, "history": state["history"], "best_epoch": state.get("best_epoch"),
               "best_global_step": state.get("best_global_step"),
               "epochs_planned": args.epochs, "steps_done": state["global_step"],
               "steps_planned": total, "stopped_by_time_budget": state["stopped_by_time_budget"],
               "train_seconds": state["train_seconds"],
               "wall_seconds": wall, "num_parameters": n_params,
               "base_channels": args.base_channels, "widths": model.widths,
               "args": vars(args), "torch": torch.__version__, "numpy": np.__version__,
               "host": {"machine": platform.machine(), "processor": platform.processor(),
                        "cpus": os.cpu_count(), "threads": args.threads}}
    with open(os.path.join(out_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=1)
    total_bytes = sum(os.path.getsize(os.path.join(out_dir, p)) for p in os.listdir(out_dir)
                      if os.path.isfile(os.path.join(out_dir, p)))
    log(f"wrote {out_dir} ({total_bytes / 1e6:.2f} MB), wall {wall:.0f} s", fh)
    fh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
