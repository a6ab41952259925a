"""Skeleton input features of mmaction2 1.x ``GenSkeFeat`` (``JointToBone`` / ``ToMotion``), our
own code, on ``(..., T, V, C)`` arrays (e.g. ``(N, M, T, V, C)``; time is axis -3).

What mmaction2 does (``mmaction/datasets/transforms/pose_transforms.py``):

* ``'j'``: the joints unchanged. For 2-D data mmaction2 first appends ``keypoint_score`` as a
  third channel (x, y, score), so C = 3 for 2-D keypoints with scores.
* ``'b'`` (``JointToBone``): ``bone[..., v, :] = x[..., v, :] - x[..., u, :]`` for each
  ``(v, u)`` in :data:`BONE_PAIRS` -- NOT the graph's inward list: the bone pairs have a
  self-pair for the root (its bone is 0) and differ from the graph edges (coco: hips 11 / 12
  hang from the nose 0, not from the shoulders; nturgb+d: the original ST-GCN hand edges 22->23,
  24->25 in 1-based numbering; openpose: the neck 1 hangs from the nose 0 and 0 is the root).
  If C == 3 and the layout is 2-D (``openpose``, ``coco``, ``coco-hand``), channel 2 is NOT a
  difference: ``bone[..., v, 2] = (x[..., v, 2] + x[..., u, 2]) / 2`` (mean of the two joints'
  scores; the root's self-pair keeps its own score). For ``nturgb+d`` all three channels are
  differences (3-D). The result is float32.
* ``'jm'`` / ``'bm'`` (``ToMotion`` on j / b): ``m[t] = f[t + 1] - f[t]`` for t < T - 1, and the
  LAST frame is all zero (score channel included). If C == 3 and the layout is ``openpose`` or
  ``coco`` (NOT ``coco-hand``: mmaction2's list omits it), channel 2 for t < T - 1 is
  ``(f[t, 2] + f[t + 1, 2]) / 2`` (mean of consecutive scores; for 'bm' of the bone scores).
* With several feats mmaction2 concatenates them along the last axis (``MergeSkeFeat``);
  :func:`gen_ske_feat` returns one feature at a time.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

BONE_PAIRS: Dict[str, Tuple[Tuple[int, int], ...]] = {
    "nturgb+d": ((0, 1), (1, 20), (2, 20), (3, 2), (4, 20), (5, 4), (6, 5), (7, 6), (8, 20),
                 (9, 8), (10, 9), (11, 10), (12, 0), (13, 12), (14, 13), (15, 14), (16, 0),
                 (17, 16), (18, 17), (19, 18), (21, 22), (20, 20), (22, 7), (23, 24),
                 (24, 11)),
    "openpose": ((0, 0), (1, 0), (2, 1), (3, 2), (4, 3), (5, 1), (6, 5), (7, 6), (8, 2), (9, 8),
                 (10, 9), (11, 5), (12, 11), (13, 12), (14, 0), (15, 0), (16, 14), (17, 15)),
    "coco": ((0, 0), (1, 0), (2, 0), (3, 1), (4, 2), (5, 0), (6, 0), (7, 5), (8, 6), (9, 7),
             (10, 8), (11, 0), (12, 0), (13, 11), (14, 12), (15, 13), (16, 14)),
    "coco-hand": ((0, 0), (1, 0), (2, 1), (3, 2), (4, 3), (5, 0), (6, 5), (7, 6), (8, 7),
                  (9, 0), (10, 9), (11, 10), (12, 11), (13, 0), (14, 13), (15, 14), (16, 15),
                  (17, 0), (18, 17), (19, 18), (20, 19)),
}
BONE_SCORE_LAYOUTS = ("openpose", "coco", "coco-hand")
MOTION_SCORE_LAYOUTS = ("openpose", "coco")
FEATS = ("j", "b", "jm", "bm")


def joint_to_bone(x: np.ndarray, layout: str) -> np.ndarray:
    if layout not in BONE_PAIRS:
        raise ValueError(f"no bone pairs for layout {layout!r}")
    C = x.shape[-1]
    assert C in (2, 3), C
    bone = np.zeros(x.shape, dtype=np.float32)
    for v, u in BONE_PAIRS[layout]:
        bone[..., v, :] = x[..., v, :] - x[..., u, :]
        if C == 3 and layout in BONE_SCORE_LAYOUTS:
            bone[..., v, 2] = (x[..., v, 2] + x[..., u, 2]) / 2
    return bone


def to_motion(f: np.ndarray, layout: str) -> np.ndarray:
    C = f.shape[-1]
    T = f.shape[-3]
    assert C in (2, 3), C
    m = np.zeros_like(f)
    m[..., :T - 1, :, :] = np.diff(f, axis=-3)
    if C == 3 and layout in MOTION_SCORE_LAYOUTS:
        m[..., :T - 1, :, 2] = (f[..., :T - 1, :, 2] + f[..., 1:, :, 2]) / 2
    return m


def gen_ske_feat(x: np.ndarray, layout: str, feat: str) -> np.ndarray:
    """One GenSkeFeat feature ('j', 'b', 'jm' or 'bm') of ``x`` (..., T, V, C)."""
    if feat == "j":
        return x.copy()
    if feat == "b":
        return joint_to_bone(x, layout)
    if feat == "jm":
        return to_motion(x, layout)
    if feat == "bm":
        return to_motion(joint_to_bone(x, layout), layout)
    raise ValueError(f"unknown feature {feat!r}; known: {FEATS}")


def gen_ske_feats(x: np.ndarray, layout: str, feats: Sequence[str]) -> np.ndarray:
    """``GenSkeFeat(feats=...)``: the features concatenated along the last axis."""
    return np.concatenate([gen_ske_feat(x, layout, f) for f in feats], axis=-1)
