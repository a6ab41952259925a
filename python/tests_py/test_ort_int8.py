#!/usr/bin/env python3
"""bench/ort_int8.py on a tiny random two-stream model: the QDQ model really is quantised and its
logits stay close to FP32.

Run from ``python/``: ``../.venv/bin/python -m unittest discover -s tests_py -v``
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
ROOT = os.path.dirname(PYDIR)
sys.path.insert(0, PYDIR)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stgcn_ref import ckpt_tools as ct  # noqa: E402
from stgcn_ref.graph import build_graph  # noqa: E402
from stgcn_ref.model import TwoStreamSTGCN  # noqa: E402


def load_ort_int8():
    spec = importlib.util.spec_from_file_location("ort_int8",
                                                  os.path.join(ROOT, "bench", "ort_int8.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


WIDTHS = (8, 8, 8, 8, 16, 16, 16, 16, 16, 16)
T, V, NCLASS = 12, 33, 4


class OrtInt8Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        model = TwoStreamSTGCN(3, NCLASS, build_graph("mediapipe", "spatial", 1, 1), True,
                               WIDTHS, motion="first_difference")
        ct.randomize_(model, torch.Generator().manual_seed(7), 1.2)
        cls.ckpt = os.path.join(d, "tiny.pt")
        torch.save(ct.map_float_tensors(model.state_dict(), lambda t: t.half()), cls.ckpt)
        rng = np.random.default_rng(3)
        # Skeleton-like inputs: coordinates in [0, 1], confidence ~1.
        def data(n):
            x = rng.uniform(0.2, 0.8, (n, 3, T, V, 1)).astype(np.float32)
            x[:, :2] += np.cumsum(rng.normal(0, 0.01, (n, 2, T, V, 1)), axis=2).astype(np.float32)
            x[:, 2] = rng.uniform(0.8, 1.0, (n, T, V, 1))
            return x
        cls.calib, cls.test = os.path.join(d, "calib.npy"), os.path.join(d, "test.npy")
        cls.labels = os.path.join(d, "labels.npy")
        np.save(cls.calib, data(8))
        np.save(cls.test, data(6))
        np.save(cls.labels, rng.integers(0, NCLASS, 6).astype(np.int64))
        cls.mod = load_ort_int8()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_tool(self, *extra):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = self.mod.main(list(extra))
        return rc, err.getvalue()

    def test_quantised_and_close_to_fp32(self):
        work = os.path.join(self.tmp.name, "work")
        out = os.path.join(self.tmp.name, "res.json")
        rc, err = self.run_tool("--checkpoint", self.ckpt, "--layout", "mediapipe", "--T", str(T),
                                "--calib", self.calib, "--calib-size", "8", "--test", self.test,
                                "--labels", self.labels, "--threads", "1", "--iterations", "3",
                                "--warmup", "1", "--workdir", work, "--json", out)
        self.assertEqual(rc, 0, err)
        with open(out, encoding="utf-8") as f:
            res = json.load(f)
        import onnx
        ops = {n.op_type for n in onnx.load(res["files"]["int8"]).graph.node}
        self.assertIn("QuantizeLinear", ops)
        self.assertIn("DequantizeLinear", ops)
        self.assertGreater(res["quantization"]["n_quantize_linear"], 10)
        self.assertEqual(res["model"]["widths"], list(WIDTHS))
        self.assertEqual(res["model"]["num_class"], NCLASS)
        # ORT actually runs integer convolutions.
        self.assertIn("QLinearConv", res["ort_optimized_ops"]["int8"])
        self.assertLess(res["export"]["ort_fp32_vs_torch_max_abs"], 1e-3)
        acc = res["accuracy"]
        self.assertEqual(acc["N"], 6)
        lo, hi = acc["fp32_logit_range"]
        # Loose: INT8 logits within 15 % of the FP32 logit range.
        self.assertLess(acc["max_abs_logit_error"], 0.15 * max(hi - lo, 1e-3), acc)
        self.assertGreater(acc["max_abs_logit_error"], 0.0)  # it is not the FP32 model
        self.assertTrue(0.0 <= acc["fp32_top1"] <= 1.0 and 0.0 <= acc["int8_top1"] <= 1.0)
        lat = res["latency_ms"]
        self.assertEqual(lat["fp32"]["n"], 3)
        self.assertGreater(lat["int8"]["median"], 0.0)

    def test_missing_file_is_one_line_error(self):
        rc, err = self.run_tool("--checkpoint", os.path.join(self.tmp.name, "nope.pt"),
                                "--calib", self.calib, "--workdir",
                                os.path.join(self.tmp.name, "w2"))
        self.assertEqual(rc, 2)
        self.assertEqual(err.strip().count("\n"), 0, err)
        self.assertIn("checkpoint not found", err)

    def test_shape_mismatch_is_reported(self):
        rc, err = self.run_tool("--checkpoint", self.ckpt, "--T", str(T + 1),
                                "--calib", self.calib, "--workdir",
                                os.path.join(self.tmp.name, "w3"))
        self.assertEqual(rc, 2)
        self.assertIn("expected (N, 3, 13, 33, 1)", err)


if __name__ == "__main__":
    unittest.main()
