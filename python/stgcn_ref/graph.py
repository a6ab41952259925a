"""Skeleton graphs and adjacency partitions for ST-GCN (reference oracle).

Implements the semantics of the project reference page ``STGCN_REFERENCE.md`` ("Graphs: computing A"),
i.e. the behaviour of the upstream ``net/utils/graph.py``:

* edges = self-loops + neighbour links (undirected);
* hop distance by powers of the 0/1 adjacency (self-loops included) up to ``max_hop``;
  pairs farther apart than ``max_hop`` get ``inf``;
* adjacency = 1 where hop is in ``range(0, max_hop + 1, dilation)``;
* ``normalize_digraph``: column ``w`` divided by its column sum;
* strategies ``uniform`` (K=1), ``distance`` (K = number of valid hops) and ``spatial``
  (root / close / further partition relative to a centre joint, with the upstream
  ``inf == inf`` quirk: two joints both unreachable from the centre within ``max_hop``
  compare equal and the edge lands in "root").

Everything is float64, shape ``(K, V, V)`` indexed ``[k, source v, target w]``.
"""

from __future__ import annotations

import json
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

Edge = Tuple[int, int]

# --------------------------------------------------------------------------------------------
# Layouts: (V, 0-based neighbour edges, centre joint)
# --------------------------------------------------------------------------------------------

_OPENPOSE_EDGES: List[Edge] = [
    (4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8), (11, 5), (8, 2),
    (5, 1), (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14)]

_NTU_EDGES_1BASED: List[Edge] = [
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
    (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
    (20, 19), (22, 23), (23, 8), (24, 25), (25, 12)]

_NTU_EDGE_EDGES_1BASED: List[Edge] = [
    (1, 2), (3, 2), (4, 3), (5, 2), (6, 5), (7, 6), (8, 7), (9, 2), (10, 9), (11, 10),
    (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19),
    (21, 22), (22, 8), (23, 24), (24, 12)]

# The seed project's "mediapipe" list. NOT the BlazePose topology (both arms missing, joints
# 31/32 isolated), but it is what the seed's checkpoints were trained with.
_MEDIAPIPE_SEED_EDGES: List[Edge] = [
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (10, 11),
    (11, 12), (9, 13), (13, 14), (14, 15), (0, 9), (0, 17), (0, 18), (9, 16), (11, 23),
    (12, 24), (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (28, 30), (15, 19), (19, 21),
    (15, 17), (17, 19), (16, 20), (20, 22), (16, 18), (18, 20)]

# The real MediaPipe Pose POSE_CONNECTIONS (33 landmarks).
_BLAZEPOSE_EDGES: List[Edge] = [
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12),
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18),
    (16, 20), (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27),
    (26, 28), (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32)]

# COCO-17 keypoints (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles) as used
# by mmaction2 / pyskl: centre 0 (nose).
_COCO_EDGES: List[Edge] = [
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 5), (12, 6), (9, 7), (7, 5), (10, 8), (8, 6),
    (5, 0), (6, 0), (1, 0), (3, 1), (2, 0), (4, 2)]

LAYOUTS: Dict[str, Tuple[int, List[Edge], int]] = {
    "openpose": (18, _OPENPOSE_EDGES, 1),
    "ntu-rgb+d": (25, [(i - 1, j - 1) for i, j in _NTU_EDGES_1BASED], 21 - 1),
    "ntu_edge": (24, [(i - 1, j - 1) for i, j in _NTU_EDGE_EDGES_1BASED], 2),
    "mediapipe": (33, _MEDIAPIPE_SEED_EDGES, 0),
    # Centre 23 = LEFT HIP (MediaPipe landmark 23). Chosen because the hips are the most
    # stable joints of a full-body pose and 23 is the lower index of the hip pair.
    "blazepose": (33, _BLAZEPOSE_EDGES, 23),
    "coco": (17, _COCO_EDGES, 0),
}

STRATEGIES = ("uniform", "distance", "spatial")


def load_custom_layout(path: str) -> Tuple[int, List[Edge], int]:
    """Read a custom layout JSON ``{"name", "V", "edges": [[a, b], ...], "center"}`` (0-based)."""
    with open(path, "r", encoding="utf-8") as f:
        doc = json.load(f)
    V = int(doc["V"])
    center = int(doc["center"])
    edges = [(int(a), int(b)) for a, b in doc["edges"]]
    if not 0 <= center < V:
        raise ValueError(f"custom layout {path}: centre {center} out of range [0, {V})")
    for a, b in edges:
        if not (0 <= a < V and 0 <= b < V):
            raise ValueError(f"custom layout {path}: edge ({a}, {b}) out of range [0, {V})")
    return V, edges, center


