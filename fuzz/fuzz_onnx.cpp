// libFuzzer target: the ONNX importer (protobuf parse, constant folding, shape
// inference, ST-GCN matching) must reject any byte string cleanly: no crash,
// leak, UB or unbounded allocation, and every error is one line naming the
// file. Seed it with real exports, e.g. the fixtures' onnx/*.onnx.
//
// Random bytes rarely get past the protobuf parser, so a custom mutator also
// edits valid models structurally (attribute values, initializer dims and
// data, op types, input wiring, node order, the input shape) to reach the
// folding and matching code.
#define ONNX_NAMESPACE onnx
#define ONNX_ML 1
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "stgcn/onnx.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

int64_t pick_int(std::minstd_rand& rng) {
  static const int64_t kValues[] = {0,
                                    1,
                                    2,
                                    3,
                                    -1,
                                    -2,
                                    4,
                                    9,
                                    33,
                                    1 << 20,
                                    std::numeric_limits<int64_t>::max(),
                                    std::numeric_limits<int64_t>::min(),
                                    int64_t{1} << 31};
  if (rng() % 3 == 0) return static_cast<int64_t>(rng() % 64) - 8;
  return kValues[rng() % (sizeof kValues / sizeof kValues[0])];
}

float pick_float(std::minstd_rand& rng) {
  static const float kValues[] = {0.0f,
                                  1.0f,
                                  -1.0f,
                                  0.5f,
                                  1e-5f,
                                  1e30f,
                                  -0.0f,
                                  std::numeric_limits<float>::quiet_NaN(),
                                  std::numeric_limits<float>::infinity()};
  return kValues[rng() % (sizeof kValues / sizeof kValues[0])];
}

