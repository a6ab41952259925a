#!/usr/bin/env python3
"""Checks of the mmaction2 / pyskl reference (``stgcn_ref/mm_*.py``, ``features.py``) and of
``gen_mm_fixtures.py``.

Run from ``python/``: ``../.venv/bin/python -m unittest tests_py.test_mm_ref -v`` (~10 s).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
sys.path.insert(0, PYDIR)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stgcn_ref.features import BONE_PAIRS, gen_ske_feat  # noqa: E402
from stgcn_ref.mm_graph import MM_LAYOUTS, mm_graph  # noqa: E402
from stgcn_ref.mm_model import (MSTCN, MMConfig, MMSTGCN, calibrate_bn_,  # noqa: E402
                                mstcn_channels, randomize_mm_, stage_plan)


def _random_model(cfg, seed, T=16, N=2, M=2):
    gen = torch.Generator().manual_seed(seed)
    model = MMSTGCN(cfg)
    randomize_mm_(model, gen)
    V = MM_LAYOUTS[cfg.layout][0]
    calibrate_bn_(model, torch.randn((N, M, T, V, cfg.in_channels), generator=gen), gen)
    return model.eval(), gen


# --------------------------------------------------------------------------------------------
# NumPy mstcn (float64), written from the description in MODEL_FAMILIES.md
# --------------------------------------------------------------------------------------------


def _np_conv_t(x, w, b, stride=1, dilation=1, left=0, right=0, pad_value=0.0):
    """x (N, Cin, T, V), w (Cout, Cin, k, 1): temporal conv with explicit padding."""
    N, Cin, T, V = x.shape
    Cout, _, k, _ = w.shape
    xp = np.full((N, Cin, T + left + right, V), pad_value)
    xp[:, :, left:left + T] = x
    Tp = xp.shape[2]
    T_out = (Tp - (k - 1) * dilation - 1) // stride + 1
    y = np.zeros((N, Cout, T_out, V))
    for to in range(T_out):
        for j in range(k):
            y[:, :, to] += np.einsum("oc,ncv->nov", w[:, :, j, 0],
                                     xp[:, :, to * stride + j * dilation])
    return y + b[None, :, None, None]


def _np_maxpool_t(x, k, stride, left, right):
    N, C, T, V = x.shape
    xp = np.full((N, C, T + left + right, V), -np.inf)
    xp[:, :, left:left + T] = x
    T_out = (xp.shape[2] - k) // stride + 1
    return np.stack([xp[:, :, to * stride:to * stride + k].max(axis=2) for to in range(T_out)],
                    axis=2)


def _np_bn(x, sd, p, eps=1e-5):
    g = sd[p + "weight"]
    b = sd[p + "bias"]
    m = sd[p + "running_mean"]
    v = sd[p + "running_var"]
    sh = (1, -1) + (1,) * (x.ndim - 2)
    return (x - m.reshape(sh)) / np.sqrt(v.reshape(sh) + eps) * g.reshape(sh) + b.reshape(sh)


def _np_mstcn(x, sd, stride, causal):
    relu = lambda a: np.maximum(a, 0.0)  # noqa: E731
    outs = []
    for br, d in enumerate((1, 2, 3, 4)):
        p = f"branches.{br}."
        h = _np_conv_t(x, sd[p + "0.weight"], sd[p + "0.bias"])
        h = relu(_np_bn(h, sd, p + "1."))
        left, right = (2 * d, 0) if causal else (d, d)
        outs.append(_np_conv_t(h, sd[p + "3.conv.weight"], sd[p + "3.conv.bias"], stride, d,
                               left, right))
    h = _np_conv_t(x, sd["branches.4.0.weight"], sd["branches.4.0.bias"])
    h = relu(_np_bn(h, sd, "branches.4.1."))
    outs.append(_np_maxpool_t(h, 3, stride, *((2, 0) if causal else (1, 1))))
    outs.append(_np_conv_t(x, sd["branches.5.weight"], sd["branches.5.bias"], stride))
    feat = np.concatenate(outs, axis=1)
    feat = relu(_np_bn(feat, sd, "transform.0."))
    feat = _np_conv_t(feat, sd["transform.2.weight"], sd["transform.2.bias"])
    return _np_bn(feat, sd, "bn.")


class MSTCNvsNumpy(unittest.TestCase):
    def _check(self, C, stride, causal, T):
        gen = torch.Generator().manual_seed(7 + C + stride + T)
        m = MSTCN(C, C, stride=stride, causal=causal).double().eval()
        randomize_mm_(m, gen)
        x = torch.randn((2, C, T, 3), generator=gen, dtype=torch.float64)
        with torch.no_grad():
            y = m(x).numpy()
        sd = {k: v.numpy() for k, v in m.state_dict().items() if v.is_floating_point()}
        want = _np_mstcn(x.numpy(), sd, stride, causal)
        self.assertEqual(y.shape, want.shape)
        self.assertEqual(y.shape[2], (T - 1) // stride + 1)
        np.testing.assert_allclose(y, want, rtol=0, atol=1e-10)

    def test_centre_stride1(self):
        self._check(8, 1, False, 9)      # rem 3, mid 1

    def test_centre_stride2_odd_even(self):
        self._check(12, 2, False, 9)
        self._check(8, 2, False, 10)

    def test_causal(self):
        self._check(8, 1, True, 9)
        self._check(12, 2, True, 10)

    def test_branch_widths(self):
        self.assertEqual(mstcn_channels(64), [14] + [10] * 5)
        self.assertEqual(mstcn_channels(128), [23] + [21] * 5)
        self.assertEqual(mstcn_channels(256), [46] + [42] * 5)


# --------------------------------------------------------------------------------------------


class Causality(unittest.TestCase):
    def _check(self, cfg, T=23):
        model, gen = _random_model(cfg, 11, T=T)
        V = MM_LAYOUTS[cfg.layout][0]
        x = torch.randn((2, 2, T, V, cfg.in_channels), generator=gen, dtype=torch.float64)
        model = model.double()
        S = int(np.prod(model.strides))
        with torch.no_grad():
            y = model.backbone(x)
            T_out = T
            for s in model.strides:
                T_out = (T_out - 1) // s + 1
            self.assertEqual(y.shape[3], T_out)
            for t0 in (0, 5, 12, S * (T_out - 1) - 1):
                x2 = x.clone()
                x2[:, :, t0 + 1:] = torch.randn(x2[:, :, t0 + 1:].shape, generator=gen,
                                                dtype=torch.float64) * 3
                y2 = model.backbone(x2)
                keep = t0 // S + 1          # outputs t' with S*t' <= t0
                np.testing.assert_allclose(y2[:, :, :, :keep].numpy(),
                                           y[:, :, :, :keep].numpy(), rtol=0, atol=1e-12)
                self.assertLess(keep, T_out)
                self.assertGreater(float((y2[:, :, :, keep:] - y[:, :, :, keep:]).abs().max()),
                                   1e-6)

    def test_causal_stgcnpp(self):
        self._check(MMConfig.stgcnpp(layout="coco", base_channels=8, num_stages=5,
                                     inflate_stages=(3, 5), down_stages=(3, 5),
                                     temporal_padding="causal", num_classes=3))

    def test_causal_stgcn(self):
        self._check(MMConfig.stgcn(layout="nturgb+d", base_channels=8, num_stages=5,
                                   inflate_stages=(3, 5), down_stages=(3, 5),
                                   temporal_padding="causal", num_classes=3))

    def test_centre_is_not_causal_and_keys_match(self):
        kw = dict(layout="coco", base_channels=8, num_stages=4, inflate_stages=(3,),
                  down_stages=(3,), num_classes=3)
        centre, gen = _random_model(MMConfig.stgcnpp(**kw), 5)
        causal = MMSTGCN(MMConfig.stgcnpp(temporal_padding="causal", **kw)).eval()
        causal.load_state_dict(centre.state_dict(), strict=True)
        x = torch.randn((1, 2, 15, 17, 3), generator=gen)
        x2 = x.clone()
        x2[:, :, 1:] += 1.0
        with torch.no_grad():
            y, y2 = centre.backbone(x), centre.backbone(x2)
            self.assertEqual(tuple(y.shape), tuple(causal.backbone(x).shape))
        self.assertGreater(float((y[:, :, :, 0] - y2[:, :, :, 0]).abs().max()), 1e-4)


# --------------------------------------------------------------------------------------------


class Graphs(unittest.TestCase):
    def test_coco_spatial_column_sums(self):
        A = mm_graph("coco", "spatial", dtype=np.float64)
        self.assertEqual(A.shape, (3, 17, 17))
        np.testing.assert_array_equal(A[0], np.eye(17))
        cols_in = A[1].sum(axis=0)
        cols_out = A[2].sum(axis=0)
        want_in = np.ones(17)
        want_in[0] = 0.0                                   # the root has no parent
        parents = {0, 1, 2, 5, 6, 7, 8, 11, 12, 13, 14}      # leaves 3, 4, 9, 10, 15, 16
        want_out = np.array([1.0 if v in parents else 0.0 for v in range(17)])
        np.testing.assert_allclose(cols_in, want_in, atol=1e-15)
        np.testing.assert_allclose(cols_out, want_out, atol=1e-15)
        # In[parent, child]: column child (gathered into) takes its parent (row).
        self.assertEqual(A[1][13, 15], 1.0)
        # Out[child, parent]: column parent gathers from its children, 1 / #children each.
        self.assertEqual(A[2][15, 13], 1.0)                # 13's only child is 15
        for child in (1, 2, 5, 6):                         # the nose's four children
            self.assertEqual(A[2][child, 0], 0.25)

    def test_stgcn_spatial_and_binary(self):
        for layout, (V, inward, _) in MM_LAYOUTS.items():
            A = mm_graph(layout, "stgcn_spatial", dtype=np.float64)
            self.assertEqual(A.shape, (3, V, V))
            np.testing.assert_allclose(A.sum(axis=(0, 1)), np.ones(V), atol=1e-12)
            B = mm_graph(layout, "binary_adj", dtype=np.float64)
            self.assertEqual(B.shape, (1, V, V))
            self.assertEqual(int(B.sum()), 2 * len(inward))
            np.testing.assert_array_equal(B[0], B[0].T)
        self.assertEqual(mm_graph("nturgb+d", "spatial").dtype, np.float32)


# --------------------------------------------------------------------------------------------


class Features(unittest.TestCase):
    def test_coco_2d_score(self):
        rng = np.random.default_rng(3)
        x = rng.standard_normal((2, 2, 5, 17, 3)).astype(np.float32)
        b = gen_ske_feat(x, "coco", "b")
        np.testing.assert_array_equal(b[..., 0, :2], 0)
        np.testing.assert_array_equal(b[..., 0, 2], x[..., 0, 2])
        np.testing.assert_allclose(b[..., 11, :2], x[..., 11, :2] - x[..., 0, :2])  # hip->nose
        np.testing.assert_allclose(b[..., 11, 2], (x[..., 11, 2] + x[..., 0, 2]) / 2)
        jm = gen_ske_feat(x, "coco", "jm")
        np.testing.assert_array_equal(jm[..., -1, :, :], 0)
        np.testing.assert_allclose(jm[..., :-1, :, :2], x[..., 1:, :, :2] - x[..., :-1, :, :2])
        np.testing.assert_allclose(jm[..., :-1, :, 2], (x[..., 1:, :, 2] + x[..., :-1, :, 2]) / 2)
        bm = gen_ske_feat(x, "coco", "bm")
        np.testing.assert_allclose(bm[..., :-1, :, 2], (b[..., 1:, :, 2] + b[..., :-1, :, 2]) / 2)

    def test_ntu_3d(self):
        rng = np.random.default_rng(4)
        x = rng.standard_normal((1, 2, 4, 25, 3)).astype(np.float32)
        b = gen_ske_feat(x, "nturgb+d", "b")
        for v, u in BONE_PAIRS["nturgb+d"]:
            np.testing.assert_allclose(b[..., v, :], x[..., v, :] - x[..., u, :])
        np.testing.assert_array_equal(b[..., 20, :], 0)
        bm = gen_ske_feat(x, "nturgb+d", "bm")
        np.testing.assert_allclose(bm[..., :-1, :, :], np.diff(b, axis=-3))


# --------------------------------------------------------------------------------------------


class PlanAndKeys(unittest.TestCase):
    def test_default_plan(self):
        plan = stage_plan(3, 64, 2, 10, (5, 8), (5, 8))
        self.assertEqual([p[1] for p in plan], [64, 64, 64, 64, 128, 128, 128, 256, 256, 256])
        self.assertEqual([p[2] for p in plan], [1, 1, 1, 1, 2, 1, 1, 2, 1, 1])
        self.assertEqual([p[3] for p in plan], [False] + [True] * 9)

    def test_block0_dropped_when_in_equals_base(self):
        plan = stage_plan(3, 3, 2, 5, (3, 5), (3,))
        self.assertEqual(plan, [(3, 3, 1, True), (3, 6, 2, True), (6, 6, 1, True),
                                (6, 12, 1, True)])

    def test_keys(self):
        m = MMSTGCN(MMConfig.stgcnpp(layout="coco", num_classes=60))
        keys = list(m.state_dict())
        self.assertEqual(len(keys), 692)
        for k in ("backbone.data_bn.running_var", "backbone.gcn.0.gcn.A",
                  "backbone.gcn.0.gcn.down.0.weight", "backbone.gcn.0.gcn.down.1.running_mean",
                  "backbone.gcn.4.gcn.down.1.weight", "backbone.gcn.4.residual.conv.weight",
                  "backbone.gcn.4.residual.bn.running_var",
                  "backbone.gcn.1.tcn.branches.3.3.conv.bias",
                  "backbone.gcn.1.tcn.branches.4.1.running_mean",
                  "backbone.gcn.1.tcn.branches.5.weight",
                  "backbone.gcn.1.tcn.transform.0.weight",
                  "backbone.gcn.1.tcn.transform.2.weight", "backbone.gcn.9.tcn.bn.bias",
                  "cls_head.fc.weight"):
            self.assertIn(k, keys)
        self.assertNotIn("backbone.gcn.1.gcn.down.0.weight", keys)
        self.assertNotIn("backbone.gcn.1.residual.conv.weight", keys)
        self.assertNotIn("backbone.gcn.0.gcn.PA", keys)
        s = MMSTGCN(MMConfig.stgcn(layout="openpose", head="fc_cls", num_classes=5))
        skeys = list(s.state_dict())
        self.assertEqual(skeys[5:7], ["backbone.gcn.0.gcn.PA", "backbone.gcn.0.gcn.A"])
        self.assertIn("cls_head.fc_cls.bias", skeys)
        self.assertIn("backbone.gcn.0.tcn.conv.weight", skeys)


class Generator(unittest.TestCase):
    def test_build_mm(self):
        import gen_mm_fixtures as g
        with tempfile.TemporaryDirectory() as d:
            sec = g.build_mm(d)
            json.dumps(sec)
            self.assertEqual(len(sec["graphs"]), 9)
            self.assertGreaterEqual(len(sec["cases"]), 16)
            for c in sec["cases"]:
                y = np.load(os.path.join(d, c["logits"]))
                y64 = np.load(os.path.join(d, c["logits64"]))
                self.assertEqual(y.shape, (c["N"], c["num_classes"]))
                self.assertLess(np.abs(y - y64).max(), 1e-4)
            fmts = {c["format"] for c in sec["cases"]}
            self.assertEqual(fmts, {"mmengine", "pyskl", "bare", "module_prefix"})
            for o in sec["onnx"]:
                self.assertTrue(os.path.exists(os.path.join(d, o["file"])))
            self.assertFalse(any(k.startswith("mmengine") for k in sys.modules))


if __name__ == "__main__":
    unittest.main()
