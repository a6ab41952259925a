#!/usr/bin/env python3
"""Write the small demo model shipped with stgcn-rt.

Usage: ``make_demo.py OUT_DIR [--widths 16,16,16,16,32,32,32,64,64,64]``

Writes (deterministically: re-running gives byte-identical files):

* ``stgcn_demo.pt`` -- plain ``torch.save(state_dict)`` of a narrow two-stream ST-GCN:
  layout ``mediapipe`` (the seed's list), strategy ``spatial`` (max_hop 1), widths
  16-16-16-16-32-32-32-64-64-64 (``--widths`` to change; this default is ~1.05 MB even in
  fp16, 8-8-8-8-16-16-16-32-32-32 gives ~0.47 MB: A + 20 edge-importance tensors + 344 zip
  entries cost ~0.2 MB whatever the widths) with the seed strides, 2 classes, edge importance
  on, motion ``first_difference`` (a build option, not stored); every float tensor stored as
  float16.
* ``sample_input.npy`` -- float32 (N=2, C=3, T=150, V=33, M=1).
* ``sample_logits.npy`` -- float64 (2, 2) logits computed in float64 from the fp16-rounded
  weights (what a loader that widens fp16 to f32/f64 must reproduce).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stgcn_ref import ckpt_tools as ct  # noqa: E402
from stgcn_ref.graph import build_graph  # noqa: E402
from stgcn_ref.model import SEED_STRIDES, TwoStreamSTGCN  # noqa: E402
from gen_fixtures import make_input  # noqa: E402

DEMO_SEED = 33033
WIDTHS = [16, 16, 16, 16, 32, 32, 32, 64, 64, 64]


def make_demo(out_dir: str, widths=WIDTHS) -> dict:
    """Write the three demo files into ``out_dir``; return {file name: sha256}."""
    torch.set_num_threads(2)
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(DEMO_SEED)
    A = build_graph("mediapipe", "spatial", 1, 1)
    model = TwoStreamSTGCN(3, 2, A, True, widths, SEED_STRIDES, motion="first_difference")
    ct.randomize_(model, gen, 1.2)
    model.eval()
    sd16 = ct.map_float_tensors(model.state_dict(), lambda t: t.half())

    x = make_input(gen, 2, 3, 150, 33, 1)

    m64 = copy.deepcopy(model).double()
    m64.load_state_dict(ct.map_float_tensors(sd16, lambda t: t.double()))
    m64.eval()
    with torch.no_grad():
        logits = m64(x.double()).numpy()

    files = {
        "stgcn_demo.pt": lambda p: torch.save(sd16, p),
        "sample_input.npy": lambda p: np.save(p, x.numpy()),
        "sample_logits.npy": lambda p: np.save(p, logits.astype(np.float64)),
    }
    digests = {}
    for name, write in files.items():
        path = os.path.join(out_dir, name)
        write(path)
        with open(path, "rb") as f:
            digests[name] = hashlib.sha256(f.read()).hexdigest()
    # Round trip: the saved checkpoint reloads to the same fp16 tensors.
    back = torch.load(os.path.join(out_dir, "stgcn_demo.pt"), map_location="cpu")
    assert list(back) == list(sd16) and all(torch.equal(back[k], sd16[k]) for k in sd16)
    return digests


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--widths", default=",".join(map(str, WIDTHS)),
                    help="10 comma-separated block widths (default %(default)s; "
                         "8,8,8,8,16,16,16,32,32,32 gives ~0.47 MB)")
    args = ap.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    if len(widths) != len(SEED_STRIDES):
        ap.error(f"--widths needs {len(SEED_STRIDES)} values")
    digests = make_demo(args.out_dir, widths)
    for name, h in digests.items():
        size = os.path.getsize(os.path.join(args.out_dir, name))
        print(f"{h}  {name}  ({size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
