#!/usr/bin/env python3
"""What the Python package costs over the C++ core, measured in one run.

    PYTHONPATH=build/python .venv/bin/python bench/python_overhead.py [--rounds 5]
        [--iterations 40] [--model models/demo/stgcn_demo.pt]

* overhead: workload W1 (the trained demo model: two-stream seed architecture, V=33, T=150, M=1),
  batch 1, 2 threads, one FP32 engine file. ``stgcn bench ENGINE`` (C++) and ``Context.run``
  from Python (``time.perf_counter`` around each call, the same engine file, a 2-thread
  context) alternate in ``--rounds`` rounds so machine noise hits both; the medians of all
  samples are compared.
* threads: single-threaded contexts, one Python thread against two Python threads each with
  its own context, over a fixed number of calls; throughput ratio (the GIL is released in run).

Writes ``bench/results/python_overhead.json`` and prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STGCN = os.path.join(ROOT, "build", "stgcn")


def cpu_name() -> str:
    for line in open("/proc/cpuinfo", encoding="utf-8"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "trained", "stgcn_seed_actions.pt"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--calls", type=int, default=60, help="calls per thread-scaling run")
    ap.add_argument("--out-json", default=os.path.join(ROOT, "bench", "results", "python_overhead.json"))
    args = ap.parse_args()
    import stgcn

    work = tempfile.mkdtemp(prefix="stgcn_pyov_")
    engine_path = os.path.join(work, "w1.engine")
    subprocess.run([STGCN, "build", args.model, "--T", "150", "--M", "1", "-o", engine_path],
                   check=True, capture_output=True)
    engine = stgcn.Engine.load(engine_path)
    x = np.ascontiguousarray(np.load(os.path.join(ROOT, "models", "demo", "sample_input.npy"))[:1],
                             dtype=np.float32)
    ctx = engine.context(2)
    out = np.empty((1, engine.info["spec"]["num_class"]), np.float32)
    cpp, py = [], []
    for _ in range(args.rounds):
        js = os.path.join(work, "b.json")
        subprocess.run([STGCN, "bench", engine_path, "--batch", "1", "--threads", "2",
                        "--iterations", str(args.iterations), "--warmup", "3", "--json", js],
                       check=True, capture_output=True)
        cpp += json.load(open(js))["results"][0]["samples_ms"]
        for _ in range(3):
            ctx.run(x, out)
        for _ in range(args.iterations):
            t0 = time.perf_counter()
            ctx.run(x, out)
            py.append((time.perf_counter() - t0) * 1e3)
    cpp_med, py_med = statistics.median(cpp), statistics.median(py)

    def throughput(n_threads: int) -> float:
        ctxs = [engine.context(1) for _ in range(n_threads)]
        for c in ctxs:
            c.run(x)
        barrier = threading.Barrier(n_threads + 1)

        def work_fn(c):
            o = np.empty_like(out)
            barrier.wait()
            for _ in range(args.calls):
                c.run(x, o)

        ts = [threading.Thread(target=work_fn, args=(c,)) for c in ctxs]
        for t in ts:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in ts:
            t.join()
        return n_threads * args.calls / (time.perf_counter() - t0)

    one = statistics.median(throughput(1) for _ in range(3))
    two = statistics.median(throughput(2) for _ in range(3))
    res = {
        "cpu": cpu_name(), "cores": os.cpu_count(), "isa": stgcn.machine()["isa"],
        "workload": "W1: the trained demo model (models/trained/stgcn_seed_actions.pt), batch 1, T=150, M=1, FP32",
        "cpp_bench_median_ms": cpp_med, "python_context_run_median_ms": py_med,
        "overhead_percent": (py_med / cpp_med - 1) * 100, "samples_each": len(py),
        "one_thread_per_s": one, "two_threads_per_s": two, "scaling": two / one,
    }
    os.makedirs(os.path.dirname(args.out_json), exist_ok=True)
    with open(args.out_json, "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1)
    print(f"{res['cpu']} ({res['isa']}), {res['cores']} cores, {len(py)} samples each\n")
    print("| measure | value |\n| --- | --- |")
    print(f"| `stgcn bench` median (C++, 2 threads) | {cpp_med:.2f} ms |")
    print(f"| `Context.run` median (Python, 2 threads) | {py_med:.2f} ms |")
    print(f"| Python overhead | {res['overhead_percent']:+.2f} % |")
    print(f"| 1 Python thread, 1-thread context | {one:.1f} samples/s |")
    print(f"| 2 Python threads, 1-thread contexts | {two:.1f} samples/s ({two / one:.2f}×) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
