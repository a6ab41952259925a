#!/usr/bin/env bash
# Builds stgcn-rt, then runs the main job on the bundled trained demo model
# (models/trained: the seed architecture trained on the procedural action
# dataset; docs/model_card.md): describe it, compile it into an FP32 and an
# INT8 engine for this CPU (INT8 from the bundled calibration table), classify
# the 16 bundled test sequences with both, check the FP32 logits against the
# ones PyTorch computed, validate INT8 against the checkpoint, and time both.
# Then the real-time runtime: four recorded camera streams from the dataset
# generator (one malformed line each), played through `stgcn run` in window
# and in continual mode (the causal model's live answers too); each stream's
# label is checked against the truth.
set -euo pipefail
cd "$(dirname "$0")/.."
STGCN_TARGET=stgcn_cli bash scripts/build.sh
DEMO=models/trained
./build/stgcn inspect "$DEMO/stgcn_seed_actions.pt"
./build/stgcn build "$DEMO/stgcn_seed_actions.pt" -o build/demo.engine --batch 16
./build/stgcn build "$DEMO/stgcn_seed_actions.pt" -o build/demo_int8.engine --batch 16 \
  --precision int8 --calib-table "$DEMO/calib_entropy.txt"
./build/stgcn inspect build/demo_int8.engine | head -14
./build/stgcn infer build/demo.engine --input "$DEMO/test_input.npy" --output build/demo_logits.npy
./build/stgcn infer build/demo_int8.engine --input "$DEMO/test_input.npy" \
  --output build/demo_logits_int8.npy
.venv/bin/python - <<'PY'
import json
import numpy as np
classes = json.load(open("models/trained/classes.json"))["classes"]
labels = np.load("models/trained/test_labels.npy")
fp32 = np.load("build/demo_logits.npy")
int8 = np.load("build/demo_logits_int8.npy")
want = np.load("models/trained/test_logits.npy")
print(f"{'#':>2}  {'true label':12} {'fp32 engine':12} {'int8 engine':12}")
for i, y in enumerate(labels):
    a, b = int(fp32[i].argmax()), int(int8[i].argmax())
    mark = "" if a == y and b == y else "   <- wrong"
    print(f"{i:2}  {classes[y]:12} {classes[a]:12} {classes[b]:12}{mark}")
acc32 = float((fp32.argmax(1) == labels).mean())
acc8 = float((int8.argmax(1) == labels).mean())
err = float(np.abs(fp32 - want).max())
print(f"accuracy on the bundled test sequences: fp32 {acc32:.1%}, int8 {acc8:.1%}")
print(f"max |stgcn fp32 - PyTorch| = {err:.2e}")
assert err <= 1e-4 * max(1.0, float(np.abs(want).max())), "demo logits differ from PyTorch"
assert acc32 >= 0.9 and acc8 >= 0.9, "the demo model misclassified the bundled sequences"
PY
./build/stgcn validate build/demo_int8.engine --reference "$DEMO/stgcn_seed_actions.pt" \
  --data "$DEMO/test_input.npy" --labels "$DEMO/test_labels.npy"
./build/stgcn bench build/demo.engine --batch 1,16 --iterations 10
./build/stgcn bench build/demo_int8.engine --batch 1,16 --iterations 10

echo "== real-time runtime: 4 recorded camera streams (docs/runtime.md)"
rm -rf build/demo_streams
.venv/bin/python python/make_streams.py build/demo_streams --malformed 1 >/dev/null
sources=$(for f in build/demo_streams/cam*.jsonl; do printf -- '--source %s ' "$f"; done)
# shellcheck disable=SC2086
./build/stgcn run "$DEMO/stgcn_seed_actions.pt" $sources --hop 30 --out build/demo_events.jsonl
# shellcheck disable=SC2086
./build/stgcn run "$DEMO/stgcn_seed_actions.pt" $sources --mode continual --stats-interval 0 \
  --out build/demo_events_continual.jsonl
# The causal model (models/trained/causal; its classes.json says causal): live
# continual answers without the centre-padded model's 76-frame delay.
# shellcheck disable=SC2086
./build/stgcn run "$DEMO/causal/stgcn_seed_actions_causal.pt" $sources --mode continual \
  --stats-interval 0 --out build/demo_events_causal.jsonl
.venv/bin/python - <<'PY'
import json
truth = {s["stream"]: s["segments"][0]["class"]
         for s in json.load(open("build/demo_streams/truth.json"))["streams"]}
for name, path, live in (("window", "build/demo_events.jsonl", False),
                         ("continual (final, flushed)", "build/demo_events_continual.jsonl", False),
                         ("continual, causal model (live)", "build/demo_events_causal.jsonl", True)):
    last = {}
    for line in open(path):
        e = json.loads(line)
        if live and e["final"]:
            continue
        last[e["stream"]] = e["class"]
    right = sum(last.get(s) == c for s, c in truth.items())
    print(f"{name}: {right}/{len(truth)} streams labelled right")
    assert right == len(truth), (name, last, truth)
PY
