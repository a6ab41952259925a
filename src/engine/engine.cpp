#include "stgcn/engine.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <list>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "backends/backend.h"
#include "backends/registry.h"
#include "core/float16.h"
#include "engine/engine_file.h"
#include "engine/engine_internal.h"
#include "engine/graph_json.h"
#include "ir/from_model.h"
#include "passes/passes.h"
#include "quant/calibrate.h"
#include "quant/mixed.h"
#include "stgcn/npy.h"

#ifndef STGCN_VERSION
#define STGCN_VERSION "dev"
#endif

namespace stgcn {
using nlohmann::json;

namespace {

Status with_path(const std::string& path, const Status& st) {
  if (st.is_ok()) return st;
  const std::string prefix = fmt::format("cannot load '{}': ", path);
  if (st.message().rfind(prefix, 0) == 0) return st;
  return Status(st.code(), prefix + st.message());
}

}  // namespace

struct Engine::Impl {
  std::unique_ptr<engine::MappedEngineFile> file;
  EngineInfo info;
  const backend::Backend* backend = nullptr;
  std::shared_ptr<const backend::Executable> exe;
};

struct Context::Impl {
  std::shared_ptr<const Engine> engine;  // keeps the mapping alive
  std::unique_ptr<backend::Context> runner;
  int threads = 1;
};

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;
Context::Context() : impl_(std::make_unique<Impl>()) {}
Context::~Context() = default;

const EngineInfo& Engine::info() const { return impl_->info; }
std::span<const uint8_t> Engine::bytes() const { return impl_->file->bytes(); }
std::string Engine::graph_text() const { return ir::to_text(impl_->exe->graph()); }

Status Engine::save(const std::string& path) const {
  auto b = bytes();
  return write_file_atomic(path,
                           std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

namespace {

Status check_samples(const Tensor& t, const ir::Graph& g, const char* what) {
  const auto& in = g.values[g.input].shape;  // C T V M
  if (t.rank() != 5 || t.shape[0] < 1 || t.shape[1] != in[0] || t.shape[2] != in[1] ||
      t.shape[3] != in[2] || t.shape[4] != in[3])
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("{} data has shape {}, the engine takes (N, {}, {}, {}, {}) (build "
                              "--T/--M to match, or crop/pad the data)",
                              what, shape_string(t.shape), in[0], in[1], in[2], in[3]));
  return check_finite_input(t.data, in[0], in[1], in[2], in[3], what);
}

struct QuantPlan {
  quant::CalibTable table;
  std::set<std::string> keep;
  json record;
};

// INT8: calibrate (or read the table) and optionally search the FP32 fallback.
Result<QuantPlan> plan_quantization(const ir::Graph& g, const BuildOptions& o) {
  STGCN_RETURN_IF_ERROR(passes::check_fused(g, "int8"));
  if (o.max_drop >= 0 && o.val == nullptr)  // before the (long) calibration
    return Status(ErrorCode::kInvalidArgument,
                  "--max-drop needs validation data (--val DATA.npy [--val-labels y.npy])");
  quant::CalibTable table;
  json rec;
  if (o.calib != nullptr) {
    STGCN_RETURN_IF_ERROR(check_samples(*o.calib, g, "calibration"));
    Tensor sub;
    const Tensor* data = o.calib;
    if (o.calib_size < 0)
      return Status(ErrorCode::kInvalidArgument, "calibration size must be >= 0");
    if (o.calib_size > 0 && o.calib_size < o.calib->shape[0]) {
      sub.shape = o.calib->shape;
      sub.shape[0] = o.calib_size;
      const int64_t per = o.calib->numel() / o.calib->shape[0];
      sub.data.assign(o.calib->data.begin(), o.calib->data.begin() + o.calib_size * per);
      data = &sub;
    }
    quant::CalibOptions co;
    STGCN_ASSIGN_OR_RETURN(co.method, quant::parse_calib_method(o.calib_method));
    if (!(o.percentile > 0 && o.percentile <= 100))
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("percentile {} is outside (0, 100]", o.percentile));
    co.percentile = o.percentile;
    co.progress = o.progress;
    STGCN_ASSIGN_OR_RETURN(table, quant::calibrate(g, *data, co));
    if (!o.calib_table.empty()) STGCN_RETURN_IF_ERROR(quant::write_table(o.calib_table, table));
  } else if (!o.calib_table.empty()) {
    STGCN_ASSIGN_OR_RETURN(table, quant::read_table(o.calib_table));
    rec["table"] = o.calib_table;
  } else {
    return Status(ErrorCode::kInvalidArgument,
                  "int8 needs calibration: --calib DATA.npy (samples like the inputs) or "
                  "--calib-table FILE (written by an earlier --calib run)");
  }
  rec["method"] = table.method;
  if (table.method == "percentile") rec["percentile"] = table.percentile;
  rec["calibration_samples"] = table.samples;
  std::set<std::string> keep(o.keep_fp32.begin(), o.keep_fp32.end());
  if (o.max_drop >= 0) {
    if (o.val == nullptr)
      return Status(ErrorCode::kInvalidArgument,
                    "--max-drop needs validation data (--val DATA.npy [--val-labels y.npy])");
    STGCN_RETURN_IF_ERROR(check_samples(*o.val, g, "validation"));
    if (o.val_labels != nullptr) {
      const Tensor& y = *o.val_labels;
      const int64_t classes = g.values[g.output].numel();
      if (y.numel() != o.val->shape[0])
        return Status(ErrorCode::kInvalidArgument,
                      fmt::format("validation labels hold {} values for {} samples", y.numel(),
                                  o.val->shape[0]));
      for (float v : y.data)
        if (!(v >= 0 && v < static_cast<float>(classes)) || v != std::floor(v))
          return Status(
              ErrorCode::kInvalidArgument,
              fmt::format("validation label {} is not a class index in 0..{}", v, classes - 1));
    }
    STGCN_ASSIGN_OR_RETURN(quant::MixedResult mr,
                           quant::search_mixed(g, table, *o.val, o.val_labels, o.max_drop, keep,
                                               std::max(1, omp_get_num_procs()), o.progress));
    keep = mr.keep_fp32;
    rec["max_drop"] = o.max_drop;
    rec["metric"] = mr.labelled ? "accuracy" : "agreement_with_fp32";
    rec["validation_samples"] = o.val->shape[0];
    rec["fp32_score"] = mr.fp32_score;
    rec["all_int8_score"] = mr.int8_score;
    rec["final_score"] = mr.final_score;
    rec["final_drop"] = mr.final_drop;
    rec["blocks_fp32"] = mr.units_fp32;
    rec["evaluations"] = mr.evaluations;
    json rank = json::array();
    for (const auto& s : mr.ranking) rank.push_back({s.unit, s.error});
    rec["sensitivity"] = rank;
  }
  rec["layers_fp32"] = std::vector<std::string>(keep.begin(), keep.end());
  return QuantPlan{std::move(table), std::move(keep), std::move(rec)};
}

// Quantises `g` in place; returns the record kept in the engine's metadata.
Result<json> quantize(ir::Graph& g, const BuildOptions& o) {
  STGCN_ASSIGN_OR_RETURN(QuantPlan plan, plan_quantization(g, o));
  STGCN_RETURN_IF_ERROR(
      passes::quantize_int8(g, plan.table.ranges, plan.keep, backend::default_backend()));
  return std::move(plan.record);
}

}  // namespace

Result<std::shared_ptr<const Engine>> Engine::build(const Model& model,
                                                    const BuildOptions& options) {
  std::string precision = options.precision;
  if (precision != "fp32" && precision != "bf16" && precision != "fp16" && precision != "int8")
    return Status(
        ErrorCode::kUnsupported,
        fmt::format("precision '{}' is not available (fp32, bf16, fp16, int8)", precision));
  // BF16 compute needs AVX512-BF16 (or AMX); without it: FP32, said loudly.
  const backend::Backend& be = backend::default_backend();
  if (Status bf16 = be.check_precision(precision); !bf16.is_ok()) {
    if (options.warn)
      options.warn(fmt::format("{}: building an FP32 engine instead", bf16.message()));
    precision = "fp32";
  }
  if (options.T < 1 || options.T > 100000 || options.M < 1 || options.M > 64 ||
      options.max_batch < 1 || options.max_batch > 4096)
    return Status(
        ErrorCode::kInvalidArgument,
        fmt::format("T={} M={} batch={}: need 1 <= T <= 100000, 1 <= M <= 64, 1 <= batch <= 4096",
                    options.T, options.M, options.max_batch));
  STGCN_ASSIGN_OR_RETURN(ir::Graph g, ir::graph_from_model(model, options.T, options.M));
  STGCN_ASSIGN_OR_RETURN(std::vector<std::string> applied,
                         passes::run_pipeline(g, options.disabled_passes));
  // fp16 is storage only: weights kept as IEEE half in the file, computed in
  // FP32 (oneDNN 2.6 has no FP16 compute on x86 short of AVX512-FP16).
  json quant_record;
  if (precision == "int8") {
    STGCN_ASSIGN_OR_RETURN(quant_record, quantize(g, options));
  } else {
    STGCN_RETURN_IF_ERROR(passes::assign_precision(g, precision == "fp16" ? "fp32" : precision, be));
  }
  std::string kernel_isa;
  STGCN_RETURN_IF_ERROR(be.pack(g, precision == "fp16", &kernel_isa));
  const int64_t arena_bytes = be.arena_bytes(g, options.max_batch);
  STGCN_RETURN_IF_ERROR(be.check_arena_fits(arena_bytes));

  engine::EngineFileContents contents;
  json graph = engine::graph_to_json(g);
  int64_t weights_bytes = 0;
  std::list<std::vector<uint8_t>> half_storage;  // FP16 copies, alive until serialised
  for (size_t i = 0; i < g.constants.size(); ++i) {
    const ir::Constant& c = g.constants[i];
    engine::FileTensor t;
    t.name = c.name;
    t.dims = c.shape;
    if (c.half) {
      // The packed FP32 bytes as IEEE half, element for element (padding included):
      // unpacking at load is a conversion, not a reorder.
      const auto bytes = c.packed_bytes();
      std::vector<uint8_t>& h = half_storage.emplace_back(bytes.size() / 2);
      for (size_t k = 0; k < bytes.size() / 4; ++k) {
        float f;
        std::memcpy(&f, bytes.data() + 4 * k, 4);
        const uint16_t v = float_to_half(f);
        std::memcpy(h.data() + 2 * k, &v, 2);
      }
      t.dtype = engine::FileDType::kF16;
      t.dims = {static_cast<int64_t>(bytes.size() / 4)};
      t.layout = c.layout;
      t.data = h;
    } else if (c.is_packed()) {
      t.dtype = engine::FileDType::kBytes;
      t.layout = c.layout;
      t.data = c.packed_bytes();
    } else {
      t.dtype = engine::FileDType::kF32;
      t.data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(c.data.data()),
                                        c.data.size() * 4);
    }
    weights_bytes += static_cast<int64_t>(t.data.size());
    graph["constants"][i]["tensor"] = t.name;
    contents.tensors.push_back(std::move(t));
  }
  json meta;
  meta["format"] = "stgcn-engine";
  meta["toolkit_version"] = STGCN_VERSION;
  meta["precision"] = precision;
  meta["kernel_isa"] = kernel_isa;
  const backend::DeviceInfo device = be.device();
  meta["backend"] = be.name();
  meta["onednn_version"] = device.library.substr(device.library.find(' ') + 1);
  meta["build_cpu"] = device.device;
  meta["T"] = options.T;
  meta["M"] = options.M;
  meta["max_batch"] = options.max_batch;
  meta["macs"] = count_macs(model.spec, options.T, options.M);
  meta["weights_bytes"] = weights_bytes;
  meta["arena_bytes"] = arena_bytes;
  meta["passes_applied"] = applied;
  meta["passes_disabled"] = options.disabled_passes;
  meta["spec"] = engine::spec_to_json(model.spec);
  if (!quant_record.is_null()) meta["quantization"] = quant_record;
  const Status continual = be.check_streaming(g);
  meta["continual"] = continual.is_ok();
  if (!continual.is_ok()) meta["continual_note"] = continual.message();
  meta["graph"] = graph;
  contents.metadata_json = meta.dump(1, ' ', false, json::error_handler_t::replace);
  STGCN_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, engine::serialize_engine_file(contents));
  return from_bytes(std::move(bytes), "<built engine>");
}

