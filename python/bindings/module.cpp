// The `stgcn._stgcn` extension: exceptions, array conversion, `load` and `Model`.
// Engines and contexts: bind_engine.cpp; the stream runtime and sources: bind_stream.cpp.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <filesystem>

#include "common.h"
#include "stgcn/graph.h"
#include "stgcn/npy.h"
#include "stgcn/reference.h"

namespace stgcn::py {

namespace {

// The exception classes, by ErrorCode (made at import, kept for the module's life).
PyObject* g_errors[8] = {};

PyObject* error_class(ErrorCode code) {
  PyObject* c = g_errors[static_cast<int>(code)];
  return c ? c : g_errors[0];
}

PyObject* make_error(nb::module_& m, const char* name, PyObject* base, PyObject* second,
                     const char* doc) {
  PyObject* bases = second ? PyTuple_Pack(2, base, second) : PyTuple_Pack(1, base);
  const std::string qual = std::string("stgcn.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qual.c_str(), doc, bases, nullptr);
  Py_DECREF(bases);
  if (!cls) throw nb::python_error();
  m.attr(name) = nb::borrow(cls);
  return cls;  // the module keeps a reference; so does g_errors
}

}  // namespace

void raise(const Status& st) {
  PyErr_SetString(error_class(st.code()), st.message().c_str());
  throw nb::python_error();
}

void raise_value_error(const std::string& message) {
  raise(Status(ErrorCode::kInvalidArgument, message));
}

Tensor to_tensor(const FloatArray& a) {
  std::vector<int64_t> shape;
  for (size_t i = 0; i < a.ndim(); ++i) shape.push_back(static_cast<int64_t>(a.shape(i)));
  Tensor t(shape);
  if (!t.data.empty()) std::memcpy(t.data.data(), a.data(), t.data.size() * sizeof(float));
  return t;
}

nb::object to_numpy(const Tensor& t) {
  auto* buf = new std::vector<float>(t.data);
  nb::capsule owner(buf, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
  std::vector<size_t> shape(t.shape.begin(), t.shape.end());
  return nb::cast(nb::ndarray<nb::numpy, float>(buf->data(), shape.size(), shape.data(), owner));
}

nb::object new_matrix(size_t rows, size_t cols, float** data) {
  auto* buf = new std::vector<float>(rows * cols, 0.f);
  *data = buf->data();
  nb::capsule owner(buf, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
  const size_t shape[2] = {rows, cols};
  return nb::cast(nb::ndarray<nb::numpy, float>(buf->data(), 2, shape, owner));
}

Tensor samples_from(const nb::handle& obj, const ModelSpec& spec, const std::string& layout,
                    const char* what) {
  Tensor t;
  if (nb::isinstance<nb::str>(obj) || nb::hasattr(obj, "__fspath__")) {
    const std::string path = nb::cast<std::string>(nb::str(nb::module_::import_("os").attr("fspath")(obj)));
    t = take(read_npy(path));
  } else {
    FloatArray a;
    if (!nb::try_cast(obj, a))
      raise_value_error(std::string(what) + " must be a float array or a .npy path");
    t = to_tensor(a);
  }
  InputLayout from = spec.input_layout();
  if (!layout.empty()) from = take(parse_input_layout(layout));
  if (t.rank() != 5)
    raise_value_error(std::string(what) + " has shape " + shape_string(t.shape) +
                      ", expected 5 axes (" +
                      (from == InputLayout::kNCTVM ? "N, C, T, V, M" : "N, M, T, V, C") + ")");
  return take(convert_input_layout(t, from, InputLayout::kNCTVM));
}

nb::dict spec_dict(const ModelSpec& s) {
  nb::dict d;
  d["family"] = s.family;
  d["dialect"] = dialect_name(s.dialect);
  d["layout"] = s.layout;
  d["strategy"] = s.strategy;
  d["a_source"] = s.a_source;
  d["two_stream"] = s.two_stream;
  if (s.two_stream) d["motion"] = motion_mode_name(s.motion);
  d["gcn_adaptive"] = s.gcn_adaptive;
  d["input_layout"] = input_layout_name(s.input_layout());
  d["C"] = s.C();
  d["V"] = s.V();
  d["num_class"] = s.num_class();
  d["fixed_persons"] = s.fixed_persons();
  nb::list streams;
  for (const StreamSpec& st : s.streams) {
    nb::dict sd;
    sd["K"] = st.K;
    sd["temporal_kernel"] = st.temporal_kernel;
    sd["temporal_padding"] = temporal_padding_name(st.temporal_padding);
    sd["edge_importance"] = st.edge_importance;
    sd["data_bn_persons"] = st.data_bn_persons;
    nb::list blocks;
    for (const BlockSpec& b : st.blocks) {
      nb::dict bd;
      bd["in_channels"] = b.in_channels;
      bd["out_channels"] = b.out_channels;
      bd["stride"] = b.stride;
      bd["residual"] = residual_kind_name(b.residual);
      bd["gcn_residual"] = residual_kind_name(b.gcn_residual);
      bd["temporal"] = b.temporal == TemporalUnit::kMultiScale ? "mstcn" : "conv";
      if (!b.branch_channels.empty()) bd["branch_channels"] = b.branch_channels;
      blocks.append(bd);
    }
    sd["blocks"] = blocks;
    streams.append(sd);
  }
  d["streams"] = streams;
  return d;
}

namespace {

LoadOptions load_options(const std::optional<std::string>& layout,
                         const std::optional<std::string>& strategy, int max_hop, int dilation,
                         const std::optional<std::string>& motion,
                         const std::optional<std::vector<int>>& strides,
                         const std::optional<std::string>& temporal_padding,
                         const std::optional<std::string>& gcn_adaptive) {
  LoadOptions o;
  o.layout = layout;
  if (strategy) o.strategy = take(parse_strategy(*strategy));
  o.max_hop = max_hop;
  o.dilation = dilation;
  if (motion) o.motion = take(parse_motion_mode(*motion));
  o.strides = strides;
  if (temporal_padding) o.temporal_padding = take(parse_temporal_padding(*temporal_padding));
  if (gcn_adaptive) {
    if (*gcn_adaptive != "importance" && *gcn_adaptive != "offset")
      raise_value_error("gcn_adaptive must be 'importance' or 'offset', got '" + *gcn_adaptive +
                        "'");
    o.gcn_adaptive = gcn_adaptive;
  }
  return o;
}

}  // namespace

void bind_model(nb::module_& m) {
  nb::class_<PyModel> model(m, "Model",
                            "A trained ST-GCN-family model (checkpoint or ONNX), read by stgcn.load().");
  model.def_prop_ro(
          "spec", [](const PyModel& p) { return spec_dict(p.model->spec); },
          "The architecture as a dict: family, dialect, layout, strategy, C, V, num_class, "
          "input_layout, streams with their blocks.")
      .def_prop_ro("path", [](const PyModel& p) { return p.path; }, "The file it was read from.")
      .def(
          "describe",
          [](const PyModel& p) {
            nb::dict d = spec_dict(p.model->spec);
            d["path"] = p.path;
            d["parameters"] = parameter_count(*p.model);
            return d;
          },
          "What `stgcn inspect MODEL --json` reports: the spec plus the parameter count.")
      .def(
          "run_reference",
          [](const PyModel& p, nb::handle x, const std::string& input_layout) {
            Tensor t = samples_from(x, p.model->spec, input_layout, "x");
            Tensor y;
            {
              nb::gil_scoped_release release;
              auto r = run_reference(*p.model, t);
              if (!r.is_ok()) {
                nb::gil_scoped_acquire again;
                raise(r.status());
              }
              y = std::move(*r);
            }
            return to_numpy(y);
          },
          nb::arg("x"), nb::arg("input_layout") = "",
          "Logits of the FP32 reference executor (plain loops, the oracle) on samples in the "
          "model's layout (or `input_layout`: 'nctvm' / 'nmtvc').")
      .def("__repr__", [](const PyModel& p) {
        const ModelSpec& s = p.model->spec;
        return "<stgcn.Model " + s.family + (s.two_stream ? " two-stream" : "") + ", layout " +
               s.layout + ", V=" + std::to_string(s.V()) + ", " + std::to_string(s.num_class()) +
               " classes, from '" + p.path + "'>";
      });
  add_build_methods(model);

  m.def(
      "load",
      [](nb::object path, std::optional<std::string> layout, std::optional<std::string> strategy,
         int max_hop, int dilation, std::optional<std::string> motion,
         std::optional<std::vector<int>> strides, std::optional<std::string> temporal_padding,
         std::optional<std::string> gcn_adaptive) {
        const std::string p =
            nb::cast<std::string>(nb::str(nb::module_::import_("os").attr("fspath")(path)));
        LoadOptions o = load_options(layout, strategy, max_hop, dilation, motion, strides,
                                     temporal_padding, gcn_adaptive);
        PyModel pm;
        pm.path = p;
        {
          nb::gil_scoped_release release;
          auto r = load_model(p, o);
          nb::gil_scoped_acquire again;
          pm.model = std::make_shared<const Model>(take(std::move(r)));
        }
        return pm;
      },
      nb::arg("path"), nb::kw_only(), nb::arg("layout") = nb::none(),
      nb::arg("strategy") = nb::none(), nb::arg("max_hop") = 1, nb::arg("dilation") = 1,
      nb::arg("motion") = nb::none(), nb::arg("strides") = nb::none(),
      nb::arg("temporal_padding") = nb::none(), nb::arg("gcn_adaptive") = nb::none(),
      "Reads a model: a PyTorch checkpoint (.pt / .pth: original ST-GCN, mmaction2 / pyskl "
      "ST-GCN and ST-GCN++) or an ONNX file. The keyword arguments are the CLI's graph options "
      "(layout, strategy, max_hop, dilation, motion, strides, temporal_padding, gcn_adaptive).");
}

}  // namespace stgcn::py

NB_MODULE(_stgcn, m) {
  using namespace stgcn;
  using namespace stgcn::py;
  m.doc() = "stgcn-rt: ST-GCN inference engines (C++ core; see docs/python.md)";
  PyObject* base = make_error(m, "StgcnError", PyExc_RuntimeError, nullptr,
                              "An error from the stgcn C++ core; the message is its one line.");
  g_errors[0] = base;
  g_errors[static_cast<int>(ErrorCode::kInternal)] = base;
  g_errors[static_cast<int>(ErrorCode::kInvalidArgument)] =
      make_error(m, "InvalidArgumentError", base, PyExc_ValueError, "Bad input: values, shapes.");
  g_errors[static_cast<int>(ErrorCode::kNotFound)] =
      make_error(m, "NotFoundError", base, PyExc_FileNotFoundError, "A missing file or key.");
  g_errors[static_cast<int>(ErrorCode::kIo)] =
      make_error(m, "IoError", base, PyExc_OSError, "A read or write failure.");
  g_errors[static_cast<int>(ErrorCode::kCorrupt)] =
      make_error(m, "CorruptFileError", base, nullptr, "A malformed or truncated file.");
  g_errors[static_cast<int>(ErrorCode::kUnsafe)] =
      make_error(m, "UnsafeFileError", base, nullptr, "A file refused as unsafe (e.g. a pickle "
                 "that would run code).");
  g_errors[static_cast<int>(ErrorCode::kUnsupported)] =
      make_error(m, "UnsupportedError", base, nullptr, "Well-formed but not handled.");
  m.attr("__version__") = STGCN_VERSION;
  bind_model(m);
  bind_engine(m);
  bind_stream(m);
}
