// Native reader of PyTorch checkpoints (torch.save), no libtorch.
//
// Accepts: zip archives (torch >= 1.6) and the legacy non-zip serializer;
// a plain state_dict; {"model"|"state_dict"|"model_state_dict"|"net": sd, ...};
// "module." prefixes (stripped); a whole pickled nn.Module (torch.save(model)),
// whose _parameters/_buffers/_modules are walked into dotted names;
// float32/float16/bfloat16/float64 and integer tensors (converted to float32);
// non-contiguous (strided) views and storages shared between tensors.
//
// The pickle is interpreted, never executed: only tensor, storage,
// OrderedDict and plain-collection constructors are honoured. Classes
// reconstructed by NEWOBJ become inert objects; a call (REDUCE/INST/OBJ) of
// any global outside the whitelist is refused with ErrorCode::kUnsafe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "stgcn/status.h"
#include "stgcn/tensor.h"

namespace stgcn {

// Reads the checkpoint at `path` into an ordered state dict.
Result<StateDict> read_checkpoint(const std::string& path);

// Same, from bytes in memory; `name` is used in messages (fuzzing, tests).
Result<StateDict> read_checkpoint_bytes(std::span<const uint8_t> bytes, std::string_view name);

}  // namespace stgcn
