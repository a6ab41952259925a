#!/usr/bin/env python3
"""Precision table: what FP32 / BF16 / FP16 / INT8 do to a trained ST-GCN's accuracy, speed and size.

    .venv/bin/python bench/precision.py [--models synthetic,volleyball] [--threads 2]
        [--rounds 6] [--iterations 10] [--skip-ort] [--out-md docs/precision.md]

For each trained model (``models/trained/``, see docs/model_card.md):

* data: the demo model's test split (300 sequences) and calibration split (200), regenerated from
  the dataset seed (``skeleton_data``); for the volleyball model, the real recordings read from
  ``../shared/data/volleyball-signals`` (sequences 1-40 of each class calibrate, 41-50 test);
* engines: ``stgcn build`` at fp32, bf16, fp16 and int8 (entropy, percentile, minmax; and entropy
  with ``--max-drop 0.2`` on the calibration split with its labels);
* accuracy: ``stgcn validate ENGINE --reference CHECKPOINT --data TEST --labels LABELS --json``
  (agreement = top-1 agreement with the FP32 reference executor);
* speed (the demo model = workload W1: two-stream, V=33, T=150, M=1, batch 1): ``stgcn bench`` of
  every engine, round-robin in ``--rounds`` chunks so noise hits all alike, and ONNX Runtime FP32 /
  static-QDQ INT8 with ORT's own calibration on the same calibration split (``bench/ort_int8.py``);
* size: engine files against the FP32 engine.

Writes ``bench/results/precision.json`` and the generated part of ``docs/precision.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYDIR = os.path.join(ROOT, "python")
sys.path.insert(0, PYDIR)

BEGIN = "<!-- BEGIN GENERATED -->"
END = "<!-- END GENERATED -->"

MODELS = {
    "synthetic": dict(checkpoint="models/trained/stgcn_seed_actions.pt", layout="mediapipe", T=150,
                      title="demo model (procedural actions, 10 classes, seed architecture)",
                      speed=True),
    "volleyball": dict(checkpoint="models/trained/volleyball/stgcn_volleyball.pt",
                       layout="blazepose", T=30,
                       title="volleyball referee signals (real MediaPipe data, 6 classes)",
                       speed=False),
}

# name -> extra `stgcn build` flags (CALIB / CALIB_LABELS substituted)
VARIANTS = {
    "fp32": ["--precision", "fp32"],
    "bf16": ["--precision", "bf16"],
    "fp16": ["--precision", "fp16"],
    "int8 entropy": ["--precision", "int8", "--calib", "CALIB", "--calib-method", "entropy"],
    "int8 percentile": ["--precision", "int8", "--calib", "CALIB", "--calib-method",
                        "percentile", "--percentile", "99.99"],
    "int8 minmax": ["--precision", "int8", "--calib", "CALIB", "--calib-method", "minmax"],
    "int8 entropy --max-drop 0.2": ["--precision", "int8", "--calib", "CALIB", "--calib-method",
                                    "entropy", "--max-drop", "0.2", "--val", "CALIB",
                                    "--val-labels", "CALIB_LABELS"],
}


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S ") + msg, file=sys.stderr, flush=True)


def run(cmd: List[str], timeout: float = 7200) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def stgcn(args, *cmd: str) -> subprocess.CompletedProcess:
    res = run([args.stgcn, *cmd])
    if res.returncode not in (0,) and cmd[0] != "validate":
        lines = (res.stderr or res.stdout).strip().splitlines()
        raise SystemExit(f"stgcn {cmd[0]} failed: {lines[-1] if lines else res.returncode}")
    return res


def write_data(name: str, work: str) -> Dict[str, str]:
    """calib / test .npy files (+ labels) for a model, in `work`."""
    paths = {k: os.path.join(work, f"{name}_{k}.npy")
             for k in ("calib", "calib_labels", "test", "test_labels")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    if name == "synthetic":
        from skeleton_data.generate import generate
        spec = json.load(open(os.path.join(ROOT, "models/trained/classes.json"), encoding="utf-8"))
        seed = spec.get("dataset", {}).get("seed", 20240611) if isinstance(spec.get("dataset"), dict) else 20240611
        calib = generate("calib", 20, seed)
        test = generate("test", 30, seed)
        splits = {"calib": calib, "test": test}
    else:
        from skeleton_data import volleyball
        d = volleyball.load()
        splits = {"calib": d["calib"], "test": d["test"]}
    for s, d in splits.items():
        np.save(paths[s], np.ascontiguousarray(d["data"], dtype=np.float32))
        np.save(paths[s + "_labels"], np.asarray(d["label"], dtype=np.int64))
    return paths


def build_variants(args, name: str, m: dict, data: Dict[str, str], work: str) -> Dict[str, dict]:
    out = {}
    ckpt = os.path.join(ROOT, m["checkpoint"])
    for v, flags in VARIANTS.items():
        path = os.path.join(work, f"{name}_{v.replace(' ', '_').replace('-', '')}.engine")
        flags = [data["calib"] if f == "CALIB" else data["calib_labels"] if f == "CALIB_LABELS"
                 else f for f in flags]
        t0 = time.time()
        res = stgcn(args, "build", ckpt, "-o", path, "--T", str(m["T"]), "--M", "1", *flags)
        built = path
        if not os.path.exists(path):  # a fallback renames the file (bf16 -> _fp32)
            alt = path.replace(".engine", "_fp32.engine")
            built = alt if os.path.exists(alt) else path
        info = json.loads(stgcn(args, "inspect", built, "--json").stdout)
        out[v] = {"engine": built, "build_s": time.time() - t0, "precision": info["precision"],
                  "kernel_isa": info["kernel_isa"], "file_bytes": info["file_bytes"],
                  "layers": len(info.get("layer_precisions", [])),
                  "layers_fp32": sum(1 for lp in info.get("layer_precisions", []) if lp[1] == "fp32"),
                  "quantization": info.get("quantization"), "build_log": res.stderr.strip()[-400:]}
        log(f"{name}: built {v} ({info['precision']}, {info['file_bytes'] / 1e6:.2f} MB) in "
            f"{out[v]['build_s']:.1f} s")
    return out


def validate(args, name: str, m: dict, engines: Dict[str, dict], data: Dict[str, str], work: str):
    # The reference: the FP32 engine (itself within 1e-4 of PyTorch on every tested model), so
    # agreement is with FP32; the FP32 engine is validated against the checkpoint itself (the
    # reference executor) where that is quick (the small volleyball model).
    ckpt = os.path.join(ROOT, m["checkpoint"])
    for v, e in engines.items():
        jpath = os.path.join(work, f"{name}_{v.replace(' ', '_')}_validate.json")
        ref = ckpt if (v == "fp32" and m["T"] <= 30) else engines["fp32"]["engine"]
        e["reference"] = "checkpoint (reference executor)" if ref == ckpt else "fp32 engine"
        res = stgcn(args, "validate", e["engine"], "--reference", ref, "--data", data["test"],
                    "--labels", data["test_labels"], "--threads", str(args.threads), "--json",
                    jpath)
        if not os.path.exists(jpath):
            raise SystemExit(f"validate {v}: {res.stderr.strip()}")
        j = json.load(open(jpath, encoding="utf-8"))
        e.update({k: j[k] for k in ("accuracy", "reference_accuracy", "accuracy_drop",
                                    "top1_agreement", "max_abs_error", "cosine_min", "samples")})
        log(f"{name}: {v}: accuracy {j['accuracy']:.2f} % (reference {j['reference_accuracy']:.2f}),"
            f" agreement {j['top1_agreement']:.2f} %")


def bench_speed(args, engines: Dict[str, dict], work: str) -> None:
    samples = {v: [] for v in engines}
    for r in range(args.rounds):
        order = list(engines)[r % len(engines):] + list(engines)[:r % len(engines)]
        for v in order:
            jpath = os.path.join(work, "bench.json")
            stgcn(args, "bench", engines[v]["engine"], "--batch", "1", "--threads",
                  str(args.threads), "--iterations", str(args.iterations), "--warmup", "2",
                  "--json", jpath)
            doc = json.load(open(jpath, encoding="utf-8"))
            samples[v] += doc["results"][0]["samples_ms"]
        log(f"speed round {r + 1}/{args.rounds}: " + ", ".join(
            f"{v} {statistics.median(s):.1f}" for v, s in samples.items()))
    for v, s in samples.items():
        engines[v]["median_ms"] = statistics.median(s)
        engines[v]["min_ms"] = min(s)
        engines[v]["samples_ms"] = s


def ort_peer(args, name: str, m: dict, data: Dict[str, str], work: str) -> Optional[dict]:
    script = os.path.join(ROOT, "bench", "ort_int8.py")
    out = os.path.join(work, f"{name}_ort.json")
    cmd = [sys.executable, script, "--checkpoint", os.path.join(ROOT, m["checkpoint"]),
           "--layout", m["layout"], "--T", str(m["T"]), "--calib", data["calib"],
           "--calib-size", str(args.ort_calib_size), "--method", "entropy",
           "--test", data["test"], "--labels", data["test_labels"], "--threads",
           str(args.threads), "--iterations", str(args.rounds * args.iterations), "--workdir",
           os.path.join(work, f"ort_{name}"), "--json", out]
    log("ONNX Runtime peer: " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
                                        for c in cmd[1:]))
    res = run(cmd)
    if res.returncode != 0 or not os.path.exists(out):
        log(f"ONNX Runtime peer failed: {(res.stderr or res.stdout).strip()[-600:]}")
        return None
    return json.load(open(out, encoding="utf-8"))


def fmt_row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown(results: dict) -> str:
    lines = [f"Generated by `bench/precision.py` on {results['date']} "
             f"({results['machine']}, {results['threads']} threads).", ""]
    for name, r in results["models"].items():
        e = r["engines"]
        fp32 = e["fp32"]
        lines += [f"### {r['title']}", "",
                  f"Test split: {fp32['samples']} sequences; FP32 accuracy "
                  f"**{fp32['reference_accuracy']:.2f} %**. Agreement = top-1 agreement with the "
                  f"FP32 engine (the FP32 row: with {fp32['reference']}).",
                  ""]
        speed = "median_ms" in fp32
        head = ["engine", "precision (layers fp32)", "accuracy", "drop (points)", "agreement",
                "size vs FP32"]
        if speed:
            head += ["latency (median)", "vs FP32"]
        lines += [fmt_row(head), fmt_row(["---"] * len(head))]
        for v, x in e.items():
            prec = x["precision"] + (f" ({x['layers_fp32']}/{x['layers']})" if x["precision"] == "int8" else "")
            row = [v, prec, f"{x['accuracy']:.2f} %", f"{x['accuracy_drop']:.2f}",
                   f"{x['top1_agreement']:.2f} %", f"{100 * x['file_bytes'] / fp32['file_bytes']:.1f} %"]
            if speed:
                row += [f"{x['median_ms']:.1f} ms", f"{fp32['median_ms'] / x['median_ms']:.2f}×"]
            lines.append(fmt_row(row))
        ort = r.get("ort")
        if ort:
            acc, lat = ort.get("accuracy", {}), ort.get("latency_ms", {})
            q = ort.get("quantization", {})
            lines += ["", "ONNX Runtime on the same test split: FP32, and INT8 from its own static "
                      "QDQ quantisation (per-channel s8 weights, u8 activations, "
                      f"{q.get('calibrate_method', 'entropy')} calibration on {q.get('calib_size', '?')} "
                      "samples of the same calibration split):", ""]
            head = ["peer", "accuracy", "agreement with ORT FP32"]
            if speed:
                head += ["latency (median)", "stgcn INT8 (entropy) is faster by"]
            lines += [fmt_row(head), fmt_row(["---"] * len(head))]
            i8 = e.get("int8 entropy", {})
            for label, key in (("ORT FP32", "fp32"), ("ORT INT8 (QDQ)", "int8")):
                a = acc.get(f"{key}_top1")
                row = [label, f"{100 * a:.2f} %" if a is not None else "n/a",
                       "—" if key == "fp32" else
                       f"{100 * acc.get('top1_agreement_int8_vs_fp32', float('nan')):.2f} %"]
                if speed:
                    med = lat.get(key, {}).get("median")
                    row += [f"{med:.1f} ms" if med else "n/a",
                            f"{med / i8['median_ms']:.2f}×" if med and "median_ms" in i8 else "n/a"]
                lines.append(fmt_row(row))
        lines.append("")
    return "\n".join(lines)


def write_md(path: str, body: str) -> None:
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else f"{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    pre, rest = text.split(BEGIN, 1)
    _, post = rest.split(END, 1)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(pre + BEGIN + "\n" + body + "\n" + END + post)
    os.replace(path + ".tmp", path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stgcn", default=os.path.join(ROOT, "build", "stgcn"))
    ap.add_argument("--models", default="synthetic,volleyball")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=6, help="speed: round-robin chunks")
    ap.add_argument("--iterations", type=int, default=10, help="speed: runs per chunk")
    ap.add_argument("--skip-ort", action="store_true")
    ap.add_argument("--ort-calib-size", type=int, default=100000,
                    help="calibration samples for ONNX Runtime's quantiser (default: all, like ours)")
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build", "precision"))
    ap.add_argument("--out-md", default=os.path.join(ROOT, "docs", "precision.md"))
    ap.add_argument("--out-json", default=os.path.join(ROOT, "bench", "results", "precision.json"))
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            ap.error(f"unknown model '{n}' (known: {', '.join(MODELS)})")
        if not os.path.exists(os.path.join(ROOT, MODELS[n]["checkpoint"])):
            ap.error(f"{MODELS[n]['checkpoint']} is missing (train it: python/train.py)")
    if not os.access(args.stgcn, os.X_OK):
        ap.error(f"{args.stgcn} is not built (cmake --build build)")
    os.makedirs(args.workdir, exist_ok=True)
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    results = {"date": dt.date.today().isoformat(), "machine": f"{cpu}, {os.cpu_count()} cores",
               "threads": args.threads, "models": {}}
    for n in names:
        m = MODELS[n]
        data = write_data(n, args.workdir)
        engines = build_variants(args, n, m, data, args.workdir)
        validate(args, n, m, engines, data, args.workdir)
        r = {"title": m["title"], "checkpoint": m["checkpoint"], "engines": engines}
        if m["speed"]:
            bench_speed(args, engines, args.workdir)
        if not args.skip_ort:
            r["ort"] = ort_peer(args, n, m, data, args.workdir)
        results["models"][n] = r
    os.makedirs(os.path.dirname(args.out_json), exist_ok=True)
    with open(args.out_json, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    write_md(args.out_md, markdown(results))
    log(f"wrote {os.path.relpath(args.out_json, ROOT)} and {os.path.relpath(args.out_md, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