namespace {

// The shapes Context::run and the stream runtime take from EngineInfo (C, T, V, M from the
// spec and metadata; the class count) must be the graph's own input and output shapes.
Status check_metadata_against_graph(const EngineInfo& info, const ir::Graph& g) {
  const std::vector<int64_t> want_in = {info.spec.C(), info.T, info.spec.V(), info.M};
  const auto& in = g.values[g.input].shape;  // C T V M
  if (in != want_in)
    return Status(
        ErrorCode::kCorrupt,
        fmt::format("metadata says the input is (C, T, V, M) = ({}), the graph's input "
                    "'{}' is ({})",
                    fmt::join(want_in, ", "), g.values[g.input].name, fmt::join(in, ", ")));
  const int64_t classes = g.values[g.output].numel();
  if (info.spec.num_class() != classes)
    return Status(ErrorCode::kCorrupt,
                  fmt::format("metadata says {} classes, the graph's output '{}' has {}",
                              info.spec.num_class(), g.values[g.output].name, classes));
  if (info.spec.num_class() < 1 || info.spec.C() < 1 || info.spec.V() < 1)
    return Status(ErrorCode::kCorrupt, "metadata has an empty C, V or class count");
  return Status::ok();
}

Status finish_load(std::unique_ptr<engine::MappedEngineFile> file, Engine::Impl& impl) {
  const std::string& name = file->path();
  json meta = json::parse(file->metadata_json(), nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded() || !meta.is_object())
    return Status(ErrorCode::kCorrupt, fmt::format("cannot load '{}': metadata is not JSON", name));
  auto str = [&](const char* k) -> std::string {
    auto it = meta.find(k);
    return it != meta.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [&](const char* k) -> int64_t {
    auto it = meta.find(k);
    return it != meta.end() && it->is_number_integer() ? it->get<int64_t>() : -1;
  };
  if (str("format") != "stgcn-engine")
    return Status(ErrorCode::kCorrupt,
                  fmt::format("cannot load '{}': metadata is not an stgcn engine's", name));
  EngineInfo& info = impl.info;
  info.precision = str("precision");
  info.kernel_isa = str("kernel_isa");
  info.onednn_version = str("onednn_version");
  info.build_cpu = str("build_cpu");
  info.toolkit_version = str("toolkit_version");
  info.T = static_cast<int>(num("T"));
  info.M = static_cast<int>(num("M"));
  info.max_batch = static_cast<int>(num("max_batch"));
  info.macs = num("macs");
  info.format_version = file->format_version();
  info.file_bytes = static_cast<int64_t>(file->file_size());
  if (info.precision != "fp32" && info.precision != "bf16" && info.precision != "fp16" &&
      info.precision != "int8")
    return Status(ErrorCode::kUnsupported,
                  fmt::format("cannot load '{}': precision '{}' is not supported by this build",
                              name, info.precision));
  if (info.T < 1 || info.M < 1 || info.max_batch < 1 || info.max_batch > 4096)
    return Status(ErrorCode::kCorrupt,
                  fmt::format("cannot load '{}': bad T/M/max_batch in metadata", name));
  // The CPU must have the ISA the kernels were chosen (and weights packed) for.
  if (meta.contains("backend") && !meta["backend"].is_string())
    return Status(ErrorCode::kCorrupt, fmt::format("cannot load '{}': bad backend name", name));
  const std::string backend_name = meta.value("backend", std::string("cpu"));
  const backend::Backend* be = backend::find(backend_name);
  if (be == nullptr)
    return Status(ErrorCode::kUnsupported,
                  fmt::format("cannot load '{}': backend '{}' is not in this build", name,
                              escape_control(backend_name)));
  impl.backend = be;
  STGCN_RETURN_IF_ERROR(be->check_kernel_isa(info.kernel_isa, name, info.build_cpu));
  for (const char* k : {"passes_applied", "passes_disabled"}) {
    auto it = meta.find(k);
    if (it != meta.end() && it->is_array())
      for (const json& p : *it)
        if (p.is_string())
          (k[7] == 'a' ? info.passes_applied : info.passes_disabled)
              .push_back(p.get<std::string>());
  }
  auto spec = engine::spec_from_json(meta.value("spec", json()));
  if (!spec.is_ok()) return with_path(name, spec.status());
  info.spec = *spec;
  auto graph = engine::graph_from_json(meta.value("graph", json()));
  if (!graph.is_ok()) return with_path(name, graph.status());
  ir::Graph g = std::move(*graph);
  const json& jconsts = meta["graph"]["constants"];
  int64_t weights = 0;
  for (size_t i = 0; i < g.constants.size(); ++i) {
    ir::Constant& c = g.constants[i];
    const json& jc = jconsts[i];
    const std::string tname = jc.value("tensor", std::string());
    const engine::FileTensor* t = file->find(tname);
    if (t == nullptr)
      return Status(
          ErrorCode::kCorrupt,
          fmt::format("cannot load '{}': constant '{}' has no tensor '{}'", name, c.name, tname));
    const bool half_packed = t->dtype == engine::FileDType::kF16 && !t->layout.empty();
    if (t->dims != c.shape && !half_packed)
      return Status(ErrorCode::kCorrupt,
                    fmt::format("cannot load '{}': tensor '{}' shape differs from its constant",
                                name, tname));
    weights += static_cast<int64_t>(t->data.size());
    if (t->dtype == engine::FileDType::kF32) {
      c.data.resize(t->data.size() / 4);
      std::memcpy(c.data.data(), t->data.data(), c.data.size() * 4);
    } else if (half_packed) {
      c.packed.resize(t->data.size() * 2);
      for (size_t k = 0; k < t->data.size() / 2; ++k) {
        uint16_t h;
        std::memcpy(&h, t->data.data() + 2 * k, 2);
        const float f = half_to_float(h);
        std::memcpy(c.packed.data() + 4 * k, &f, 4);
      }
      c.layout = t->layout;
    } else if (t->dtype == engine::FileDType::kBytes && !t->layout.empty()) {
      c.layout = t->layout;
      c.mapped = t->data;
    } else {
      return Status(ErrorCode::kCorrupt,
                    fmt::format("cannot load '{}': tensor '{}' has dtype {}", name, tname,
                                engine::file_dtype_name(t->dtype)));
    }
  }
  info.weights_bytes = weights;
  Status st = ir::verify(g, be);
  if (!st.is_ok()) return with_path(name, st);
  // The metadata is untrusted like the rest of the file (anyone can edit and re-sign it):
  // every field the runner sizes buffers by must agree with the verified graph.
  STGCN_RETURN_IF_ERROR(with_path(name, check_metadata_against_graph(info, g)));
  for (const ir::Node& n : g.nodes)
    if (be->computes_in_low_precision(g, n))
      info.layer_precisions.emplace_back(n.name, ir::node_precision(g, n));
  if (meta.contains("quantization")) info.quantization_json = meta["quantization"].dump();
  // Recomputed from the verified graph (older files do not record it; the file may lie).
  const Status continual = be->check_streaming(g);
  info.continual = continual.is_ok();
  info.continual_note = continual.is_ok() ? std::string() : continual.message();
  auto exe = be->prepare(g, {.max_batch = info.max_batch});
  if (!exe.is_ok()) return with_path(name, exe.status());
  impl.exe = *exe;
  info.arena_bytes = be->arena_bytes(impl.exe->graph(), info.max_batch);
  impl.file = std::move(file);
  return Status::ok();
}

}  // namespace

Result<std::shared_ptr<const Engine>> Engine::from_bytes(std::vector<uint8_t> bytes,
                                                         const std::string& name) {
  STGCN_ASSIGN_OR_RETURN(auto file, engine::MappedEngineFile::from_bytes(std::move(bytes), name));
  std::shared_ptr<Engine> e(new Engine());
  STGCN_RETURN_IF_ERROR(finish_load(std::move(file), *e->impl_));
  return std::shared_ptr<const Engine>(e);
}

Result<std::shared_ptr<const Engine>> Engine::load(const std::string& path) {
  STGCN_ASSIGN_OR_RETURN(auto file, engine::MappedEngineFile::open(path));
  std::shared_ptr<Engine> e(new Engine());
  STGCN_RETURN_IF_ERROR(finish_load(std::move(file), *e->impl_));
  return std::shared_ptr<const Engine>(e);
}

Result<std::unique_ptr<Context>> Engine::create_context(int threads) const {
  if (threads <= 0) threads = std::max(1, omp_get_num_procs());
  STGCN_ASSIGN_OR_RETURN(auto runner, impl_->exe->create_context(threads));
  std::unique_ptr<Context> c(new Context());
  c->impl_->engine = shared_from_this();
  c->impl_->runner = std::move(runner);
  c->impl_->threads = threads;
  return c;
}

int Context::threads() const { return impl_->threads; }
int64_t Context::arena_bytes() const { return impl_->runner->arena_bytes(); }
void Context::set_profiling(bool on) { impl_->runner->set_profiling(on); }

std::vector<NodeTime> Context::profile() const {
  const auto& exe = *impl_->engine->impl_->exe;
  const auto& ms = impl_->runner->node_ms();
  const auto impls = exe.implementations();
  std::vector<NodeTime> out;
  for (size_t i = 0; i < exe.graph().nodes.size(); ++i) {
    const ir::Node& n = exe.graph().nodes[i];
    if (n.op == ir::Op::kInput) continue;
    out.push_back({n.name, ir::op_name(n.op), impls[i], ms[i]});
  }
  return out;
}

Status Context::run(std::span<const float> input, int batch, std::span<float> logits) {
  const EngineInfo& info = impl_->engine->info();
  const size_t per_in = static_cast<size_t>(info.spec.C()) * info.T * info.spec.V() * info.M;
  const size_t per_out = static_cast<size_t>(info.spec.num_class());
  if (batch < 1 || batch > info.max_batch)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("batch {} is outside 1..{} (the engine's maximum batch; rebuild with "
                              "--batch to raise it)",
                              batch, info.max_batch));
  if (input.size() != per_in * batch || logits.size() != per_out * batch)
    return Status(
        ErrorCode::kInvalidArgument,
        fmt::format("run: input holds {} floats and logits {}, expected {} x (C={}, T={}, "
                    "V={}, M={}) and {} x {}",
                    input.size(), logits.size(), batch, info.spec.C(), info.T, info.spec.V(),
                    info.M, batch, per_out));
  STGCN_RETURN_IF_ERROR(
      check_finite_input(input, info.spec.C(), info.T, info.spec.V(), info.M, "input"));
  return impl_->runner->run(input.data(), batch, logits.data());
}

