#!/usr/bin/env python3
"""ONNX Runtime INT8 peer: static QDQ quantisation of a two-stream ST-GCN checkpoint, with accuracy
and latency of ORT FP32 vs ORT INT8.

    .venv/bin/python bench/ort_int8.py --checkpoint models/trained/stgcn_seed_actions.pt \\
        --calib /tmp/data/calib_data.npy --test /tmp/data/test_data.npy \\
        --labels /tmp/data/test_label.npy --json /tmp/ort_int8.json

Steps:

1. build the reference model (``python/stgcn_ref``, as ``python/train.py``'s ``build()``: strategy
   ``spatial``, max_hop 1, edge importance, ``first_difference`` motion) from the checkpoint (a
   plain state dict, FP16 or FP32; widths, classes, V, K are read from it; layout / strides /
   motion / T from the ``classes.json`` spec when there is one -- ``--spec``, default
   ``classes.json`` next to the checkpoint -- or the flags);
2. ``torch.onnx.export`` it as ``bench/peers.py`` does (opset 13, constant folding, fixed batch 1)
   -> ``WORKDIR/model_fp32.onnx``;
3. ``onnxruntime.quantization.quant_pre_process`` (shape inference + ORT graph optimisation) and
   ``quantize_static`` (QDQ, per-channel weights) with a CalibrationDataReader over ``--calib``
   -> ``WORKDIR/model_int8.onnx``. Defaults: activations QUInt8, weights QInt8 (U8S8, the fast
   path of ORT's x86 kernels; with AVX512-VNNI / AVX-VNNI there is no U8S8 saturation issue, so
   reduce_range is off), Entropy calibration;
4. top-1 accuracy of both on ``--test`` / ``--labels``, top-1 agreement INT8 vs FP32, max / mean
   |logit difference|; latency (batch 1, median of ``--iterations`` after ``--warmup``,
   ORT_ENABLE_ALL, sequential, ``intra_op_num_threads = --threads``), the two models alternating
   round by round so that machine noise hits both alike.

Writes everything as JSON (``--json``) and a short summary on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from typing import Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYDIR = os.path.join(ROOT, "python")
if PYDIR not in sys.path:
    sys.path.insert(0, PYDIR)

PROG = "ort_int8.py"
TORCH_OPSET = 13          # as bench/peers.py
METHODS = ("minmax", "entropy", "percentile")
DEFAULT_T = 150


class UsageError(Exception):
    """A bad file / argument: reported as one line, exit status 2."""


def log(msg: str) -> None:
    print(f"[ort_int8] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------


def positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return v


def non_negative(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return v


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog=PROG, description=" ".join(__doc__.split("\n\n")[0].split()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Data files are NumPy .npy: inputs float32 (N, C=3, T, V, M), labels integer (N,). "
               "Calibration and test inputs must have the model's T (--T), V and M.")
    g = ap.add_argument_group("model")
    g.add_argument("--checkpoint", required=True,
                   help="PyTorch state dict (.pt) of a two-stream ST-GCN (FP16 or FP32 tensors)")
    g.add_argument("--spec", help="architecture spec JSON as written by python/train.py "
                   "(default: classes.json next to the checkpoint, if present)")
    g.add_argument("--layout", help="skeleton layout of the graph, e.g. mediapipe, blazepose "
                   "(default: the spec's, else mediapipe for V = 33)")
    g.add_argument("--T", type=positive, help="frames per sequence of the exported model "
                   f"(default: the spec's input T, else the calibration data's T, else {DEFAULT_T})")
    g.add_argument("--aggregation", choices=("einsum", "matmul"), default="einsum",
                   help="how the exported graph aggregation is written: einsum (torch's default "
                        "export, stays FP32 in the QDQ model) or matmul (one MatMul per block, "
                        "which ORT can quantise) (default einsum)")
    g = ap.add_argument_group("quantisation")
    g.add_argument("--calib", required=True, metavar="X.npy",
                   help="calibration inputs, float32 (N, C, T, V, M)")
    g.add_argument("--calib-size", type=positive, default=64, metavar="N",
                   help="calibration samples used, evenly spaced over the file (default 64; "
                        "all when the file has fewer)")
    g.add_argument("--method", choices=METHODS, default="entropy",
                   help="calibration method (default entropy)")
    g.add_argument("--activation-type", choices=("uint8", "int8"), default="uint8",
                   help="activation type (default uint8; weights are always int8, per channel)")
    g.add_argument("--reduce-range", action="store_true",
                   help="7-bit weights (for x86 CPUs without VNNI, where U8S8 can saturate)")
    g.add_argument("--exclude", metavar="REGEX", action="append", default=[],
                   help="keep the nodes whose ONNX name matches REGEX (re.search) in FP32, e.g. "
                        "'st_gcn_networks\\.0/' for the first block of both streams (repeatable)")
    g.add_argument("--no-preprocess", action="store_true",
                   help="skip quant_pre_process (shape inference + graph optimisation)")
    g.add_argument("--calib-chunk", type=positive, default=8,
                   help="calibration samples run per pass before their statistics are merged "
                        "(bounds memory; default 8)")
    g = ap.add_argument_group("evaluation")
    g.add_argument("--test", metavar="X.npy", help="test inputs, float32 (N, C, T, V, M)")
    g.add_argument("--labels", metavar="y.npy", help="test labels (N,), integer")
    g.add_argument("--test-size", type=positive, metavar="N",
                   help="use only the first N test samples (default all)")
    g.add_argument("--threads", type=positive, default=2,
                   help="ORT intra-op threads for the evaluation and timing sessions (default 2)")
    g.add_argument("--iterations", type=non_negative, default=50,
                   help="timed batch-1 runs per model (default 50; 0 skips timing)")
    g.add_argument("--warmup", type=non_negative, default=5, help="warm-up runs (default 5)")
    g = ap.add_argument_group("output")
    g.add_argument("--workdir", help="directory for the ONNX files (default build/ort_int8)")
    g.add_argument("--json", metavar="OUT", help="write the results as JSON")
    args = ap.parse_args(argv)
    if args.labels and not args.test:
        ap.error("--labels needs --test")
    args.method = args.method.lower()
    args.workdir = os.path.abspath(args.workdir or os.path.join(ROOT, "build", "ort_int8"))
    return args


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def need_file(path: str, what: str) -> str:
    if not os.path.isfile(path):
        raise UsageError(f"{what} not found: {path}")
    return path


def load_npy(path: str, what: str, ndim: Optional[int] = None):
    import numpy as np
    need_file(path, what)
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UsageError(f"{what} {path}: not a readable .npy file ({e})")
    if ndim is not None and a.ndim != ndim:
        raise UsageError(f"{what} {path}: expected {ndim} dimensions, got shape {a.shape}")
    return a


def load_spec(args) -> dict:
    path = args.spec or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)),
                                     "classes.json")
    if args.spec:
        need_file(path, "spec")
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"spec {path}: unreadable JSON ({e})")
    spec["_path"] = path
    return spec


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


def load_state_dict(path: str):
    import torch
    from stgcn_ref import ckpt_tools as ct
    need_file(path, "checkpoint")
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 -- any unpickling / zip error is a bad file
        raise UsageError(f"checkpoint {path}: cannot be loaded by torch.load ({e})")
    try:
        sd = ct.unwrap_state_dict(obj)
    except (AttributeError, TypeError) as e:
        raise UsageError(f"checkpoint {path}: not a state dict ({e})")
    return ct.map_float_tensors(sd, lambda t: t.float())


def describe(sd, spec: dict, layout_flag: Optional[str]) -> dict:
    """Architecture read from the state dict (+ spec for what a state dict does not hold)."""
    from stgcn_ref.model import SEED_STRIDES
    two = any(k.startswith("origin_stream.") for k in sd)
    pre = "origin_stream." if two else ""
    if pre + "A" not in sd or pre + "fcn.weight" not in sd:
        raise UsageError("checkpoint: not an ST-GCN state dict (no A / fcn.weight)")
    if two and not any(k.startswith("motion_stream.") for k in sd):
        raise UsageError("checkpoint: origin_stream.* without motion_stream.*")
    K, V = int(sd[pre + "A"].shape[0]), int(sd[pre + "A"].shape[1])
    widths = []
    while f"{pre}st_gcn_networks.{len(widths)}.tcn.2.weight" in sd:
        widths.append(int(sd[f"{pre}st_gcn_networks.{len(widths)}.tcn.2.weight"].shape[0]))
    m = spec.get("model", {})
    strides = [int(s) for s in m.get("strides", SEED_STRIDES)]
    if len(strides) != len(widths):
        if len(widths) == len(SEED_STRIDES) and "strides" not in m:
            strides = list(SEED_STRIDES)
        else:
            raise UsageError(f"checkpoint has {len(widths)} blocks but {len(strides)} strides")
    layout = layout_flag or m.get("layout") or ("mediapipe" if V == 33 else None)
    if layout is None:
        raise UsageError(f"checkpoint: V = {V}; pass --layout")
    return {"two_stream": two, "K": K, "V": V,
            "in_channels": int(sd[pre + "data_bn.weight"].shape[0]) // V,
            "num_class": int(sd[pre + "fcn.weight"].shape[0]), "widths": widths,
            "strides": strides, "layout": layout,
            "strategy": m.get("strategy", "spatial"), "max_hop": int(m.get("max_hop", 1)),
            "dilation": int(m.get("dilation", 1)),
            "edge_importance": (pre + "edge_importance.0") in sd,
            "motion": m.get("motion", "first_difference") if two else None,
            "M": int(m.get("M", 1))}


def build_model(sd, arch: dict, aggregation: str = "einsum"):
    """Eval-mode reference model with the checkpoint's weights (as python/train.py's build())."""
    import numpy as np
    from stgcn_ref.graph import build_graph
    from stgcn_ref.model import STGCN, TwoStreamSTGCN, count_parameters, set_export_variant
    try:
        A = build_graph(arch["layout"], arch["strategy"], arch["max_hop"], arch["dilation"])
    except ValueError as e:
        raise UsageError(str(e))
    if A.shape != (arch["K"], arch["V"], arch["V"]):
        raise UsageError(f"layout {arch['layout']} gives a graph of shape {A.shape}, the "
                         f"checkpoint's A is {(arch['K'], arch['V'], arch['V'])}")
    args = (arch["in_channels"], arch["num_class"], A, arch["edge_importance"], arch["widths"],
            arch["strides"])
    model = (TwoStreamSTGCN(*args, dropout=0.0, motion=arch["motion"]) if arch["two_stream"]
             else STGCN(*args, dropout=0.0))
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise UsageError("checkpoint does not match the architecture: "
                         + str(e).replace("\n", " ")[:300])
    pre = "origin_stream." if arch["two_stream"] else ""
    arch["A_matches_layout"] = bool(np.allclose(sd[pre + "A"].numpy(), A, atol=1e-3))
    if not arch["A_matches_layout"]:
        log(f"warning: the checkpoint's A differs from the {arch['layout']} graph "
            "(the checkpoint's is used)")
    arch["num_parameters"] = count_parameters(model)
    set_export_variant(model, aggregation, "mean")
    return model.eval()


def export_onnx(model, shape, path: str) -> None:
    """torch.onnx.export as bench/peers.py does (fixed batch, opset 13, constant folding)."""
    import warnings
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(shape), path, opset_version=TORCH_OPSET,
                          do_constant_folding=True, input_names=["input"],
                          output_names=["output"])


# ---------------------------------------------------------------------------------------------
# Quantisation
# ---------------------------------------------------------------------------------------------


def make_reader(x, input_name: str):
    """CalibrationDataReader over ``x`` (N, C, T, V, M), one sample per batch; supports the
    ``set_range`` protocol quantize_static uses to calibrate in chunks (CalibStridedMinMax)."""
    from onnxruntime.quantization import CalibrationDataReader

    class NpyReader(CalibrationDataReader):
        def __init__(self):
            self.x = x
            self.set_range(0, len(x))

        def __len__(self):
            return len(self.x)

        def set_range(self, start_index: int, end_index: int):
            self.pos, self.end = start_index, min(end_index, len(self.x))

        def get_next(self):
            if self.pos >= self.end:
                return None
            i = self.pos
            self.pos += 1
            return {input_name: self.x[i:i + 1]}

        def rewind(self):
            self.set_range(0, len(self.x))

    return NpyReader()


def chunk_size(n: int, limit: int) -> int:
    """Largest divisor of n that is <= limit (quantize_static needs n % chunk == 0)."""
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def quantize(fp32_path: str, int8_path: str, calib, args) -> dict:
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    info = {"format": "QDQ", "per_channel": True, "weight_type": "QInt8",
            "activation_type": "QUInt8" if args.activation_type == "uint8" else "QInt8",
            "reduce_range": bool(args.reduce_range), "calibrate_method": args.method,
            "preprocess": not args.no_preprocess}
    src = fp32_path
    t0 = time.perf_counter()
    if not args.no_preprocess:
        src = os.path.join(args.workdir, "model_fp32_pre.onnx")
        quant_pre_process(fp32_path, src, skip_symbolic_shape=False)
    info["preprocess_seconds"] = time.perf_counter() - t0
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[args.method]
    input_name = onnx.load(src, load_external_data=False).graph.input[0].name
    chunk = chunk_size(len(calib), args.calib_chunk)
    extra = {"CalibStridedMinMax": chunk}  # despite the name: chunked collection, any method
    if args.method == "percentile":
        extra["CalibPercentile"] = 99.999
        info["percentile"] = 99.999
    info["calib_chunk"] = chunk
    excluded = []
    if args.exclude:
        import re
        names = [n.name for n in onnx.load(src, load_external_data=False).graph.node]
        try:
            pats = [re.compile(p) for p in args.exclude]
        except re.error as e:
            raise UsageError(f"--exclude: bad regular expression ({e})")
        excluded = [n for n in names if any(p.search(n) for p in pats)]
        if not excluded:
            raise UsageError(f"--exclude {args.exclude}: matches no node of {src}")
    info["exclude"] = list(args.exclude)
    info["excluded_nodes"] = excluded
    t0 = time.perf_counter()
    quantize_static(src, int8_path, make_reader(calib, input_name),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=(QuantType.QUInt8 if args.activation_type == "uint8"
                                     else QuantType.QInt8),
                    weight_type=QuantType.QInt8, reduce_range=args.reduce_range,
                    calibrate_method=method, nodes_to_exclude=excluded, extra_options=extra)
    info["quantize_seconds"] = time.perf_counter() - t0
    info.update(graph_stats(int8_path))
    return info


def graph_stats(path: str) -> dict:
    """QuantizeLinear / DequantizeLinear counts and all op types of an ONNX file."""
    import collections
    import onnx
    ops = collections.Counter(n.op_type for n in onnx.load(path).graph.node)
    return {"n_quantize_linear": ops.get("QuantizeLinear", 0),
            "n_dequantize_linear": ops.get("DequantizeLinear", 0),
            "qdq_model_ops": dict(ops.most_common())}


def optimized_ops(path: str) -> dict:
    """Op types ORT actually runs (the ORT_ENABLE_ALL-optimised graph, e.g. QLinearConv)."""
    import collections
    import onnx
    return dict(collections.Counter(n.op_type for n in onnx.load(path).graph.node).most_common())


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def ort_session(path: str, threads: int, dump: Optional[str] = None):
    """As bench/peers.py: ORT_ENABLE_ALL, sequential, intra_op_num_threads = threads; ``dump``:
    where to write the optimised graph."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    if dump:
        opts.optimized_model_filepath = dump
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def run_all(sess, x):
    import numpy as np
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def stats(samples: List[float]) -> dict:
    import numpy as np
    a = np.asarray(samples, dtype=np.float64)
    return {"n": int(a.size), "min": float(a.min()), "p10": float(np.percentile(a, 10)),
            "median": float(np.median(a)), "p90": float(np.percentile(a, 90)),
            "max": float(a.max()), "mean": float(a.mean())}


