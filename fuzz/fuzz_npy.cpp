// libFuzzer target: the .npy reader must reject any byte string cleanly.
#include <cstddef>
#include <cstdint>

#include "stgcn/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = stgcn::read_npy_bytes(std::span<const uint8_t>(data, size), "fuzz.npy");
  if (t.is_ok() && static_cast<int64_t>(t->data.size()) != t->numel()) __builtin_trap();
  return 0;
}