Result<Tensor> Context::run(const Tensor& input) {
  const EngineInfo& info = impl_->engine->info();
  const auto& s = input.shape;
  if (s.size() != 5 || s[1] != info.spec.C() || s[2] != info.T || s[3] != info.spec.V() ||
      s[4] != info.M)
    return Status(
        ErrorCode::kInvalidArgument,
        fmt::format("input has shape ({}), the engine takes (N, {}, {}, {}, {}) (C, T, V, M "
                    "are fixed when the engine is built: stgcn build --T --M)",
                    fmt::join(s, ", "), info.spec.C(), info.T, info.spec.V(), info.M));
  const int64_t N = s[0];
  if (N < 1)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("input has shape ({}): N must be at least 1", fmt::join(s, ", ")));
  STGCN_RETURN_IF_ERROR(check_finite_input(input.data, s[1], s[2], s[3], s[4], "input"));
  const int64_t per_in = input.numel() / std::max<int64_t>(1, N);
  const int64_t classes = info.spec.num_class();
  Tensor out;
  out.shape = {N, classes};
  out.data.assign(static_cast<size_t>(N * classes), 0.f);
  for (int64_t n0 = 0; n0 < N; n0 += info.max_batch) {
    const int b = static_cast<int>(std::min<int64_t>(info.max_batch, N - n0));
    STGCN_RETURN_IF_ERROR(run(std::span<const float>(input.data.data() + n0 * per_in, b * per_in),
                              b, std::span<float>(out.data.data() + n0 * classes, b * classes)));
  }
  return out;
}

