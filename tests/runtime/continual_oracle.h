// The test oracle of continual mode: the first, hand-lowered continual implementation (it
// built its own weights from the Model, FP32 on oneDNN's sgemm), kept to check that
// the backend's lowering of the engine graph (backends/cpu/streaming*) answers the same.
//
// Continual (streaming) ST-GCN inference, after Hedegaard et al., "Continual
// Spatio-Temporal Graph Convolutional Networks" (Pattern Recognition 2023):
// every new frame of a track flows through the network once. Each temporal
// convolution keeps a FIFO of its last kt inputs (zero-initialised: the
// window's left padding), produces an output when its stride says so (delayed
// by its right padding: (kt-1)/2 steps for a centre-padded model, none for a
// causal one), residuals are delayed as much to stay aligned, and
// the global average over time is a running average over the last T_out
// outputs. Weights are the normally trained model's, BN folded.
//
// Per-track state lives in the slots of a pool allocated once; a step call
// advances many slots together (one GEMM per layer for the whole batch).
// flush() appends each layer's right padding (none when causal): for a track of exactly T frames
// its features equal the window engine's on those T frames.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "stgcn/model.h"
#include "stgcn/status.h"

namespace stgcn::oracle {

class ContinualModel {
 public:
  // T: the window the running average spans (as a window engine of this T).
  // `scratch`: extra slots for features_lookahead(), one per calling thread.
  static Result<std::unique_ptr<ContinualModel>> create(const Model& model, int T, int slots,
                                                        int scratch = 1);
  ~ContinualModel();

  int slots() const;
  int C() const;
  int V() const;
  int num_class() const;
  int64_t state_bytes_per_slot() const;
  // Mean multiply-accumulates per track step (strided layers run every s-th step).
  int64_t macs_per_step() const;

  // Forgets a slot's past (call before a new track uses it).
  void reset(int slot);
  // Advances `slots[i]` by one frame `frames[i]` (C x V floats, channel-major:
  // frames[i][c * V + v]); slots must be distinct. Uses the calling thread's
  // OpenMP thread count.
  void step(std::span<const int> slots, std::span<const float* const> frames);
  // Appends every layer's right padding to the slot's pipeline; afterwards the
  // slot only serves features() until reset().
  void flush(int slot);
  // Current pooled features of each model stream (streams x C_last floats), or
  // false when the slot has produced no output yet.
  bool features(int slot, std::vector<float>& out) const;
  // The features the slot would have if its track ended now: a copy of its
  // state in scratch slot `scratch` (0 <= scratch < the create() count) is
  // flushed. For a track of exactly T frames this is the window engine's
  // answer; it costs a flush (tens of steps' work) per call.
  bool features_lookahead(int slot, int scratch, std::vector<float>& out);
  // The same for many slots, flushed together in chunks of kLookaheadChunk
  // (scratch slots scratch_base .. scratch_base + kLookaheadChunk - 1).
  static constexpr int kLookaheadChunk = 8;
  void features_lookahead(std::span<const int> slots, int scratch_base,
                          std::vector<std::vector<float>>& out, std::vector<char>& ok);
  // Logits from the features of M person slots (nullptr = an empty person,
  // whose features are those of an all-zero window).
  void logits(std::span<const std::vector<float>* const> persons, std::span<float> out);
  int feature_size() const;

  struct Impl;

 private:
  ContinualModel();
  std::unique_ptr<Impl> impl_;
};

}  // namespace stgcn::oracle