def time_models(sessions: Dict[str, object], x1, iterations: int, warmup: int) -> dict:
    """Alternate the models run by run (order swapped every round); ms per batch-1 run."""
    feeds = {k: {s.get_inputs()[0].name: x1} for k, s in sessions.items()}
    keys = list(sessions)
    for _ in range(warmup):
        for k in keys:
            sessions[k].run(None, feeds[k])
    samples = {k: [] for k in keys}
    for r in range(iterations):
        for k in (keys if r % 2 == 0 else keys[::-1]):
            t0 = time.perf_counter()
            sessions[k].run(None, feeds[k])
            samples[k].append((time.perf_counter() - t0) * 1e3)
    return {k: stats(v) for k, v in samples.items()}


def check_data(x, arch: dict, T: int, what: str) -> None:
    want = (arch["in_channels"], T, arch["V"], arch["M"])
    if x.ndim != 5 or tuple(x.shape[1:]) != want:
        raise UsageError(f"{what}: shape {tuple(x.shape)}, expected (N, {', '.join(map(str, want))})")
    if len(x) == 0:
        raise UsageError(f"{what}: no samples")


def machine_info() -> dict:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.strip() == "model name":
                    name = v.strip()
                elif k.strip() == "flags":
                    flags = set(v.split())
                    break
    except OSError:
        pass
    return {"cpu": name, "usable_cpus": len(os.sched_getaffinity(0)),
            "isa_flags": {f: f in flags for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni",
                                                   "amx_int8")},
            "python": platform.python_version(), "torch": torch.__version__,
            "onnx": onnx.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def rel(path: str) -> str:
    r = os.path.relpath(path, ROOT)
    return path if r.startswith("..") else r


