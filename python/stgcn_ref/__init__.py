"""stgcn_ref: Python reference (test oracle) for stgcn-rt.

* :mod:`stgcn_ref.graph` -- skeleton layouts and the ST-GCN adjacency partitions ``A``.
* :mod:`stgcn_ref.model` -- PyTorch single / two-stream ST-GCN whose ``state_dict()`` keys match
  the common PyTorch ST-GCN checkpoints.

Semantics follow the project reference page ``STGCN_REFERENCE.md``.
"""

from .graph import LAYOUTS, STRATEGIES, build_graph, get_layout, hop_distance, normalize_digraph
from .model import (MOTION_MODES, SEED_STRIDES, SEED_WIDTHS, STGCN, TwoStreamSTGCN, build_model,
                    count_parameters, motion_of)

__all__ = [
    "LAYOUTS", "STRATEGIES", "build_graph", "get_layout", "hop_distance", "normalize_digraph",
    "MOTION_MODES", "SEED_STRIDES", "SEED_WIDTHS", "STGCN", "TwoStreamSTGCN", "build_model",
    "count_parameters", "motion_of",
]
