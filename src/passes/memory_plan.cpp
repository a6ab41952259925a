#include "passes/memory_plan.h"

#include <algorithm>
#include <map>

namespace stgcn::passes {
using namespace stgcn::ir;

namespace {
int64_t align(int64_t x) { return (x + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

// First-fit allocator over one region.
struct Region {
  std::map<int64_t, int64_t> free_blocks;  // offset -> size
  int64_t top = 0;
  int64_t alloc(int64_t size) {
    for (auto it = free_blocks.begin(); it != free_blocks.end(); ++it) {
      if (it->second < size) continue;
      int64_t off = it->first, rest = it->second - size;
      free_blocks.erase(it);
      if (rest > 0) free_blocks[off + size] = rest;
      return off;
    }
    int64_t off = top;
    top += size;
    return off;
  }
  void release(int64_t off, int64_t size) {
    auto it = free_blocks.emplace(off, size).first;
    auto next = std::next(it);
    if (next != free_blocks.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free_blocks.erase(next);
    }
    if (it != free_blocks.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_blocks.erase(it);
      }
    }
  }
};
}  // namespace

bool may_alias(const Node& n, size_t i) {
  switch (n.op) {
    case Op::kRelu:
    case Op::kBatchNorm: return i == 0;
    case Op::kAdd: return i == 0 || i == 1;
    case Op::kTemporalConv:  // the residual: the conv accumulates onto it
    case Op::kAggregate: return i == 1;
    case Op::kInput:
    case Op::kMotion:
    case Op::kDataBn:
    case Op::kGcnConv:
    case Op::kResidualConv:
    case Op::kGlobalPool:
    case Op::kPersonMean:
    case Op::kFcn:
    case Op::kConvert:
    case Op::kMaxPool:
    case Op::kConcat:
    case Op::kHead: return false;
  }
  return false;
}

MemoryPlan plan_memory(const Graph& g, int max_batch) {
  const size_t nv = g.values.size();
  MemoryPlan plan;
  plan.offset.assign(nv, -1);
  plan.per_sample.assign(nv, false);
  std::vector<int64_t> bytes(nv);
  for (size_t v = 0; v < nv; ++v) bytes[v] = align(g.values[v].bytes());
  std::vector<int> producer(nv, -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) producer[g.nodes[i].output] = static_cast<int>(i);
  // A value read outside its producer's branch is kept per sample.
  for (const Node& n : g.nodes)
    for (ValueId v : n.inputs)
      if (v != g.input && producer[v] >= 0 && g.nodes[producer[v]].branch != n.branch)
        plan.per_sample[v] = true;
  std::vector<int> last_use(nv, -1);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (ValueId v : g.nodes[i].inputs) last_use[v] = static_cast<int>(i);

  int64_t base = 0;
  // Per-sample values first, never reused.
  for (size_t v = 0; v < nv; ++v) {
    plan.naive_bytes += bytes[v];
    if (!plan.per_sample[v] || static_cast<ValueId>(v) == g.output) continue;
    plan.offset[v] = base;
    base += bytes[v] * max_batch;
  }
  const int branches = std::max(1, g.branch_count());
  std::vector<bool> handed_over(nv, false);  // its bytes now belong to a value written in place
  for (int b = -1; b < branches; ++b) {
    Region region;
    std::vector<ValueId> placed_here;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (n.branch != b || n.op == Op::kInput) continue;
      const ValueId out = n.output;
      auto local = [&](ValueId in) {
        return in != g.input && !plan.per_sample[in] && producer[in] >= 0 &&
               g.nodes[producer[in]].branch == b;
      };
      bool placed = out == g.output || plan.per_sample[out];
      // In place over an input that dies here (and is read only once here).
      for (size_t k = 0; k < n.inputs.size() && !placed; ++k) {
        ValueId in = n.inputs[k];
        if (!may_alias(n, k) || !local(in) || last_use[in] != static_cast<int>(i) ||
            bytes[in] != bytes[out] || std::count(n.inputs.begin(), n.inputs.end(), in) != 1)
          continue;
        plan.offset[out] = plan.offset[in];
        handed_over[in] = true;
        placed = true;
        placed_here.push_back(out);
      }
      if (!placed) {
        plan.offset[out] = region.alloc(bytes[out]);
        placed_here.push_back(out);
      }
      for (ValueId in : n.inputs)
        if (local(in) && last_use[in] == static_cast<int>(i) && !handed_over[in])
          region.release(plan.offset[in], bytes[in]);
    }
    for (ValueId v : placed_here) plan.offset[v] += base;
    base += region.top;
  }
  plan.offset[g.input] = -1;
  plan.offset[g.output] = -1;
  plan.per_sample[g.output] = true;
  plan.arena_bytes = base;
  return plan;
}

}  // namespace stgcn::passes
