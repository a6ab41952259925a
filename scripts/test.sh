#!/usr/bin/env bash
# Builds stgcn-rt (the build also generates the PyTorch fixtures with
# python/gen_fixtures.py) and runs the whole test suite: CTest, then each libFuzzer
# target for a bounded time (FUZZ_SECONDS, default 60; 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/build.sh
(cd build && ctest --output-on-failure -j "${STGCN_JOBS:-$(nproc)}" --timeout 1200)
if [ "${FUZZ_SECONDS:-60}" != "0" ]; then
  bash scripts/fuzz.sh
fi
echo "[test] all green in $(( $(date +%s) - start )) s"