def get_layout(layout: str, custom: Optional[str] = None) -> Tuple[int, List[Edge], int]:
    """Return ``(V, neighbour edges, centre)`` for a named layout or ``custom`` (JSON path)."""
    if layout == "custom":
        if custom is None:
            raise ValueError("layout 'custom' needs a JSON file (custom=...)")
        return load_custom_layout(custom)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {sorted(LAYOUTS)} + 'custom'")
    V, edges, center = LAYOUTS[layout]
    return V, list(edges), center


def hop_distance(V: int, edges: Sequence[Edge], max_hop: int = 1) -> np.ndarray:
    """Hop distance matrix (V, V) float64: d where reachable in d <= max_hop steps, else inf.

    Uses powers of the 0/1 adjacency *with self-loops*, like upstream: pair (i, j) gets the
    smallest d in 0..max_hop with (A^d)[i, j] > 0.
    """
    A = np.zeros((V, V))
    for i, j in edges:
        A[j, i] = 1
        A[i, j] = 1
    for i in range(V):
        A[i, i] = 1
    hop = np.full((V, V), np.inf)
    transfer = [np.linalg.matrix_power(A, d) for d in range(max_hop + 1)]
    arrive = np.stack(transfer) > 0
    for d in range(max_hop, -1, -1):
        hop[arrive[d]] = d
    return hop


def normalize_digraph(A: np.ndarray) -> np.ndarray:
    """Divide column ``w`` by its column sum (columns summing to 0 are left as 0)."""
    col = np.sum(A, 0)
    V = A.shape[0]
    Dn = np.zeros((V, V))
    for w in range(V):
        if col[w] > 0:
            Dn[w, w] = col[w] ** (-1)
    return np.dot(A, Dn)


def build_graph(layout: str, strategy: str, max_hop: int = 1, dilation: int = 1,
                custom: Optional[str] = None) -> np.ndarray:
    """Build the ST-GCN adjacency partition ``A`` (K, V, V) float64.

    ``layout``: one of :data:`LAYOUTS` or ``"custom"`` (then ``custom`` = JSON path).
    ``strategy``: ``uniform`` | ``distance`` | ``spatial``.
    """
    V, edges, center = get_layout(layout, custom)
    if max_hop < 0 or dilation < 1:
        raise ValueError("max_hop must be >= 0 and dilation >= 1")
    hop = hop_distance(V, edges, max_hop)
    valid_hop = list(range(0, max_hop + 1, dilation))
    adjacency = np.zeros((V, V))
    for h in valid_hop:
        adjacency[hop == h] = 1
    norm = normalize_digraph(adjacency)

    if strategy == "uniform":
        A = np.zeros((1, V, V))
        A[0] = norm
        return A
    if strategy == "distance":
        A = np.zeros((len(valid_hop), V, V))
        for k, h in enumerate(valid_hop):
            A[k][hop == h] = norm[hop == h]
        return A
    if strategy == "spatial":
        parts = []
        for h in valid_hop:
            a_root = np.zeros((V, V))
            a_close = np.zeros((V, V))
            a_further = np.zeros((V, V))
            for i in range(V):          # target (column)
                for j in range(V):      # source (row)
                    if hop[j, i] == h:
                        # NB: inf == inf is True -> "root" (upstream quirk, reproduced).
                        if hop[j, center] == hop[i, center]:
                            a_root[j, i] = norm[j, i]
                        elif hop[j, center] > hop[i, center]:
                            a_close[j, i] = norm[j, i]
                        else:
                            a_further[j, i] = norm[j, i]
            if h == 0:
                parts.append(a_root)
            else:
                parts.append(a_root + a_close)
                parts.append(a_further)
        return np.stack(parts)
    raise ValueError(f"unknown strategy {strategy!r}; known: {STRATEGIES}")


def self_test() -> None:
    """Cheap check against the figures on the reference page (nnz of spatial A, max_hop 1)."""
    expected = {
        "openpose": (18, 25, 9),
        "ntu-rgb+d": (25, 40, 8),
        "ntu_edge": (24, 41, 5),
        "mediapipe": (33, 54, 14),
    }
    for layout, nnz in expected.items():
        A = build_graph(layout, "spatial")
        got = tuple(int(np.count_nonzero(A[k])) for k in range(3))
        assert A.shape[0] == 3, (layout, A.shape)
        assert got == nnz, f"{layout}: spatial nnz {got} != expected {nnz}"
    # Every partition sums (over k) to the normalised adjacency: columns sum to 1.
    for layout in LAYOUTS:
        for strategy in STRATEGIES:
            A = build_graph(layout, strategy)
            assert np.allclose(A.sum(0).sum(0), 1.0), (layout, strategy)


if __name__ == "__main__":
    self_test()
    print("graph self-test ok")
