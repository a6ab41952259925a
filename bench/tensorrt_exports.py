#!/usr/bin/env python3
"""The TensorRT-ready exports, proven by two other runtimes: accuracy and agreement table.

    .venv/bin/python bench/tensorrt_exports.py [--models synthetic,stgcnpp] [--threads 2]
        [--work /tmp/stgcn_trt] [--out-md docs/tensorrt.md]

For each trained model (``models/trained/``: the demo model -- two-stream seed architecture --
and the mmaction2-style ST-GCN++):

* data: the test split (300 sequences) and the calibration split (200), regenerated from the
  dataset seed (``skeleton_data``; the ST-GCN++ in its own (N, M, T, V, C) layout, coco-17);
* exports: ``stgcn export --precision fp32 | fp16 | int8`` (int8 calibrated with entropy on the
  calibration split, ``--calib-table`` written), dynamic batch, opset 17;
* our engines: ``stgcn build`` FP32 and INT8 from the same calibration table;
* runtimes: ONNX Runtime (CPU, all optimisations) and OpenVINO (CPU, inference precision f32 so
  the graph's own types decide) run every export on the test split; ``python/check_qdq.py`` checks each graph (checker, shape inference, placement rules).

Reported: accuracy, its drop against our FP32 engine, top-1 agreement with our INT8 engine and
with FP32, and the largest |logit difference| to FP32. Writes ``bench/results/tensorrt_exports.json``
and the generated part of ``docs/tensorrt.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
STGCN = os.path.join(ROOT, "build", "stgcn")
BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"

MODELS = {
    "synthetic": {"title": "demo model (two-stream seed architecture, V=33, 10 classes)",
                  "path": "models/trained/stgcn_seed_actions.pt"},
    "stgcnpp": {"title": "ST-GCN++ (mmaction2 style, coco-17, (N, M, T, V, C) input, 10 classes)",
                "path": "models/trained/stgcnpp/stgcnpp_actions.pth"},
}


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return r.stdout


def write_data(name: str, work: str) -> dict:
    paths = {k: os.path.join(work, f"{name}_{k}.npy") for k in ("calib", "test", "test_labels")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    from skeleton_data.generate import generate
    seed = 20240611
    layout = "coco" if name == "stgcnpp" else None
    kw = {"layout": layout} if layout else {}
    calib = generate("calib", 20, seed, **kw)
    test = generate("test", 30, seed, **kw)
    for split, d in (("calib", calib), ("test", test)):
        x = np.ascontiguousarray(d["data"], dtype=np.float32)
        if name == "stgcnpp":  # (N, C, T, V, M) -> the model's (N, M, T, V, C)
            x = np.ascontiguousarray(x.transpose(0, 4, 2, 3, 1))
        np.save(paths[split], x)
    np.save(paths["test_labels"], np.asarray(test["label"], dtype=np.int64))
    return paths


def ort_run(model: str, x: np.ndarray, threads: int) -> np.ndarray:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 25]})[0] for i in range(0, len(x), 25)])


def ov_run(model: str, x: np.ndarray, threads: int) -> np.ndarray:
    import openvino as ov
    core = ov.Core()
    # f32 execution: on CPUs with AVX512-BF16 / AMX OpenVINO's default hint is bf16, which would
    # blur what the graph's own types (fp32, fp16, int8 Q/DQ) do.
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                 "INFERENCE_PRECISION_HINT": "f32"})
    req = compiled.create_infer_request()
    outs = []
    for i in range(0, len(x), 25):
        res = req.infer({0: x[i:i + 25]})
        outs.append(np.asarray(res[compiled.output(0)]))
    return np.concatenate(outs)


def one_model(args, name: str) -> dict:
    m = MODELS[name]
    path = os.path.join(ROOT, m["path"])
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    data = write_data(name, args.work)
    x = np.load(data["test"])
    labels = np.load(data["test_labels"])
    table = os.path.join(work, "calib_table.txt")
    onnx_paths = {}
    for prec in ("fp32", "fp16", "int8"):
        out = os.path.join(work, f"{name}_{prec}.onnx")
        cmd = [STGCN, "export", path, "--precision", prec, "--dynamic-batch", "-o", out]
        if prec == "int8":
            cmd += ["--calib", data["calib"], "--calib-table", table]
        run(cmd)
        onnx_paths[prec] = out
    logits = {}
    for prec, extra in (("fp32", []), ("int8", ["--calib-table", table])):
        eng = os.path.join(work, f"{name}_{prec}.engine")
        run([STGCN, "build", path, "--precision", prec, "--batch", "25", "-o", eng] + extra)
        out = os.path.join(work, f"{name}_{prec}_logits.npy")
        run([STGCN, "infer", eng, "-i", data["test"], "-o", out, "--threads", str(args.threads)])
        logits[f"stgcn {prec} engine"] = np.load(out)
    checks = json.loads("[" + ",".join(run([sys.executable, os.path.join(ROOT, "python/check_qdq.py")]
                                             + list(onnx_paths.values())).splitlines()) + "]")
    for prec, p in onnx_paths.items():
        logits[f"ONNX Runtime {prec} export"] = ort_run(p, x, args.threads)
        if not args.skip_openvino:
            logits[f"OpenVINO {prec} export"] = ov_run(p, x, args.threads)
    fp32 = logits["stgcn fp32 engine"]
    int8 = logits["stgcn int8 engine"]
    acc32 = float((fp32.argmax(1) == labels).mean() * 100)
    rows = []
    for k, y in logits.items():
        acc = float((y.argmax(1) == labels).mean() * 100)
        rows.append({
            "run": k, "accuracy": acc, "drop": acc32 - acc,
            "agreement_int8_engine": float((y.argmax(1) == int8.argmax(1)).mean() * 100),
            "agreement_fp32": float((y.argmax(1) == fp32.argmax(1)).mean() * 100),
            "max_abs_diff_fp32": float(np.abs(y - fp32).max()),
            "logit_scale": float(np.abs(fp32).max()),
        })
    sizes = {p: os.path.getsize(f) for p, f in onnx_paths.items()}
    return {"title": m["title"], "test_samples": int(len(x)), "rows": rows, "checks": checks,
            "onnx_bytes": sizes}


def markdown(res: dict, meta: dict) -> str:
    lines = [f"Generated by `bench/tensorrt_exports.py` on {meta['date']} ({meta['cpu']}, "
             f"ONNX Runtime {meta['ort']}, OpenVINO {meta['openvino']}, {meta['threads']} threads).",
             ""]
    for name, r in res.items():
        lines += [f"### {r['title']}", "",
                  f"Test split: {r['test_samples']} sequences. Exports: "
                  + ", ".join(f"{p} {b / 1e6:.1f} MB" for p, b in r["onnx_bytes"].items()) + "; "
                  + "; ".join(f"{os.path.basename(c['model'])}: {c['quantised']}/{c['layers']} "
                              f"Conv/MatMul quantised, {len(c['violations'])} placement violations"
                              for c in r["checks"]) + ".", "",
                  "| run | accuracy | drop vs FP32 (points) | agreement with stgcn INT8 | "
                  "agreement with FP32 | max \\|Δ logit\\| vs FP32 |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for row in r["rows"]:
            lines.append(f"| {row['run']} | {row['accuracy']:.2f} % | {row['drop']:.2f} | "
                         f"{row['agreement_int8_engine']:.2f} % | {row['agreement_fp32']:.2f} % | "
                         f"{row['max_abs_diff_fp32']:.3g} (of {row['logit_scale']:.3g}) |")
        lines.append("")
    return "\n".join(lines)


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="synthetic,stgcnpp")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="/tmp/stgcn_trt")
    ap.add_argument("--skip-openvino", action="store_true")
    ap.add_argument("--out-md", default=os.path.join(ROOT, "docs", "tensorrt.md"))
    ap.add_argument("--out-json", default=os.path.join(ROOT, "bench", "results",
                                                       "tensorrt_exports.json"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    import onnxruntime
    try:
        import openvino
        ov_version = openvino.__version__.split("-")[0]
    except ImportError:
        ov_version, args.skip_openvino = "not installed", True
    res = {n: one_model(args, n) for n in args.models.split(",")}
    meta = {"date": dt.date.today().isoformat(), "cpu": cpu_name(), "ort": onnxruntime.__version__,
            "openvino": ov_version, "threads": args.threads}
    os.makedirs(os.path.dirname(args.out_json), exist_ok=True)
    with open(args.out_json, "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "models": res}, f, indent=1)
    md = markdown(res, meta)
    print(md)
    if args.out_md and os.path.exists(args.out_md):
        text = open(args.out_md, encoding="utf-8").read()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            text = head + BEGIN + "\n" + md + "\n" + END + rest.split(END, 1)[1]
            with open(args.out_md + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(args.out_md + ".tmp", args.out_md)


if __name__ == "__main__":
    main()
