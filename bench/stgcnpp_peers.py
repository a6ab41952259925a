#!/usr/bin/env python3
"""ST-GCN++ (mmaction2's default: base 64, 10 stages, coco-17 'spatial', 1.39 M parameters):
our engine against ONNX Runtime on the ONNX mmaction2's own export path writes, and PyTorch eager.

    .venv/bin/python bench/stgcnpp_peers.py [--model CKPT] [--T 100] [--M 2] [--threads 2]
        [--rounds 30] [--out bench/results/stgcnpp.json]

Workload (issue 14): batch 1, T=100, V=17, M=2, 2 threads. Without --model a fixed-seed random
ST-GCN++ (BatchNorm statistics randomised) is used; the timings do not depend on the weights.

Peers, all timed in one run, round-robin (one call of each per round, order rotated, a 10 ms pause
so spinning pools go idle):
  * PyTorch eager (torch.set_num_threads(threads), no_grad, the mmaction2 recognizer);
  * ONNX Runtime (CPU, ORT_ENABLE_ALL, intra-op threads) on `torch.onnx.export` of mmaction2's
    `tools/deployment/export_onnx_gcn.py` wrapper (opset 12, dynamic batch / persons / frames);
  * ONNX Runtime on `stgcn export` of the same checkpoint (opset 17, MatMul aggregation);
  * stgcn engines FP32 / BF16 / INT8 (`stgcn bench --json` between the Python rounds).
Reports median latency, clips/s and the ratios; writes JSON.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stgcn_ref.mm_model import GCNNet, MMConfig, MMSTGCN, randomize_mm_  # noqa: E402


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def isa_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    want = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8"]
    return " ".join(w for w in want if w in flags)


def log(msg: str) -> None:
    print(f"[stgcnpp_peers] {msg}", file=sys.stderr, flush=True)


def stgcn(*args: str) -> str:
    exe = os.path.join(ROOT, "build", "stgcn")
    r = subprocess.run([exe, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"stgcn {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="an mmaction2 ST-GCN++ checkpoint (default: random weights)")
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--M", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "stgcnpp.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = tempfile.mkdtemp(prefix="stgcnpp_peers_")
    cfg = MMConfig.stgcnpp(layout="coco", num_classes=60)
    model = MMSTGCN(cfg).eval()
    if args.model:
        ck = torch.load(args.model, map_location="cpu")
        sd = ck.get("state_dict", ck)
        model = MMSTGCN(MMConfig.stgcnpp(layout="coco", num_classes=sd["cls_head.fc.weight"].shape[0]))
        model.load_state_dict({k: v.float() for k, v in sd.items()})
        ckpt = args.model
    else:
        randomize_mm_(model, torch.Generator().manual_seed(7))
        ckpt = os.path.join(work, "stgcnpp.pth")
        torch.save({"meta": {}, "state_dict": model.state_dict()}, ckpt)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(1, args.M, args.T, 17, 3, generator=gen) * 0.5
    np.save(os.path.join(work, "x.npy"), x.numpy())
    calib = torch.randn(32, args.M, args.T, 17, 3, generator=gen) * 0.5
    np.save(os.path.join(work, "calib.npy"), calib.numpy())

    # ONNX: mmaction2's export path, and ours.
    mm_onnx = os.path.join(work, "mmaction2.onnx")
    net = GCNNet(copy.deepcopy(model)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), mm_onnx, input_names=["input_tensor"],
                          output_names=["cls_score"], export_params=True,
                          do_constant_folding=True, opset_version=12,
                          dynamic_axes={"input_tensor": {0: "batch_size", 1: "num_person",
                                                         2: "num_frames"},
                                        "cls_score": {0: "batch_size"}})
    our_onnx = os.path.join(work, "stgcn.onnx")
    stgcn("export", ckpt, "-o", our_onnx, "--T", str(args.T), "--M", str(args.M))
    engines = {}
    for prec in ("fp32", "bf16", "int8"):
        path = os.path.join(work, f"{prec}.engine")
        extra = ["--calib", os.path.join(work, "calib.npy")] if prec == "int8" else []
        stgcn("build", ckpt, "-o", path, "--T", str(args.T), "--M", str(args.M),
              "--precision", prec, *extra)
        engines[prec] = path

    import onnxruntime as ort

    def session(path):
        o = ort.SessionOptions()
        o.intra_op_num_threads = args.threads
        o.inter_op_num_threads = 1
        o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])

    s_mm, s_our = session(mm_onnx), session(our_onnx)
    xn = x.numpy()
    # The same answers first.
    with torch.no_grad():
        y_torch = model(x).numpy()
    y_mm = s_mm.run(None, {"input_tensor": xn})[0]
    y_our = s_our.run(None, {s_our.get_inputs()[0].name: xn})[0]
    log(f"max |ORT(mmaction2) - torch| {np.abs(y_mm - y_torch).max():.2e}, "
        f"|ORT(stgcn export) - torch| {np.abs(y_our - y_torch).max():.2e}")

    peers = {
        "pytorch_eager": lambda: model(x),
        "ort_mmaction2_onnx": lambda: s_mm.run(None, {"input_tensor": xn}),
        "ort_stgcn_onnx": lambda: s_our.run(None, {s_our.get_inputs()[0].name: xn}),
    }
    samples = {k: [] for k in peers}
    eng_samples = {k: [] for k in engines}
    with torch.no_grad():
        for fn in peers.values():  # warm-up
            for _ in range(3):
                fn()
        chunks = 5
        per = max(1, args.rounds // chunks)
        for c in range(chunks):
            for r in range(per):
                order = list(peers)
                order = order[(r + c) % len(order):] + order[:(r + c) % len(order)]
                for k in order:
                    t0 = time.perf_counter()
                    peers[k]()
                    samples[k].append((time.perf_counter() - t0) * 1e3)
                    time.sleep(0.01)
            for prec, path in engines.items():
                js = os.path.join(work, f"{prec}_{c}.json")
                stgcn("bench", path, "--batch", "1", "--threads", str(args.threads),
                      "--iterations", str(per), "--warmup", "3", "--json", js)
                with open(js, encoding="utf-8") as f:
                    d = json.load(f)
                eng_samples[prec].extend(d["results"][0]["samples_ms"])
            log(f"chunk {c + 1}/{chunks}")
    rows = {}
    for k, v in samples.items():
        rows[k] = statistics.median(v)
    for k, v in eng_samples.items():
        rows[f"stgcn_{k}"] = statistics.median(v)
    base = rows["stgcn_fp32"]
    out = {
        "date": time.strftime("%Y-%m-%d"), "cpu": cpu_name(), "isa": isa_flags(),
        "threads": args.threads, "workload": {"batch": 1, "T": args.T, "V": 17, "M": args.M,
                                              "model": "ST-GCN++ (mmaction2 default)",
                                              "parameters": params, "checkpoint": args.model or
                                              "random weights"},
        "median_ms": rows,
        "clips_per_s": {k: 1e3 / v for k, v in rows.items()},
        "ratio_vs_stgcn_fp32": {k: v / base for k, v in rows.items()},
        "torch_version": torch.__version__, "onnxruntime_version": ort.__version__,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    print(f"ST-GCN++ batch 1, T={args.T}, V=17, M={args.M}, {args.threads} threads, "
          f"{out['cpu']} ({out['isa']})")
    print("| engine | median ms | clips/s | time vs stgcn FP32 |\n|---|---|---|---|")
    for k, v in sorted(rows.items(), key=lambda kv: kv[1]):
        print(f"| {k} | {v:.2f} | {1e3 / v:.1f} | {v / base:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
