#!/usr/bin/env python3
"""Compare the stgcn engine with its peers (ONNX Runtime, PyTorch eager) on W1/W2/W3, in one run.

    .venv/bin/python bench/peers.py [--workloads W1,W2,W3] [--batch 1,16] [--threads 2] ...

For each workload (see ``../shared/design/PERFORMANCE.md``) a two-stream ST-GCN with random,
fixed-seed weights (BatchNorm statistics randomised) is written as a ``.pt`` state dict into the
work dir, then timed as:

* **stgcn engine** -- ``stgcn build`` + ``stgcn bench --json`` (run in chunks between the peers'
  rounds, so machine noise hits everybody alike);
* **ONNX Runtime (torch export)** -- ``torch.onnx.export`` (opset 13, fixed batch), ORT CPU with
  ``ORT_ENABLE_ALL``, sequential execution, ``intra_op_num_threads = --threads``;
* **ONNX Runtime (stgcn export)** -- the same on ``stgcn export``'s ONNX;
* **PyTorch eager** -- ``torch.set_num_threads(--threads)``, ``torch.inference_mode()``.

The Python peers run round-robin (one iteration of each per round, rotating the order). The
register-only FMA peak (``fma_peak --json``) gives the "% of peak" figures, with FLOPs = 2 x MACs
from ``stgcn inspect --json`` (or the closed-form count when stgcn is unavailable).

Writes the raw results as JSON (``--out-json`` and next to the Markdown), the generated section of
``--out-md`` (between ``<!-- BEGIN GENERATED -->`` / ``<!-- END GENERATED -->``; text outside the
markers is kept) and a grouped bar chart (``--plot``). ``--quick`` runs tiny iteration counts and,
unless told otherwise, writes its outputs into ``WORKDIR/quick/`` rather than ``docs/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYDIR = os.path.join(ROOT, "python")
if PYDIR not in sys.path:
    sys.path.insert(0, PYDIR)

BEGIN = "<!-- BEGIN GENERATED -->"
END = "<!-- END GENERATED -->"
TORCH_OPSET = 13
SEED = 20251124


@dataclasses.dataclass(frozen=True)
class Workload:
    """One benchmark model + input shape (two-stream, C=3, spatial strategy, max_hop 1)."""
    name: str
    title: str
    layout: str
    T: int
    M: int
    num_class: int
    iters_b1: int      # default iterations at batch 1
    iters_big: int     # default iterations at batch > 1
    warmup: int
    seed: int


WORKLOADS = {
    "W1": Workload("W1", "seed single-person", "mediapipe", 150, 1, 2, 40, 10, 3, SEED + 1),
    "W2": Workload("W2", "seed multi-person", "mediapipe", 150, 5, 2, 16, 4, 2, SEED + 2),
    "W3": Workload("W3", "NTU", "ntu-rgb+d", 300, 2, 60, 20, 5, 2, SEED + 3),
}

ENGINES = [
    ("stgcn", "stgcn engine"),
    ("ort_torch", "ONNX Runtime (torch export)"),
    ("ort_stgcn", "ONNX Runtime (stgcn export)"),
    ("torch_eager", "PyTorch eager"),
]
LABEL = dict(ENGINES)
COLORS = {"stgcn": "#d62728", "ort_torch": "#1f77b4", "ort_stgcn": "#17becf",
          "torch_eager": "#7f7f7f"}


def log(msg: str) -> None:
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------


def int_list(text: str) -> List[int]:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return sorted(set(vals))


def workload_list(text: str) -> List[str]:
    if text.strip().lower() == "all":
        return list(WORKLOADS)
    names = [w.strip().upper() for w in text.split(",") if w.strip()]
    bad = [w for w in names if w not in WORKLOADS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown workload(s) {bad or text!r}; known: "
                                         f"{', '.join(WORKLOADS)} or 'all'")
    return [w for w in WORKLOADS if w in names]


def positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return v


def non_negative(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return v


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="Default iterations (batch 1 / larger): "
                                 + ", ".join(f"{w.name} {w.iters_b1}/{w.iters_big}"
                                             for w in WORKLOADS.values()))
    ap.add_argument("--stgcn", help="stgcn binary (default build/stgcn)")
    ap.add_argument("--fma", help="fma_peak binary (default build/bench/fma_peak; compiled into "
                    "the work dir with g++ when absent)")
    ap.add_argument("--workloads", type=workload_list, default=list(WORKLOADS),
                    help="comma-separated subset of W1,W2,W3 (default all)")
    ap.add_argument("--batch", type=int_list, default=[1, 16], help="batch sizes (default 1,16)")
    ap.add_argument("--big-batch-workloads", "--batch16-workloads", dest="big_batch_workloads",
                    type=workload_list, default=["W1"],
                    help="workloads that also run the batch sizes > 1 (default W1; 'all')")
    ap.add_argument("--threads", type=positive, default=2, help="threads for every engine")
    ap.add_argument("--iterations", type=positive,
                    help="timed iterations for every workload and batch (default per workload)")
    ap.add_argument("--warmup", type=non_negative, help="warm-up iterations (default per workload)")
    ap.add_argument("--chunks", type=positive,
                    help="stgcn bench calls per measurement, interleaved with the peers' rounds "
                    "(default 4, 1 with --quick)")
    ap.add_argument("--gap-ms", type=float, default=10.0,
                    help="idle pause between engine runs so spinning thread pools settle "
                    "(default 10)")
    ap.add_argument("--fma-seconds", type=float, default=2.0, help="fma_peak measuring time")
    ap.add_argument("--workdir", help="models, ONNX files, engines (default build/bench)")
    ap.add_argument("--out-md", help="Markdown report (default docs/benchmarks.md)")
    ap.add_argument("--out-json", help="raw results (default bench/results/latest.json)")
    ap.add_argument("--plot", help="PNG plot (default docs/img/latency.png; '' for none)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 2 iterations, 1 warm-up, 1 chunk; outputs in WORKDIR/quick/")
    ap.add_argument("--engine-per-batch", action="store_true",
                    help="build one stgcn engine per batch size (default: one engine built "
                    "with the largest batch serves all)")
    ap.add_argument("--skip-stgcn", action="store_true",
                    help="omit the stgcn engine rows (stgcn export / inspect still used if found)")
    args = ap.parse_args(argv)
    finish_args(ap, args)
    return args


def finish_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill path defaults (relative to the repository root) and check the binaries."""
    r = lambda *p: os.path.join(ROOT, *p)  # noqa: E731
    args.workdir = os.path.abspath(args.workdir or r("build", "bench"))
    out_base = os.path.join(args.workdir, "quick") if args.quick else None
    args.out_md = args.out_md or (os.path.join(out_base, "benchmarks.md") if out_base
                                  else r("docs", "benchmarks.md"))
    args.out_json = args.out_json or (os.path.join(out_base, "latest.json") if out_base
                                      else r("bench", "results", "latest.json"))
    if args.plot is None:
        args.plot = os.path.join(out_base, "latency.png") if out_base else r("docs", "img",
                                                                             "latency.png")
    args.chunks = args.chunks or (1 if args.quick else 4)
    if args.gap_ms < 0 or args.fma_seconds <= 0:
        ap.error("--gap-ms must be >= 0 and --fma-seconds > 0")
    args.stgcn = os.path.abspath(args.stgcn or r("build", "stgcn"))
    args.stgcn_ok = os.path.isfile(args.stgcn) and os.access(args.stgcn, os.X_OK)
    if not args.stgcn_ok and not args.skip_stgcn:
        print(f"peers.py: stgcn binary not found: {args.stgcn} (build it with scripts/build.sh, "
              "pass --stgcn PATH, or use --skip-stgcn)", file=sys.stderr)
        sys.exit(2)
    args.fma = os.path.abspath(args.fma) if args.fma else r("build", "bench", "fma_peak")


