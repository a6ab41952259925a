#!/usr/bin/env bash
# Installs everything stgcn-rt needs on a fresh Debian 12 machine:
#   - build dependencies from Debian packages (apt-get),
#   - a Python venv (.venv) made from Debian's /usr/bin/python3 with
#     --system-site-packages, so Debian's python3-torch / python3-onnx /
#     python3-numpy are visible, plus python/requirements.txt from PyPI
#     (onnxruntime, openvino, tritonclient); used only for test oracles and peer benchmarks.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every package here is needed by the build or the tests (removing one makes the build or a
# test stop with a line naming it; cmake/StgcnDependencies.cmake, python/ensure_fixtures.py,
# scripts/build.sh and scripts/fuzz.sh do the checking).
PACKAGES=(
  build-essential cmake ninja-build pkg-config   # compiler, libgomp, build tools
  libzip-dev                                     # torch.save zip archives
  libonnx-dev libprotobuf-dev                    # ONNX export/import
  libssl-dev                                     # SHA-256 of engine files and exports
  nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev                      # GTest's CMake config also needs libgmock.a
  libdnnl-dev ocl-icd-opencl-dev                 # oneDNN; its CMake config requires OpenCL
  clang libomp-dev libclang-rt-14-dev            # the libFuzzer build (scripts/fuzz.sh)
  python3 python3-venv python3-numpy python3-torch python3-onnx   # fixtures, oracles
  python3-dev                                    # the Python extension (python/bindings)
  python3-matplotlib                             # skeleton_data.preview and bench plots
  python3-yaml                                   # the deploy/ manifest tests
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc   # stgcn serve: gRPC (src/serve)
  libcpp-httplib-dev                             # stgcn serve: HTTP/1.1
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[setup] Debian packages already installed"
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating Python venv .venv (system site packages)"
  /usr/bin/python3 -m venv --system-site-packages .venv || {
    echo "[setup] error: cannot create the venv: install the Debian package python3-venv" >&2
    rm -rf .venv
    exit 1
  }
fi
# Everything python/requirements.txt asks for (onnxruntime; ml_dtypes and onnx >= 1.16 for
# onnxruntime.quantization; openvino and tritonclient's model-config schema for the TensorRT
# exports, and its HTTP and gRPC clients for the stgcn serve tests; nanobind, scikit-build-core
# and pytest for the Python package): installed again when
# any piece is missing or too old.
if ! .venv/bin/python -c "
import onnxruntime, ml_dtypes, onnx, openvino, nanobind, scikit_build_core, pytest
assert tuple(int(x) for x in onnx.__version__.split('.')[:2]) >= (1, 16)
from onnxruntime.quantization import quantize_static
from tritonclient.grpc import model_config_pb2
import tritonclient.http, yaml" 2>/dev/null; then
  echo "[setup] installing Python packages from python/requirements.txt into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -r python/requirements.txt
fi
.venv/bin/python -c "import torch, numpy, onnx, onnxruntime" || {
  echo "[setup] error: the venv cannot import torch/numpy/onnx/onnxruntime" >&2
  exit 1
}
echo "[setup] done"
