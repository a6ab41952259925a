#!/usr/bin/env python3
"""Generate the procedural skeleton-action dataset (deterministic from a seed).

Usage (from ``python/``)::

    python -m skeleton_data.generate OUT_DIR [--train-per-class 150 --calib-per-class 20
        --test-per-class 30 --seed 20240611 --T 150 --persons 1 --layout mediapipe]

Writes ``OUT_DIR/{train,calib,test}_data.npy`` float32 (N, 3, T, V, M) = (x, y, confidence),
``{split}_label.npy`` int64 (N,), ``{split}_window.npy`` int64 (N, 2) (frames where the defining
movement happens) and ``meta.json`` (class names, every generation parameter, per-split seeds,
sha256 of each array). See ``docs/dataset.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

if __package__ in (None, ""):  # run as a script: python skeleton_data/generate.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "skeleton_data"  # noqa: A001

from .actions import CLASSES, GENERATORS  # noqa: E402
from .skeleton import (FACE, POSE_KEYS, SIDE, V, forward_kinematics, place_in_world,  # noqa: E402
                       project, remap, sample_bodies)

GENERATOR_VERSION = 1
SPLITS = ("train", "calib", "test")
SPLIT_IDS = {"train": 0, "calib": 1, "test": 2}
DISTRACTOR_CLASSES = ("idle", "walk")

DEFAULTS = dict(
    T=150, fps=30.0, aspect=4.0 / 3.0, persons=1, second_person_prob=0.5,
    speed=(0.75, 1.3), height=(1.50, 1.95), proportion_jitter=0.05,
    facing=dict(front=(0.65, 60.0), side=(0.25, 60.0, 120.0), back=(0.10, 120.0, 180.0)),
    vfov=(40.0, 65.0), elevation=(-5.0, 20.0), person_height_frac=(0.35, 0.8), fit_margin=0.04,
    conf_base=(0.85, 0.99), conf_noise=0.03, noise_sigma=(0.001, 0.008),
    dropout_rate=(0.0, 0.005), burst_prob=0.05, frame_loss_prob=0.05,
)


def split_rng(seed: int, split: str) -> np.random.Generator:
    """Independent stream per split: SeedSequence(seed, spawn_key=(split id,))."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(SPLIT_IDS[split],))))


