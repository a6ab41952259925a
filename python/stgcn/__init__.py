"""stgcn-rt: fast, validated inference for ST-GCN-family skeleton action recognition.

numpy in, numpy out; every call runs the C++ core (the ``_stgcn`` extension), with the GIL
released while it computes. See docs/python.md.

    import stgcn
    model = stgcn.load("models/demo/stgcn_demo.pt")
    engine = model.build("int8", T=150, M=1, calib=calib_samples)   # or "fp32" / "bf16"
    logits = engine.run(samples)                                     # (N, num_class) float32
    ctx = engine.context(threads=1)                                  # one per Python thread
    rt = stgcn.StreamRuntime(engine, mode="window", on_event=print)  # live pose streams

Errors from the core arrive as :class:`StgcnError` (and subclasses that are also ``ValueError``,
``FileNotFoundError`` or ``OSError``) with the core's one-line message.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any, Dict, Optional, Union

from ._stgcn import (  # noqa: F401  (the public API)
    Context,
    CorruptFileError,
    Engine,
    InvalidArgumentError,
    IoError,
    Model,
    NotFoundError,
    Source,
    StgcnError,
    StreamRuntime,
    UnsafeFileError,
    UnsupportedError,
    __version__,
    load,
    machine,
    open_source,
)

from . import sources  # noqa: E402  (stgcn.sources.open)

__all__ = [
    "Context", "CorruptFileError", "Engine", "InvalidArgumentError", "IoError", "Model",
    "NotFoundError", "Source", "StgcnError", "StreamRuntime", "UnsafeFileError",
    "UnsupportedError", "__version__", "bench", "load", "machine", "open_source", "sources",
    "validate",
]


def _events(self: StreamRuntime, wait: bool = True):
    """Iterates the queued events (dicts, oldest first); with ``wait`` after drain(), so every
    frame pushed so far has been classified. Runtimes made with ``on_event`` have none queued."""
    if wait:
        self.drain()
    yield from self.poll()


StreamRuntime.events = _events


if TYPE_CHECKING:  # numpy is imported where it is used: the stub generator imports this
    import numpy as np  # package in the wheel's build environment, which has no numpy


def _logits(obj: Any, x: np.ndarray, T: Optional[int], M: Optional[int]) -> np.ndarray:
    if isinstance(obj, Engine):
        return obj.run(x)
    if isinstance(obj, Model):
        layout_nmtvc = obj.spec["input_layout"] == "nmtvc"
        t = x.shape[2]
        m = x.shape[1] if layout_nmtvc else x.shape[4]
        return obj.build("fp32", T=T or t, M=M or m, batch=min(len(x), 16)).run(x)
    raise TypeError(f"expected an stgcn.Engine or stgcn.Model, got {type(obj).__name__}")


def validate(candidate: Union[Engine, Model, np.ndarray], reference: Union[Model, Engine],
             data: np.ndarray, labels: Optional[np.ndarray] = None,
             tolerance: Optional[float] = None, min_agreement: Optional[float] = None) -> Dict:
    """Compares a candidate's logits with a reference's on ``data`` (what ``stgcn validate``
    does): max / mean |diff|, cosine (mean, worst), top-1 agreement and, with ``labels``,
    accuracy and its drop. ``candidate``: an Engine, a Model (an FP32 engine is built for the
    data) or saved logits (N, classes). ``reference``: a Model (run by the reference executor)
    or an Engine. ``pass`` is False when ``tolerance`` or ``min_agreement`` fails."""
    import numpy as np
    x = np.asarray(data)
    if isinstance(candidate, np.ndarray):
        a = np.asarray(candidate, dtype=np.float32)
    else:
        a = _logits(candidate, x, None, None)
    b = reference.run_reference(x) if isinstance(reference, Model) else _logits(reference, x, None, None)
    if a.shape != b.shape:
        raise InvalidArgumentError(f"the candidate gives logits {a.shape} and the reference {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise InvalidArgumentError("non-finite logits: validation fails")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = np.abs(a64 - b64)
    na, nb_ = np.linalg.norm(a64, axis=1), np.linalg.norm(b64, axis=1)
    cos = np.where((na > 0) & (nb_ > 0), (a64 * b64).sum(1) / np.maximum(na * nb_, 1e-300),
                   np.where(na == nb_, 1.0, 0.0))
    pa, pb = a.argmax(1), b.argmax(1)
    r: Dict[str, Any] = {
        "samples": int(len(a)), "classes": int(a.shape[1]),
        "max_abs_error": float(diff.max()), "mean_abs_error": float(diff.mean()),
        "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
        "top1_agreement": float((pa == pb).mean() * 100),
    }
    if labels is not None:
        y = np.asarray(labels).astype(np.int64).reshape(-1)
        if len(y) != len(a):
            raise InvalidArgumentError(f"labels hold {len(y)} values for {len(a)} samples")
        r["accuracy"] = float((pa == y).mean() * 100)
        r["reference_accuracy"] = float((pb == y).mean() * 100)
        r["accuracy_drop"] = r["reference_accuracy"] - r["accuracy"]
    failures = []
    if tolerance is not None and r["max_abs_error"] > tolerance:
        failures.append(f"max |diff| {r['max_abs_error']:.4g} > tolerance {tolerance}")
    if min_agreement is not None and r["top1_agreement"] < min_agreement:
        failures.append(f"top-1 agreement {r['top1_agreement']:.2f} % < min_agreement {min_agreement}")
    r["failures"] = failures
    r["pass"] = not failures
    return r


def bench(engine: Engine, batch: int = 1, iterations: int = 20, warmup: int = 3,
          threads: int = 0, x: Optional[np.ndarray] = None) -> Dict:
    """Times ``Context.run`` (a context with ``threads``) on a batch of ``batch`` samples
    (``x``, or random ones of the engine's input shape): latency min / median / p90 / p99 in
    ms and throughput in samples/s, as ``stgcn bench`` reports them."""
    import numpy as np
    info = engine.info
    if x is None:
        rng = np.random.default_rng(0)
        x = rng.standard_normal([batch] + list(info["input_shape"])).astype(np.float32)
    ctx = engine.context(threads)
    out = np.empty((len(x), info["spec"]["num_class"]), np.float32)
    for _ in range(max(0, warmup)):
        ctx.run(x, out)
    times = []
    for _ in range(max(1, iterations)):
        t0 = time.perf_counter()
        ctx.run(x, out)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(round(p / 100 * (len(times) - 1))))]

    med = statistics.median(times)
    return {"batch": int(len(x)), "threads": ctx.threads, "iterations": len(times),
            "min_ms": times[0], "median_ms": med, "p90_ms": pct(90), "p99_ms": pct(99),
            "samples_per_s": len(x) / (med / 1e3)}
