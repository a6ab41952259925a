#!/usr/bin/env bash
# Builds stgcn-rt, then runs the main job on the bundled demo model:
# describe it, compile it into an engine for this CPU, classify the bundled
# sample skeletons with the engine, compare the logits with the ones PyTorch
# computed when the demo was made, and time the engine.
set -euo pipefail
cd "$(dirname "$0")/.."
STGCN_TARGET=stgcn_cli bash scripts/build.sh
DEMO=models/demo
./build/stgcn inspect "$DEMO/stgcn_demo.pt"
./build/stgcn build "$DEMO/stgcn_demo.pt" -o build/demo.engine --T 150 --M 1 --batch 2
./build/stgcn inspect build/demo.engine
./build/stgcn infer build/demo.engine --input "$DEMO/sample_input.npy" --output build/demo_logits.npy
.venv/bin/python - <<'PY'
import numpy as np
got = np.load("build/demo_logits.npy")
want = np.load("models/demo/sample_logits.npy")
err = float(np.abs(got - want).max())
print("logits:\n", got)
print("predicted class per sample:", got.argmax(1).tolist())
print(f"max |stgcn - PyTorch| = {err:.2e}")
assert err <= 1e-4 * max(1.0, float(np.abs(want).max())), "demo logits differ from PyTorch"
PY
./build/stgcn bench build/demo.engine --batch 1,2 --iterations 20
