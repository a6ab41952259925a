#!/usr/bin/env python3
"""Sanity-check a fixture directory written by ``gen_fixtures.py``.

Usage: ``check_fixtures.py OUT_DIR``

* every graph file equals a fresh :func:`stgcn_ref.graph.build_graph`;
* every good checkpoint (cases, format variants, the bad_npy model) reloads with
  ``torch.load``, goes into a freshly built reference model with ``load_state_dict(strict=True)``
  and, run in float64 on the stored input, reproduces the stored ``logits64`` within 1e-9;
  the float32 ``logits`` agree with ``logits64`` loosely; an independent NumPy forward pass
  (:mod:`stgcn_ref.numpy_ref`) reproduces ``logits64`` within 1e-9 as well;
* each checkpoint's ``A`` equals the float32 graph of its recorded layout/strategy;
* every bad file exists (except ``missing``); the broken ones are rejected by ``torch.load``,
  ``not_stgcn`` / ``wrong_shape`` load as plain dicts, and the hostile ``evil_*`` ones are NEVER
  loaded: they are only checked statically for the ``posix system`` payload.

Prints one summary line; exit status 1 on any failure.
"""

from __future__ import annotations

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # whole-module checkpoints reference stgcn_ref.model.*

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stgcn_ref import ckpt_tools as ct  # noqa: E402
from stgcn_ref import numpy_ref  # noqa: E402
from stgcn_ref.graph import build_graph  # noqa: E402
from stgcn_ref.model import build_model  # noqa: E402

TOL64 = 1e-9


class Checker:
    def __init__(self, root: str):
        self.root = root
        self.failures = []
        self.checked = 0
        self.worst = 0.0
        self.worst_np = 0.0

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def fail(self, what: str) -> None:
        self.failures.append(what)
        print("FAIL:", what, file=sys.stderr)

    def graph(self, cfg) -> np.ndarray:
        custom = self.path(cfg["custom_layout"]) if cfg.get("custom_layout") else None
        return build_graph(cfg["layout"], cfg["strategy"], cfg["max_hop"], cfg["dilation"],
                           custom)

    def run_checkpoint(self, label: str, ckpt_rel: str, cfg, input_rel: str, logits64_rel: str,
                       logits32_rel=None) -> None:
        """Load, rebuild, run in float64, compare."""
        obj = torch.load(self.path(ckpt_rel), map_location="cpu")
        sd = ct.unwrap_state_dict(obj)
        A = self.graph(cfg)
        model = build_model(cfg["C"], cfg["num_class"], A, cfg["edge_importance"], cfg["widths"],
                            cfg["strides"], cfg["two_stream"], cfg.get("motion"))
        sd64 = ct.map_float_tensors(sd, lambda t: t.double())
        model = model.double()
        model.load_state_dict(sd64, strict=True)
        model.eval()
        A32 = torch.as_tensor(A, dtype=torch.float32).double()
        for k, v in sd64.items():
            if k == "A" or k.endswith(".A"):
                if sd[k].dtype != torch.float16 and not torch.equal(v, A32):
                    self.fail(f"{label}: checkpoint {k} differs from the recorded graph")
        x = torch.from_numpy(np.load(self.path(input_rel))).double()
        with torch.no_grad():
            y = model(x).numpy()
        ref = np.load(self.path(logits64_rel))
        diff = float(np.abs(y - ref).max())
        self.worst = max(self.worst, diff)
        self.checked += 1
        if not diff < TOL64:
            self.fail(f"{label}: |logits64 diff| = {diff:.3g}")
        # Second, independent implementation (NumPy, from the page's formulas).
        y_np = numpy_ref.forward({k: v.numpy() for k, v in sd64.items()}, x.numpy(),
                                 cfg["strides"], cfg["two_stream"], cfg.get("motion"))
        diff_np = float(np.abs(y_np - ref).max())
        self.worst_np = max(self.worst_np, diff_np)
        if not diff_np < TOL64:
            self.fail(f"{label}: numpy reference differs by {diff_np:.3g}")
        if logits32_rel is not None:
            y32 = np.load(self.path(logits32_rel)).astype(np.float64)
            tol = 1e-4 * max(1.0, float(np.abs(ref).max()))
            if y32.shape != ref.shape or float(np.abs(y32 - ref).max()) > tol:
                self.fail(f"{label}: float32 logits far from float64 ones")

    def check_graphs(self, graphs) -> None:
        for g in graphs:
            A = np.load(self.path(g["file"]))
            if A.dtype != np.float64 or not np.array_equal(A, self.graph(g)):
                self.fail(f"graph {g['file']}")
            self.checked += 1

    def check_cases(self, cases) -> None:
        for c in cases:
            self.run_checkpoint(f"case {c['name']}", c["checkpoint"], c, c["input"],
                                c["logits64"], c["logits"])
            x = np.load(self.path(c["input"]))
            if x.dtype != np.float32 or x.shape != (c["N"], c["C"], c["T"], c["V"], c["M"]):
                self.fail(f"case {c['name']}: input {x.dtype} {x.shape}")

    def check_formats(self, formats) -> None:
        cfg = formats["model"]
        for v in formats["variants"]:
            self.run_checkpoint(f"format {v['name']}", v["file"], cfg, formats["input"],
                                v["logits64"])

    def check_bad(self, bad, bad_npy, cases) -> None:
        for b in bad:
            p = self.path(b["file"])
            if b["name"] == "missing":
                if os.path.exists(p):
                    self.fail("bad 'missing' exists")
                continue
            if not os.path.exists(p):
                self.fail(f"bad {b['name']} not written")
                continue
            data = open(p, "rb").read()
            if b["name"].startswith("evil"):
                if b"posix\nsystem\n" not in data:  # static check only; never unpickled
                    self.fail(f"bad {b['name']}: no payload")
                continue
            if b["name"] in ("not_stgcn", "wrong_shape"):
                torch.load(p, map_location="cpu")  # must be a loadable pickle/zip
                continue
            try:
                torch.load(p, map_location="cpu")
                self.fail(f"bad {b['name']}: torch.load accepted it")
            except Exception:  # noqa: BLE001 - any error is what we want
                pass
        case = next(c for c in cases if c["name"] == bad_npy["case"])
        for f in bad_npy["files"]:
            if f["name"] == "good_f64":
                self.run_checkpoint("bad_npy good_f64", bad_npy["model"], case, f["file"],
                                    f["logits64"])
            elif not os.path.exists(self.path(f["file"])):
                self.fail(f"bad_npy {f['name']} not written")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    t0 = time.time()
    root = os.path.abspath(argv[0])
    with open(os.path.join(root, "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    ck = Checker(root)
    ck.check_graphs(m["graphs"])
    ck.check_cases(m["cases"])
    ck.check_formats(m["formats"])
    ck.check_bad(m["bad_checkpoints"], m["bad_npy"], m["cases"])
    status = "OK" if not ck.failures else f"FAILED ({len(ck.failures)})"
    print(f"check_fixtures: {status}: {len(m['graphs'])} graphs, {len(m['cases'])} cases, "
          f"{len(m['formats']['variants'])} format variants, "
          f"{len(m['bad_checkpoints'])} bad checkpoints, {len(m['bad_npy']['files'])} npy; "
          f"{ck.checked} checks, worst |logits64 diff| torch {ck.worst:.2e} "
          f"numpy {ck.worst_np:.2e}, "
          f"{time.time() - t0:.1f}s")
    return 0 if not ck.failures else 1


if __name__ == "__main__":
    sys.exit(main())
