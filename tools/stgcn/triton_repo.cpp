// `stgcn export --triton-repo DIR`: a Triton model repository around an export
// (docs/tensorrt.md, "Triton"): DIR/<name>/config.pbtxt for the onnxruntime backend,
// DIR/<name>/1/model.onnx, and DIR/<name>/build_tensorrt.sh, the TensorRT recipe that turns the
// same ONNX into DIR/<name>_trt (platform tensorrt_plan) on a machine with trtexec.
#include <fmt/core.h>

#include <filesystem>
#include <string>
#include <vector>

#include "commands.h"
#include "stgcn/npy.h"

namespace stgcn::cli {
namespace {

namespace fs = std::filesystem;

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s;
}

// One sample's input dims (no batch axis), in the model's own layout.
std::vector<int64_t> sample_dims(const ModelSpec& spec, const OnnxExportOptions& o) {
  if (spec.input_layout() == InputLayout::kNMTVC) return {o.M, o.T, spec.V(), spec.C()};
  return {spec.C(), o.T, spec.V(), o.M};
}

std::string config_text(const TritonRepo& r, const std::string& name, const ModelSpec& spec,
                        const OnnxExportOptions& o, bool tensorrt) {
  const std::string type = o.io_fp16 ? "TYPE_FP16" : "TYPE_FP32";
  std::string s = fmt::format(
      "# Triton model configuration written by `stgcn export` (docs/tensorrt.md).\n"
      "name: \"{}\"\n",
      name);
  s += tensorrt ? "platform: \"tensorrt_plan\"\n" : "backend: \"onnxruntime\"\n";
  s += fmt::format(
      "max_batch_size: {}\n"
      "input [\n  {{\n    name: \"{}\"\n    data_type: {}\n    dims: [ {} ]\n  }}\n]\n"
      "output [\n  {{\n    name: \"{}\"\n    data_type: {}\n    dims: [ {} ]\n  }}\n]\n"
      "dynamic_batching {{\n  max_queue_delay_microseconds: {}\n}}\n"
      "instance_group [\n  {{\n    count: {}\n    kind: {}\n  }}\n]\n",
      r.max_batch, o.input_name, type, dims_text(sample_dims(spec, o)), o.output_name, type,
      spec.num_class(), r.queue_delay_us, r.instances, tensorrt ? "KIND_GPU" : "KIND_AUTO");
  return s;
}

std::string shape_arg(const std::string& input, int64_t n, const std::vector<int64_t>& dims) {
  std::string s = input + ":" + std::to_string(n);
  for (int64_t d : dims) s += "x" + std::to_string(d);
  return s;
}

std::string recipe_text(const TritonRepo& r, const ModelSpec& spec, const OnnxExportOptions& o) {
  const std::vector<int64_t> dims = sample_dims(spec, o);
  const std::string trt = r.name + "_trt";
  return fmt::format(
      "#!/bin/sh\n"
      "# The TensorRT recipe for model '{name}' (written by `stgcn export`, docs/tensorrt.md):\n"
      "# builds a TensorRT engine from 1/model.onnx ({precision}; precision lives in the graph,\n"
      "# so the network is built strongly typed: --stronglyTyped is required on TensorRT 10 and\n"
      "# the default on TensorRT 11) and adds it to this repository as model '{trt}'.\n"
      "# Run it on the machine that will serve (a TensorRT engine is specific to its GPU and\n"
      "# TensorRT version): sh {name}/build_tensorrt.sh\n"
      "set -eu\n"
      "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
      "out=\"$(dirname \"$here\")/{trt}\"\n"
      "mkdir -p \"$out/1\"\n"
      "trtexec --onnx=\"$here/1/model.onnx\" --saveEngine=\"$out/1/model.plan\" --stronglyTyped \\\n"
      "  --minShapes={min} --optShapes={opt} --maxShapes={max}\n"
      "cat > \"$out/config.pbtxt\" <<'CONFIG'\n"
      "{config}"
      "CONFIG\n"
      "echo \"wrote $out (serve it with: tritonserver --model-repository=$(dirname \"$here\"))\"\n",
      fmt::arg("name", r.name), fmt::arg("trt", trt),
      fmt::arg("precision", onnx_precision_name(o.precision)),
      fmt::arg("min", shape_arg(o.input_name, 1, dims)),
      fmt::arg("opt", shape_arg(o.input_name, r.max_batch, dims)),
      fmt::arg("max", shape_arg(o.input_name, r.max_batch, dims)),
      fmt::arg("config", config_text(r, trt, spec, o, true)));
}

}  // namespace

std::string triton_model_path(const TritonRepo& r) {
  return (fs::path(r.dir) / r.name / "1" / "model.onnx").string();
}

Status check_triton_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." ||
      name.find_first_of("/\\ \t\n\"") != std::string::npos)
    return invalid_argument("--triton-name '" + name +
                            "' is not a usable model name (no slashes, spaces or quotes)");
  return Status::ok();
}

Result<std::string> write_triton_repo(const TritonRepo& r, const ModelSpec& spec,
                                      const OnnxExportOptions& o, const std::string& onnx_bytes) {
  const fs::path model_dir = fs::path(r.dir) / r.name;
  std::error_code ec;
  fs::create_directories(model_dir / "1", ec);
  if (ec)
    return internal_error("cannot create '" + (model_dir / "1").string() + "': " + ec.message());
  STGCN_RETURN_IF_ERROR(write_file_atomic(triton_model_path(r), onnx_bytes));
  STGCN_RETURN_IF_ERROR(
      write_file_atomic((model_dir / "config.pbtxt").string(), config_text(r, r.name, spec, o, false)));
  const fs::path recipe = model_dir / "build_tensorrt.sh";
  STGCN_RETURN_IF_ERROR(write_file_atomic(recipe.string(), recipe_text(r, spec, o)));
  fs::permissions(recipe, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add, ec);
  return model_dir.string();
}

}  // namespace stgcn::cli
