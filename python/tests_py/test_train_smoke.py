#!/usr/bin/env python3
"""Smoke tests of python/train.py (tiny runs, narrow widths) and the volleyball loader.

Run from ``python/``: ``../.venv/bin/python -m unittest discover -s tests_py -v``
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import train  # noqa: E402
from skeleton_data import volleyball  # noqa: E402

NARROW = "8,8,8,8,16,16,16,32,32,32"


class TrainSmokeTest(unittest.TestCase):
    def test_tiny_synthetic_and_resume(self):
        with tempfile.TemporaryDirectory() as tmp:
            out, work = os.path.join(tmp, "out"), os.path.join(tmp, "work")
            args = ["--tiny", "--widths", NARROW, "--out", out, "--work", work]
            self.assertEqual(train.main(args), 0)
            with open(os.path.join(out, "classes.json"), encoding="utf-8") as f:
                spec = json.load(f)
            self.assertEqual(len(spec["classes"]), 10)
            x = np.load(os.path.join(out, "test_input.npy"))
            self.assertEqual(x.shape, (16, 3, 150, 33, 1))
            sd = torch.load(os.path.join(out, train.DATASETS["synthetic"][1]))
            self.assertEqual(len(sd), 344)
            self.assertEqual(sd["origin_stream.fcn.weight"].dtype, torch.float16)
            # The bundled logits are what the saved FP16 checkpoint computes.
            m = train.build(10, 0.0, [int(w) for w in NARROW.split(",")])
            m.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()})
            lg = train.predict(m, x)
            self.assertLess(np.abs(lg - np.load(os.path.join(out, "test_logits.npy"))).max(), 1e-4)
            # --resume with a finished run only re-exports.
            self.assertEqual(train.main(args + ["--resume"]), 0)


class CausalModelTest(unittest.TestCase):
    def test_outputs_do_not_see_the_future(self):
        """A causal model's block outputs at frame t depend on frames <= t only (checked through
        the first block: changing frames > t leaves outputs <= t alone); centre padding does
        not have that property."""
        from stgcn_ref.model import STGCN
        from stgcn_ref.graph import build_graph
        A = build_graph("coco", "spatial", 1, 1)
        torch.manual_seed(0)
        x = torch.randn(1, 3, 20, 17, 1)
        y = x.clone()
        y[:, :, 12:] += 1.0
        for padding, same in (("causal", True), ("centre", False)):
            m = STGCN(3, 4, A, True, [8, 8], [1, 1], 0.0, padding).eval()
            def feats(inp):
                z = inp.permute(0, 4, 3, 1, 2).reshape(1, 17 * 3, 20)
                z = m.data_bn(z).view(1, 1, 17, 3, 20).permute(0, 1, 3, 4, 2).reshape(1, 3, 20, 17)
                for blk in m.st_gcn_networks:
                    z = blk(z, m.A * m.edge_importance[0])
                return z
            with torch.no_grad():
                a, b = feats(x), feats(y)
            self.assertEqual(torch.allclose(a[:, :, :12], b[:, :, :12]), same, padding)
            self.assertEqual(a.shape[2], 20)  # T_out = T at stride 1 either way

    def test_tiny_causal_run_writes_its_own_directory(self):
        with tempfile.TemporaryDirectory() as tmp:
            out, work = os.path.join(tmp, "out"), os.path.join(tmp, "work")
            args = ["--tiny", "--widths", NARROW, "--out", out, "--work", work,
                    "--temporal-padding", "causal"]
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(train.main(args), 0)
            d = os.path.join(out, "causal")
            with open(os.path.join(d, "classes.json"), encoding="utf-8") as f:
                spec = json.load(f)
            self.assertEqual(spec["model"]["temporal_padding"], "causal")
            self.assertEqual(spec["model"]["checkpoint"], "stgcn_seed_actions_causal.pt")
            sd = torch.load(os.path.join(d, "stgcn_seed_actions_causal.pt"))
            m = train.build(10, 0.0, [int(w) for w in NARROW.split(",")], "mediapipe", "causal")
            m.load_state_dict({k: v.float() for k, v in sd.items()})
            self.assertEqual(spec["bundled_test"]["input"], "../test_input.npy")
            self.assertFalse(os.path.exists(os.path.join(d, "test_input.npy")))
            lg = train.predict(m, np.load(os.path.join(out, spec["bundled_test"]["input"][3:])))
            self.assertLess(np.abs(lg - np.load(os.path.join(d, "test_logits.npy"))).max(), 1e-4)


@unittest.skipUnless(os.path.exists(volleyball.DEFAULT_PATH), "volleyball data not present")
class VolleyballLoaderTest(unittest.TestCase):
    def test_splits(self):
        d = volleyball.load()
        self.assertEqual(d["train"]["data"].shape, (240, 3, 30, 33, 1))
        self.assertEqual(d["test"]["data"].shape, (60, 3, 30, 33, 1))
        self.assertEqual(np.bincount(d["test"]["label"]).tolist(), [10] * 6)
        self.assertFalse(set(d["train"]["index"]) & set(d["test"]["index"]))
        # Per class: test = the 10 highest sequence numbers, train the 40 before them.
        for c in range(6):
            tr = d["train"]["sequence"][d["train"]["label"] == c]
            te = d["test"]["sequence"][d["test"]["label"] == c]
            self.assertEqual((len(tr), len(te)), (40, 10))
            self.assertLess(tr.max(), te.min())
        self.assertTrue((d["calib"]["index"] == d["train"]["index"]).all())

    def test_npy_writer(self):
        import volleyball_npy
        with tempfile.TemporaryDirectory() as tmp:
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(volleyball_npy.main([tmp]), 0)
            x = np.load(os.path.join(tmp, "test_data.npy"))
            y = np.load(os.path.join(tmp, "test_label.npy"))
            self.assertEqual((x.shape, x.dtype), ((60, 3, 30, 33, 1), np.float32))
            self.assertEqual((y.shape, y.dtype), ((60,), np.int64))
            self.assertEqual(np.load(os.path.join(tmp, "calib_data.npy")).shape[0], 240)
            self.assertEqual(np.bincount(y).tolist(), [10] * 6)
        # Never into the repository.
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(volleyball_npy.main([os.path.join(HERE, "vb_tmp")]), 2)
        self.assertFalse(os.path.exists(os.path.join(HERE, "vb_tmp")))


if __name__ == "__main__":
    unittest.main()
