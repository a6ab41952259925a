// The reference executor: plain, obviously-correct FP32 loops for the whole
// ST-GCN. It is the oracle every fast backend is tested against; clarity
// beats speed here.
#pragma once

#include <string>

#include "stgcn/model.h"
#include "stgcn/status.h"
#include "stgcn/tensor.h"

namespace stgcn {

// Checks that `input` is (N, C, T, V, M) with the model's C and V, N, T, M >= 1.
Status check_model_input(const ModelSpec& spec, const Tensor& input, const std::string& source);

// Two-stream motion input, computed on the raw (N, C, T, V, M) input.
Tensor motion_input(const Tensor& x, MotionMode mode);

// Logits (N, num_class) for input (N, C, T, V, M).
Result<Tensor> run_reference(const Model& model, const Tensor& input);

}  // namespace stgcn