def _people(rng: np.random.Generator, labels: np.ndarray, class_names: Sequence[str], cfg: Dict):
    """Synthesise one person per label: (xy (n,T,V,2), conf (n,T,V), window (n,2))."""
    n, T, fps = len(labels), cfg["T"], cfg["fps"]
    speed = rng.uniform(*cfg["speed"], n)
    pose = {k: np.zeros((n, T)) for k in POSE_KEYS}
    motion = {"yaw": np.zeros((n, T)), "root": np.zeros((n, T, 2)), "lift": np.zeros((n, T)),
              "tilt": np.zeros((n, T)), "tilt_dir": np.zeros(n), "anchor": np.zeros(n, np.int64)}
    window = np.zeros((n, 2), np.int64)
    for c, name in enumerate(class_names):
        idx = np.nonzero(labels == c)[0]
        if len(idx) == 0:
            continue
        p, m, w = GENERATORS[name](rng, len(idx), T, fps, speed[idx, None])
        for k in POSE_KEYS:
            pose[k][idx] = p[k]
        for k in motion:
            motion[k][idx] = m[k]
        window[idx] = w
    body = sample_bodies(rng, n, cfg["height"], cfg["proportion_jitter"])
    P = forward_kinematics(pose, body)

    fa = cfg["facing"]
    kind = rng.choice(3, n, p=[fa["front"][0], fa["side"][0], fa["back"][0]])
    sign = rng.choice([-1.0, 1.0], n)
    facing = np.where(kind == 0, rng.uniform(-fa["front"][1], fa["front"][1], n),
                      sign * np.where(kind == 1, rng.uniform(fa["side"][1], fa["side"][2], n),
                                      rng.uniform(fa["back"][1], fa["back"][2], n)))
    P = place_in_world(P, facing, motion)

    vfov = rng.uniform(*cfg["vfov"], n)
    f = 0.5 / np.tan(np.deg2rad(vfov) / 2)
    dist = f * body["height"] / rng.uniform(*cfg["person_height_frac"], n)
    # Never closer than 2 m to the nearest point of the path (walks towards the camera).
    zc = 0.5 * (P[:, :, 23, 2] + P[:, :, 24, 2])
    dist = np.maximum(dist, (zc - zc.mean(axis=1, keepdims=True)).max(axis=1) + 2.0)
    cam = {"vfov": vfov, "elev": rng.uniform(*cfg["elevation"], n), "dist": dist,
           "look_h": 0.55 * body["height"], "aspect": np.full(n, cfg["aspect"])}
    xy = project(P, cam)

    # Fit into the frame (shrink if needed) and place at a random position.
    mg = cfg["fit_margin"]
    lo, hi = xy.min(axis=(1, 2)), xy.max(axis=(1, 2))          # (n, 2)
    size = hi - lo
    k = np.minimum(1.0, ((1 - 2 * mg) / np.maximum(size, 1e-6)).min(axis=1))
    ctr = 0.5 * (lo + hi)
    xy = (xy - ctr[:, None, None]) * k[:, None, None, None]
    half = 0.5 * size * k[:, None]
    slack = np.maximum(0.0, 1 - 2 * mg - 2 * half)
    new_ctr = mg + half + slack * rng.random((n, 2))
    xy = xy + new_ctr[:, None, None]

    # Confidence: per-sample base, self-occlusion from the facing direction, noise.
    yaw = np.deg2rad(facing[:, None] + motion["yaw"])            # (n, T)
    occ = 0.45 * np.maximum(0.0, SIDE[None, None, :] * np.sin(yaw)[..., None])
    occ[..., FACE] += 0.7 * np.maximum(0.0, -np.cos(yaw))[..., None]
    conf = rng.uniform(*cfg["conf_base"], n)[:, None, None] - occ
    conf += rng.normal(0, cfg["conf_noise"], conf.shape)
    conf = np.clip(conf, 0.05, 1.0)
    sigma = rng.uniform(*cfg["noise_sigma"], n)[:, None, None] * (1 + 2 * (1 - conf))
    xy = xy + rng.normal(0, 1, xy.shape) * sigma[..., None] * np.array([1 / cfg["aspect"], 1.0])
    outside = ((xy < 0) | (xy > 1)).any(axis=-1)
    conf = np.where(outside, conf * 0.3, conf)

    # Missing detections: iid joint drop-outs, limb bursts, whole lost frames.
    drop = rng.random(conf.shape) < rng.uniform(*cfg["dropout_rate"], n)[:, None, None]
    groups = [list(range(0, 11)), [11, 13, 15, 17, 19, 21], [12, 14, 16, 18, 20, 22],
              [23, 25, 27, 29, 31], [24, 26, 28, 30, 32]]
    gmask = np.zeros((len(groups), V), bool)
    for gi, g in enumerate(groups):
        gmask[gi, g] = True
    t = np.arange(T)
    for _ in range(3):
        has = rng.random(n) < cfg["burst_prob"]
        g = rng.integers(0, len(groups), n)
        s0 = rng.integers(0, T, n)
        ln = rng.integers(5, 31, n)
        tm = (t[None] >= s0[:, None]) & (t[None] < (s0 + ln)[:, None]) & has[:, None]
        drop |= tm[:, :, None] & gmask[g][:, None, :]
    for _ in range(2):
        has = rng.random(n) < cfg["frame_loss_prob"]
        s0 = rng.integers(0, T, n)
        ln = rng.integers(1, 9, n)
        tm = (t[None] >= s0[:, None]) & (t[None] < (s0 + ln)[:, None]) & has[:, None]
        drop |= tm[:, :, None]
    xy[drop] = 0.0
    conf[drop] = 0.0
    return xy, conf, window


def generate(split: str, per_class: int, seed: int, class_names: Sequence[str] = CLASSES,
             layout: str = "mediapipe", **overrides) -> Dict:
    """Generate one split. Returns ``data`` float32 (N, 3, T, V', M), ``label`` int64 (N,),
    ``window`` int64 (N, 2), ``hashes`` (list of per-sample sha256 hex) and ``config``."""
    cfg = dict(DEFAULTS)
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    rng = split_rng(seed, split)
    C = len(class_names)
    labels = rng.permutation(np.repeat(np.arange(C, dtype=np.int64), per_class))
    xy, conf, window = _people(rng, labels, class_names, cfg)
    N, T, M = len(labels), cfg["T"], int(cfg["persons"])
    data = np.zeros((N, 3, T, V, M), np.float32)
    data[:, 0:2, :, :, 0] = xy.transpose(0, 3, 1, 2)
    data[:, 2, :, :, 0] = conf
    if M > 1:
        dist_ids = [list(CLASSES).index(c) for c in DISTRACTOR_CLASSES]
        for m in range(1, M):
            present = rng.random(N) < cfg["second_person_prob"]
            dl = rng.choice(len(DISTRACTOR_CLASSES), N)
            xy2, conf2, _ = _people(rng, np.asarray(dist_ids)[dl], CLASSES, cfg)
            data[present, 0:2, :, :, m] = xy2[present].transpose(0, 3, 1, 2)
            data[present, 2, :, :, m] = conf2[present]
    data = np.ascontiguousarray(remap(data, layout), dtype=np.float32)
    hashes = [hashlib.sha256(data[i].tobytes()).hexdigest() for i in range(N)]
    return {"data": data, "label": labels, "window": window, "hashes": hashes, "config": cfg}


