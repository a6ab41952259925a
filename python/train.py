#!/usr/bin/env python3
"""Train the seed-architecture two-stream ST-GCN on the procedural skeleton-action dataset.

Usage (from ``python/``, with the project venv)::

    nice -n 19 ../.venv/bin/python train.py [--out ../models/trained] [--work /tmp/stgcn_train]
        [--epochs 6] [--resume] [--export-only] [--tiny]
        [--temporal-padding causal --init ../models/trained/stgcn_seed_actions.pt]

``--temporal-padding causal`` trains the same model with causal temporal convs (for delay-free
continual streaming) into ``OUT/causal/``; ``--init`` starts from a checkpoint's weights (the
causal demo model is the centre-padded one fine-tuned for 2 epochs at lr 3e-4).

Model: exactly the seed architecture -- two streams (origin + motion, ``first_difference``),
blocks 64-64-64-64-128-128-128-256-256-256 with the seed strides, layout ``mediapipe`` (the seed's
edge list), strategy ``spatial``, max_hop 1, edge importance on, C=3, V=33, M=1; trained on random
temporal crops (fully convolutional in time), evaluated on the full T=150.

Data: ``skeleton_data`` generated in memory from ``--seed`` (deterministic; see docs/dataset.md).

Writes into ``--out``: ``stgcn_seed_actions.pt`` (plain state_dict, float tensors in FP16),
``classes.json``, ``test_input.npy`` (16 x 3 x 150 x 33 x 1 float32), ``test_labels.npy`` (int64),
``test_logits.npy`` (float32: the FP16 checkpoint widened to FP32, run in FP32 by PyTorch),
``test_logits64.npy`` (the same in float64) and ``metrics.json``. Training state goes to
``--work`` (``last.pt`` every ``--ckpt-every`` steps and at each epoch end; ``best.pt`` = best
calibration-split accuracy), so ``--resume`` continues an interrupted run exactly.

``--dataset volleyball`` trains the same two-stream family (layout ``blazepose``, T = 30,
``--widths`` default 16-16-16-16-32-32-32-64-64-64) on the real recordings read at run time from
``../shared/data/volleyball-signals`` (never copied into the repository) and writes
``OUT/volleyball/``: ``stgcn_volleyball.pt``, ``classes.json``, ``metrics.json`` and
``test_logits.npy`` / ``test_index.npy`` (logits of the test recordings, and their indices in the
npz), but no input data.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from skeleton_data import CLASSES  # noqa: E402
from skeleton_data.generate import generate  # noqa: E402
from skeleton_data import volleyball  # noqa: E402
from stgcn_ref import ckpt_tools as ct  # noqa: E402
from stgcn_ref.graph import build_graph  # noqa: E402
from stgcn_ref.model import (SEED_STRIDES, SEED_WIDTHS, TEMPORAL_PADDINGS,  # noqa: E402
                             TwoStreamSTGCN, count_parameters)

STRATEGY, MAX_HOP, MOTION = "spatial", 1, "first_difference"
HEAVY_DROPOUT = {"dropout_rate": (0.0, 0.04), "burst_prob": 0.3, "frame_loss_prob": 0.15}
DATASETS = {
    # name: (layout, checkpoint file, output sub-directory, default widths)
    "synthetic": ("mediapipe", "stgcn_seed_actions.pt", "", SEED_WIDTHS),
    "volleyball": ("blazepose", "stgcn_volleyball.pt", "volleyball",
                   (16, 16, 16, 16, 32, 32, 32, 64, 64, 64)),
}


def log(msg: str, fh=None) -> None:
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    if fh is not None:
        fh.write(line + "\n")
        fh.flush()


def build(num_class: int, dropout: float, widths=SEED_WIDTHS, layout: str = "mediapipe",
          temporal_padding: str = "centre") -> TwoStreamSTGCN:
    A = build_graph(layout, STRATEGY, MAX_HOP, 1)
    return TwoStreamSTGCN(3, num_class, A, True, widths, SEED_STRIDES, dropout=dropout,
                          motion=MOTION, temporal_padding=temporal_padding)


def crop_batch(x: np.ndarray, win: np.ndarray, L: int, rng: np.random.Generator) -> np.ndarray:
    """Random length-``L`` temporal crops covering each sample's event window (as much of it
    as fits)."""
    N, C, T = x.shape[:3]
    if L >= T:
        return x
    a, b = win[:, 0], win[:, 1]
    long_ = (b - a) >= L
    lo = np.where(long_, a, np.maximum(0, b - L))
    hi = np.where(long_, b - L, np.minimum(a, T - L))
    hi = np.maximum(hi, lo)
    start = lo + np.floor(rng.random(N) * (hi - lo + 1)).astype(np.int64)
    start = np.clip(start, 0, T - L)
    return np.stack([x[i, :, s:s + L] for i, s in enumerate(start)])


def augment_xy(x: np.ndarray, rng: np.random.Generator, scale=0.1, shift=0.05) -> np.ndarray:
    """Random per-sample scale about the image centre and shift of (x, y); missing joints
    (confidence 0) stay (0, 0, 0)."""
    N = len(x)
    k = rng.uniform(1 - scale, 1 + scale, (N, 1, 1, 1, 1))
    d = rng.uniform(-shift, shift, (N, 2, 1, 1, 1))
    out = x.copy()
    present = x[:, 2:3] > 0
    out[:, :2] = np.where(present, (x[:, :2] - 0.5) * k + 0.5 + d, 0.0)
    return out.astype(np.float32)


@torch.no_grad()
def predict(model, x: np.ndarray, batch: int = 16, dtype=torch.float32) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        out.append(model(torch.from_numpy(x[i:i + batch]).to(dtype)).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def metrics_of(logits: np.ndarray, labels: np.ndarray, C: int) -> Dict:
    pred = logits.argmax(1)
    cm = np.zeros((C, C), np.int64)
    np.add.at(cm, (labels, pred), 1)
    per = (np.diag(cm) / np.maximum(cm.sum(1), 1)).tolist()
    return {"accuracy": float((pred == labels).mean()), "N": int(len(labels)),
            "per_class": per, "confusion": cm.tolist()}


def fp16_roundtrip(model):
    """Copy of ``model`` whose float tensors are rounded to FP16 and widened back to FP32."""
    m = copy.deepcopy(model)
    m.load_state_dict(ct.map_float_tensors(model.state_dict(), lambda t: t.half().float()))
    return m


def save_atomic(obj, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def load_data(args) -> Dict:
    """``{"classes", "layout", "T", "train", "calib", "test", "source"}``; each split has
    ``data`` float32 (N, 3, T, V, 1), ``label`` int64 and ``window`` int64 (N, 2)."""
    if args.dataset == "volleyball":
        d = volleyball.load(args.volleyball_path)
        d.update(layout=DATASETS["volleyball"][0], T=d["train"]["data"].shape[2],
                 source={"name": "volleyball-signals (real, one subject)",
                         "file": "../shared/data/volleyball-signals/volleyball_signals.npz",
                         "split": "first 40 recordings per class train (= calib), last 10 test"})
        return d
    data = {s: generate(s, n, args.seed) for s, n in
            (("train", args.train_per_class), ("calib", args.calib_per_class),
             ("test", args.test_per_class))}
    seen = set()
    for s, d in data.items():
        assert not (seen & set(d["hashes"])), f"split overlap in {s}"
        seen |= set(d["hashes"])
    data.update(classes=list(CLASSES), layout=DATASETS["synthetic"][0],
                T=data["train"]["data"].shape[2],
                source={"name": "skeleton_data (procedural)", "seed": args.seed,
                        "per_class": {"train": args.train_per_class,
                                      "calib": args.calib_per_class,
                                      "test": args.test_per_class}})
    return data


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="synthetic")
    ap.add_argument("--volleyball-path", default=volleyball.DEFAULT_PATH)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "models", "trained"))
    ap.add_argument("--work", default=None, help="default /tmp/stgcn_train[_volleyball]")
    ap.add_argument("--seed", type=int, default=20240611, help="dataset seed")
    ap.add_argument("--train-seed", type=int, default=1, help="init / batch order / crops")
    ap.add_argument("--train-per-class", type=int, default=120)
    ap.add_argument("--calib-per-class", type=int, default=20)
    ap.add_argument("--test-per-class", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=None, help="default 6 (volleyball 40)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--label-smoothing", type=float, default=0.05)
    ap.add_argument("--crops", default=None,
                    help="crop lengths and probabilities, e.g. 48:0.35,64:0.35,150:0.3 "
                         "(a length >= T = the whole sequence); volleyball default 30:1")
    ap.add_argument("--augment", type=int, default=None,
                    help="random scale/shift of (x, y) (default: 1 for volleyball, 0 otherwise)")
    ap.add_argument("--val-max", type=int, default=200, help="calib samples evaluated per epoch")
    ap.add_argument("--ckpt-every", type=int, default=20, help="steps between checkpoints")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export-only", action="store_true",
                    help="skip training; evaluate and export from --work/best.pt")
    ap.add_argument("--tiny", action="store_true",
                    help="smoke test: 2 samples/class, 1 epoch, short crops")
    ap.add_argument("--n-bundle", type=int, default=16, help="bundled test sequences")
    ap.add_argument("--temporal-padding", choices=TEMPORAL_PADDINGS, default="centre",
                    help="causal: pad kt-1 frames on the left only (a model that streams without "
                         "delay in continual mode); writes OUT/causal/*_causal.pt")
    ap.add_argument("--init", default=None,
                    help="start from this checkpoint's weights (a plain state dict, e.g. the "
                         "centre-padded model, to fine-tune it into a causal one)")
    ap.add_argument("--widths", default=None,
                    help="10 block widths; default: the seed widths "
                         f"{','.join(map(str, SEED_WIDTHS))} (synthetic), "
                         "16,16,16,16,32,32,32,64,64,64 (volleyball)")
    args = ap.parse_args(argv)
    vb = args.dataset == "volleyball"
    layout, ckpt_name, subdir, default_widths = DATASETS[args.dataset]
    widths = [int(w) for w in args.widths.split(",")] if args.widths else list(default_widths)
    assert len(widths) == len(SEED_STRIDES), "--widths needs 10 values"
    if args.work is None:
        args.work = "/tmp/stgcn_train" + ("_volleyball" if vb else "")
    if args.epochs is None:
        args.epochs = 40 if vb else 6
    if args.crops is None:
        args.crops = "30:1" if vb else "48:0.35,64:0.35,150:0.3"
    if args.augment is None:
        args.augment = 1 if vb else 0
    if args.tiny:
        args.train_per_class, args.calib_per_class, args.test_per_class = 2, 1, 2
        args.epochs, args.crops, args.val_max, args.ckpt_every = 1, "16:0.5,24:0.5", 10, 1
    causal = args.temporal_padding == "causal"
    if causal:
        subdir = os.path.join(subdir, "causal") if subdir else "causal"
        ckpt_name = ckpt_name.replace(".pt", "_causal.pt")
    out_dir = os.path.join(args.out, subdir) if subdir else args.out
    tp = args.temporal_padding

    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    fh = open(os.path.join(args.work, "train.log"), "a", encoding="utf-8")
    log(f"args: {vars(args)}", fh)

    t0 = time.time()
    data = load_data(args)
    classes = data["classes"]
    C, T = len(classes), data["T"]
    log(f"data ready in {time.time() - t0:.1f} s: " +
        ", ".join(f"{s} {data[s]['data'].shape}" for s in ("train", "calib", "test")), fh)

    torch.manual_seed(args.train_seed)
    model = build(C, args.dropout, widths, layout, tp)
    if args.init and not (args.resume and os.path.exists(os.path.join(args.work, "last.pt"))):
        init = torch.load(args.init, map_location="cpu")
        model.load_state_dict(ct.map_float_tensors(init, lambda t: t.float()))
        log(f"initialised from {args.init}", fh)
    log(f"model: {count_parameters(model)} parameters, {len(model.state_dict())} state-dict keys", fh)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    crops = [(int(a), float(b)) for a, b in (c.split(":") for c in args.crops.split(","))]
    crop_len = np.array([c[0] for c in crops])
    crop_p = np.array([c[1] for c in crops]) / sum(c[1] for c in crops)

    xtr, ytr, wtr = data["train"]["data"], data["train"]["label"], data["train"]["window"]
    ntr = len(ytr)
    steps_per_epoch = ntr // args.batch
    total = steps_per_epoch * args.epochs
    state = {"epoch": 0, "step": 0, "history": [], "best_acc": -1.0, "train_seconds": 0.0}
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

    xva = data["calib"]["data"][:args.val_max]
    yva = data["calib"]["label"][:args.val_max]
    while not args.export_only and state["epoch"] < args.epochs:
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
            xb = torch.from_numpy(xb)
            yb = torch.from_numpy(ytr[idx])
            torch.manual_seed(args.train_seed * 1000003 + ep * 10007 + b)
            gstep = ep * steps_per_epoch + b
            for g in opt.param_groups:
                g["lr"] = lr_at(gstep, total, args.lr, warmup=min(30, total // 10 + 1))
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
            state["train_seconds"] += time.time() - t_step
            if state["step"] % 10 == 0 or state["step"] == steps_per_epoch:
                log(f"ep {ep + 1}/{args.epochs} step {state['step']}/{steps_per_epoch} L={L} "
                    f"loss {run_loss / run_n:.3f} acc {run_acc / run_n:.3f} "
                    f"lr {opt.param_groups[0]['lr']:.2e} {time.time() - t_step:.1f} s/step", fh)
            if state["step"] % args.ckpt_every == 0 and state["step"] < steps_per_epoch:
                checkpoint()
        t_val = time.time()
        acc = metrics_of(predict(model, xva), yva, C)["accuracy"]
        ep_time = time.time() - t_ep
        state["history"].append({"epoch": ep + 1, "train_loss": run_loss / max(run_n, 1),
                                 "train_acc_running": run_acc / max(run_n, 1),
                                 "calib_acc": acc, "epoch_seconds": ep_time,
                                 "val_seconds": time.time() - t_val})
        log(f"epoch {ep + 1} done in {ep_time:.0f} s (val {time.time() - t_val:.0f} s): "
            f"calib acc (T={T}, {len(yva)} samples) {acc:.3f}", fh)
        state["epoch"] += 1
        state["step"] = 0
        if vb or acc >= state["best_acc"]:  # volleyball: calib = train, keep the last epoch
            state["best_acc"] = acc
            state["best_epoch"] = ep + 1
            checkpoint(best_path)
        checkpoint()

    # ---------------- evaluation + export ----------------
    if os.path.exists(best_path):
        model.load_state_dict(torch.load(best_path, map_location="cpu")["model"])
        log(f"exporting best.pt (epoch {state.get('best_epoch')}, calib acc {state['best_acc']:.3f})", fh)
    model.eval()
    m16 = fp16_roundtrip(model)
    res = {}
    t_ev = time.time()
    ntrain_eval = min(len(ytr), 200)
    evals = [("train" if vb else "train_subset", xtr[:ntrain_eval], ytr[:ntrain_eval])]
    if not vb:
        evals.append(("calib", data["calib"]["data"], data["calib"]["label"]))
    evals.append(("test", data["test"]["data"], data["test"]["label"]))
    for s, x, y in evals:
        lg32 = predict(model, x)
        lg16 = predict(m16, x)
        res[s] = {"fp32": metrics_of(lg32, y, C), "fp16_weights": metrics_of(lg16, y, C),
                  "fp16_vs_fp32_pred_agreement": float((lg16.argmax(1) == lg32.argmax(1)).mean()),
                  "fp16_vs_fp32_max_abs_logit_diff": float(np.abs(lg16 - lg32).max())}
        log(f"{s}: fp32 acc {res[s]['fp32']['accuracy']:.4f}  fp16-weights acc "
            f"{res[s]['fp16_weights']['accuracy']:.4f}  (N={len(y)})", fh)
    if not vb and not args.tiny:
        # Robustness: the same test motions with ~5 % missing joints / lost frames.
        heavy = generate("test", args.test_per_class, args.seed, **HEAVY_DROPOUT)
        lg = predict(model, heavy["data"])
        res["test_heavy_dropout"] = {"fp32": metrics_of(lg, heavy["label"], C),
                                     "generator_overrides": HEAVY_DROPOUT,
                                     "missing_fraction": float((heavy["data"][:, 2] == 0).mean())}
        log(f"test with heavy drop-outs ({res['test_heavy_dropout']['missing_fraction']:.3f} "
            f"missing): fp32 acc {res['test_heavy_dropout']['fp32']['accuracy']:.4f}", fh)
    log(f"evaluation took {time.time() - t_ev:.0f} s", fh)

    sd16 = ct.map_float_tensors(model.state_dict(), lambda t: t.half())
    ck_path = os.path.join(out_dir, ckpt_name)
    torch.save(sd16, ck_path)
    back = torch.load(ck_path, map_location="cpu")
    assert list(back) == list(sd16) and all(torch.equal(back[k], sd16[k]) for k in sd16)
    m32 = build(C, 0.0, widths, layout, tp)
    m32.load_state_dict(ct.map_float_tensors(back, lambda t: t.float()))
    m64 = build(C, 0.0, widths, layout, tp).double()
    m64.load_state_dict(ct.map_float_tensors(back, lambda t: t.double()))

    yte = data["test"]["label"]
    if vb:
        # No input data in the repository: logits of the test recordings + their npz indices.
        lg_b = predict(m32, data["test"]["data"]).astype(np.float32)
        np.save(os.path.join(out_dir, "test_logits.npy"), lg_b)
        np.save(os.path.join(out_dir, "test_index.npy"), data["test"]["index"].astype(np.int64))
        bundled = {"logits": "test_logits.npy (float32, FP16 weights widened to FP32) for the "
                             "test recordings", "index": "test_index.npy (rows of the npz)",
                   "input": "read from ../shared/data/volleyball-signals/volleyball_signals.npz: "
                            "x = stack(pose[..., 0], pose[..., 1], pose[..., 3]) as (N, 3, 30, 33, 1)"}
        log(f"test logits saved, accuracy {float((lg_b.argmax(1) == yte).mean()):.4f}", fh)
    else:
        # Bundled test set: the first test samples covering every class, then the next ones.
        first = [int(np.nonzero(yte == c)[0][0]) for c in range(C)]
        rest = [i for i in range(len(yte)) if i not in first]
        pick = sorted((first + rest)[:args.n_bundle])
        x_b = np.ascontiguousarray(data["test"]["data"][pick])
        y_b = yte[pick].astype(np.int64)
        lg_b = predict(m32, x_b).astype(np.float32)
        lg_b64 = predict(m64, x_b, dtype=torch.float64)
        # A causal model shares the centre one's bundled sequences (OUT/test_*.npy): written
        # there when missing, else checked to be the same.
        data_dir = "../" if causal else ""
        shared = os.path.dirname(out_dir) if causal else out_dir
        for name, arr in (("test_input.npy", x_b), ("test_labels.npy", y_b)):
            path = os.path.join(shared, name)
            if causal and os.path.exists(path):
                assert np.array_equal(np.load(path), arr), f"{path} holds other sequences"
            else:
                np.save(path, arr)
        np.save(os.path.join(out_dir, "test_logits.npy"), lg_b)
        np.save(os.path.join(out_dir, "test_logits64.npy"), lg_b64)
        bundled = {"input": data_dir + "test_input.npy", "labels": data_dir + "test_labels.npy",
                   "logits": "test_logits.npy (float32, FP16 weights widened to FP32)",
                   "logits64": "test_logits64.npy (float64, same weights)",
                   "test_split_indices": pick}
        log(f"bundled test set: {len(pick)} sequences, accuracy "
            f"{float((lg_b.argmax(1) == y_b).mean()):.3f}, f32 vs f64 max diff "
            f"{np.abs(lg_b - lg_b64).max():.2e}", fh)

    spec = {
        "classes": list(classes), "num_class": C,
        "input": {"shape": ["N", 3, T, 33, 1], "channels": ["x", "y", "confidence"],
                  "coordinates": "image-normalised MediaPipe landmarks: x = u / width, "
                                 "y = v / height, nominally [0, 1] (origin top-left, y down); "
                                 "missing joint = (0, 0, 0); no further normalisation",
                  "joints": "MediaPipe Pose / BlazePose 33 landmarks", "T": T, "fps": 30},
        "model": {"two_stream": True, "motion": MOTION, "layout": layout, "strategy": STRATEGY,
                  "max_hop": MAX_HOP, "dilation": 1, "edge_importance": True,
                  "temporal_padding": tp,
                  "widths": widths, "strides": list(SEED_STRIDES),
                  "in_channels": 3, "V": 33, "M": 1, "K": 3,
                  "num_parameters": count_parameters(model),
                  "checkpoint": ckpt_name, "checkpoint_dtype": "float16 (plain state_dict)"},
        "output": "logits (N, num_class), no softmax",
        "dataset": data["source"],
        "accuracy": {s: {k: r[k]["accuracy"] for k in ("fp32", "fp16_weights") if k in r}
                     for s, r in res.items()},
        "bundled_test": bundled,
    }
    with open(os.path.join(out_dir, "classes.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=1)
    metrics = {"results": res, "history": state["history"], "best_epoch": state.get("best_epoch"),
               "train_seconds": state["train_seconds"], "args": vars(args),
               "torch": torch.__version__, "numpy": np.__version__,
               "host": {"machine": platform.machine(), "processor": platform.processor(),
                        "cpus": os.cpu_count(), "threads": args.threads}}
    with open(os.path.join(out_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=1)
    total_bytes = sum(os.path.getsize(os.path.join(out_dir, p)) for p in os.listdir(out_dir)
                      if os.path.isfile(os.path.join(out_dir, p)))
    log(f"wrote {out_dir} ({total_bytes / 1e6:.2f} MB)", fh)
    fh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
