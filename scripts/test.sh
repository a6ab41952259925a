#!/usr/bin/env bash
# Builds stgcn-rt (the build also generates the PyTorch fixtures with
# python/gen_fixtures.py) and runs the whole test suite:
#   1. CTest on the Release build;
#   2. CTest again on an AddressSanitizer + UBSan build (SANITIZE=0 skips);
#   3. each libFuzzer target for FUZZ_SECONDS (default 60; 0 skips).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
JOBS=${STGCN_JOBS:-$(nproc)}
bash scripts/build.sh
(cd build && ctest --output-on-failure -j "$JOBS" --timeout 1200)
if [ "${SANITIZE:-1}" != "0" ]; then
  echo "[test] sanitizer build (address, undefined)"
  STGCN_BUILD_DIR=build-asan bash scripts/build.sh -DSTGCN_SANITIZE=ON -DSTGCN_PYTHON_PACKAGE=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTGCN_FIXTURES_DIR="$PWD/build/fixtures"
  # ONEDNN_MAX_CPU_ISA: oneDNN 2.6 (uninstrumented) reads past the end of a small heap block
  # while it JIT-generates AMX int8 conv kernels; where ASan's allocator puts that block at the
  # end of a mapped region the read faults (NOTES.md, "ASan and oneDNN"). The sanitizer run
  # keeps oneDNN below AMX; the Release run above covers the AMX kernels.
  (cd build-asan && ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 \
     UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     ctest --output-on-failure -j "$JOBS" --timeout 1200)
fi
if [ "${FUZZ_SECONDS:-60}" != "0" ]; then
  bash scripts/fuzz.sh
fi
echo "[test] all green in $(( $(date +%s) - start )) s"
