// The memory plan: where every activation lives in a context's arena. Values
// of one stream reuse each other's bytes by lifetime (first fit over the
// stream's node order); the streams get disjoint regions because they run
// concurrently; values read by a later stage (the join) are kept per sample.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/ir.h"

namespace stgcn::passes {

inline constexpr int64_t kArenaAlignment = 64;

struct MemoryPlan {
  std::vector<int64_t>
      offset;  // per value: byte offset in the arena; -1 for the graph input/output
  std::vector<bool> per_sample;  // per value: one copy per batch item (offset + n * bytes)
  int64_t arena_bytes = 0;
  int64_t naive_bytes = 0;  // what one buffer per value would take (for reporting)
};

// `max_batch` sizes the per-sample values. Elementwise ops and the temporal
// conv's residual write in place when their input dies there.
MemoryPlan plan_memory(const ir::Graph& g, int max_batch);

// True when node `n` may write its output over input `i` (same size, and the
// kernel supports aliasing).
bool may_alias(const ir::Node& n, size_t i);

}  // namespace stgcn::passes
