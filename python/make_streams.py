#!/usr/bin/env python3
"""Write recorded "camera" frame streams (JSONL) for the C++ stream runtime, from the
procedural skeleton dataset (``skeleton_data``, see ``docs/dataset.md``).

Usage (from ``python/``)::

    ../.venv/bin/python make_streams.py OUT_DIR [--streams 4] [--classes walk,wave,squat,fall]
        [--segments 1] [--fps 30] [--seed 20240611] [--split test] [--per-class N]
        [--persons 1] [--second-person-prob 0.5] [--malformed 0]

Writes into ``OUT_DIR``:

* ``cam{i}.jsonl`` (i = 0 .. streams-1): one JSON object per line, one line per frame::

      {"t": 0.4, "frame": 12, "persons": [{"id": 1, "kp": [[x, y, c], ... 33 rows]}]}

  ``t`` = frame / fps seconds (rounded to 1 us), ``frame`` the 0-based frame index in the stream,
  ``kp`` the 33 MediaPipe Pose landmarks as [x, y, confidence] (image-normalised, exactly the
  generator's float32 values written in their shortest round-trip form; a missing joint is
  ``[0, 0, 0]``). A person absent in a frame (all joints zero in the data) is left out, so a
  frame with nobody is ``"persons": []``.
* ``truth.json``: the generation parameters, and per stream its segments (class, label,
  frames ``[start_frame, end_frame)``, track id, which dataset sample) and the malformed lines.
* ``streams.txt``: the stream files, one name per line (relative to ``OUT_DIR``).

Which samples: the generator is run exactly as ``skeleton_data.generate.generate(split,
per_class, seed, persons=..., fps=...)`` (all 10 classes, so the split is the dataset's own:
with the defaults this is the dataset's / the demo model's test split, seed stream
``SeedSequence(20240611, spawn_key=(2,))``, 30 per class). Streams are filled stream by stream,
segment by segment; segment j of stream i has class ``classes[(i + j) % len(classes)]`` and
takes the next unused sample of that class in split order, i.e. the k-th use of a class is
the k-th sample (ascending index) whose label is that class. Each segment is one whole
sequence (T = 150 frames).

Track ids: person slot m of segment j is ``"id": 1 + j * persons + m`` (1, 2, 3, ... for one
person), so every segment starts a new track; with ``--persons 2`` slot 1 holds the generator's
idle/walk distractor (present in a sample with ``--second-person-prob``), listed per segment in
``other_tracks``. Slot 0 is drawn before the distractors, so its data do not depend on --persons.

``--malformed K``: K extra lines per stream, the k-th just before good frame
``(k + 1) * frames // (K + 1)``, of kind ``MALFORMED_KINDS[(stream + k) % 4]``: ``bad_json`` (the
next frame's line cut in half), ``wrong_joint_count`` (the next frame, labelled person only, its
first 31 joints), ``nan`` (the same with 33 joints, its first x written as the bare token ``NaN``,
which is not JSON), ``duplicate_timestamp`` (the previous frame's line again). truth.json lists
them as ``{"line": 1-based line number, "kind", "before_frame"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

from skeleton_data.actions import CLASSES  # noqa: E402
from skeleton_data.generate import DEFAULTS, SPLIT_IDS, SPLITS, generate  # noqa: E402

FORMAT_VERSION = 1
DEFAULT_SEED = 20240611                      # the dataset's / the demo model's seed
DEFAULT_PER_CLASS = {"train": 150, "calib": 20, "test": 30}   # skeleton_data.generate defaults
DEFAULT_CLASSES = ("walk", "wave", "squat", "fall")
# Kinds of malformed line, cycled (stream i starts at kind i, so that --malformed 1 over four
# streams gives one of each).
MALFORMED_KINDS = ("bad_json", "wrong_joint_count", "nan", "duplicate_timestamp")


def _num(v: float) -> str:
    """Shortest decimal that reads back as the same float32 (exact zero as ``0``)."""
    if v == 0:
        return "0"
    return np.format_float_positional(np.float32(v), unique=True, trim="-")


def _kp_json(kp: np.ndarray) -> str:
    """(V, 3) float32 -> ``[[x,y,c],...]``; a missing joint (confidence and coords 0) is [0,0,0]."""
    return "[" + ",".join("[" + ",".join(_num(v) for v in row) + "]" for row in kp) + "]"


def _frame_line(t: float, frame: int, persons: Sequence[tuple]) -> str:
    """persons: (track id, kp JSON text)."""
    ps = ", ".join(f'{{"id": {pid}, "kp": {kp}}}' for pid, kp in persons)
    return f'{{"t": {t!r}, "frame": {frame}, "persons": [{ps}]}}'


def _timestamp(frame: int, fps: float) -> float:
    return round(frame / fps, 6)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="make_streams.py",
        description="Write recorded camera streams (JSONL frame streams for the C++ stream\n"
                    "runtime) from the procedural skeleton dataset (docs/dataset.md), plus\n"
                    "truth.json (the segments' classes, the malformed lines) and streams.txt.",
        epilog="""output line (one per frame, plus the --malformed lines):
  {"t": 0.4, "frame": 12, "persons": [{"id": 1, "kp": [[x, y, confidence], ... 33 rows]}]}
  t = frame / fps; a missing joint is [0, 0, 0]; an absent person is left out.

