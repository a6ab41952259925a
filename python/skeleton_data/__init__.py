"""skeleton_data: deterministic procedural skeleton-action data (33 MediaPipe/BlazePose joints).

* :mod:`skeleton_data.skeleton` -- joints, body proportions, forward kinematics, projection,
  mappings to ``openpose`` / ``ntu-rgb+d``;
* :mod:`skeleton_data.actions` -- the action classes (joint-angle tracks);
* :mod:`skeleton_data.generate` -- splits, noise/drop-outs, files (``python -m
  skeleton_data.generate --help``).

See ``docs/dataset.md``.
"""

from .actions import CLASSES
from .skeleton import JOINT_NAMES, MAPPINGS, remap

_LAZY = ("SPLITS", "generate", "generate_splits", "split_rng", "write_dataset")


def __getattr__(name):  # lazy, so that ``python -m skeleton_data.generate`` runs cleanly
    if name in _LAZY:
        from . import generate as _g
        return getattr(_g, name)
    raise AttributeError(name)

__all__ = ["CLASSES", "SPLITS", "generate", "generate_splits", "split_rng", "write_dataset",
           "JOINT_NAMES", "MAPPINGS", "remap"]
