#!/usr/bin/env bash
# Configures and builds stgcn-rt (Release) into build/. Extra arguments are
# passed to CMake's configure step, e.g. -DSTGCN_SANITIZE=ON. STGCN_TARGET
# builds one target only (e.g. stgcn_cli); the default target also generates
# the PyTorch test fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${STGCN_BUILD_DIR:-build}
JOBS=${STGCN_JOBS:-$(nproc)}
for tool in cmake:cmake ninja:ninja-build c++:build-essential; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || {
    echo "stgcn-rt: missing ${tool%%:*}: install the Debian package '${tool#*:}' (bash scripts/setup.sh)" >&2
    exit 1
  }
done
generator=()
if [ ! -f "$BUILD_DIR/Makefile" ]; then generator=(-G Ninja); fi
# A missing dependency is one line naming its Debian package (cmake/StgcnDependencies.cmake),
# not CMake's error block.
cfg_err=$(mktemp)
# The Python package's extension (python/bindings) is part of the build; a caller may turn it
# off (-DSTGCN_PYTHON_PACKAGE=OFF: the sanitizer build, whose .so a plain python cannot load).
if ! cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
     -DSTGCN_PYTHON_PACKAGE=ON "$@" >/dev/null 2>"$cfg_err"; then
  if grep -q '^stgcn-rt: missing' "$cfg_err"; then grep '^stgcn-rt: missing' "$cfg_err" | head -1 >&2
  else cat "$cfg_err" >&2; fi
  rm -f "$cfg_err"
  exit 1
fi
cat "$cfg_err" >&2
rm -f "$cfg_err"
cmake --build "$BUILD_DIR" -j "$JOBS" ${STGCN_TARGET:+--target "$STGCN_TARGET"}
echo "[build] done: $BUILD_DIR/stgcn"
