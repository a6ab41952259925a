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
  STGCN_BUILD_DIR=build-asan bash scripts/build.sh -DSTGCN_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTGCN_FIXTURES_DIR="$PWD/build/fixtures"
  # redzone=256: oneDNN 2.6 (uninstrumented) reads past the end of a small buffer while it
  # JIT-generates an AMX int8 conv kernel; with ASan's default 16-byte redzones that buffer can
  # end a mapped region and the read faults (NOTES.md, "ASan and oneDNN"). Wider redzones keep
  # the read in mapped memory and make ASan's own checks of our code stricter, not weaker.
  (cd build-asan && ASAN_OPTIONS=redzone=256 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     ctest --output-on-failure -j "$JOBS" --timeout 1200)
fi
if [ "${FUZZ_SECONDS:-60}" != "0" ]; then
  bash scripts/fuzz.sh
fi
echo "[test] all green in $(( $(date +%s) - start )) s"
