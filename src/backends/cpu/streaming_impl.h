// Internals of the CPU backend's continual lowering (streaming.h): the per-node step ops,
// built by streaming_lower.cpp and run by streaming.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include "backends/cpu/onednn_util.h"
#include "backends/cpu/streaming.h"

namespace stgcn::cpu::streaming {

// Tracks per GEMM call: a batch of k tracks runs as pieces of 32, 16, 8, 4, 2, 1.
inline constexpr int kPieces = 6;
inline constexpr int kMaxLanes = 1 << (kPieces - 1);
// Bytes of gathered temporal-conv windows per matmul: small enough to stay in a core's L2.
inline constexpr int64_t kGatherBudget = 1024 * 1024;

enum class Kind { kInput, kMotion, kDataBn, kGcn, kAggregate, kTemporal, kResidualConv, kConvert,
                  kMaxPool, kConcat, kHead, kSkip };

// Frames a concat keeps per input, so that branches of different delays line up (the
// multi-scale unit's reach is 4 frames), and a residual ring behind such a concat.
inline constexpr int kConcatRing = 8;

// One matmul of a node, for each piece size (1 << p tracks).
struct Gemm {
  std::array<dnnl::matmul::primitive_desc, kPieces> pd;
  std::array<dnnl::matmul, kPieces> prim;
  std::array<const void*, kPieces> weights{};
  std::vector<AlignedBuffer> owned;  // packed weights (one per distinct layout)
  std::vector<float> bias;           // FP32 (int8: in accumulator units)
  std::vector<uint8_t> gsrc;         // aggregation: G' (V, V*K) in the activations' type
};

struct StepOp {
  Kind kind = Kind::kSkip;
  int node = -1;
  int in = -1, res = -1, out = -1;  // value ids (res: a temporal conv's residual input)
  int frame_res = -1;  // aggregation: a residual of the same frame, added by a sum post-op
  Gemm gemm;
  // temporal conv / max-pool: kt taps `dil` frames apart over a ring of span = (kt-1)*dil + 1
  int kt = 1, stride = 1, pl = 0, pr = 0, dil = 1, span = 1;
  int64_t ring_off = 0;      // slot bytes: (V, span, Cin) input frames, frame t at (t + pl) % span
  int64_t res_off = 0;       // slot bytes: R residual frames
  int R = 1;
  int counter = -1;          // index in SlotMeta::counters (frames of `in` seen)
  // head
  int channels = 0, t_last = 0;
  int64_t head_off = 0;      // slot bytes: t_last pooled vectors (FP32)
  int64_t head_sum_off = 0;  // slot bytes: their running sum (C doubles)
  // motion: the previous raw frame
  int64_t prev_off = 0;
  // concat: per input, a ring of kConcatRing frames and its frame counter; `counter` counts
  // the frames emitted (each once every input has it)
  std::vector<int> ins;
  std::vector<int64_t> in_ring_off;
  std::vector<int> in_counter;
};

struct ValueInfo {
  int64_t frame_elems = 0, frame_bytes = 0;
  std::vector<int> residual_of;  // step ops whose `res` is this value
  int counter = -1;              // frames produced (residual ring index)
  bool buffered = false;
};

struct SlotMeta {
  std::vector<int64_t> counters;
  int64_t frames = 0;
  bool flushed = false;
};

// Per calling thread: value buffers for kMaxLanes tracks, the gather buffer, the scratchpad.
struct Workspace {
  std::vector<AlignedBuffer> values;
  std::vector<std::vector<int>> lanes;  // per value: the slots whose frame it holds, row order
  AlignedBuffer gather, compact, scratch;
  dnnl::stream stream;
  struct Bound {
    dnnl::memory src, wei, bias, dst, scr;
    std::vector<dnnl_exec_arg_t> args;
    bool ready = false;
  };
  std::vector<std::array<Bound, kPieces>> bound;  // per step op, per piece size
  std::vector<float> pooled;                      // the head's sums over the joints
};

struct Program {
  ir::Graph graph;
  std::vector<StepOp> ops;
  std::vector<ValueInfo> values;
  int C = 0, V = 0, T = 0, num_class = 0, nslots = 0, nscratch = 0, ncounters = 0;
  int64_t slot_bytes = 0, macs = 0, gather_bytes = 0, compact_bytes = 0, scratch_bytes = 0;
  std::vector<int> heads;  // step ops of kind kHead, one per model stream
};

// Whether lower() can take the graph: fused ops only, first-difference motion, temporal convs
// padding >= 0 frames on each side.
Status check(const ir::Graph& graph);
// Builds the step program of a fused graph (throws dnnl::error; errors as Status).
Status lower(const ir::Graph& graph, Program& p);

}  // namespace stgcn::cpu::streaming
