#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for
# FUZZ_SECONDS (default 60), seeded with the generated fixtures. A finding
# (crash, leak, sanitizer report) fails the script and leaves the reproducer
# in build-fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
FIXTURES=${STGCN_FIXTURES:-build/fixtures}
command -v clang++ >/dev/null 2>&1 || {
  echo "stgcn-rt: missing clang++: install the Debian package 'clang' (bash scripts/setup.sh)" >&2
  exit 1
}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSTGCN_FUZZ=ON -DSTGCN_BUILD_TESTS=OFF -DSTGCN_BUILD_CLI=OFF >/dev/null
cmake --build build-fuzz -j "${STGCN_JOBS:-$(nproc)}" --target fuzz_checkpoint fuzz_npy fuzz_onnx \
  fuzz_engine fuzz_sources fuzz_http
mkdir -p build-fuzz/findings build-fuzz/corpus/checkpoint build-fuzz/corpus/npy build-fuzz/corpus/onnx \
  build-fuzz/corpus/engine build-fuzz/corpus/sources build-fuzz/corpus/http
# KServe v2 request bodies (JSON and the binary extension; fuzz/fuzz_http.cpp says how the
# first byte picks the header length).
python3 fuzz/make_http_seeds.py build-fuzz/corpus/http
# Input adapters: a small valid document of each format (fuzz/make_source_seeds.py).
python3 fuzz/make_source_seeds.py build-fuzz/corpus/sources
if [ -d "$FIXTURES" ]; then
  find "$FIXTURES" -name '*.pt' -size -400k -exec cp {} build-fuzz/corpus/checkpoint/ \; 2>/dev/null || true
  find "$FIXTURES" -name '*.npy' -size -200k -exec cp {} build-fuzz/corpus/npy/ \; 2>/dev/null || true
  # ONNX: the small exports (tiny models) and the broken files; large ones make slow executions.
  find "$FIXTURES" -name '*.onnx' -size -300k -exec cp {} build-fuzz/corpus/onnx/ \; 2>/dev/null || true
  # Engine files: fuzz_engine also generates valid files itself, so an empty corpus works too.
  find "$FIXTURES" -name '*.engine' -size -2M -exec cp {} build-fuzz/corpus/engine/ \; 2>/dev/null || true
  # A real engine (small model, short window) so the loader's metadata and graph checks are reached.
  if [ -x build/stgcn ] && [ -f "$FIXTURES/cases/openpose_spatial/model.pt" ]; then
    build/stgcn build "$FIXTURES/cases/openpose_spatial/model.pt" --T 12 \
      -o build-fuzz/corpus/engine/openpose_t12.engine 2>/dev/null || true
  fi
  # An ST-GCN++ engine (max-pool, concat, dilated convs, gcn residual) for the same reason.
  if [ -x build/stgcn ] && [ -f "$FIXTURES/mm/cases/stgcnpp_coco2d_mmengine/model.pt" ]; then
    build/stgcn build "$FIXTURES/mm/cases/stgcnpp_coco2d_mmengine/model.pt" --T 12 --M 2 \
      -o build-fuzz/corpus/engine/stgcnpp_t12.engine 2>/dev/null || true
  fi
fi
cp models/demo/*.npy build-fuzz/corpus/npy/ 2>/dev/null || true
for target in checkpoint npy onnx engine sources http; do
  max_len=1048576
  if [ "$target" = engine ]; then max_len=2097152; fi  # engine seeds go up to 2 MB
  echo "[fuzz] fuzz_$target for ${SECONDS_EACH}s"
  ./build-fuzz/fuzz_$target -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=20 \
    -max_len="$max_len" -artifact_prefix=build-fuzz/findings/ -print_final_stats=1 \
    build-fuzz/corpus/$target 2>build-fuzz/fuzz_$target.log || {
      tail -40 build-fuzz/fuzz_$target.log
      echo "[fuzz] fuzz_$target found a problem; reproducer in build-fuzz/findings/" >&2
      exit 1
    }
  grep -E "stat::number_of_executed_units|Done" build-fuzz/fuzz_$target.log | tr '\n' ' '; echo
done
echo "[fuzz] no finding"