samples: segment j of stream i has class classes[(i + j) % len(classes)] and takes the
next unused sample of that class from the split, in ascending index order. With the
defaults (--split test --seed 20240611, 30 per class) these are exactly the samples of
the dataset's test split, skeleton_data.generate.generate("test", 30, 20240611).

example:
  ../.venv/bin/python make_streams.py /tmp/streams --segments 3 --malformed 4
""",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", metavar="OUT_DIR", help="output directory (created if needed)")
    ap.add_argument("--streams", type=int, default=4, metavar="N",
                    help="number of streams, files cam0.jsonl .. cam{N-1}.jsonl "
                         "(default %(default)s)")
    ap.add_argument("--classes", default=",".join(DEFAULT_CLASSES), metavar="LIST",
                    help="comma-separated classes, cycled over streams and segments "
                         "(default %(default)s); any of: " + ",".join(CLASSES))
    ap.add_argument("--segments", type=int, default=1, metavar="S",
                    help="generated sequences (150 frames each) played back to back per "
                         "stream, one class each (default %(default)s)")
    ap.add_argument("--fps", type=float, default=DEFAULTS["fps"],
                    help="frame rate of the timestamps and of the generated motion "
                         "(default %(default)s, as the dataset; another value changes the data)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED,
                    help="dataset seed (default %(default)s, the demo model's)")
    ap.add_argument("--split", default="test", choices=SPLITS,
                    help="dataset split whose seed stream the samples come from "
                         "(default %(default)s)")
    ap.add_argument("--per-class", type=int, default=None, metavar="N",
                    help="samples per class of the generated split (default: the dataset's: "
                         "train 150, calib 20, test 30); another value draws other samples")
    ap.add_argument("--persons", type=int, default=1, metavar="M",
                    help="person slots of the generator (default %(default)s); M > 1 adds "
                         "idle/walk distractor tracks, person 0's data stay the same")
    ap.add_argument("--second-person-prob", type=float, default=DEFAULTS["second_person_prob"],
                    metavar="P", help="with --persons > 1: probability that a segment has a "
                                      "distractor (default %(default)s)")
    ap.add_argument("--malformed", type=int, default=0, metavar="K",
                    help="insert K malformed lines per stream (cycling: a line cut short, a "
                         "person with 31 joints, a NaN token, a repeated frame), recorded in "
                         "truth.json; they are extra lines, every good frame is kept "
                         "(default %(default)s)")
    args = ap.parse_args(argv)

    args.class_list = [c.strip() for c in args.classes.split(",") if c.strip()]
    bad = [c for c in args.class_list if c not in CLASSES]
    if bad or not args.class_list:
        ap.error(f"--classes: unknown or empty {bad}; choose from {','.join(CLASSES)}")
    if args.streams < 1:
        ap.error("--streams must be >= 1")
    if args.segments < 1:
        ap.error("--segments must be >= 1")
    if not 0 < args.fps <= 10000:       # timestamps are rounded to 1 us
        ap.error("--fps must be in (0, 10000]")
    if args.persons < 1:
        ap.error("--persons must be >= 1")
    if not 0 <= args.second_person_prob <= 1:
        ap.error("--second-person-prob must be in [0, 1]")
    if args.malformed < 0:
        ap.error("--malformed must be >= 0")
    if args.per_class is None:
        args.per_class = DEFAULT_PER_CLASS[args.split]
    if args.per_class < 1:
        ap.error("--per-class must be >= 1")

    # Each class is used this many times in all: it must fit in the split.
    uses: Dict[str, int] = {}
    for i in range(args.streams):
        for j in range(args.segments):
            c = args.class_list[(i + j) % len(args.class_list)]
            uses[c] = uses.get(c, 0) + 1
    worst = max(uses.items(), key=lambda kv: kv[1])
    if worst[1] > args.per_class:
        ap.error(f"class '{worst[0]}' is needed {worst[1]} times but the {args.split} split has "
                 f"{args.per_class} samples per class; pass --per-class {worst[1]} (or more), "
                 f"which draws a different set of samples")
    T = DEFAULTS["T"]
    if args.malformed >= args.segments * T:
        ap.error(f"--malformed must be < the frames per stream ({args.segments * T})")
    return args


def make_streams(args: argparse.Namespace) -> Dict:
    """Generate the split, write the streams, truth.json and streams.txt; return the truth."""
    fps = float(args.fps)
    P = int(args.persons)
    d = generate(args.split, args.per_class, args.seed, CLASSES, "mediapipe",
                 fps=fps, persons=P, second_person_prob=args.second_person_prob)
    data, labels, window = d["data"], d["label"], d["window"]
    N, C, T, V, M = data.shape
    assert C == 3 and M == P

    # Per class: the sample indices in split order, consumed in order.
    pools = {c: [int(i) for i in np.nonzero(labels == CLASSES.index(c))[0]] for c in CLASSES}
    used = {c: 0 for c in CLASSES}

    os.makedirs(args.out_dir, exist_ok=True)
    streams = []
    for i in range(args.streams):
        name = f"cam{i}"
        good: List[str] = []            # one line per frame, in frame order
        segs = []
        # For the malformed lines: the labelled person's raw rows of each frame.
        raw_p0: List[np.ndarray] = []
        track_p0: List[int] = []
        for j in range(args.segments):
            cls = args.class_list[(i + j) % len(args.class_list)]
            idx = pools[cls][used[cls]]
            used[cls] += 1
            x = data[idx]                                   # (3, T, V, M)
            start = j * T
            tracks = [1 + j * P + m for m in range(P)]      # stable id per segment and person
            present = x[2].max(axis=1) > 0                  # (T, M); absent = all joints zero
            present |= np.abs(x[:2]).max(axis=(0, 2)) > 0
            for t in range(T):
                f = start + t
                persons = [(tracks[m], _kp_json(x[:, t, :, m].T)) for m in range(P)
                           if present[t, m]]
                good.append(_frame_line(_timestamp(f, fps), f, persons))
                raw_p0.append(x[:, t, :, 0].T)
                track_p0.append(tracks[0])
            w0, w1 = (int(v) for v in window[idx])
            segs.append({
                "class": cls, "label": int(labels[idx]),
                "start_frame": start, "end_frame": start + T,       # [start, end)
                "start_t": _timestamp(start, fps), "end_t": _timestamp(start + T, fps),
                "track": tracks[0],
                "sample": idx, "sample_sha256": d["hashes"][idx],
                "action_frames": [start + w0, start + w1],          # [start, end)
                "absent_frames": [start + t for t in range(T) if not present[t, 0]],
                "other_tracks": [{"track": tracks[m], "role": "distractor (idle or walk)",
                                  "frames": int(present[:, m].sum())}
                                 for m in range(1, P) if present[:, m].any()],
            })

        # Malformed lines, inserted before good frame b_k = (k+1)*F // (K+1) (distinct, >= 1).
        F, K = len(good), args.malformed
        before = {(k + 1) * F // (K + 1): k for k in range(K)}
        lines: List[str] = []
        bad = []
        for f, line in enumerate(good):
            if f in before:
                k = before[f]
                kind = MALFORMED_KINDS[(i + k) % len(MALFORMED_KINDS)]
                t = _timestamp(f, fps)
                if kind == "bad_json":             # a record cut short (a writer killed mid-line)
                    text = line[:max(1, len(line) // 2)]
                elif kind == "wrong_joint_count":  # frame f's labelled person with 31 joints
                    text = _frame_line(t, f, [(track_p0[f], _kp_json(raw_p0[f][:V - 2]))])
                elif kind == "nan":                # frame f with one coordinate written NaN
                    kp = _kp_json(raw_p0[f])
                    assert kp.startswith("[[")
                    kp = "[[NaN" + kp[2:][kp[2:].index(","):]
                    text = _frame_line(t, f, [(track_p0[f], kp)])
                else:                              # frame f-1 again: timestamp not increasing
                    text = good[f - 1]
                lines.append(text)
                bad.append({"line": len(lines), "kind": kind, "before_frame": f})
            lines.append(line)
        path = os.path.join(args.out_dir, name + ".jsonl")
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("\n".join(lines) + "\n")
        streams.append({"stream": name, "file": name + ".jsonl", "frames": F,
                        "lines": len(lines), "segments": segs, "malformed": bad})

    truth = {
        "generator": "python/make_streams.py", "format_version": FORMAT_VERSION,
        "params": {"streams": args.streams, "classes": args.class_list,
                   "segments": args.segments, "fps": fps, "seed": args.seed,
                   "split": args.split, "per_class": args.per_class, "persons": P,
                   "second_person_prob": args.second_person_prob,
                   "malformed": args.malformed},
        "dataset": {"generator": "skeleton_data.generate.generate", "split": args.split,
                    "seed_stream": {"entropy": args.seed, "spawn_key": [SPLIT_IDS[args.split]]},
                    "per_class": args.per_class, "N": int(N), "T": int(T), "V": int(V),
                    "M": int(M), "layout": "mediapipe", "numpy_version": np.__version__,
                    "sample_order": "segment j of stream i: class classes[(i + j) % len], the "
                                    "next unused sample of that class in split order"},
        "classes": list(CLASSES),
        "line_format": '{"t": seconds, "frame": index, "persons": [{"id": track, '
                       '"kp": [[x, y, confidence] x V]}]}; absent persons omitted; '
                       'missing joint [0, 0, 0]; frames [start_frame, end_frame) '
                       'are 0-based, malformed "line" numbers 1-based',
        "streams": streams,
    }
    with open(os.path.join(args.out_dir, "truth.json"), "w", encoding="utf-8") as fh:
        json.dump(truth, fh, indent=1)
        fh.write("\n")
    with open(os.path.join(args.out_dir, "streams.txt"), "w", encoding="utf-8") as fh:
        fh.write("".join(s["file"] + "\n" for s in streams))
    return truth


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    truth = make_streams(args)
    for s in truth["streams"]:
        segs = ", ".join(f"{g['class']} (sample {g['sample']}, track {g['track']})"
                         for g in s["segments"])
        extra = f", {len(s['malformed'])} malformed" if s["malformed"] else ""
        print(f"{os.path.join(args.out_dir, s['file'])}: {s['frames']} frames{extra}: {segs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
