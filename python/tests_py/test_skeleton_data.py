#!/usr/bin/env python3
"""Checks for the procedural dataset generator (plain unittest; pytest also collects it).

Run from ``python/``: ``../.venv/bin/python -m unittest discover -s tests_py -v``
"""

from __future__ import annotations

import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

from skeleton_data import CLASSES, JOINT_NAMES, MAPPINGS, remap  # noqa: E402
from skeleton_data.generate import generate, generate_splits, write_dataset  # noqa: E402
from stgcn_ref.graph import get_layout  # noqa: E402

SEED = 1234


class GeneratorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.splits = generate_splits({"train": 6, "calib": 2, "test": 3}, SEED)

    def test_shapes_and_dtypes(self):
        for s, n in (("train", 6), ("calib", 2), ("test", 3)):
            d = self.splits[s]
            N = n * len(CLASSES)
            self.assertEqual(d["data"].shape, (N, 3, 150, 33, 1))
            self.assertEqual(d["data"].dtype, np.float32)
            self.assertEqual(d["label"].dtype, np.int64)
            self.assertEqual(np.bincount(d["label"]).tolist(), [n] * len(CLASSES))
            self.assertEqual(d["window"].shape, (N, 2))
            self.assertTrue(np.all(d["window"][:, 0] < d["window"][:, 1]))
            self.assertTrue(np.all((d["window"] >= 0) & (d["window"] <= 150)))

    def test_value_ranges(self):
        x = self.splits["train"]["data"]
        conf = x[:, 2]
        self.assertTrue(np.all((conf >= 0) & (conf <= 1)))
        missing = conf == 0
        self.assertTrue(np.all(x[:, 0][missing] == 0) and np.all(x[:, 1][missing] == 0))
        self.assertGreater(missing.mean(), 0.001)   # drop-outs happen
        self.assertLess(missing.mean(), 0.15)
        xy = x[:, :2].transpose(0, 2, 3, 4, 1)[~missing]   # (present joints, 2)
        self.assertGreater(np.mean((xy >= 0) & (xy <= 1)), 0.99)
        self.assertTrue(np.isfinite(x).all())

    def test_deterministic(self):
        again = generate("calib", 2, SEED)
        self.assertTrue(np.array_equal(again["data"], self.splits["calib"]["data"]))
        self.assertTrue(np.array_equal(again["label"], self.splits["calib"]["label"]))
        other = generate("calib", 2, SEED + 1)
        self.assertFalse(np.array_equal(other["data"], self.splits["calib"]["data"]))

    def test_splits_disjoint(self):
        hs = [set(self.splits[s]["hashes"]) for s in ("train", "calib", "test")]
        self.assertEqual(len(hs[0] & hs[1]) + len(hs[0] & hs[2]) + len(hs[1] & hs[2]), 0)
        for h, d in zip(hs, self.splits.values()):
            self.assertEqual(len(h), len(d["label"]))  # no duplicates inside a split

    def test_left_right_semantics(self):
        # Facing the camera (most samples), the left shoulder (11) is right of the right one
        # (12) in the image; the nose is above the hips.
        x = self.splits["train"]["data"]
        ok = (x[:, 2, :, 11, 0] > 0) & (x[:, 2, :, 12, 0] > 0)
        self.assertGreater(np.mean((x[:, 0, :, 11, 0] > x[:, 0, :, 12, 0])[ok]), 0.6)
        y = self.splits["train"]["label"]
        stand = np.isin(y, [CLASSES.index(c) for c in ("idle", "wave", "punch")])
        ok = (x[stand, 2, :, 0, 0] > 0) & (x[stand, 2, :, 23, 0] > 0)
        self.assertTrue(np.all((x[stand, 1, :, 0, 0] < x[stand, 1, :, 23, 0])[ok]))

    def test_second_person(self):
        d = generate("test", 2, SEED, persons=2, second_person_prob=1.0)
        self.assertEqual(d["data"].shape[-1], 2)
        self.assertTrue(np.all(d["data"][:, 2, :, :, 1].max(axis=(1, 2)) > 0))
        d0 = generate("test", 2, SEED, persons=2, second_person_prob=0.0)
        self.assertTrue(np.all(d0["data"][..., 1] == 0))

    def test_mappings(self):
        x = self.splits["calib"]["data"]
        for layout in ("openpose", "ntu-rgb+d"):
            Vt = get_layout(layout)[0]
            self.assertEqual(len(MAPPINGS[layout]), Vt)
            y = remap(x, layout)
            self.assertEqual(y.shape, x.shape[:3] + (Vt,) + x.shape[4:])
            miss = y[:, 2] == 0
            self.assertTrue(np.all(y[:, 0][miss] == 0))
        op = remap(x, "openpose")
        self.assertTrue(np.array_equal(op[:, :, :, 0], x[:, :, :, 0]))   # nose copied
        both = (x[:, 2, :, 11] > 0) & (x[:, 2, :, 12] > 0)
        neck = 0.5 * (x[:, :2, :, 11] + x[:, :2, :, 12])
        self.assertTrue(np.allclose(op[:, :2, :, 1].transpose(0, 2, 3, 1)[both],
                                    neck.transpose(0, 2, 3, 1)[both]))
        self.assertEqual(len(JOINT_NAMES), 33)

    def test_write_dataset(self):
        with tempfile.TemporaryDirectory() as tmp:
            meta = write_dataset(tmp, self.splits, SEED, CLASSES, "mediapipe")
            self.assertEqual(meta["classes"], CLASSES)
            back = np.load(os.path.join(tmp, "test_data.npy"))
            self.assertTrue(np.array_equal(back, self.splits["test"]["data"]))


class CropTest(unittest.TestCase):
    def test_crop_covers_window(self):
        import train
        rng = np.random.default_rng(0)
        T, L = 150, 64
        x = np.broadcast_to(np.arange(T, dtype=np.float32)[None, None, :, None, None],
                            (50, 3, T, 2, 1)).copy()
        a = rng.integers(0, 140, 50)
        b = np.minimum(T, a + rng.integers(1, 90, 50))
        win = np.stack([a, b], 1)
        c = train.crop_batch(x, win, L, rng)
        self.assertEqual(c.shape, (50, 3, L, 2, 1))
        s = c[:, 0, 0, 0, 0].astype(int)
        for i in range(50):
            need = min(L, b[i] - a[i])
            overlap = min(s[i] + L, b[i]) - max(s[i], a[i])
            self.assertGreaterEqual(overlap, need, (a[i], b[i], s[i]))


class PreviewTest(unittest.TestCase):
    def test_preview_renders_a_png(self):
        # The preview tool (and bench/peers.py's plot) need matplotlib from setup.sh's list.
        from skeleton_data import preview
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "preview.png")
            self.assertEqual(preview.main([out, "--per-class", "1", "--frames", "2",
                                           "--classes", "wave,jump"]), 0)
            with open(out, "rb") as f:
                head = f.read(8)
            self.assertEqual(head, b"\x89PNG\r\n\x1a\n")
            self.assertGreater(os.path.getsize(out), 1000)


if __name__ == "__main__":
    unittest.main()
