#!/usr/bin/env python3
"""Checks for ``make_streams.py`` (JSONL camera streams from the skeleton dataset).

Run from ``python/``: ``../.venv/bin/python -m unittest discover -s tests_py -v`` (~10 s here).
"""

from __future__ import annotations

import contextlib
import filecmp
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
sys.path.insert(0, PYDIR)

import numpy as np  # noqa: E402

import make_streams  # noqa: E402
from skeleton_data import CLASSES  # noqa: E402
from skeleton_data.generate import generate  # noqa: E402

SCRIPT = os.path.join(PYDIR, "make_streams.py")
SEED = 20240611  # the dataset's default seed; per class 30 = the dataset's test split


def _strict_json(line: str):
    """json.loads that refuses NaN / Infinity (Python accepts them by default, JSON does not)."""
    def bad_constant(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(line, parse_constant=bad_constant)


def _run(argv):
    with contextlib.redirect_stdout(io.StringIO()):
        make_streams.main(argv)


def _read(out_dir):
    with open(os.path.join(out_dir, "truth.json"), encoding="utf-8") as f:
        truth = json.load(f)
    lines = {}
    for s in truth["streams"]:
        with open(os.path.join(out_dir, s["file"]), encoding="utf-8") as f:
            text = f.read()
        assert text.endswith("\n")
        lines[s["stream"]] = text[:-1].split("\n")
    return truth, lines


def _good_frames(stream_truth, stream_lines):
    """The parsed good lines (the recorded malformed ones skipped)."""
    bad = {m["line"] for m in stream_truth["malformed"]}
    return [_strict_json(l) for n, l in enumerate(stream_lines, 1) if n not in bad]


class MakeStreamsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.plain = os.path.join(cls.tmp.name, "plain")       # all defaults
        cls.mixed = os.path.join(cls.tmp.name, "mixed")       # segments, malformed, 2 persons
        _run([cls.plain])
        _run([cls.mixed, "--streams", "3", "--segments", "3", "--malformed", "6",
              "--persons", "2", "--second-person-prob", "0.7"])
        cls.ref = generate("test", 30, SEED)                  # the dataset's test split
        cls.runs = {d: _read(d) for d in (cls.plain, cls.mixed)}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_files_and_line_counts(self):
        truth, lines = self.runs[self.plain]
        self.assertEqual(sorted(os.listdir(self.plain)),
                         ["cam0.jsonl", "cam1.jsonl", "cam2.jsonl", "cam3.jsonl", "streams.txt",
                          "truth.json"])
        with open(os.path.join(self.plain, "streams.txt"), encoding="utf-8") as f:
            self.assertEqual(f.read().split(), [f"cam{i}.jsonl" for i in range(4)])
        for s in truth["streams"]:
            self.assertEqual(len(lines[s["stream"]]), 150)
            self.assertEqual((s["frames"], s["lines"], s["malformed"]), (150, 150, []))
        truth, lines = self.runs[self.mixed]
        self.assertEqual(len(truth["streams"]), 3)
        for s in truth["streams"]:
            self.assertEqual(s["frames"], 450)
            self.assertEqual(len(lines[s["stream"]]), 456)
            self.assertEqual(s["lines"], 456)
            self.assertEqual(len(s["malformed"]), 6)

    def test_json_valid_except_malformed(self):
        for out in (self.plain, self.mixed):
            truth, lines = self.runs[out]
            for s in truth["streams"]:
                ls = lines[s["stream"]]
                bad = {m["line"]: m for m in s["malformed"]}
                prev_good = None
                for n, line in enumerate(ls, 1):
                    if n not in bad:
                        rec = _strict_json(line)
                        self.assertEqual(sorted(rec), ["frame", "persons", "t"])
                        for p in rec["persons"]:
                            self.assertEqual(sorted(p), ["id", "kp"])
                            self.assertEqual(len(p["kp"]), 33)
                            for row in p["kp"]:
                                self.assertEqual(len(row), 3)
                                self.assertTrue(all(math.isfinite(v) for v in row))
                        prev_good = line
                        continue
                    kind = bad[n]["kind"]
                    if kind in ("bad_json", "nan"):
                        with self.assertRaises(ValueError, msg=(out, n, kind)):
                            _strict_json(line)
                        if kind == "nan":
                            self.assertIn("NaN", line)
                            json.loads(line)  # the NaN token is the only defect
                    elif kind == "wrong_joint_count":
                        rec = _strict_json(line)
                        self.assertEqual([len(p["kp"]) for p in rec["persons"]], [31])
                    else:
                        self.assertEqual(kind, "duplicate_timestamp")
                        self.assertEqual(line, prev_good)
        # Every kind is exercised; line numbers are increasing, the frames they precede too.
        truth, _ = self.runs[self.mixed]
        kinds = {m["kind"] for s in truth["streams"] for m in s["malformed"]}
        self.assertEqual(kinds, set(make_streams.MALFORMED_KINDS))
        for s in truth["streams"]:
            ln = [m["line"] for m in s["malformed"]]
            self.assertEqual(ln, sorted(set(ln)))
            for k, m in enumerate(s["malformed"]):
                # the good line right after the k-th malformed one is frame `before_frame`
                self.assertEqual(m["line"], m["before_frame"] + k + 1)

    def test_timestamps_and_frames(self):
        for out in (self.plain, self.mixed):
            truth, lines = self.runs[out]
            for s in truth["streams"]:
                recs = _good_frames(s, lines[s["stream"]])
                self.assertEqual([r["frame"] for r in recs], list(range(s["frames"])))
                ts = [r["t"] for r in recs]
                self.assertTrue(all(a < b for a, b in zip(ts, ts[1:])))
                self.assertEqual(ts, [round(f / 30.0, 6) for f in range(s["frames"])])

    def test_truth_consistent(self):
        labels = self.ref["label"]
        for out in (self.plain, self.mixed):
            truth, lines = self.runs[out]
            p = truth["params"]
            self.assertEqual(truth["classes"], CLASSES)
            self.assertEqual(truth["dataset"]["seed_stream"], {"entropy": SEED, "spawn_key": [2]})
            self.assertEqual((p["split"], p["per_class"], p["seed"]), ("test", 30, SEED))
            used = {c: 0 for c in CLASSES}
            samples = []
            for i, s in enumerate(truth["streams"]):
                self.assertEqual((s["stream"], s["file"]), (f"cam{i}", f"cam{i}.jsonl"))
                recs = _good_frames(s, lines[s["stream"]])
                end = 0
                for j, g in enumerate(s["segments"]):
                    cls = p["classes"][(i + j) % len(p["classes"])]
                    self.assertEqual(g["class"], cls)
                    self.assertEqual(g["label"], CLASSES.index(cls))
                    self.assertEqual((g["start_frame"], g["end_frame"]), (end, end + 150))
                    end = g["end_frame"]
                    # the k-th use of a class is its k-th sample in split order
                    self.assertEqual(g["sample"],
                                     int(np.nonzero(labels == g["label"])[0][used[cls]]))
                    used[cls] += 1
                    if p["persons"] == 1:  # (with 2 slots the sample holds a 2nd person)
                        self.assertEqual(g["sample_sha256"], self.ref["hashes"][g["sample"]])
                    a, b = g["action_frames"]
                    self.assertTrue(g["start_frame"] <= a < b <= g["end_frame"])
                    samples.append(g["sample"])
                    # tracks: the labelled one in every frame but its absent ones
                    others = {o["track"]: o["frames"] for o in g["other_tracks"]}
                    seen = {o: 0 for o in others}
                    absent = []
                    for r in recs[g["start_frame"]:g["end_frame"]]:
                        ids = [q["id"] for q in r["persons"]]
                        self.assertEqual(len(ids), len(set(ids)))
                        self.assertTrue(set(ids) <= {g["track"], *others}, ids)
                        if g["track"] not in ids:
                            absent.append(r["frame"])
                        for o in others:
                            seen[o] += o in ids
                    self.assertEqual(absent, g["absent_frames"])
                    self.assertEqual(seen, others)
                    self.assertLess(len(absent), 20)
                self.assertEqual(end, s["frames"])
                tracks = [g["track"] for g in s["segments"]]
                self.assertEqual(len(tracks), len(set(tracks)))
            self.assertEqual(len(samples), len(set(samples)))
        # With 2 person slots and probability 0.7, some segment has a distractor.
        truth, _ = self.runs[self.mixed]
        self.assertTrue(any(g["other_tracks"] for s in truth["streams"] for g in s["segments"]))

    def test_keypoints_equal_generate(self):
        data = self.ref["data"]
        for out in (self.plain, self.mixed):
            truth, lines = self.runs[out]
            for s in truth["streams"]:
                recs = _good_frames(s, lines[s["stream"]])
                for g in s["segments"]:
                    # person 0 of the sample; the same with --persons 2 (slot 0 is drawn first)
                    x = data[g["sample"], :, :, :, 0]                     # (3, T, V)
                    got = np.zeros_like(x)
                    for t, r in enumerate(recs[g["start_frame"]:g["end_frame"]]):
                        for q in r["persons"]:
                            if q["id"] == g["track"]:
                                got[:, t] = np.asarray(q["kp"], np.float32).T
                    np.testing.assert_array_equal(got, x, err_msg=f"{out} {s['stream']}")
        # Defaults: stream i is the first test-split sample of walk, wave, squat, fall.
        truth, _ = self.runs[self.plain]
        first = [int(np.nonzero(self.ref["label"] == CLASSES.index(c))[0][0])
                 for c in ("walk", "wave", "squat", "fall")]
        self.assertEqual([s["segments"][0]["sample"] for s in truth["streams"]], first)

    def test_deterministic(self):
        with tempfile.TemporaryDirectory() as tmp:
            outs = [os.path.join(tmp, "a"), os.path.join(tmp, "b")]
            for o in outs:
                subprocess.run([sys.executable, SCRIPT, o, "--streams", "2", "--segments", "2",
                                "--malformed", "4", "--classes", "jump,kick,idle"],
                               check=True, capture_output=True, timeout=120)
            names = sorted(os.listdir(outs[0]))
            self.assertEqual(names, sorted(os.listdir(outs[1])))
            self.assertEqual(len(names), 4)
            match, mismatch, errors = filecmp.cmpfiles(outs[0], outs[1], names, shallow=False)
            self.assertEqual((mismatch, errors), ([], []))
            with open(os.path.join(outs[0], "truth.json"), encoding="utf-8") as f:
                truth = json.load(f)
            self.assertEqual([[g["class"] for g in s["segments"]] for s in truth["streams"]],
                             [["jump", "kick"], ["kick", "idle"]])

    def test_cli(self):
        r = subprocess.run([sys.executable, SCRIPT, "--help"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0)
        for word in ("--malformed", "truth.json", "--segments", "test split"):
            self.assertIn(word, r.stdout)
        with tempfile.TemporaryDirectory() as tmp:
            for bad in (["--segments", "31"], ["--classes", "walk,dance"], ["--fps", "0"],
                        ["--malformed", "150"]):
                with self.subTest(bad=bad), contextlib.redirect_stderr(io.StringIO()):
                    with self.assertRaises(SystemExit) as cm:
                        make_streams.parse_args([tmp] + bad)
                    self.assertEqual(cm.exception.code, 2)
            self.assertEqual(os.listdir(tmp), [])


if __name__ == "__main__":
    unittest.main()
