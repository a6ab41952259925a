"""Loader for the real volleyball referee-signal recordings (read at run time from ../shared; the
data are never copied into the repository).

``../shared/data/volleyball-signals/volleyball_signals.npz``: ``pose`` (300, 30, 33, 4) MediaPipe
Pose landmarks (x, y, z, visibility; image-normalised x, y), ``label`` (300,), ``label_names``,
``sequence`` (recording number within its class). One subject, upper body, webcam.

Channels used: (x, y, visibility) -> C = 3, the same convention as the procedural data
(image-normalised MediaPipe coordinates, no further normalisation). Layout: ``blazepose``.
Splits: the first 40 recordings of each class (by ``sequence`` number) -> ``train`` (also the
calibration set), the last 10 -> ``test``. The split ranks the recordings within each class, so it
does not depend on where the numbering starts: the stored ``sequence`` numbers run 1..50 (the data
README says 0-49), so the test recordings are sequences 41..50 of each class.
"""

from __future__ import annotations

import os
from typing import Dict

import numpy as np

DEFAULT_PATH = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data",
    "volleyball-signals", "volleyball_signals.npz"))
TEST_PER_CLASS = 10  # the last 10 recordings of each class (sequences 41..50 in the file)


def load(path: str = DEFAULT_PATH) -> Dict:
    """Returns ``classes`` and ``train`` / ``calib`` / ``test`` dicts with ``data`` float32
    (N, 3, 30, 33, 1), ``label`` int64, ``window`` (whole clip) and ``sequence``."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"volleyball data not found at {path} (expected ../shared next "
                                f"to the checkout; pass --volleyball-path)")
    d = np.load(path)
    pose = d["pose"].astype(np.float32)                      # N, T, V, 4
    x = np.stack([pose[..., 0], pose[..., 1], pose[..., 3]], axis=1)[..., None]  # N, 3, T, V, 1
    label = d["label"].astype(np.int64)
    seq = d["sequence"].astype(np.int64)
    out = {"classes": [str(s) for s in d["label_names"]], "path": path}
    T = x.shape[2]
    is_test = np.zeros(len(label), bool)
    for c in np.unique(label):
        members = np.nonzero(label == c)[0]
        order = members[np.argsort(seq[members], kind="stable")]
        if len(order) <= TEST_PER_CLASS:
            raise ValueError(f"{path}: class {c} has only {len(order)} recordings")
        is_test[order[-TEST_PER_CLASS:]] = True
    for split, sel in (("train", ~is_test), ("calib", ~is_test), ("test", is_test)):
        idx = np.nonzero(sel)[0]
        out[split] = {"data": np.ascontiguousarray(x[idx]), "label": label[idx],
                      "window": np.tile([0, T], (len(idx), 1)).astype(np.int64),
                      "sequence": seq[idx], "index": idx}
    return out
