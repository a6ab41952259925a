#!/usr/bin/env python3
"""Render a preview PNG of generated samples (needs matplotlib; development aid only).

``python -m skeleton_data.preview OUT.png [--split train --seed S --per-class 2 --frames 6]``
Each row is one sample, each column one frame (x right, y down, image-normalised). Joints with
confidence 0 (missing) are not drawn.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .actions import CLASSES
from .generate import generate

# The real MediaPipe POSE_CONNECTIONS (for drawing only).
EDGES = [(0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12),
         (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18),
         (16, 20), (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27),
         (26, 28), (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32)]


def render(data, labels, names, path, frames=6, aspect=4 / 3):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    N, C, T = data.shape[:3]
    ts = np.linspace(0, T - 1, frames).astype(int)
    fig, axes = plt.subplots(N, frames, figsize=(frames * 1.6 * aspect, N * 1.6), squeeze=False)
    for i in range(N):
        for j, t in enumerate(ts):
            ax = axes[i, j]
            for m in range(data.shape[4]):
                x, y, c = data[i, 0, t, :, m], data[i, 1, t, :, m], data[i, 2, t, :, m]
                for a, b in EDGES:
                    if c[a] > 0 and c[b] > 0:
                        col = "tab:red" if (a % 2 == 1 and a > 10) else "tab:blue"
                        ax.plot([x[a] * aspect, x[b] * aspect], [y[a], y[b]], "-", lw=1,
                                color=col if m == 0 else "gray")
                ok = c > 0
                ax.scatter(x[ok] * aspect, y[ok], s=2, c="k")
            ax.set_xlim(0, aspect)
            ax.set_ylim(1, 0)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(names[labels[i]], fontsize=8)
            if i == 0:
                ax.set_title(f"t={t}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("out_png")
    ap.add_argument("--split", default="train")
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--per-class", type=int, default=1)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--persons", type=int, default=1)
    ap.add_argument("--classes", default="", help="only these classes (comma-separated)")
    args = ap.parse_args(argv)
    d = generate(args.split, args.per_class, args.seed, persons=args.persons)
    order = np.argsort(d["label"], kind="stable")
    if args.classes:
        keep = [CLASSES.index(c) for c in args.classes.split(",")]
        order = order[np.isin(d["label"][order], keep)]
    render(d["data"][order], d["label"][order], CLASSES, args.out_png, args.frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