def iterations_for(args, wl: Workload, batch: int) -> (int, int):
    """(iterations, warmup) for one measurement."""
    if args.quick:
        iters, warm = 2, 1
    else:
        iters, warm = (wl.iters_b1 if batch == 1 else wl.iters_big), wl.warmup
    return (args.iterations or iters), (warm if args.warmup is None else args.warmup)


# ---------------------------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------------------------


def cpuinfo() -> Dict[str, str]:
    """First processor's fields from /proc/cpuinfo."""
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break
                k, _, v = line.partition(":")
                info[k.strip()] = v.strip()
    except OSError:
        pass
    return info


def git_describe() -> Optional[str]:
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev + ("-dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch
    info = cpuinfo()
    flags = set(info.get("flags", "").split())
    name = info.get("model name") or platform.processor() or "unknown CPU"
    if "cpu family" in info:
        name += f" (family {info['cpu family']}, model {info.get('model', '?')})"
    return {
        "cpu": name,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "isa_flags": {f: f in flags for f in ("avx2", "fma", "avx512f", "avx512_bf16",
                                               "avx512_vnni", "amx_tile")},
        "kernel": platform.release(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git_describe(),
    }


def find_or_build_fma(args) -> Optional[str]:
    """The fma_peak binary: --fma, else build/bench/fma_peak, else compiled into the work dir."""
    if os.path.isfile(args.fma) and os.access(args.fma, os.X_OK):
        return args.fma
    src = os.path.join(ROOT, "bench", "fma_peak.cpp")
    out = os.path.join(args.workdir, "fma_peak_local")
    cxx = shutil.which("g++") or shutil.which("c++")
    if not cxx or not os.path.isfile(src):
        return None
    log(f"{args.fma} not found; compiling {src} -> {out}")
    res = subprocess.run([cxx, "-std=c++20", "-O2", src, "-pthread", "-o", out],
                         capture_output=True, text=True)
    return out if res.returncode == 0 else None


def fma_peak(args) -> dict:
    """{"isa", "threads", "gflops_total", "gflops_per_thread", ...} or {"error": ...}."""
    exe = find_or_build_fma(args)
    if exe is None:
        return {"error": f"fma_peak not found at {args.fma} and could not be compiled"}
    secs = 0.5 if args.quick else args.fma_seconds
    res = subprocess.run([exe, "--threads", str(args.threads), "--seconds", str(secs), "--json"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": last_line(res.stderr) or f"fma_peak exited {res.returncode}"}
    out = json.loads(res.stdout)
    out["binary"] = rel(exe)
    return out


# ---------------------------------------------------------------------------------------------
# Models and exports
# ---------------------------------------------------------------------------------------------


def build_model(wl: Workload):
    """Eval-mode two-stream reference model with random weights (BN statistics randomised)."""
    import torch
    from stgcn_ref import ckpt_tools as ct
    from stgcn_ref.graph import build_graph
    from stgcn_ref.model import SEED_STRIDES, SEED_WIDTHS, TwoStreamSTGCN
    A = build_graph(wl.layout, "spatial", 1, 1)
    model = TwoStreamSTGCN(3, wl.num_class, A, True, SEED_WIDTHS, SEED_STRIDES,
                           motion="first_difference")
    ct.randomize_(model, torch.Generator().manual_seed(wl.seed), 1.2)
    return model.eval()


def input_shape(wl: Workload, model, batch: int):
    V = int(model.origin_stream.A.shape[1])
    return (batch, 3, wl.T, V, wl.M)


def make_input(shape, seed: int):
    import numpy as np
    return (np.random.default_rng(seed).standard_normal(shape) * 0.5).astype(np.float32)


def export_torch_onnx(model, x, path: str) -> None:
    """torch.onnx.export the way users do (fixed batch, opset 13, constant folding)."""
    import warnings
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.from_numpy(x), path, opset_version=TORCH_OPSET,
                          do_constant_folding=True, input_names=["input"],
                          output_names=["output"])


def macs_formula(wl: Workload, V: int) -> int:
    """Closed-form MACs per sample (convs + graph aggregation; fallback for stgcn inspect)."""
    from stgcn_ref.model import SEED_STRIDES, SEED_WIDTHS, TEMPORAL_KERNEL
    K, total, c_in, t = 3, 0, 3, wl.T
    for i, (w, s) in enumerate(zip(SEED_WIDTHS, SEED_STRIDES)):
        t_out = (t - 1) // s + 1
        total += c_in * K * w * t * V + K * V * V * w * t + w * w * TEMPORAL_KERNEL * t_out * V
        if i > 0 and (c_in != w or s != 1):
            total += c_in * w * t_out * V
        c_in, t = w, t_out
    return 2 * (wl.M * total + c_in * wl.num_class)


# ---------------------------------------------------------------------------------------------
# stgcn subprocesses
# ---------------------------------------------------------------------------------------------


def last_line(text: str) -> str:
    """The last informative line of a tool's output (CLI11's "Run with --help" skipped)."""
    lines = [ln.strip() for ln in (text or "").splitlines()
             if ln.strip() and not ln.strip().startswith("Run with --help")]
    return lines[-1][:300] if lines else ""


def rel(path: str) -> str:
    try:
        r = os.path.relpath(path, ROOT)
        return path if r.startswith("..") else r
    except ValueError:
        return path


def run_stgcn(args, *cmd: str, timeout: float = 3600) -> (bool, str):
    """Run ``stgcn CMD...``; (ok, stdout or a one-line error)."""
    full = [args.stgcn, *cmd]
    try:
        res = subprocess.run(full, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"{' '.join(cmd[:1])}: {e}"
    if res.returncode != 0:
        msg = last_line(res.stderr) or last_line(res.stdout) or f"exit status {res.returncode}"
        return False, f"stgcn {cmd[0]} failed: {msg}"
    return True, res.stdout


def stgcn_macs(args, pt: str, wl: Workload) -> Optional[int]:
    ok, out = run_stgcn(args, "inspect", pt, "--json", "--T", str(wl.T), "--M", str(wl.M))
    if not ok:
        log(out)
        return None
    try:
        macs = json.loads(out).get("macs")
        return int(macs["value"] if isinstance(macs, dict) else macs)
    except (ValueError, KeyError, TypeError):
        log("stgcn inspect --json: no macs field")
        return None


def stgcn_export(args, pt: str, wl: Workload, batch: int, out: str) -> Optional[str]:
    """None on success, else the error."""
    ok, msg = run_stgcn(args, "export", pt, "-o", out, "--T", str(wl.T), "--M", str(wl.M),
                        "--batch", str(batch))
    return None if ok else msg


def stgcn_build(args, pt: str, wl: Workload, batch: int, out: str) -> Optional[str]:
    ok, msg = run_stgcn(args, "build", pt, "-o", out, "--T", str(wl.T), "--M", str(wl.M),
                        "--batch", str(batch))
    return None if ok else msg


def stgcn_bench(args, engine: str, batch: int, iters: int, warmup: int) -> dict:
    """One ``stgcn bench --json`` call: the whole JSON document, or {"error": ...}."""
    fd, path = tempfile.mkstemp(suffix=".json", dir=args.workdir)
    os.close(fd)
    try:
        ok, msg = run_stgcn(args, "bench", engine, "--batch", str(batch), "--threads",
                            str(args.threads), "--iterations", str(iters), "--warmup",
                            str(warmup), "--json", path)
        if not ok:
            return {"error": msg}
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if not any(r.get("batch") == batch for r in doc.get("results", [])):
            return {"error": f"stgcn bench JSON has no result for batch {batch}"}
        return doc
    except (OSError, ValueError) as e:
        return {"error": f"stgcn bench JSON unreadable: {e}"}
    finally:
        os.unlink(path)


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def stats(samples: List[float]) -> dict:
    import numpy as np
    a = np.asarray(samples, dtype=np.float64)
    pct = lambda q: float(np.percentile(a, q))  # noqa: E731
    return {"n": int(a.size), "min": float(a.min()), "p10": pct(10), "median": pct(50),
            "p90": pct(90), "p99": pct(99), "max": float(a.max()), "mean": float(a.mean()),
            "stdev": float(a.std(ddof=1)) if a.size > 1 else 0.0}


def merge_chunks(chunks: List[dict]) -> (dict, bool):
    """Merge stgcn bench results of several calls. Exact when every chunk carries
    ``samples_ms``; otherwise approximate (median / p90 / p99 = iteration-weighted means of the
    chunks', min / max exact, mean exact, stdev pooled). Returns (latency stats, exact)."""
    if all("samples_ms" in c for c in chunks):
        return stats([s for c in chunks for s in c["samples_ms"]]), True
    lat = [c["latency_ms"] for c in chunks]
    if len(lat) == 1:
        return dict(lat[0], n=chunks[0].get("iterations")), True
    ns = [max(1, int(c.get("iterations", 1))) for c in chunks]
    n = sum(ns)
    wmean = lambda k: sum(w * l[k] for w, l in zip(ns, lat)) / n  # noqa: E731
    mean = wmean("mean")
    ss = sum((w - 1) * l.get("stdev", 0.0) ** 2 + w * (l["mean"] - mean) ** 2
             for w, l in zip(ns, lat))
    out = {"n": n, "min": min(l["min"] for l in lat), "median": wmean("median"),
           "p90": wmean("p90"), "p99": max(l.get("p99", l["max"]) for l in lat),
           "max": max(l.get("max", l["p99"]) for l in lat), "mean": mean,
           "stdev": math.sqrt(ss / max(1, n - 1))}
    order = ("min", "median", "p90", "p99", "max")  # keep the approximations ordered
    for lo, hi in zip(order, order[1:]):
        out[hi] = max(out[hi], out[lo])
    return out, False


# ---------------------------------------------------------------------------------------------
# Python peers
# ---------------------------------------------------------------------------------------------


def ort_session(path: str, threads: int):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def python_peers(model, x, onnx_files: Dict[str, str], threads: int) -> Dict[str, Callable]:
    """engine key -> zero-argument callable returning the logits as numpy."""
    import torch
    torch.set_num_threads(threads)
    peers = {}
    for key, path in onnx_files.items():
        sess = ort_session(path, threads)
        feed = {sess.get_inputs()[0].name: x}
        peers[key] = lambda s=sess, f=feed: s.run(None, f)[0]
    xt = torch.from_numpy(x)

    def eager():
        with torch.inference_mode():
            return model(xt).numpy()
    peers["torch_eager"] = eager
    return peers


def timed(fn: Callable) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def run_rounds(peers: Dict[str, Callable], rounds: int, offset: int, gap_s: float,
               samples: Dict[str, List[float]]) -> None:
    """``rounds`` round-robin rounds (order rotated each round), appending to ``samples``."""
    keys = list(peers)
    for r in range(rounds):
        k = (offset + r) % len(keys)
        for key in keys[k:] + keys[:k]:
            time.sleep(gap_s)
            samples[key].append(timed(peers[key]))


def check_outputs(peers: Dict[str, Callable]) -> Dict[str, float]:
    """First run of every peer (also a warm-up): max |difference| from PyTorch eager."""
    import numpy as np
    outs = {k: fn() for k, fn in peers.items()}
    ref = outs["torch_eager"].astype(np.float64)
    return {k: float(np.abs(v.astype(np.float64) - ref).max()) for k, v in outs.items()}


def split(total: int, parts: int) -> List[int]:
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# ---------------------------------------------------------------------------------------------
# One workload
# ---------------------------------------------------------------------------------------------


def prepare_workload(args, wl: Workload, batches: List[int]) -> dict:
    """Checkpoint, ONNX exports, engine, MACs. Returns a context dict for measure()."""
    t0 = time.time()
    model = build_model(wl)
    import torch
    pt = os.path.join(args.workdir, f"{wl.name}.pt")
    torch.save(model.state_dict(), pt)
    V = input_shape(wl, model, 1)[3]
    ctx = {"model": model, "pt": pt, "V": V, "onnx": {}, "errors": {}, "engines": {}}
    ctx["macs_formula"] = macs_formula(wl, V)
    macs = stgcn_macs(args, pt, wl) if args.stgcn_ok else None
    ctx["macs"], ctx["macs_source"] = (macs, "stgcn inspect") if macs else \
        (ctx["macs_formula"], "formula")
    for b in batches:
        x = make_input(input_shape(wl, model, b), wl.seed + b)
        tp = os.path.join(args.workdir, f"{wl.name}_b{b}_torch.onnx")
        log(f"{wl.name} b{b}: torch.onnx.export -> {rel(tp)}")
        export_torch_onnx(model, x, tp)
        ctx["onnx"][("ort_torch", b)] = tp
        sp = os.path.join(args.workdir, f"{wl.name}_b{b}_stgcn.onnx")
        err = stgcn_export(args, pt, wl, b, sp) if args.stgcn_ok else "stgcn binary not found"
        if err:
            log(f"{wl.name} b{b}: {err}")
            ctx["errors"][("ort_stgcn", b)] = err
        else:
            ctx["onnx"][("ort_stgcn", b)] = sp
    if not args.skip_stgcn:
        build_engines(args, ctx, wl, batches)
    log(f"{wl.name}: prepared in {time.time() - t0:.1f} s "
        f"({2 * ctx['macs'] / 1e9:.1f} GFLOP per sample, MACs from {ctx['macs_source']})")
    return ctx


def build_engines(args, ctx: dict, wl: Workload, batches: List[int]) -> None:
    """``stgcn build``: one engine for the largest batch, or one per batch
    (--engine-per-batch). Fills ctx["engines"] (batch -> path) and ctx["errors"]."""
    groups = [[b] for b in batches] if args.engine_per_batch else [batches]
    for group in groups:
        top = max(group)
        suffix = f"_b{top}" if args.engine_per_batch else ""
        eng = os.path.join(args.workdir, f"{wl.name}{suffix}.engine")
        log(f"{wl.name}: stgcn build --batch {top} -> {rel(eng)}")
        err = stgcn_build(args, ctx["pt"], wl, top, eng)
        if err:
            log(f"{wl.name}: {err}")
        for b in group:
            if err:
                ctx["errors"][("stgcn", b)] = err
            else:
                ctx["engines"][b] = eng


def measure(args, wl: Workload, ctx: dict, batch: int) -> List[dict]:
    """All engines on one (workload, batch), interleaved. Returns result rows."""
    iters, warm = iterations_for(args, wl, batch)
    x = make_input(input_shape(wl, ctx["model"], batch), wl.seed + batch)
    files = {k: ctx["onnx"][(k, batch)] for k in ("ort_torch", "ort_stgcn")
             if (k, batch) in ctx["onnx"]}
    peers = python_peers(ctx["model"], x, files, args.threads)
    diffs = check_outputs(peers)
    for _ in range(max(0, warm - 1)):
        for fn in peers.values():
            fn()
    samples = {k: [] for k in peers}
    engine = ctx["engines"].get(batch)
    chunks, stg_err = [], None
    gap = args.gap_ms / 1e3
    done = 0
    for part in split(iters, args.chunks):
        if engine and stg_err is None:
            time.sleep(gap)
            doc = stgcn_bench(args, engine, batch, part, warm)
            stg_err = doc.get("error")
            if stg_err is None:
                chunks.append(doc)
        run_rounds(peers, part, done, gap, samples)
        done += part
        log(f"{wl.name} b{batch}: {done}/{iters} rounds")
    rows = [peer_row(wl, batch, k, samples[k], iters, warm, diffs.get(k)) for k in samples]
    rows += error_rows(ctx, wl, batch, iters, warm, samples)
    if engine:
        rows.append(stgcn_row(wl, batch, chunks, stg_err, iters, warm))
    return rows


def base_row(wl: Workload, batch: int, key: str, iters: int, warm: int) -> dict:
    return {"workload": wl.name, "batch": batch, "engine": key, "label": LABEL[key],
            "iterations": iters, "warmup": warm, "latency_ms": None, "error": None}


def peer_row(wl, batch, key, samples, iters, warm, diff) -> dict:
    row = base_row(wl, batch, key, iters, warm)
    row["latency_ms"] = stats(samples)
    row["max_abs_diff_vs_torch"] = diff
    return row


def error_rows(ctx, wl, batch, iters, warm, samples) -> List[dict]:
    rows = []
    for key in ("ort_stgcn", "stgcn"):
        if key not in samples and (key, batch) in ctx["errors"]:
            row = base_row(wl, batch, key, iters, warm)
            row["error"] = ctx["errors"][(key, batch)]
            rows.append(row)
    return rows


def stgcn_row(wl, batch, chunks, err, iters, warm) -> dict:
    row = base_row(wl, batch, "stgcn", iters, warm)
    if err or not chunks:
        row["error"] = err or "no stgcn bench result"
        return row
    res = [next(r for r in c["results"] if r.get("batch") == batch) for c in chunks]
    row["latency_ms"], row["exact_stats"] = merge_chunks(res)
    row["chunks"] = len(chunks)
    row["peak_rss_bytes"] = max((r.get("peak_rss_bytes") or 0) for r in res) or None
    row["stgcn_throughput_per_s"] = res[-1].get("throughput_per_s")
    last = chunks[-1]
    for k in ("engine_size_bytes", "load_ms", "weights_bytes", "activations_bytes", "machine",
              "version", "profile"):
        row[k] = last.get(k)
    return row


def add_rates(rows: List[dict], macs: Dict[str, int], peak: Optional[float]) -> None:
    """Throughput (samples/s from the median), GFLOP/s and % of the FMA peak, in place."""
    for r in rows:
        lat = r.get("latency_ms")
        if not lat:
            continue
        med_s = lat["median"] / 1e3
        r["throughput_per_s"] = r["batch"] / med_s
        r["gflops"] = 2 * macs[r["workload"]] * r["batch"] / med_s / 1e9
        r["pct_of_peak"] = 100 * r["gflops"] / peak if peak else None


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def fmt_ms(v: Optional[float]) -> str:
    if v is None:
        return "—"
    return f"{v:.0f}" if v >= 1000 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def find(rows, wl, batch, key) -> Optional[dict]:
    return next((r for r in rows if r["workload"] == wl and r["batch"] == batch
                 and r["engine"] == key), None)


def median_of(row) -> Optional[float]:
    return row["latency_ms"]["median"] if row and row.get("latency_ms") else None


def latency_table(rows, wls: List[str], batch: int) -> List[str]:
    """One Markdown table: engines x workloads (median ms, peer / stgcn, samples/s if batch>1)."""
    wls = [w for w in wls if any(r["workload"] == w and r["batch"] == batch for r in rows)]
    head = ["engine"]
    for w in wls:
        head += [f"{w} median (ms)", f"{w} peer / stgcn"]
        if batch > 1:
            head.append(f"{w} samples/s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label in ENGINES:
        if not any(find(rows, w, batch, key) for w in wls):
            continue
        cells = [f"**{label}**" if key == "stgcn" else label]
        for w in wls:
            r, ref = find(rows, w, batch, key), median_of(find(rows, w, batch, "stgcn"))
            med = median_of(r)
            cells.append("error" if r and r["error"] else fmt_ms(med))
            cells.append(f"{med / ref:.2f}×" if med and ref else "—")
            if batch > 1:
                cells.append(f"{r['throughput_per_s']:.1f}" if med else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def stgcn_table(rows, doc) -> List[str]:
    """stgcn engine: GFLOP/s, % of peak, memory, engine size per (workload, batch)."""
    mine = [r for r in rows if r["engine"] == "stgcn" and r.get("latency_ms")]
    if not mine:
        return []
    mib = lambda b: f"{b / 2**20:.1f}" if b else "—"  # noqa: E731
    lines = ["| workload | batch | GFLOP / sample | median (ms) | GFLOP/s | % of FMA peak | "
             "peak RSS (MiB) | engine (MiB) | load (ms) |", "|" + "---|" * 9]
    for r in mine:
        gf = 2 * doc["workloads"][r["workload"]]["macs"] / 1e9
        pct = f"{r['pct_of_peak']:.0f} %" if r.get("pct_of_peak") else "—"
        load = f"{r['load_ms']:.1f}" if r.get("load_ms") is not None else "—"
        lines.append(f"| {r['workload']} | {r['batch']} | {gf:.1f} | "
                     f"{fmt_ms(r['latency_ms']['median'])} | {r['gflops']:.0f} | {pct} | "
                     f"{mib(r.get('peak_rss_bytes'))} | {mib(r.get('engine_size_bytes'))} | "
                     f"{load} |")
    return lines


def full_table(rows) -> List[str]:
    lines = ["| workload | batch | engine | n | min | median | p90 | p99 | mean | stdev | "
             "samples/s | GFLOP/s | % peak |", "|" + "---|" * 13]
    for r in rows:
        lat = r.get("latency_ms")
        if not lat:
            lines.append(f"| {r['workload']} | {r['batch']} | {r['label']} | error: "
                         f"{r['error']} |" + " |" * 9)
            continue
        pct = f"{r['pct_of_peak']:.0f}" if r.get("pct_of_peak") else "—"
        vals = " | ".join(fmt_ms(lat.get(k)) for k in ("min", "median", "p90", "p99", "mean",
                                                          "stdev"))
        star = "" if r.get("exact_stats", True) else " ¹"
        lines.append(f"| {r['workload']} | {r['batch']} | {r['label']}{star} | {lat.get('n')} | "
                     f"{vals} | {r['throughput_per_s']:.1f} | {r['gflops']:.0f} | {pct} |")
    return lines


def machine_lines(doc) -> List[str]:
    m, fma = doc["machine"], doc["fma_peak"]
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["isa_flags"].items()
                      if k.startswith("avx512"))
    st = doc.get("stgcn_machine") or {}
    peak = (f"{fma['gflops_total']:.0f} GFLOP/s FP32 on {fma['threads']} threads "
            f"({fma['isa']}; per thread " + ", ".join(f"{g:.0f}" for g in
                                                      fma["gflops_per_thread"]) + ")"
            if "gflops_total" in fma else f"not measured ({fma.get('error')})")
    lines = [
        f"- **CPU**: {m['cpu']}; {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs; "
        f"{flags}",
        f"- **FMA peak** (`fma_peak`, register-only): {peak}",
        f"- **stgcn**: {doc.get('stgcn_version') or '—'}; oneDNN {st.get('onednn', '—')}, "
        f"ISA {st.get('isa', '—')}",
        f"- **Peers**: PyTorch {m['torch']}, ONNX Runtime {m['onnxruntime']} (CPU, "
        f"ORT_ENABLE_ALL, sequential), numpy {m['numpy']}; torch export opset {TORCH_OPSET}",
        f"- **Threads**: {doc['threads']} for every engine; date {m['date']}; commit "
        f"{m.get('git') or '—'}; Linux {m['kernel']}",
    ]
    return lines


def workload_lines(doc) -> List[str]:
    lines = []
    for name, w in doc["workloads"].items():
        lines.append(f"- **{name}** ({w['title']}): two-stream, C=3, T={w['T']}, V={w['V']} "
                     f"(`{w['layout']}`), M={w['M']}, {w['num_class']} classes — "
                     f"{2 * w['macs'] / 1e9:.1f} GFLOP per sample ({w['macs_source']})")
    return lines


def render(doc) -> str:
    rows = doc["results"]
    wls = list(doc["workloads"])
    out = ["## Results", "", *machine_lines(doc), "", *workload_lines(doc), ""]
    for b in sorted({r["batch"] for r in rows}):
        out += [f"### Batch {b}", "",
                "Median latency per call (ms); *peer / stgcn* is the peer's median over "
                "stgcn's (above 1: stgcn is faster)." + (" Samples/s from the median."
                                                         if b > 1 else ""), "",
                *latency_table(rows, wls, b), ""]
    st = stgcn_table(rows, doc)
    if st:
        out += ["### stgcn engine", "", "GFLOP/s = 2 × MACs × batch / median; % of the FMA "
                "peak above. Peak RSS and engine size from `stgcn bench --json`.", "", *st, ""]
    if doc.get("plot"):
        out += [f"![median latency]({doc['plot']})", ""]
    out += ["<details><summary>All statistics (ms)</summary>", "", *full_table(rows), ""]
    if any(not r.get("exact_stats", True) for r in rows):
        out += ["¹ merged from several `stgcn bench` calls without raw samples: median / p90 "
                "are iteration-weighted means of the calls' values.", ""]
    errs = [r for r in rows if r.get("error")]
    if errs:
        out += ["Errors:", ""] + [f"- {r['workload']} b{r['batch']} {r['label']}: {r['error']}"
                                  for r in errs] + [""]
    out += ["</details>", "", "Produced by:", "", "```", doc["command"], "```"]
    return "\n".join(out) + "\n"


INTRO = """# Benchmarks

stgcn engine against the engines users reach for: ONNX Runtime (on `torch.onnx.export`'s ONNX and
on `stgcn export`'s) and PyTorch eager, on the workloads of the project's performance notes,
measured in one run on one machine with the same thread count. Regenerate with
`bash scripts/build.sh && .venv/bin/python bench/peers.py` (see `bench/README.md`); everything
between the markers below is rewritten by that script.

"""


def write_markdown(path: str, section: str) -> None:
    """Replace the generated section, keeping hand-written text outside the markers."""
    block = f"{BEGIN}\n{section}{END}\n"
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
    if old is None:
        text = INTRO + block
    elif BEGIN in old and END in old and old.index(BEGIN) < old.index(END):
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = old.rstrip("\n") + "\n\n" + block
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def plot(doc, path: str) -> None:
    """Grouped bars: median latency per (workload, batch) and engine, min-p90 error bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in doc["results"] if r.get("latency_ms")]
    groups = sorted({(r["workload"], r["batch"]) for r in rows}, key=lambda g: (g[1], g[0]))
    keys = [k for k, _ in ENGINES if any(r["engine"] == k for r in rows)]
    width = 0.8 / max(1, len(keys))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(groups) + 2), 4.5))
    for i, key in enumerate(keys):
        xs, ys, lo, hi = [], [], [], []
        for g, (w, b) in enumerate(groups):
            r = find(rows, w, b, key)
            if r:
                lat = r["latency_ms"]
                xs.append(g + (i - (len(keys) - 1) / 2) * width)
                ys.append(lat["median"])
                lo.append(lat["median"] - lat["min"])
                hi.append(max(0.0, lat["p90"] - lat["median"]))
        bars = ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=LABEL[key],
                      color=COLORS[key])
        ax.bar_label(bars, labels=[fmt_ms(y) for y in ys], fontsize=6, padding=2)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{w}" + (f" (batch {b})" if b > 1 else "") for w, b in groups])
    ax.set_yscale("log")
    ax.set_ylabel("median latency per call (ms, log)")
    ax.set_title(f"{doc['machine']['cpu']}, {doc['threads']} threads\n"
                 "median latency, error bars min–p90", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_json(doc, paths: List[str]) -> None:
    for p in paths:
        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def command_line() -> str:
    exe = rel(sys.executable) if sys.executable else "python3"
    return " ".join([exe, rel(os.path.abspath(sys.argv[0]))] +
                    [shlex.quote(a) for a in sys.argv[1:]])


def stgcn_meta(rows) -> (Optional[str], Optional[dict]):
    r = next((r for r in rows if r["engine"] == "stgcn" and r.get("machine")), None)
    return (r.get("version"), r.get("machine")) if r else (None, None)


def run_all(args) -> dict:
    doc = {"generator": "bench/peers.py", "command": command_line(), "threads": args.threads,
           "quick": args.quick, "machine": machine_info(), "workloads": {}, "results": []}
    log(f"fma_peak --threads {args.threads}")
    doc["fma_peak"] = fma_peak(args)
    peak = doc["fma_peak"].get("gflops_total")
    for name in args.workloads:
        wl = WORKLOADS[name]
        batches = [b for b in args.batch if b == 1 or name in args.big_batch_workloads]
        if not batches:
            continue
        ctx = prepare_workload(args, wl, batches)
        doc["workloads"][name] = {**dataclasses.asdict(wl), "V": ctx["V"], "macs": ctx["macs"],
                                  "macs_source": ctx["macs_source"],
                                  "macs_formula": ctx["macs_formula"]}
        for b in batches:
            t0 = time.time()
            rows = measure(args, wl, ctx, b)
            add_rates(rows, {name: ctx["macs"]}, peak)
            doc["results"] += rows
            log(f"{name} b{b}: measured in {time.time() - t0:.1f} s: " + ", ".join(
                f"{r['engine']} {fmt_ms(median_of(r))} ms" for r in rows))
    doc["stgcn_version"], doc["stgcn_machine"] = stgcn_meta(doc["results"])
    return doc


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    t0 = time.time()
    doc = run_all(args)
    doc["elapsed_s"] = round(time.time() - t0, 1)
    md_dir = os.path.dirname(os.path.abspath(args.out_md))
    if args.plot:
        plot(doc, args.plot)
        doc["plot"] = os.path.relpath(os.path.abspath(args.plot), md_dir)
    json_next_to_md = os.path.join(md_dir, os.path.splitext(os.path.basename(args.out_md))[0]
                                   + ".json")
    write_json(doc, sorted({os.path.abspath(args.out_json), json_next_to_md}))
    write_markdown(args.out_md, render(doc))
    log(f"done in {doc['elapsed_s']:.0f} s: {rel(args.out_md)}, {rel(args.out_json)}"
        + (f", {rel(args.plot)}" if args.plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
