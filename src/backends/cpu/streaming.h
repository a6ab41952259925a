// Continual inference on the CPU backend, compiled from the fused graph the window engine runs
// (any precision it was built in: FP32, BF16, INT8 with the same scales).
//
// Lowering, per node: per-frame ops (motion, data_bn, gcn conv, aggregation, convert) run on
// one frame of many tracks at once; a temporal conv keeps a ring of its last kt input frames
// per track (zero-initialised: the window's left padding) and, when its stride says an output
// is due, runs one GEMM over the gathered (kt x Cin) windows of every due track; a residual
// conv runs every stride-th frame; a residual waits in a small ring until its conv output is
// due; the head keeps a running mean of the last layer's pooled frames. All heavy ops are
// oneDNN matmuls over (tracks x joints) rows, with weights packed for them at prepare time
// (unpacked from the engine's window layouts when the graph holds packed weights).
#pragma once

#include <memory>

#include "backends/backend.h"

namespace stgcn::cpu {

Result<std::unique_ptr<backend::Streaming>> prepare_streaming(
    const ir::Graph& graph, const backend::StreamingOptions& options);

}  // namespace stgcn::cpu
