#!/usr/bin/env python3
"""Check a Triton model repository written by `stgcn export --triton-repo DIR`.

    check_triton_repo.py DIR     one JSON summary per model; exit 1 on a problem

For every model directory: ``config.pbtxt`` parses with Triton's model-config schema
(``tritonclient.grpc.model_config_pb2.ModelConfig``, strict text format), ``1/model.onnx``
exists, its input / output names, types and shapes are the config's (plus the batch axis), and
ONNX Runtime runs it at batch 1 and at ``max_batch_size`` with outputs of the config's shape.
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

NUMPY = {mc.TYPE_FP32: np.float32, mc.TYPE_FP16: np.float16}
ORT_TYPES = {mc.TYPE_FP32: "tensor(float)", mc.TYPE_FP16: "tensor(float16)"}


def check_model(model_dir):
    problems = []
    with open(os.path.join(model_dir, "config.pbtxt"), encoding="utf-8") as f:
        cfg = text_format.Parse(f.read(), mc.ModelConfig())
    summary = {"name": cfg.name, "backend": cfg.backend, "max_batch_size": cfg.max_batch_size,
               "inputs": [list(i.dims) for i in cfg.input],
               "outputs": [list(o.dims) for o in cfg.output],
               "dynamic_batching": cfg.HasField("dynamic_batching"),
               "instances": sum(g.count for g in cfg.instance_group)}
    if cfg.name != os.path.basename(model_dir):
        problems.append(f"config name '{cfg.name}' is not the directory's")
    onnx_path = os.path.join(model_dir, "1", "model.onnx")
    if not os.path.exists(onnx_path):
        return summary, problems + ["no 1/model.onnx"]
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    for decl, got in ((cfg.input, sess.get_inputs()), (cfg.output, sess.get_outputs())):
        if [d.name for d in decl] != [g.name for g in got]:
            problems.append(f"names {[d.name for d in decl]} != ONNX {[g.name for g in got]}")
            continue
        for d, g in zip(decl, got):
            if ORT_TYPES.get(d.data_type) != g.type:
                problems.append(f"'{d.name}': config type {d.data_type}, ONNX {g.type}")
            if list(g.shape[1:]) != list(d.dims) or isinstance(g.shape[0], int):
                problems.append(f"'{d.name}': ONNX shape {g.shape}, config [batch] + {list(d.dims)}")
    if not problems:
        inp, out = cfg.input[0], cfg.output[0]
        for n in sorted({1, cfg.max_batch_size}):
            x = np.random.default_rng(n).standard_normal([n] + list(inp.dims)).astype(
                NUMPY[inp.data_type])
            y = sess.run(None, {inp.name: x})[0]
            if list(y.shape) != [n] + list(out.dims) or not np.all(np.isfinite(y)):
                problems.append(f"batch {n}: output {y.shape}, expected {[n] + list(out.dims)}")
    return summary, problems


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    repo = sys.argv[1]
    failed = False
    models = sorted(d for d in os.listdir(repo) if os.path.isfile(os.path.join(repo, d, "config.pbtxt")))
    if not models:
        print(f"no model directories with config.pbtxt in '{repo}'", file=sys.stderr)
        return 1
    for d in models:
        try:
            summary, problems = check_model(os.path.join(repo, d))
        except Exception as e:  # noqa: BLE001 - a parse or runtime failure is the finding
            summary, problems = {"name": d}, [f"{type(e).__name__}: {str(e).splitlines()[0]}"]
        summary["problems"] = problems
        print(json.dumps(summary))
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