def run(args) -> dict:
    import numpy as np
    import torch
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError as e:
        raise UsageError(f"onnxruntime.quantization unavailable ({e}); install "
                         "python/requirements.txt (ml_dtypes, onnx >= 1.16)")
    torch.set_num_threads(1)  # PyTorch only exports and checks one sample
    t_start = time.perf_counter()
    sd = load_state_dict(args.checkpoint)
    spec = load_spec(args)
    arch = describe(sd, spec, args.layout)
    calib_all = load_npy(args.calib, "calibration data", 5)
    T = args.T or spec.get("input", {}).get("T") or int(calib_all.shape[2]) or DEFAULT_T
    arch["T"] = int(T)
    check_data(calib_all, arch, T, f"calibration data {args.calib}")
    x_test = y_test = None
    if args.test:
        x_test = load_npy(args.test, "test data", 5)
        check_data(x_test, arch, T, f"test data {args.test}")
        if args.labels:
            y_test = load_npy(args.labels, "labels", 1)
            if len(y_test) != len(x_test):
                raise UsageError(f"labels {args.labels}: {len(y_test)} labels for "
                                 f"{len(x_test)} test samples")
            y_test = y_test.astype(np.int64)
        if args.test_size:
            x_test = x_test[:args.test_size]
            y_test = None if y_test is None else y_test[:args.test_size]
    n_cal = min(args.calib_size, len(calib_all))
    pick = np.unique(np.linspace(0, len(calib_all) - 1, n_cal).round().astype(np.int64))
    calib = np.ascontiguousarray(calib_all[pick], dtype=np.float32)

    os.makedirs(args.workdir, exist_ok=True)
    fp32_path = os.path.join(args.workdir, "model_fp32.onnx")
    int8_path = os.path.join(args.workdir, "model_int8.onnx")
    model = build_model(sd, arch, args.aggregation)
    shape = (1, arch["in_channels"], T, arch["V"], arch["M"])
    log(f"{arch['num_class']} classes, widths {arch['widths']}, layout {arch['layout']}, "
        f"T {T}; exporting {rel(fp32_path)}")
    t0 = time.perf_counter()
    export_onnx(model, shape, fp32_path)
    export_s = time.perf_counter() - t0
    log(f"quantising ({args.method}, {len(calib)} calibration samples) -> {rel(int8_path)}")
    qinfo = quantize(fp32_path, int8_path, calib, args)
    qinfo.update(calib_file=os.path.abspath(args.calib), calib_size=int(len(calib)),
                 calib_file_size=int(len(calib_all)), calib_indices="evenly spaced")
    log(f"quantised in {qinfo['quantize_seconds']:.1f} s: {qinfo['n_quantize_linear']} "
        f"QuantizeLinear, {qinfo['n_dequantize_linear']} DequantizeLinear")

    sessions, ort_ops = {}, {}
    for key, path in (("fp32", fp32_path), ("int8", int8_path)):
        dump = path.replace(".onnx", "_ort_optimized.onnx")
        sessions[key] = ort_session(path, args.threads, dump)
        ort_ops[key] = optimized_ops(dump)
    # Sanity: ORT FP32 against PyTorch on one sample.
    x0 = calib[:1]
    with torch.inference_mode():
        ref = model(torch.from_numpy(x0)).numpy()
    ort_vs_torch = float(np.abs(run_all(sessions["fp32"], x0) - ref).max())

    acc = None
    if x_test is not None:
        t0 = time.perf_counter()
        lg = {k: run_all(s, x_test).astype(np.float64) for k, s in sessions.items()}
        p32, p8 = lg["fp32"].argmax(1), lg["int8"].argmax(1)
        diff = np.abs(lg["int8"] - lg["fp32"])
        acc = {"test_file": os.path.abspath(args.test), "N": int(len(x_test)),
               "top1_agreement_int8_vs_fp32": float((p32 == p8).mean()),
               "max_abs_logit_error": float(diff.max()),
               "mean_abs_logit_error": float(diff.mean()),
               "fp32_logit_range": [float(lg["fp32"].min()), float(lg["fp32"].max())],
               "eval_seconds": time.perf_counter() - t0}
        if y_test is not None:
            acc.update(labels_file=os.path.abspath(args.labels),
                       fp32_top1=float((p32 == y_test).mean()),
                       int8_top1=float((p8 == y_test).mean()))
    latency = None
    if args.iterations:
        x1 = (x_test if x_test is not None else calib)[:1]
        latency = time_models(sessions, np.ascontiguousarray(x1), args.iterations, args.warmup)
        latency["int8_speedup_median"] = latency["fp32"]["median"] / latency["int8"]["median"]

    arch_out = {k: v for k, v in arch.items()}
    return {
        "tool": "bench/ort_int8.py",
        "checkpoint": os.path.abspath(args.checkpoint),
        "spec": spec.get("_path"),
        "model": arch_out,
        "export": {"opset": TORCH_OPSET, "batch": 1, "aggregation": args.aggregation,
                   "seconds": export_s, "ort_fp32_vs_torch_max_abs": ort_vs_torch},
        "files": {"fp32": fp32_path, "int8": int8_path,
                  "fp32_bytes": os.path.getsize(fp32_path),
                  "int8_bytes": os.path.getsize(int8_path)},
        "quantization": qinfo,
        "ort_optimized_ops": ort_ops,
        "accuracy": acc,
        "latency_ms": latency,
        "settings": {"threads": args.threads, "iterations": args.iterations,
                     "warmup": args.warmup, "batch": 1,
                     "graph_optimization_level": "ORT_ENABLE_ALL",
                     "execution_mode": "ORT_SEQUENTIAL"},
        "machine": machine_info(),
        "total_seconds": time.perf_counter() - t_start,
    }


