"""Skeleton graphs of mmaction2 1.x / pyskl (``mmaction/models/utils/graph.py``), our own code.

Layouts (``inward`` pairs are ``(child, parent)``, 0-based; the centre is only used by the
``stgcn_spatial`` mode):

* ``openpose``: 18 joints, centre 1 (neck);
* ``nturgb+d``: 25 joints, centre 21 - 1 = 20 (spine). NB: mmaction2's NTU list attaches the
  hand tips / thumbs as (22, 8), (23, 8), (24, 12), (25, 12) (1-based), unlike the original
  ST-GCN list ((22, 23), (23, 8), (24, 25), (25, 12));
* ``coco``: 17 joints, centre 0 (nose);
* ``coco-hand``: 21 joints, centre 0 (extra; mmaction2 has it, the fixtures do not use it).

Modes (all float64 numpy, shape ``(K, V, V)`` indexed ``[k, v, w]`` as used by
``einsum('nkctv,kvw->nctw')``: output joint ``w`` gathers from input joint ``v``):

* ``stgcn_spatial`` (K = 1 + 2 * max_hop): hop distance on the undirected graph with
  self-loops; ``adj`` = 1 where hop <= max_hop, column-normalised (each column divided by its
  sum). For every hop h: ``close[v, w] = norm[v, w]`` where ``hop[v, w] == h`` and
  ``hop[v, centre] >= hop[w, centre]`` (``inf >= inf`` is True), ``further`` otherwise; h = 0
  contributes ``close`` only, h > 0 ``close`` then ``further``.
* ``spatial`` (K = 3): ``[I, normalize(edge2mat(inward)), normalize(edge2mat(outward))]`` where
  ``edge2mat(edges)[j, i] = 1`` for each pair ``(i, j)``, i.e. ``In[parent, child] = 1``
  (column ``child`` gets its parent) and ``Out[child, parent] = 1``; columns normalised to sum
  1 (all-zero columns stay 0: the root's column of In, the leaves' columns of Out).
* ``binary_adj`` (K = 1): ``edge2mat(inward + outward)``: the symmetric 0/1 adjacency WITHOUT
  self-loops and WITHOUT normalisation.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

Edge = Tuple[int, int]

_NTU_INWARD_1BASED: List[Edge] = [
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
    (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
    (20, 19), (22, 8), (23, 8), (24, 12), (25, 12)]

# name -> (num_node, inward (child, parent) 0-based, centre)
MM_LAYOUTS: Dict[str, Tuple[int, List[Edge], int]] = {
    "openpose": (18, [(4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8),
                      (11, 5), (8, 2), (5, 1), (2, 1), (0, 1), (15, 0), (14, 0), (17, 15),
                      (16, 14)], 1),
    "nturgb+d": (25, [(i - 1, j - 1) for i, j in _NTU_INWARD_1BASED], 21 - 1),
    "coco": (17, [(15, 13), (13, 11), (16, 14), (14, 12), (11, 5), (12, 6), (9, 7), (7, 5),
                  (10, 8), (8, 6), (5, 0), (6, 0), (1, 0), (3, 1), (2, 0), (4, 2)], 0),
    "coco-hand": (21, [(1, 0), (2, 1), (3, 2), (4, 3), (5, 0), (6, 5), (7, 6), (8, 7), (9, 0),
                       (10, 9), (11, 10), (12, 11), (13, 0), (14, 13), (15, 14), (16, 15),
                       (17, 0), (18, 17), (19, 18), (20, 19)], 0),
}
FIXTURE_LAYOUTS = ("openpose", "nturgb+d", "coco")
MM_MODES = ("stgcn_spatial", "spatial", "binary_adj")


def layout_info(layout: str) -> Tuple[int, List[Edge], int]:
    if layout not in MM_LAYOUTS:
        raise ValueError(f"unknown mmaction2 layout {layout!r}; known: {sorted(MM_LAYOUTS)}")
    V, inward, center = MM_LAYOUTS[layout]
    return V, list(inward), center


def edge2mat(edges: Sequence[Edge], V: int) -> np.ndarray:
    """``M[j, i] = 1`` for every pair ``(i, j)``."""
    M = np.zeros((V, V))
    for i, j in edges:
        M[j, i] = 1.0
    return M


def normalize_columns(A: np.ndarray) -> np.ndarray:
    """Each column divided by its sum; zero columns stay zero (``normalize_digraph(A, 0)``)."""
    col = A.sum(axis=0)
    scale = np.zeros_like(col)
    nz = col > 0
    scale[nz] = 1.0 / col[nz]
    return A * scale[None, :]


def hop_distance(V: int, edges: Sequence[Edge], max_hop: int = 1) -> np.ndarray:
    """Smallest d in 0..max_hop with (I + adjacency)^d [i, j] > 0, else inf."""
    A = np.eye(V)
    for i, j in edges:
        A[i, j] = 1.0
        A[j, i] = 1.0
    hop = np.full((V, V), np.inf)
    reach = [np.linalg.matrix_power(A, d) > 0 for d in range(max_hop + 1)]
    for d in range(max_hop, -1, -1):
        hop[reach[d]] = d
    return hop


def mm_graph(layout: str, mode: str, max_hop: int = 1, dtype=np.float32) -> np.ndarray:
    """mmaction2 ``Graph(layout, mode, max_hop).A`` as ``dtype`` (float32 like the model's
    buffer by default; the fixtures store float64)."""
    V, inward, center = layout_info(layout)
    outward = [(j, i) for i, j in inward]
    if mode == "stgcn_spatial":
        hop = hop_distance(V, inward, max_hop)
        adj = np.zeros((V, V))
        adj[hop <= max_hop] = 1.0
        norm = normalize_columns(adj)
        parts = []
        for h in range(max_hop + 1):
            close = np.zeros((V, V))
            further = np.zeros((V, V))
            for w in range(V):
                for v in range(V):
                    if hop[v, w] != h:
                        continue
                    if hop[v, center] >= hop[w, center]:
                        close[v, w] = norm[v, w]
                    else:
                        further[v, w] = norm[v, w]
            parts.append(close)
            if h > 0:
                parts.append(further)
        A = np.stack(parts)
    elif mode == "spatial":
        A = np.stack([np.eye(V), normalize_columns(edge2mat(inward, V)),
                      normalize_columns(edge2mat(outward, V))])
    elif mode == "binary_adj":
        A = edge2mat(inward + outward, V)[None]
    else:
        raise ValueError(f"unknown mmaction2 graph mode {mode!r}; known: {MM_MODES}")
    return A.astype(dtype)


def self_test() -> None:
    for layout in MM_LAYOUTS:
        V = MM_LAYOUTS[layout][0]
        for mode, K in (("stgcn_spatial", 3), ("spatial", 3), ("binary_adj", 1)):
            A = mm_graph(layout, mode, dtype=np.float64)
            assert A.shape == (K, V, V), (layout, mode, A.shape)
        s = mm_graph(layout, "stgcn_spatial", dtype=np.float64)
        assert np.allclose(s.sum(0).sum(0), 1.0), layout  # every column of the sum is 1
        b = mm_graph(layout, "binary_adj", dtype=np.float64)[0]
        assert np.array_equal(b, b.T) and not b.diagonal().any()


if __name__ == "__main__":
    self_test()
    print("mm_graph self-test ok")
