// libFuzzer target: the checkpoint reader (zip, legacy format, unpickler) and the model
// loaders behind it (original ST-GCN and mmaction2 / pyskl trees) must reject any byte string
// cleanly: no crash, leak, UB or unbounded allocation.
// Seed it with real checkpoints (zip and legacy), e.g. the fixtures' formats/*.pt and mm/cases.
#include <cstddef>
#include <cstdint>
#include <span>

#include "stgcn/checkpoint.h"
#include "stgcn/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = stgcn::read_checkpoint_bytes(std::span<const uint8_t>(data, size), "fuzz.pt");
  if (r.is_ok()) {
    if (r->empty()) __builtin_trap();  // success means at least one tensor
    for (const auto& [name, t] : *r)
      if (static_cast<int64_t>(t.data.size()) != t.numel()) __builtin_trap();
    // Whatever the tensors say, the model loaders answer with a model or a status.
    auto m = stgcn::model_from_state_dict(*r, stgcn::LoadOptions{}, "fuzz.pt");
    if (m.is_ok() && (m->spec.streams.empty() || m->spec.streams.size() != m->streams.size()))
      __builtin_trap();
  } else if (r.status().message().rfind("cannot load 'fuzz.pt': ", 0) != 0) {
    __builtin_trap();  // every message names the file
  }
  return 0;
}
