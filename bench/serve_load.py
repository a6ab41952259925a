#!/usr/bin/env python3
"""`stgcn serve` under load, on loopback, with the unmodified tritonclient (gRPC, asyncio):

* window: --clients concurrent clients send batch-1 window requests for --seconds; zero failed
  requests expected; p50 / p99 and throughput, against the in-process engine's batch-1 (and
  batch-8) throughput from `stgcn bench` on the same engine file in the same run;
* overload: 10x the clients against a small queue: 503 / RESOURCE_EXHAUSTED counted, the
  server's RSS sampled (bounded: compared with the window run's peak);
* streams: T tracks, each one sequence at --fps frames/s (one frame per request, gRPC
  bidirectional streams, 32 of them), continual INT8 where the CPU has VNNI / AMX (else FP32): per-frame
  latency p50 / p99, and whether p99 < 100 ms with nothing failed and the rate kept.

    .venv/bin/python bench/serve_load.py [--seconds 30] [--clients 64] [--tracks 64,128,256]

Writes bench/results/serve_load.json and prints markdown tables (docs/serving.md).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STGCN = os.environ.get("STGCN_CLI", os.path.join(ROOT, "build", "stgcn"))
DEMO = os.path.join(ROOT, "models", "demo", "stgcn_demo.pt")
DEMO_X = os.path.join(ROOT, "models", "demo", "sample_input.npy")
sys.path.insert(0, os.path.join(ROOT, "python", "tests_serve"))
from conftest import Server  # noqa: E402


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def isa_flags():
    flags = open("/proc/cpuinfo").read()
    return [f for f in ("avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
            if f" {f}" in flags]


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples, self.stop = pid, 0.0, [], False

    def run(self):
        while not self.stop:
            try:
                r = rss_mb(self.pid)
            except OSError:
                return
            self.samples.append(r)
            self.peak = max(self.peak, r)
            time.sleep(0.25)


def cpu_seconds(pid):
    """User + system CPU seconds of a process (all its threads)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, q):
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def window_load(url, x, clients, seconds):
    lat, ok, failed = [], 0, {}
    deadline = time.perf_counter() + seconds
    async with aioclient.InferenceServerClient(url) as c:
        async def one_client():
            nonlocal ok
            inp = aioclient.InferInput("input", list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    await c.infer("demo", [inp])
                    lat.append((time.perf_counter() - t0) * 1e3)
                    ok += 1
                except Exception as e:  # noqa: BLE001 - counted by kind
                    key = e.status() if hasattr(e, "status") else type(e).__name__
                    failed[key] = failed.get(key, 0) + 1
        t0 = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    return {"clients": clients, "seconds": elapsed, "ok": ok, "failed": failed,
            "throughput_per_s": ok / elapsed, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}


async def stream_load(url, frames, tracks, fps, seconds, n_streams=32):
    """`tracks` sequences at `fps`, spread over n_streams bidirectional streams (as many camera
    pipelines would open)."""
    sent, lat, errors = {}, [], []
    per = [list(range(s, tracks, n_streams)) for s in range(n_streams)]
    period = 1.0 / fps
    n_ticks = int(seconds * fps)
    async with aioclient.InferenceServerClient(url) as c:
        async def one_stream(ids):
            async def requests():
                t_start = time.perf_counter()
                for tick in range(n_ticks):
                    delay = t_start + tick * period - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    for tr in ids:
                        f = frames[(tick + 17 * tr) % len(frames)][None, None]
                        inp = grpcclient.InferInput("frames", list(f.shape), "FP32")
                        inp.set_data_from_numpy(f)
                        rid = f"{tr}:{tick}"
                        sent[rid] = time.perf_counter()
                        yield {"model_name": "demo", "inputs": [inp], "request_id": rid,
                               "sequence_id": tr + 1, "sequence_start": tick == 0,
                               "sequence_end": tick == n_ticks - 1}
            async for result, error in c.stream_infer(requests()):
                now = time.perf_counter()
                if error is not None:
                    errors.append(str(error))
                    continue
                rid = result.get_response().id
                lat.append((now - sent.pop(rid)) * 1e3)
        t0 = time.perf_counter()
        await asyncio.gather(*(one_stream(ids) for ids in per if ids))
        elapsed = time.perf_counter() - t0
    expected = tracks * n_ticks
    rate = len(lat) / elapsed
    p99 = pct(lat, 99)
    return {"tracks": tracks, "fps": fps, "seconds": elapsed, "answered": len(lat),
            "expected": expected, "errors": len(errors), "first_error": errors[:1],
            "frames_per_s": rate, "p50_ms": pct(lat, 50), "p99_ms": p99,
            "holds": bool(not errors and len(lat) == expected and p99 < 100
                          and elapsed < seconds * 1.1 + 1)}


def window_runs(report, fp32, x, a, inproc, in_process):
    """Window load, then 10x overload against a small queue."""
    extra = a.server_args.split()
    s = Server("--model", f"demo={fp32}", "--max-queue-delay-us", "5000", "--http-threads", "1024",
               *extra)
    sampler = RssSampler(s.proc.pid)
    sampler.start()
    try:
        srv0, cli0 = cpu_seconds(s.proc.pid), time.process_time()
        w = asyncio.run(window_load(s.grpc_url, x, a.clients, a.seconds))
        # The client runs on the same cores: its share is capacity the server did not have.
        w["server_cpu_s"] = cpu_seconds(s.proc.pid) - srv0
        w["client_cpu_s"] = time.process_time() - cli0
        w["server_peak_rss_mb"] = sampler.peak
        w["vs_in_process_batch1"] = w["throughput_per_s"] / inproc[1]
        w["vs_in_process_batch8"] = w["throughput_per_s"] / inproc[8]
        report["window"] = w
    finally:
        sampler.stop = True
        s.stop()
    report["in_process_after_per_s"] = in_process()
    if a.no_overload:
        report["overload"] = None
        return
    s = Server("--model", f"demo={fp32}", "--max-queue-delay-us", "5000", "--queue-capacity",
               "64", "--http-threads", "1024", *extra)
    sampler = RssSampler(s.proc.pid)
    sampler.start()
    try:
        o = asyncio.run(window_load(s.grpc_url, x, 10 * a.clients, a.seconds))
        o["server_peak_rss_mb"] = sampler.peak
        o["server_rss_first_last_mb"] = [sampler.samples[0], sampler.samples[-1]]
        o["server_rss_every_5s_mb"] = sampler.samples[::20]
        metrics = subprocess.run(["curl", "-s", f"http://{s.http_url}/metrics"],
                                 capture_output=True, text=True).stdout
        o["server_counted_resource_exhausted"] = sum(
            float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
            if line.startswith("stgcn_requests_total") and "resource_exhausted" in line)
        report["overload"] = o
    finally:
        sampler.stop = True
        s.stop()


def print_window(w, o, inproc):
    print("| run | clients | ok | failed | throughput /s | p50 ms | p99 ms | server peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in (("window, batch-1 requests", w), ("10x overload, queue 64", o)):
        if r is None:
            continue
        print(f"| {name} | {r['clients']} | {r['ok']} | {r['failed']} | "
              f"{r['throughput_per_s']:.2f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['server_peak_rss_mb']:.0f} |")
    print(f"\nserver CPU {w['server_cpu_s']:.1f} s, client CPU {w['client_cpu_s']:.1f} s over "
          f"{w['seconds']:.1f} s")
    print(f"\nin-process engine: batch 1 {inproc[1]:.2f}/s, batch 8 {inproc[8]:.2f}/s; server "
          f"{w['vs_in_process_batch1']:.1%} of batch 1, {w['vs_in_process_batch8']:.1%} of "
          f"batch 8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--tracks", default="64,128,256")
    ap.add_argument("--stream-seconds", type=float, default=15)
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--server-args", default="", help="more `stgcn serve` flags (window runs)")
    ap.add_argument("--no-overload", action="store_true", help="skip the overload run")
    ap.add_argument("--only-streams", action="store_true", help="skip the window runs")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "serve_load.json"))
    a = ap.parse_args()
    x_all = np.ascontiguousarray(np.load(DEMO_X), dtype=np.float32)
    x = x_all[:1]
    frames = np.ascontiguousarray(np.concatenate([x_all[0, :, :, :, 0], x_all[1, :, :, :, 0]],
                                                 axis=1).transpose(1, 2, 0))
    work = tempfile.mkdtemp(prefix="serve-load-")
    fp32 = os.path.join(work, "demo_fp32.engine")
    subprocess.run([STGCN, "build", DEMO, "--T", "150", "--batch", "8", "-o", fp32], check=True,
                   capture_output=True)
    report = {"cpu": cpu_name(), "isa": isa_flags(), "cores": os.cpu_count()}

    # In-process engine, same file: before and after the window run (the mean is the baseline;
    # both are reported, the machine's noise shows in their difference).
    def in_process():
        bj = os.path.join(work, "bench.json")
        subprocess.run([STGCN, "bench", fp32, "--batch", "1,8", "--threads", "2", "--iterations",
                        "40", "--warmup", "5", "--json", bj], check=True, capture_output=True)
        return {r["batch"]: r["throughput_per_s"] for r in json.load(open(bj))["results"]}
    before = in_process()
    report["in_process_before_per_s"] = before
    inproc = before

    report["server_args"] = a.server_args
    if a.only_streams:  # keep the window runs of the last full run
        old = json.load(open(a.out)) if os.path.exists(a.out) else {}
        report["window"], report["overload"] = old.get("window"), old.get("overload")
    else:
        window_runs(report, fp32, x, a, inproc, in_process)
        after = report["in_process_after_per_s"]
        inproc = {b: (before[b] + after[b]) / 2 for b in before}
        w = report["window"]
        w["vs_in_process_batch1"] = w["throughput_per_s"] / inproc[1]
        w["vs_in_process_batch8"] = w["throughput_per_s"] / inproc[8]
    report["in_process_per_s"] = inproc

    # Streams: continual INT8 where the CPU has the instructions.
    precision = "int8" if ({"avx512_vnni", "amx_int8"} & set(report["isa"])) else "fp32"
    eng = os.path.join(work, f"demo_{precision}.engine")
    cmd = [STGCN, "build", DEMO, "--T", "150", "--batch", "8", "--precision", precision, "-o", eng]
    if precision == "int8":
        cmd += ["--calib", DEMO_X]
    subprocess.run(cmd, check=True, capture_output=True)
    report["streams_precision"] = precision
    report["streams"] = []
    for tracks in [int(t) for t in a.tracks.split(",")]:
        s = Server("--model", f"demo={eng}", "--max-sequences", str(max(tracks, 16)))
        try:
            srv0, cli0 = cpu_seconds(s.proc.pid), time.process_time()
            r = asyncio.run(stream_load(s.grpc_url, frames, tracks, a.fps, a.stream_seconds))
            # Where the 2 cores went: the server process and this client process.
            r["server_cpu_s"] = cpu_seconds(s.proc.pid) - srv0
            r["client_cpu_s"] = time.process_time() - cli0
            report["streams"].append(r)
        finally:
            s.stop()

    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    json.dump(report, open(a.out, "w"), indent=1)
    w, o = report["window"], report["overload"]
    print(f"CPU: {report['cpu']} ({', '.join(report['isa'])}), {report['cores']} cores\n")
    if w is not None:
        print_window(w, o, inproc)
    print(f"\nstreams ({precision} continual, {a.fps:g} fps, one frame per request):\n")
    print("| tracks | frames/s answered | expected | errors | p50 ms | p99 ms | holds | server "
          "CPU s | client CPU s | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in report["streams"]:
        print(f"| {r['tracks']} | {r['frames_per_s']:.0f} | {r['expected']} | {r['errors']} | "
              f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {'yes' if r['holds'] else 'no'} | "
              f"{r['server_cpu_s']:.1f} | {r['client_cpu_s']:.1f} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