bool is_engine_path(const std::string& path) {
  if (path.size() >= 7 && path.compare(path.size() - 7, 7, ".engine") == 0) return true;
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  return f.gcount() == 8 && std::memcmp(magic, "STGCNENG", 8) == 0;
}

MachineInfo machine_info() {
  const backend::Backend& be = backend::default_backend();
  const backend::DeviceInfo d = be.device();
  return {be.name(), d.library, d.device, d.isa};
}

std::vector<std::pair<std::string, std::string>> list_passes() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : passes::pipeline()) out.emplace_back(p.name, p.summary);
  return out;
}

Result<Int8Plan> plan_int8(const Model& model, const BuildOptions& options) {
  if (options.T < 1 || options.T > 100000 || options.M < 1 || options.M > 64)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("T={} M={}: need 1 <= T <= 100000, 1 <= M <= 64", options.T,
                              options.M));
  // The full pipeline: the plan describes the fused graph an export mirrors.
  STGCN_ASSIGN_OR_RETURN(ir::Graph g, ir::graph_from_model(model, options.T, options.M));
  STGCN_ASSIGN_OR_RETURN(std::vector<std::string> applied, passes::run_pipeline(g, {}));
  (void)applied;
  const backend::Backend& be = backend::default_backend();
  Int8Plan plan;
  plan.layers = passes::quantizable_layers(g, be);
  STGCN_ASSIGN_OR_RETURN(QuantPlan q, plan_quantization(g, options));
  // Quantising a copy checks what a build would: the layer names, the table's entries.
  STGCN_RETURN_IF_ERROR(passes::quantize_int8(g, q.table.ranges, q.keep, be));
  for (const auto& [name, range] : q.table.ranges) plan.thresholds[name] = range.amax;
  plan.fp32_layers = std::move(q.keep);
  plan.record_json = q.record.dump();
  return plan;
}


namespace engine {

Result<std::unique_ptr<backend::Streaming>> Access::prepare_streaming(
    const Engine& engine, const backend::StreamingOptions& options) {
  const Engine::Impl& im = *engine.impl_;
  if (!im.info.continual)
    return Status(ErrorCode::kUnsupported,
                  fmt::format("this engine cannot run in continual mode: {}",
                              im.info.continual_note));
  return im.backend->prepare_streaming(im.exe->graph(), options);
}

}  // namespace engine
}  // namespace stgcn