void mutate_model(onnx::ModelProto& m, std::minstd_rand& rng) {
  static const char* kOps[] = {"Conv",     "Reshape",   "Transpose", "Einsum", "MatMul",
                               "Add",      "Mul",       "Sub",       "Relu",   "ReduceMean",
                               "Concat",   "Slice",     "Gather",    "Shape",  "Softmax",
                               "Identity", "ReduceSum", "Unsqueeze"};
  onnx::GraphProto* g = m.mutable_graph();
  const int nodes = g->node_size(), inits = g->initializer_size();
  switch (rng() % 9) {
    case 0:
    case 1: {  // an attribute value
      if (nodes == 0) return;
      onnx::NodeProto* n = g->mutable_node(static_cast<int>(rng() % nodes));
      if (n->attribute_size() == 0) return;
      onnx::AttributeProto* a = n->mutable_attribute(static_cast<int>(rng() % n->attribute_size()));
      if (a->has_i()) a->set_i(pick_int(rng));
      if (a->has_f()) a->set_f(pick_float(rng));
      if (a->ints_size() > 0) {
        if (rng() % 4 == 0)
          a->mutable_ints()->RemoveLast();
        else if (rng() % 4 == 0)
          a->add_ints(pick_int(rng));
        else
          a->set_ints(static_cast<int>(rng() % a->ints_size()), pick_int(rng));
      }
      if (!a->s().empty()) (*a->mutable_s())[rng() % a->s().size()] = "nkctvw,->."[rng() % 10];
      if (a->has_t() && a->t().has_raw_data() && !a->t().raw_data().empty()) {
        std::string* raw = a->mutable_t()->mutable_raw_data();
        (*raw)[rng() % raw->size()] = static_cast<char>(rng());
      }
      return;
    }
    case 2: {  // an initializer's dims or data
      if (inits == 0) return;
      onnx::TensorProto* t = g->mutable_initializer(static_cast<int>(rng() % inits));
      if (t->dims_size() > 0 && rng() % 2 == 0) {
        t->set_dims(static_cast<int>(rng() % t->dims_size()), pick_int(rng));
      } else if (t->has_raw_data() && t->raw_data().size() >= 4) {
        const float v = pick_float(rng);
        std::string* raw = t->mutable_raw_data();
        std::memcpy(raw->data() + (rng() % (raw->size() / 4)) * 4, &v, 4);
      } else if (rng() % 2 == 0) {
        t->set_data_type(static_cast<int>(rng() % 17));
      }
      return;
    }
    case 3: {  // an op type
      if (nodes == 0) return;
      g->mutable_node(static_cast<int>(rng() % nodes))
          ->set_op_type(kOps[rng() % (sizeof kOps / sizeof kOps[0])]);
      return;
    }
    case 4: {  // rewire an input to another value
      if (nodes < 2) return;
      onnx::NodeProto* n = g->mutable_node(static_cast<int>(rng() % nodes));
      const onnx::NodeProto& src = g->node(static_cast<int>(rng() % nodes));
      if (n->input_size() == 0 || src.output_size() == 0) return;
      n->set_input(static_cast<int>(rng() % n->input_size()), src.output(0));
      return;
    }
    case 5: {  // drop a node
      if (nodes == 0) return;
      g->mutable_node()->DeleteSubrange(static_cast<int>(rng() % nodes), 1);
      return;
    }
    case 6: {  // swap two nodes
      if (nodes < 2) return;
      g->mutable_node()->SwapElements(static_cast<int>(rng() % nodes),
                                      static_cast<int>(rng() % nodes));
      return;
    }
    case 7: {  // the input shape
      if (g->input_size() == 0) return;
      auto* shape = g->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
      if (shape->dim_size() == 0) return;
      auto* dim = shape->mutable_dim(static_cast<int>(rng() % shape->dim_size()));
      if (rng() % 3 == 0)
        dim->set_dim_param("N");
      else
        dim->set_dim_value(pick_int(rng));
      return;
    }
    default: {  // an integer constant (the shape arithmetic)
      for (int tries = 0; tries < 8 && nodes > 0; ++tries) {
        onnx::NodeProto* n = g->mutable_node(static_cast<int>(rng() % nodes));
        if (n->op_type() != "Constant" || n->attribute_size() == 0 || !n->attribute(0).has_t())
          continue;
        onnx::TensorProto* t = n->mutable_attribute(0)->mutable_t();
        if (t->data_type() != onnx::TensorProto::INT64 || t->raw_data().size() < 8) continue;
        const int64_t v = pick_int(rng);
        std::memcpy(t->mutable_raw_data()->data() + (rng() % (t->raw_data().size() / 8)) * 8, &v,
                    8);
        return;
      }
    }
  }
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  std::minstd_rand rng(seed);
  onnx::ModelProto m;
  if (rng() % 4 == 0 || size == 0 || !m.ParseFromArray(data, static_cast<int>(size)))
    return LLVMFuzzerMutate(data, size, max_size);
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int k = 0; k < edits; ++k) mutate_model(m, rng);
  std::string out;
  if (!m.SerializeToString(&out) || out.size() > max_size)
    return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = stgcn::import_onnx_bytes(std::span<const uint8_t>(data, size), "fuzz.onnx",
                                    stgcn::LoadOptions{});
  if (r.is_ok()) {
    // A model that imports must be internally consistent.
    const stgcn::Model& m = *r;
    if (m.spec.streams.empty() || m.spec.streams.size() != m.streams.size()) __builtin_trap();
    for (size_t s = 0; s < m.streams.size(); ++s) {
      const auto& spec = m.spec.streams[s];
      const auto& w = m.streams[s];
      if (spec.blocks.size() != w.blocks.size() || spec.blocks.empty()) __builtin_trap();
      if (w.A.numel() != static_cast<int64_t>(spec.K) * spec.V * spec.V) __builtin_trap();
      if (static_cast<int64_t>(w.data_bn.weight.size()) !=
          static_cast<int64_t>(spec.V) * spec.C * std::max(1, spec.data_bn_persons))
        __builtin_trap();
      for (size_t b = 0; b < w.blocks.size(); ++b) {
        const auto& bs = spec.blocks[b];
        const auto& bw = w.blocks[b];
        if (bw.gcn_weight.numel() !=
            static_cast<int64_t>(spec.K) * bs.out_channels * bs.in_channels)
          __builtin_trap();
        if (bs.temporal == stgcn::TemporalUnit::kConv &&
            bw.tcn_weight.numel() !=
                static_cast<int64_t>(bs.out_channels) * bs.out_channels * spec.temporal_kernel)
          __builtin_trap();
        if (bs.temporal == stgcn::TemporalUnit::kMultiScale &&
            (bw.branches.size() != stgcn::kMultiScaleBranches ||
             bs.branch_channels.size() != stgcn::kMultiScaleBranches ||
             bw.transform_weight.shape.size() != 2 ||
             bw.transform_weight.shape[0] != bs.out_channels))
          __builtin_trap();
        if (static_cast<int>(bw.gcn_bn.weight.size()) != bs.out_channels) __builtin_trap();
      }
      if (w.fcn_weight.numel() !=
          static_cast<int64_t>(spec.num_class) * spec.blocks.back().out_channels)
        __builtin_trap();
    }
  } else {
    const std::string& msg = r.status().message();
    if (msg.rfind("cannot load 'fuzz.onnx': ", 0) != 0)
      __builtin_trap();                                         // every message names the file
    if (msg.find('\n') != std::string::npos) __builtin_trap();  // and is one line
  }
  return 0;
}
