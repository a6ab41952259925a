#!/usr/bin/env python3
"""Per-person actions, live, from a pose estimator's output.

    python examples/python/live_actions.py POSES [--model models/trained/stgcn_seed_actions.pt]
        [--precision fp32|bf16|int8 --calib X.npy] [--mode window|continual] [--hop 15]
        [--realtime]

POSES is what the pose estimator wrote: MediaPipe Pose JSON / CSV, an OpenPose --write_json
directory, an NTU .skeleton, Kinetics-skeleton JSON, or our JSONL frame stream -- a file, or
``-`` to read JSONL from standard input as the estimator produces it (docs/sources.md):

    my_pose_estimator --jsonl | python examples/python/live_actions.py - 

Every event prints one line: time, stream, track, action and its probability. The model's class
names come from the classes.json next to it. Runs through the `stgcn` package (docs/python.md):
the C++ engine classifies, Python only moves frames and prints.
"""
import argparse
import json
import os
import sys
import time

import stgcn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def class_names(model_path):
    path = os.path.join(os.path.dirname(model_path), "classes.json")
    try:
        with open(path, encoding="utf-8") as f:
            return list(json.load(f)["classes"])
    except (OSError, KeyError, ValueError):
        return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("poses", help="pose file / directory, or - for JSONL on stdin")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "trained", "stgcn_seed_actions.pt"))
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "int8"])
    ap.add_argument("--calib", help="calibration samples .npy (int8)")
    ap.add_argument("--mode", default="window", choices=["window", "continual"])
    ap.add_argument("--hop", type=int, default=15, help="frames between answers of a track")
    ap.add_argument("--format", default="auto", help="source format (default: detected)")
    ap.add_argument("--realtime", action="store_true", help="pace a file at its timestamps")
    args = ap.parse_args()

    model = stgcn.load(args.model)
    spec = model.spec
    labels = class_names(args.model)
    build = {"T": 150, "M": 1, "batch": 8}
    if args.precision == "int8":
        if not args.calib:
            ap.error("--precision int8 needs --calib X.npy")
        build["calib"] = args.calib
    engine = model.build(args.precision, **build)
    source = stgcn.open_source(args.poses, format=args.format, layout=spec["layout"])

    def show(e):
        name = labels[e["label"]] if 0 <= e["label"] < len(labels) else str(e["label"])
        tracks = ",".join(str(t) for t in e["tracks"])
        print(f"{e['timestamp']:8.2f}s  {e['stream']}  track {tracks}:  {name:<10} "
              f"{e['score']:.2f}{'  (end)' if e['final'] else ''}", flush=True)

    rt = stgcn.StreamRuntime(engine, mode=args.mode, hop=args.hop, labels=labels,
                             min_frames=30, on_event=show, block_when_full=not args.realtime)
    start, first = time.monotonic(), None
    try:
        for frame in source:
            if args.realtime:
                first = frame["timestamp"] if first is None else first
                delay = (frame["timestamp"] - first) - (time.monotonic() - start)
                if delay > 0:
                    time.sleep(delay)
            try:
                rt.push_frame(frame)
            except stgcn.InvalidArgumentError as err:
                print(f"skipped a frame: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    rt.end_stream(source.stream)
    rt.drain()
    s = rt.stats
    print(f"{s['frames']} frames, {s['events']} events, p99 latency {s['latency_p99_ms']:.1f} ms"
          f"{f', {source.errors} malformed records skipped' if source.errors else ''}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
