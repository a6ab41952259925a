// Shared pieces of the `stgcn._stgcn` extension (nanobind): Status -> Python exceptions,
// numpy <-> Tensor, and the load / build options every binding file reads from keyword
// arguments. The bindings use only the public C++ API (include/stgcn/).
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "stgcn/engine.h"
#include "stgcn/model.h"
#include "stgcn/status.h"
#include "stgcn/tensor.h"

namespace stgcn::py {

namespace nb = nanobind;

// Raises the Python exception of `st`'s code (stgcn.StgcnError and its subclasses, made in
// module.cpp) with the one-line C++ message.
[[noreturn]] void raise(const Status& st);
inline void check(const Status& st) {
  if (!st.is_ok()) raise(st);
}
template <typename T>
T take(Result<T> r) {
  if (!r.is_ok()) raise(r.status());
  return std::move(r).value();
}
[[noreturn]] void raise_value_error(const std::string& message);
// Runs `f` (returning a Status) without the GIL, then raises its error with the GIL back.
template <typename F>
void call_released(F&& f) {
  Status st;
  {
    nb::gil_scoped_release release;
    st = f();
  }
  check(st);
}

// A C-contiguous float32 array on the CPU, any rank; nanobind converts (copies) other dtypes
// and strides, never silently for the zero-copy path (Context.run documents it).
using FloatArray = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;
using OutArray = nb::ndarray<float, nb::c_contig, nb::device::cpu>;

// A copy of `a` as a Tensor.
Tensor to_tensor(const FloatArray& a);
// A new numpy array owning a copy of `t`.
nb::object to_numpy(const Tensor& t);
// A new (rows, cols) float32 numpy array; `data` receives its buffer.
nb::object new_matrix(size_t rows, size_t cols, float** data);

// A Python object owned from C++ code that may drop it without the GIL (worker threads,
// released sections): the deleter takes the GIL.
inline std::shared_ptr<nb::object> hold(nb::object o) {
  return std::shared_ptr<nb::object>(new nb::object(std::move(o)), [](nb::object* p) {
    nb::gil_scoped_acquire gil;
    delete p;
  });
}

// Samples from an array (in `layout`, the model's own when empty) or a .npy path, as
// (N, C, T, V, M) for the C++ API.
Tensor samples_from(const nb::handle& obj, const ModelSpec& spec, const std::string& layout,
                    const char* what);

// The loaded model, shared by the Model object and everything built from it.
struct PyModel {
  std::shared_ptr<const Model> model;
  std::string path;
};

// An execution context: one caller at a time (its lock is taken without the GIL).
struct PyContext {
  std::shared_ptr<const Engine> engine;
  std::unique_ptr<Context> context;
  std::mutex mu;
  const void* last_input = nullptr;  // for the zero-copy check (tests)
};

// An engine and its lazily made default context (Engine.run; callers queue on it).
struct PyEngine {
  std::shared_ptr<const Engine> engine;
  std::mutex mu;
  std::shared_ptr<PyContext> context;
};

// Engine info as a dict (what `stgcn inspect ENGINE --json` shows).
nb::dict engine_info(const Engine& e);
// Model spec as a dict (family, dialect, layout, shapes, blocks).
nb::dict spec_dict(const ModelSpec& s);

void bind_model(nb::module_& m);
// Model.build and Model.export_onnx (bind_engine.cpp), added to the Model class.
void add_build_methods(nb::class_<PyModel>& model);
void bind_engine(nb::module_& m);
void bind_stream(nb::module_& m);

}  // namespace stgcn::py
