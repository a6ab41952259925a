#!/usr/bin/env python3
"""Seeds for fuzz_sources: a small valid document of each input format, its
first byte the format selector of fuzz/fuzz_sources.cpp (0 JSONL, 1 MediaPipe
JSON, 2 MediaPipe CSV, 3 OpenPose JSON, 4 NTU .skeleton, 6 Kinetics-skeleton JSON; a first
byte of 128 or more adds a 2 MB line in front, with a 256-byte line cap)."""
import json
import os
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
kp = [[0.1 + 0.01 * i, 0.5, 0.9] for i in range(33)]
seeds = {
    "jsonl": b"\x00" + "".join(json.dumps({"t": t / 30, "persons": [{"id": 1, "kp": kp}]}) + "\n"
                               for t in range(3)).encode(),
    "mediapipe_json": b"\x01" + json.dumps(
        [{"timestamp_ms": 33 * t,
          "landmarks": [{"x": 0.1 + 0.01 * i, "y": 0.5, "z": 0.0, "visibility": 0.9}
                        for i in range(33)]} for t in range(2)]).encode(),
    "mediapipe_csv": b"\x02" + ("\n".join(
        [",".join(["frame"] + ["%s%d" % (a, i) for i in range(33) for a in "xyzv"])] +
        [",".join([str(f)] + ["0.5"] * 132) for f in range(2)]) + "\n").encode(),
    "openpose": b"\x03" + json.dumps(
        {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d":
                                     [v for i in range(25) for v in (100 + i, 200 + i, 0.9)]}]}).encode(),
    "ntu": b"\x04" + ("1\n1\n72057594037931101 0 1 1 1 1 0 0.1 0.2 2\n25\n" + "".join(
        "%.2f 0.2 3.1 250 200 1000 500 0.1 0.2 0.3 0.9 2\n" % (0.1 + 0.01 * i)
        for i in range(25))).encode(),
    "kinetics": b"\x06" + json.dumps(
        {"data": [{"frame_index": t + 1, "skeleton": [
            {"pose": [v for i in range(18) for v in (0.3 + 0.01 * i, 0.5)],
             "score": [0.9] * 18}]} for t in range(2)],
         "label": "a", "label_index": 0}).encode(),
    "jsonl_long_line": b"\x87" + "".join(
        json.dumps({"t": t / 30, "persons": [{"id": 1, "kp": kp}]}) + "\n"
        for t in range(2)).encode(),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