def generate_splits(per_class: Dict[str, int], seed: int, class_names: Sequence[str] = CLASSES,
                    layout: str = "mediapipe", **overrides) -> Dict[str, Dict]:
    """All splits from disjoint seed streams; asserts that no sample occurs in two splits."""
    out = {s: generate(s, per_class[s], seed, class_names, layout, **overrides)
           for s in SPLITS if per_class.get(s, 0) > 0}
    seen: Dict[str, str] = {}
    for s, d in out.items():
        for h in d["hashes"]:
            assert h not in seen, f"sample {h[:12]} occurs in {seen[h]} and {s}"
            seen[h] = s
    return out


def _jsonable(o):
    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return o


def write_dataset(out_dir: str, splits: Dict[str, Dict], seed: int, class_names: Sequence[str],
                  layout: str) -> Dict:
    os.makedirs(out_dir, exist_ok=True)
    any_split = next(iter(splits.values()))
    meta = {
        "generator": "skeleton_data", "generator_version": GENERATOR_VERSION,
        "numpy_version": np.__version__, "seed": seed, "layout": layout,
        "classes": list(class_names), "channels": ["x", "y", "confidence"],
        "coordinates": "image-normalised: x = u / width, y = v / height, origin top-left, "
                       "y down (MediaPipe normalised landmarks); missing joint = (0, 0, 0)",
        "shape": "N, C, T, V, M", "config": _jsonable(any_split["config"]),
        "splits": {},
    }
    for s, d in splits.items():
        files = {}
        for key in ("data", "label", "window"):
            name = f"{s}_{key}.npy"
            np.save(os.path.join(out_dir, name), d[key])
            with open(os.path.join(out_dir, name), "rb") as f:
                files[key] = {"file": name, "sha256": hashlib.sha256(f.read()).hexdigest()}
        meta["splits"][s] = {
            "seed_stream": {"entropy": seed, "spawn_key": [SPLIT_IDS[s]]},
            "N": int(len(d["label"])), "shape": list(d["data"].shape),
            "per_class": np.bincount(d["label"], minlength=len(class_names)).tolist(),
            "files": files,
        }
    meta["disjoint_checked"] = True
    with open(os.path.join(out_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return meta


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--train-per-class", type=int, default=150)
    ap.add_argument("--calib-per-class", type=int, default=20)
    ap.add_argument("--test-per-class", type=int, default=30)
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--T", type=int, default=DEFAULTS["T"], help="frames (default %(default)s)")
    ap.add_argument("--fps", type=float, default=DEFAULTS["fps"])
    ap.add_argument("--persons", type=int, default=1, help="M; persons > 1 adds distractors")
    ap.add_argument("--second-person-prob", type=float, default=DEFAULTS["second_person_prob"])
    ap.add_argument("--layout", default="mediapipe",
                    choices=["mediapipe", "blazepose", "openpose", "ntu-rgb+d", "coco"])
    ap.add_argument("--classes", default=",".join(CLASSES),
                    help="comma-separated subset/order of: " + ",".join(CLASSES))
    args = ap.parse_args(argv)
    names = [c for c in args.classes.split(",") if c]
    bad = [c for c in names if c not in CLASSES]
    if bad:
        ap.error(f"unknown classes {bad}")
    t0 = time.time()
    splits = generate_splits({"train": args.train_per_class, "calib": args.calib_per_class,
                              "test": args.test_per_class}, args.seed, names, args.layout,
                             T=args.T, fps=args.fps, persons=args.persons,
                             second_person_prob=args.second_person_prob)
    t1 = time.time()
    write_dataset(args.out_dir, splits, args.seed, names, args.layout)
    for s, d in splits.items():
        print(f"{s}: {d['data'].shape} float32, labels {np.bincount(d['label']).tolist()}")
    print(f"generated in {t1 - t0:.2f} s, written to {args.out_dir} in {time.time() - t1:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
