// Internal to model/: reads the tensors of one checkpoint tree (names under a prefix,
// shapes checked, finite values, BatchNorm quadruples) and records which keys were used,
// so a loader can refuse a tensor it did not understand.
#pragma once

#include <cmath>
#include <optional>
#include <utility>
#include <set>
#include <string>
#include <vector>

#include "stgcn/checkpoint.h"
#include "stgcn/model.h"

namespace stgcn::model_detail {

inline std::string fmt_int(int64_t v) { return std::to_string(v); }

// Looks up tensors of one stream and records which keys were consumed.
class StreamReader {
 public:
  StreamReader(const StateDict& sd, std::string prefix, std::string source)
      : sd_(sd), prefix_(std::move(prefix)), source_(std::move(source)) {}

  bool has(const std::string& name) const { return find_tensor(sd_, prefix_ + name) != nullptr; }

  // The tensor `name` with exactly `shape` (-1 = any extent).
  Result<Tensor> get(const std::string& name, const std::vector<int64_t>& shape) {
    const std::string full = prefix_ + name;
    const Tensor* t = find_tensor(sd_, full);
    if (!t) return error("tensor '" + full + "' is missing");
    bool ok = t->shape.size() == shape.size();
    for (size_t i = 0; ok && i < shape.size(); ++i)
      if (shape[i] >= 0 && t->shape[i] != shape[i]) ok = false;
    if (!ok)
      return error("tensor '" + full + "' has shape " + shape_string(t->shape) + ", expected " +
                   shape_string(shape));
    for (float x : t->data)
      if (!std::isfinite(x)) return error("tensor '" + full + "' holds a non-finite value");
    used_.insert(full);
    return *t;
  }

  Result<BatchNorm> get_bn(const std::string& name, int64_t channels) {
    BatchNorm bn;
    STGCN_ASSIGN_OR_RETURN(Tensor w, get(name + ".weight", {channels}));
    STGCN_ASSIGN_OR_RETURN(Tensor b, get(name + ".bias", {channels}));
    STGCN_ASSIGN_OR_RETURN(Tensor m, get(name + ".running_mean", {channels}));
    STGCN_ASSIGN_OR_RETURN(Tensor v, get(name + ".running_var", {channels}));
    for (float x : v.data)
      if (x < 0) return error("tensor '" + prefix_ + name + ".running_var' has a negative value");
    if (has(name + ".num_batches_tracked")) used_.insert(prefix_ + name + ".num_batches_tracked");
    bn.weight = std::move(w.data);
    bn.bias = std::move(b.data);
    bn.mean = std::move(m.data);
    bn.var = std::move(v.data);
    return bn;
  }

  const Tensor* peek(const std::string& name) const { return find_tensor(sd_, prefix_ + name); }

  Status error(const std::string& what) const {
    return invalid_argument("'" + source_ + "' is not an ST-GCN checkpoint we understand: " + what);
  }

  const std::set<std::string>& used() const { return used_; }
  void mark_used(const std::string& name) { used_.insert(prefix_ + name); }

 private:
  const StateDict& sd_;
  std::string prefix_;
  std::string source_;
  std::set<std::string> used_;
};

// Which named layout and strategy produced a checkpoint's A ("coco", "spatial"), if any.
std::optional<std::pair<std::string, std::string>> recognise_adjacency(const Tensor& A);

// mmaction2 / pyskl checkpoints (mm_loader.cpp): keys under backbone. / cls_head.
bool is_mm_state_dict(const StateDict& sd);
Result<Model> mm_model_from_state_dict(const StateDict& sd, const LoadOptions& options,
                                       const std::string& source);

}  // namespace stgcn::model_detail
