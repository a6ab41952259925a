#!/usr/bin/env python3
"""Run ONNX models with ONNX Runtime (CPU, all graph optimisations) on .npy inputs.

    ort_run.py MODEL.onnx INPUT.npy OUTPUT.npy [--threads 1]
    ort_run.py --batch JOBS.json [--threads 1]

JOBS.json is a list of {"model": path, "input": path, "output": path}; every job
runs in this one process (the C++ tests batch their runs to pay Python's start-up
once). The model's first input is fed; its first output is written as float32.
Exit status 1 (with a one-line message naming the job) when any job fails.
"""
import argparse
import json
import sys

import numpy as np
import onnxruntime as ort


def run_one(model, input_path, output_path, threads):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    # float16 graph inputs (stgcn export --io-fp16) get the samples as float16
    x = np.load(input_path).astype(np.float16 if inp.type == "tensor(float16)" else np.float32)
    y = sess.run(None, {inp.name: x})[0]
    np.save(output_path, np.ascontiguousarray(y, dtype=np.float32))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?")
    ap.add_argument("input", nargs="?")
    ap.add_argument("output", nargs="?")
    ap.add_argument("--batch", help="JSON list of {model, input, output} jobs")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    args = ap.parse_args()
    if args.batch:
        if args.model:
            ap.error("--batch takes no positional arguments")
        with open(args.batch) as f:
            jobs = json.load(f)
    elif args.model and args.input and args.output:
        jobs = [{"model": args.model, "input": args.input, "output": args.output}]
    else:
        ap.error("give MODEL INPUT OUTPUT, or --batch JOBS.json")
    for job in jobs:
        try:
            run_one(job["model"], job["input"], job["output"], args.threads)
        except Exception as e:  # one line naming the job, then fail
            msg = str(e).replace("\n", " ")
            print(f"ort_run.py: {job.get('model')}: {type(e).__name__}: {msg}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
