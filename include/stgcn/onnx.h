// ONNX export and import of ST-GCN models (libonnx: protobuf, checker,
// shape inference).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "stgcn/model.h"
#include "stgcn/status.h"

namespace stgcn {

enum class GraphConvForm {
  kMatMul,  // one well-shaped MatMul per block, A ⊙ importance folded into one constant
  kEinsum,  // Einsum (opset >= 12), as torch.onnx.export writes it
};

struct OnnxExportOptions {
  int opset = 17;              // 11..18
  int T = 150;                 // frames
  int M = 1;                   // persons
  int batch = 1;               // fixed batch N (ignored with dynamic_batch)
  bool dynamic_batch = false;  // batch axis symbolic ("N")
  bool softmax = false;        // append a Softmax head
  GraphConvForm graph_conv = GraphConvForm::kMatMul;
  bool fold_bn = true;  // fold BatchNorms into convs / scale-shift constants
  std::string input_name = "input";
  std::string output_name = "output";
  std::string source_path;  // recorded in metadata (with its SHA-256) when set
};

// Serialises `model` as an ONNX ModelProto (checked with onnx::checker and
// shape inference before it is returned).
Result<std::string> export_onnx_bytes(const Model& model, const OnnxExportOptions& options);

// Same, written atomically to `path` (no partial file on failure).
Status export_onnx(const Model& model, const OnnxExportOptions& options, const std::string& path);

// Reads an ONNX file written by `stgcn export` or by torch.onnx.export from a
// PyTorch ST-GCN / two-stream ST-GCN into the internal Model. A graph that is
// not an ST-GCN fails with a message naming the first node not understood.
Result<Model> import_onnx(const std::string& path, const LoadOptions& options);
Result<Model> import_onnx_bytes(std::span<const uint8_t> bytes, std::string_view name,
                                const LoadOptions& options);

}  // namespace stgcn
