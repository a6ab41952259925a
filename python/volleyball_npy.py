#!/usr/bin/env python3
"""Write the volleyball referee-signal splits as .npy files for the engine (``stgcn validate``,
INT8 calibration) and ``bench/ort_int8.py``.

    ../.venv/bin/python volleyball_npy.py /tmp/volleyball [--splits test,calib]

Reads ``../shared/data/volleyball-signals/volleyball_signals.npz`` (``--volleyball-path``) with
``skeleton_data.volleyball.load`` -- the same channels and split as ``train.py --dataset
volleyball``: the first 40 recordings of each class are ``train`` = ``calib``, the last 10
(sequences 41..50) are ``test`` -- and writes into OUT_DIR, per split:

* ``{split}_data.npy``  float32 (N, 3, 30, 33, 1): (x, y, visibility), image-normalised;
* ``{split}_label.npy`` int64 (N,): index into the classes of ``meta.json``;

plus ``meta.json`` (classes, source file, per-split npz row indices and sequence numbers). The
recordings are licensed data kept in ``../shared``; OUT_DIR must lie outside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

from skeleton_data import volleyball  # noqa: E402

SPLITS = ("train", "calib", "test")


def inside(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([path, root]) == root


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", help="output directory (outside the repository, e.g. /tmp/vb)")
    ap.add_argument("--splits", default="test,calib",
                    help="comma-separated subset of train,calib,test (default test,calib)")
    ap.add_argument("--volleyball-path", default=volleyball.DEFAULT_PATH,
                    help="the npz (default ../shared/data/volleyball-signals/"
                         "volleyball_signals.npz)")
    args = ap.parse_args(argv)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        ap.error(f"unknown split(s) {bad or args.splits!r}; known: {', '.join(SPLITS)}")
    if inside(args.out_dir, ROOT):
        print(f"volleyball_npy.py: error: {args.out_dir} is inside the repository; the "
              "recordings must not be copied into it (use e.g. /tmp/volleyball)", file=sys.stderr)
        return 2
    try:
        d = volleyball.load(args.volleyball_path)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"volleyball_npy.py: error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.out_dir, exist_ok=True)
    meta = {"classes": d["classes"], "source": os.path.abspath(args.volleyball_path),
            "channels": ["x", "y", "visibility"], "layout": "blazepose", "splits": {}}
    for s in splits:
        x = np.ascontiguousarray(d[s]["data"], dtype=np.float32)
        y = d[s]["label"].astype(np.int64)
        np.save(os.path.join(args.out_dir, f"{s}_data.npy"), x)
        np.save(os.path.join(args.out_dir, f"{s}_label.npy"), y)
        meta["splits"][s] = {"shape": list(x.shape), "npz_index": d[s]["index"].tolist(),
                             "sequence": d[s]["sequence"].tolist(),
                             "per_class": np.bincount(y, minlength=len(d["classes"])).tolist()}
        print(f"{s}: {x.shape} -> {os.path.join(args.out_dir, s + '_data.npy')}, "
              f"{s}_label.npy")
    with open(os.path.join(args.out_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
