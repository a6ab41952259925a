#!/usr/bin/env bash
# The package as a user gets it: `pip wheel .` from the source tree (scikit-build-core, the
# project venv's nanobind / scikit-build-core, no network), installed into a fresh venv, imported
# from outside the tree and run on the demo model. ctest: PythonPackage.WheelInstallsIntoAFreshVenv.
#   wheel_test.sh SOURCE_DIR WORK_DIR PROJECT_PYTHON
set -euo pipefail
src=$1 work=$2 py=$3
rm -rf "$work/dist" "$work/venv"
mkdir -p "$work"
# The build directory is kept between runs (incremental); a fresh clone compiles once.
"$py" -m pip wheel --no-build-isolation --no-deps -q -w "$work/dist" \
  --config-settings=build-dir="$work/build" "$src"
wheel=$(ls "$work"/dist/stgcn_rt-*.whl)
echo "[wheel] built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"
# A fresh venv: Debian's python with its numpy, nothing of the project venv.
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install -q --no-deps --no-index "$wheel"
cd "$work"
"$work/venv/bin/python" - "$src" <<'PY'
import os, sys
import numpy as np
import stgcn
src = sys.argv[1]
assert stgcn.__file__.startswith(sys.prefix), stgcn.__file__  # the installed copy, not the tree
assert os.path.exists(os.path.join(os.path.dirname(stgcn.__file__), "_stgcn.pyi"))
m = stgcn.load(os.path.join(src, "models/demo/stgcn_demo.pt"))
x = np.load(os.path.join(src, "models/demo/sample_input.npy")).astype(np.float32)
want = np.load(os.path.join(src, "models/demo/sample_logits.npy"))
y = m.build("fp32", T=150, M=1, batch=2).run(x)
err = float(np.abs(y - want).max())
assert err <= 1e-4 * max(1.0, float(np.abs(want).max())), err
print(f"[wheel] import stgcn {stgcn.__version__} from {os.path.dirname(stgcn.__file__)}: "
      f"demo logits within {err:.2g} of PyTorch")
PY
