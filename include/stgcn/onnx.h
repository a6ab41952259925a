// ONNX export and import of ST-GCN models (libonnx: protobuf, checker,
// shape inference).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
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

// The numeric form of an export (docs/tensorrt.md): plain FP32; FP16 (weights and activations
// typed float16, data_bn / the head / softmax kept FP32); INT8 as explicit QuantizeLinear /
// DequantizeLinear pairs (TensorRT's placement rules, scales from our calibration).
enum class OnnxPrecision { kFp32, kFp16, kInt8 };
const char* onnx_precision_name(OnnxPrecision p);

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

  OnnxPrecision precision = OnnxPrecision::kFp32;
  bool io_fp16 = false;  // fp16 / int8: the graph input and output typed float16 (else float32)
  // int8 (from plan_int8, stgcn/engine.h): the |x| threshold of every activation the engine's
  // calibration observed (IR value names: "s0.data_bn", "s0.b3.gcn", ...) and the layers
  // (IR node names: "s0.b3.gcn", "s0.b3.agg", "s0.b3.tcn", ...) left unquantised.
  std::map<std::string, float> int8_thresholds;
  std::set<std::string> int8_fp32_layers;
  std::string int8_record;  // recorded in metadata (calibration method, samples, fallback)
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