def summary(res: dict) -> str:
    q, a, l = res["quantization"], res["accuracy"], res["latency_ms"]
    lines = [f"INT8 QDQ ({q['activation_type']} activations, QInt8 per-channel weights, "
             f"{q['calibrate_method']} calibration on {q['calib_size']} samples): "
             f"{q['n_quantize_linear']} QuantizeLinear / {q['n_dequantize_linear']} "
             f"DequantizeLinear, quantised in {q['quantize_seconds']:.1f} s"]
    if a:
        s = (f"test N={a['N']}: top-1 agreement {a['top1_agreement_int8_vs_fp32']:.4f}, "
             f"max |logit err| {a['max_abs_logit_error']:.4g}")
        if "fp32_top1" in a:
            s = f"accuracy FP32 {a['fp32_top1']:.4f}, INT8 {a['int8_top1']:.4f}; " + s
        lines.append(s)
    if l:
        lines.append(f"latency batch 1, {res['settings']['threads']} threads (median of "
                     f"{l['fp32']['n']}): FP32 {l['fp32']['median']:.3f} ms, INT8 "
                     f"{l['int8']['median']:.3f} ms ({l['int8_speedup_median']:.2f}x)")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        res = run(args)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
        log(f"wrote {args.json}")
    print(summary(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
