#!/usr/bin/env python3
"""Latency of ONNX models under ONNX Runtime (CPU, all graph optimisations), in one run.

    ort_bench.py A.onnx B.onnx [MORE.onnx ...] [--threads 2] [--runs 30] [--warmup 5] [--batch 1]

All models get the same random input (shape from A's first input; a symbolic batch
becomes --batch). Runs alternate A, B, ... after the warm-up so that machine noise hits
all alike. Prints min / median / p90 / max per model, each median's ratio to A's and the
largest output difference from A, with the CPU, thread count and library versions.
"""
import argparse
import platform
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def session(path, threads):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="MODEL.onnx")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1, help="batch for a symbolic batch axis")
    args = ap.parse_args()
    if args.runs < 20:
        ap.error("--runs must be at least 20")
    if len(args.models) < 2:
        ap.error("give at least two models")

    sessions = [session(p, args.threads) for p in args.models]
    inp = sessions[0].get_inputs()[0]
    shape = [d if isinstance(d, int) else args.batch for d in inp.shape]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    feeds = [{s.get_inputs()[0].name: x} for s in sessions]
    outs = [s.run(None, f)[0] for s, f in zip(sessions, feeds)]

    for _ in range(args.warmup):
        for s, f in zip(sessions, feeds):
            s.run(None, f)
    times = [[] for _ in sessions]
    for _ in range(args.runs):
        for i, (s, f) in enumerate(zip(sessions, feeds)):
            t0 = time.perf_counter()
            s.run(None, f)
            times[i].append((time.perf_counter() - t0) * 1e3)

    print(f"CPU: {cpu_name()}; ONNX Runtime {ort.__version__} (CPUExecutionProvider, ORT_ENABLE_ALL); "
          f"{args.threads} intra-op threads; input {shape}; {args.warmup} warm-up + {args.runs} runs, alternating")
    print(f"{'model':40s} {'min':>9s} {'median':>9s} {'p90':>9s} {'max':>9s} {'vs A':>6s} {'max|dy|':>9s}  (ms)")
    base = statistics.median(times[0])
    for path, t, y in zip(args.models, times, outs):
        diff = float(np.abs(y - outs[0]).max())
        print(f"{path[-40:]:40s} {min(t):9.2f} {statistics.median(t):9.2f} {percentile(t, 0.9):9.2f} "
              f"{max(t):9.2f} {statistics.median(t) / base:6.2f} {diff:9.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
