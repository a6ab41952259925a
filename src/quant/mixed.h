// Automatic INT8 fallback: rank the quantisable blocks by how much quantising
// each alone moves the logits, then keep the most sensitive ones in FP32
// until the accuracy drop on validation data is within a budget.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "ir/ir.h"
#include "quant/calibrate.h"
#include "stgcn/status.h"
#include "stgcn/tensor.h"

namespace stgcn::quant {

struct Sensitivity {
  std::string unit;  // a block ("s0.b3") or a single layer
  double error = 0;  // mean squared logit error vs FP32, that unit alone in int8
};

struct MixedResult {
  std::set<std::string> keep_fp32;  // layer (node) names
  std::vector<std::string> units_fp32;
  std::vector<Sensitivity> ranking;  // most sensitive first
  bool labelled = false;             // scores are accuracies (else agreement with FP32)
  double fp32_score = 0, int8_score = 0, final_score = 0;  // percent
  double final_drop = 0;                                   // points
  int evaluations = 0;
};

// Top-1 score in percent: accuracy against `labels` when given, else top-1
// agreement with `reference` logits.
double top1_score(const Tensor& logits, const Tensor* labels, const Tensor& reference);

// Logits of a graph (FP32 or quantised, weights plain) over `data`.
Result<Tensor> run_graph(const ir::Graph& g, const Tensor& data, int threads);

// `fp32_graph`: the fused FP32 graph; `table`: its calibration. The drop is
// in points (accuracy with labels, else 100 - agreement with FP32).
Result<MixedResult> search_mixed(const ir::Graph& fp32_graph, const CalibTable& table,
                                 const Tensor& val, const Tensor* labels, double max_drop,
                                 const std::set<std::string>& keep_fp32, int threads,
                                 const std::function<void(const std::string&)>& progress);

}  // namespace stgcn::quant
