// Engines from Python: Model.build, Model.export_onnx, Engine (load / save / info / run) and
// Context (one per concurrent caller). The GIL is released while C++ runs; C-contiguous float32
// input in the engine's own layout is read in place (zero-copy), anything else is converted once.
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common.h"
#include "stgcn/npy.h"
#include "stgcn/onnx.h"

namespace stgcn::py {
namespace {

// Python objects are converted before the GIL is released; this holds what they became.
struct BuildArgs {
  BuildOptions options;
  Tensor calib, val, labels;
  std::string progress_error;
};

std::string path_of(nb::handle p) {
  return nb::cast<std::string>(nb::str(nb::module_::import_("os").attr("fspath")(p)));
}

void fill_int8(BuildArgs& a, const ModelSpec& spec, const std::string& layout, nb::handle calib,
               const std::optional<std::string>& calib_table, const std::string& calib_method,
               int calib_size, double percentile, const std::vector<std::string>& keep_fp32,
               std::optional<double> max_drop, nb::handle val, nb::handle val_labels) {
  BuildOptions& o = a.options;
  if (!calib.is_none()) {
    a.calib = samples_from(calib, spec, layout, "calib");
    o.calib = &a.calib;
  }
  if (calib_table) o.calib_table = *calib_table;
  o.calib_method = calib_method;
  o.calib_size = calib_size;
  o.percentile = percentile;
  o.keep_fp32 = keep_fp32;
  if (max_drop) o.max_drop = *max_drop;
  if (!val.is_none()) {
    a.val = samples_from(val, spec, layout, "val");
    o.val = &a.val;
  }
  if (!val_labels.is_none()) {
    if (nb::isinstance<nb::str>(val_labels) || nb::hasattr(val_labels, "__fspath__")) {
      a.labels = take(read_labels_npy(path_of(val_labels)));
    } else {
      nb::object arr = nb::module_::import_("numpy").attr("asarray")(val_labels, "float32");
      a.labels = to_tensor(nb::cast<FloatArray>(arr));
    }
    o.val_labels = &a.labels;
  }
}

// Progress lines go to a Python callable (the GIL taken for each); its exceptions are
// reported as unraisable, never thrown through C++.
std::function<void(const std::string&)> progress_to(nb::object fn) {
  if (fn.is_none()) return {};
  auto holder = hold(std::move(fn));
  return [holder](const std::string& line) {
    nb::gil_scoped_acquire gil;
    try {
      (*holder)(line);
    } catch (nb::python_error& e) {
      e.discard_as_unraisable("stgcn progress callback");
    }
  };
}

// Runs `input` (N samples in the engine's own layout) through `ctx`, chunked by the engine's
// maximum batch, into `out` (N, classes). The caller holds ctx's lock, not the GIL.
Status run_chunks(Context& ctx, const EngineInfo& info, const float* input, int64_t n,
                  int64_t per_sample, float* out) {
  const int64_t classes = info.spec.num_class();
  for (int64_t i = 0; i < n; i += info.max_batch) {
    const int64_t b = std::min<int64_t>(info.max_batch, n - i);
    STGCN_RETURN_IF_ERROR(ctx.run(std::span<const float>(input + i * per_sample, b * per_sample),
                                  static_cast<int>(b),
                                  std::span<float>(out + i * classes, b * classes)));
  }
  return Status::ok();
}

// The (C, T, V, M) sample shape the engine takes, in its model's own layout.
std::vector<int64_t> sample_shape(const EngineInfo& info) {
  const ModelSpec& s = info.spec;
  if (s.input_layout() == InputLayout::kNMTVC) return {info.M, info.T, s.V(), s.C()};
  return {s.C(), info.T, s.V(), info.M};
}

nb::object run_engine(PyContext& c, const FloatArray& x, std::optional<OutArray> out) {
  const EngineInfo& info = c.engine->info();
  const std::vector<int64_t> want = sample_shape(info);
  bool ok = x.ndim() == 5;
  for (size_t i = 0; ok && i < 4; ++i) ok = static_cast<int64_t>(x.shape(i + 1)) == want[i];
  if (!ok || x.shape(0) < 1) {
    std::vector<int64_t> got;
    for (size_t i = 0; i < x.ndim(); ++i) got.push_back(static_cast<int64_t>(x.shape(i)));
    raise_value_error("input has shape " + shape_string(got) + ", the engine takes (N, " +
                      std::to_string(want[0]) + ", " + std::to_string(want[1]) + ", " +
                      std::to_string(want[2]) + ", " + std::to_string(want[3]) + ")" +
                      (info.spec.input_layout() == InputLayout::kNMTVC ? " (N, M, T, V, C)" : ""));
  }
  const int64_t n = static_cast<int64_t>(x.shape(0)), classes = info.spec.num_class();
  const int64_t per = want[0] * want[1] * want[2] * want[3];
  nb::object result;
  float* y = nullptr;
  if (out) {
    if (out->ndim() != 2 || static_cast<int64_t>(out->shape(0)) != n ||
        static_cast<int64_t>(out->shape(1)) != classes)
      raise_value_error("out must be a C-contiguous float32 array of shape (" + std::to_string(n) +
                        ", " + std::to_string(classes) + ")");
    y = out->data();
    result = nb::cast(*out);
  } else {
    result = new_matrix(static_cast<size_t>(n), static_cast<size_t>(classes), &y);
  }
  Status st;
  {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(c.mu);
    c.last_input = x.data();
    if (info.spec.input_layout() == InputLayout::kNMTVC) {
      // The C++ core takes (N, C, T, V, M): one conversion for mmaction2-layout engines.
      Tensor t({n, want[0], want[1], want[2], want[3]},
               std::vector<float>(x.data(), x.data() + n * per));
      auto conv = convert_input_layout(t, InputLayout::kNMTVC, InputLayout::kNCTVM);
      st = conv.is_ok() ? run_chunks(*c.context, info, conv->data.data(), n, per, y)
                        : conv.status();
    } else {
      st = run_chunks(*c.context, info, x.data(), n, per, y);
    }
  }
  check(st);
  return result;
}

PyContext* make_context(std::shared_ptr<const Engine> e, int threads) {
  auto c = std::make_unique<PyContext>();
  c->engine = std::move(e);
  c->context = take(c->engine->create_context(threads));
  return c.release();
}

}  // namespace

nb::dict engine_info(const Engine& e) {
  const EngineInfo& i = e.info();
  nb::dict d;
  d["spec"] = spec_dict(i.spec);
  d["T"] = i.T;
  d["M"] = i.M;
  d["max_batch"] = i.max_batch;
  d["precision"] = i.precision;
  d["kernel_isa"] = i.kernel_isa;
  d["onednn_version"] = i.onednn_version;
  d["build_cpu"] = i.build_cpu;
  d["toolkit_version"] = i.toolkit_version;
  d["passes_applied"] = i.passes_applied;
  d["macs"] = i.macs;
  d["weights_bytes"] = i.weights_bytes;
  d["arena_bytes"] = i.arena_bytes;
  d["file_bytes"] = i.file_bytes;
  d["format_version"] = i.format_version;
  nb::dict layers;
  for (const auto& [name, p] : i.layer_precisions) layers[name.c_str()] = p;
  d["layer_precisions"] = layers;
  d["quantization"] = i.quantization_json.empty()
                          ? nb::object(nb::none())
                          : nb::module_::import_("json").attr("loads")(i.quantization_json);
  d["continual"] = i.continual;
  d["continual_note"] = i.continual_note;
  d["input_shape"] = sample_shape(i);
  return d;
}

void bind_engine(nb::module_& m) {
  nb::class_<PyContext>(m, "Context",
                        "An execution context of an Engine (its arena and threads): one caller at "
                        "a time; make one per thread for concurrent inference.")
      .def("run", &run_engine, nb::arg("x"), nb::arg("out") = nb::none(),
           "Logits (N, num_class) of samples x in the engine's input layout. A C-contiguous "
           "float32 array is read in place; other dtypes or strides are converted once. "
           "`out`: a preallocated C-contiguous float32 (N, num_class) array to fill. The GIL "
           "is released while the engine runs.")
      .def_prop_ro("threads", [](PyContext& c) { return c.context->threads(); })
      .def_prop_ro("arena_bytes", [](PyContext& c) { return c.context->arena_bytes(); })
      .def_prop_ro(
          "last_input_address",
          [](PyContext& c) { return reinterpret_cast<uintptr_t>(c.last_input); },
          "Address of the buffer the last run() read (tests: zero-copy checks).");

  nb::class_<PyEngine>(m, "Engine", "A model compiled for this CPU (Model.build / Engine.load).")
      .def_static(
          "load",
          [](nb::object path) {
            const std::string p = path_of(path);
            std::shared_ptr<const Engine> e;
            {
              nb::gil_scoped_release release;
              auto r = Engine::load(p);
              nb::gil_scoped_acquire again;
              e = take(std::move(r));
            }
            auto* pe = new PyEngine();
            pe->engine = std::move(e);
            return pe;
          },
          nb::arg("path"), nb::rv_policy::take_ownership,
          "Memory-maps and validates an engine file (format version, checksum, ISA).")
      .def(
          "save", [](PyEngine& e, nb::object path) { check(e.engine->save(path_of(path))); },
          nb::arg("path"), "Writes the engine file atomically (no partial file on failure).")
      .def_prop_ro("info", [](PyEngine& e) { return engine_info(*e.engine); },
                   "What `stgcn inspect ENGINE --json` reports, as a dict.")
      .def(
          "context",
          [](PyEngine& e, int threads) { return make_context(e.engine, threads); },
          nb::arg("threads") = 0, nb::rv_policy::take_ownership,
          "A new execution context; threads <= 0: one per core.")
      .def(
          "run",
          [](PyEngine& e, const FloatArray& x, std::optional<OutArray> out) {
            // The engine's own context, made on first use; callers queue on its lock.
            std::shared_ptr<PyContext> c;
            {
              std::lock_guard<std::mutex> lock(e.mu);
              if (!e.context) e.context.reset(make_context(e.engine, 0));
              c = e.context;
            }
            return run_engine(*c, x, out);
          },
          nb::arg("x"), nb::arg("out") = nb::none(),
          "Logits of samples x on the engine's own context (serialised between callers; use "
          "Engine.context() per thread for concurrency). Same input rules as Context.run.")
      .def("graph_text", [](PyEngine& e) { return e.engine->graph_text(); },
           "The optimised graph, one line per op.")
      .def("__repr__", [](PyEngine& e) {
        const EngineInfo& i = e.engine->info();
        return "<stgcn.Engine " + i.precision + " " + i.spec.family + ", T=" + std::to_string(i.T) +
               ", M=" + std::to_string(i.M) + ", max batch " + std::to_string(i.max_batch) +
               ", " + i.kernel_isa + ">";
      });
  m.def(
      "machine",
      []() {
        MachineInfo i = machine_info();
        nb::dict d;
        d["backend"] = i.backend;
        d["library"] = i.library;
        d["device"] = i.device;
        d["isa"] = i.isa;
        return d;
      },
      "The machine engines are built for: backend, library, CPU model, effective ISA.");
}

void add_build_methods(nb::class_<PyModel>& model) {
  model
      .def(
          "build",
          [](const PyModel& pm, const std::string& precision, int T, int M, int batch,
             nb::handle calib, std::optional<std::string> calib_table,
             const std::string& calib_method, int calib_size, double percentile,
             std::vector<std::string> keep_fp32, std::optional<double> max_drop, nb::handle val,
             nb::handle val_labels, nb::object progress, const std::string& input_layout,
             std::vector<std::string> disable_passes) {
            BuildArgs a;
            BuildOptions& o = a.options;
            o.T = T;
            o.M = M;
            o.max_batch = batch;
            o.precision = precision;
            o.disabled_passes = std::move(disable_passes);
            o.progress = progress_to(progress);
            o.warn = [](const std::string& w) {
              nb::gil_scoped_acquire gil;
              PyErr_WarnEx(PyExc_RuntimeWarning, w.c_str(), 1);
            };
            if (precision != "int8" && (!calib.is_none() || calib_table || max_drop ||
                                        !keep_fp32.empty()))
              raise_value_error("calib, calib_table, max_drop and keep_fp32 need precision='int8'");
            fill_int8(a, pm.model->spec, input_layout, calib, calib_table, calib_method,
                      calib_size, percentile, keep_fp32, max_drop, val, val_labels);
            std::shared_ptr<const Engine> e;
            {
              nb::gil_scoped_release release;
              auto r = Engine::build(*pm.model, o);
              nb::gil_scoped_acquire again;
              if (PyErr_Occurred()) throw nb::python_error();  // a warning turned error
              e = take(std::move(r));
            }
            auto* pe = new PyEngine();
            pe->engine = std::move(e);
            return pe;
          },
          nb::arg("precision") = "fp32", nb::kw_only(), nb::arg("T") = 150, nb::arg("M") = 1,
          nb::arg("batch") = 1, nb::arg("calib") = nb::none(), nb::arg("calib_table") = nb::none(),
          nb::arg("calib_method") = "entropy", nb::arg("calib_size") = 0,
          nb::arg("percentile") = 99.99, nb::arg("keep_fp32") = std::vector<std::string>{},
          nb::arg("max_drop") = nb::none(), nb::arg("val") = nb::none(),
          nb::arg("val_labels") = nb::none(), nb::arg("progress") = nb::none(),
          nb::arg("input_layout") = "", nb::arg("disable_passes") = std::vector<std::string>{},
          nb::rv_policy::take_ownership,
          "Compiles the model for this CPU: precision 'fp32' | 'bf16' | 'fp16' | 'int8'; T, M and "
          "the largest batch are fixed in the engine. int8: calib (array in the model's layout, "
          "or a .npy path) and/or calib_table (written when calib is given, else read), "
          "calib_method 'entropy' | 'percentile' | 'minmax', keep_fp32 layer names, max_drop with "
          "val / val_labels for the automatic FP32 fallback. progress: a callable receiving "
          "progress lines. The GIL is released while it compiles.")
      .def(
          "export_onnx",
          [](const PyModel& pm, nb::object path, int opset, int T, int M, int batch,
             bool dynamic_batch, bool softmax, const std::string& graph_conv, bool fold_bn,
             const std::string& precision, bool io_fp16, nb::handle calib,
             std::optional<std::string> calib_table, const std::string& calib_method,
             std::vector<std::string> keep_fp32, std::optional<double> max_drop, nb::handle val,
             nb::handle val_labels, const std::string& input_layout) {
            OnnxExportOptions o;
            o.opset = opset;
            o.T = T;
            o.M = M;
            o.batch = batch;
            o.dynamic_batch = dynamic_batch;
            o.softmax = softmax;
            if (graph_conv != "matmul" && graph_conv != "einsum")
              raise_value_error("graph_conv must be 'matmul' or 'einsum', got '" + graph_conv + "'");
            o.graph_conv = graph_conv == "einsum" ? GraphConvForm::kEinsum : GraphConvForm::kMatMul;
            o.fold_bn = fold_bn;
            o.io_fp16 = io_fp16;
            o.source_path = pm.path;
            if (precision == "fp16") o.precision = OnnxPrecision::kFp16;
            else if (precision == "int8") o.precision = OnnxPrecision::kInt8;
            else if (precision != "fp32")
              raise_value_error("precision must be 'fp32', 'fp16' or 'int8', got '" + precision + "'");
            BuildArgs a;
            const std::string out = path_of(path);
            if (o.precision == OnnxPrecision::kInt8) {
              a.options.T = T;
              a.options.M = M;
              a.options.precision = "int8";
              fill_int8(a, pm.model->spec, input_layout, calib, calib_table, calib_method, 0,
                        99.99, keep_fp32, max_drop, val, val_labels);
            } else if (!calib.is_none() || calib_table || max_drop || !keep_fp32.empty()) {
              raise_value_error("calib, calib_table, max_drop and keep_fp32 need precision='int8'");
            }
            nb::gil_scoped_release release;
            Status st;
            if (o.precision == OnnxPrecision::kInt8) {
              auto plan = plan_int8(*pm.model, a.options);
              if (plan.is_ok()) {
                o.int8_thresholds = std::move(plan->thresholds);
                o.int8_fp32_layers = std::move(plan->fp32_layers);
                o.int8_record = std::move(plan->record_json);
              } else {
                st = plan.status();
              }
            }
            if (st.is_ok()) st = export_onnx(*pm.model, o, out);
            nb::gil_scoped_acquire again;
            check(st);
          },
          nb::arg("path"), nb::kw_only(), nb::arg("opset") = 17, nb::arg("T") = 150,
          nb::arg("M") = 1, nb::arg("batch") = 1, nb::arg("dynamic_batch") = false,
          nb::arg("softmax") = false, nb::arg("graph_conv") = "matmul", nb::arg("fold_bn") = true,
          nb::arg("precision") = "fp32", nb::arg("io_fp16") = false, nb::arg("calib") = nb::none(),
          nb::arg("calib_table") = nb::none(), nb::arg("calib_method") = "entropy",
          nb::arg("keep_fp32") = std::vector<std::string>{}, nb::arg("max_drop") = nb::none(),
          nb::arg("val") = nb::none(), nb::arg("val_labels") = nb::none(),
          nb::arg("input_layout") = "",
          "Writes the model as ONNX (what `stgcn export` writes; docs/onnx.md, docs/tensorrt.md): "
          "precision 'fp32', 'fp16' (float16-typed) or 'int8' (explicit Q/DQ from our "
          "calibration: calib / calib_table as for build).");

}

}  // namespace stgcn::py
