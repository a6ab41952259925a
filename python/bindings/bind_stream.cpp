// The stream runtime and the frame sources from Python: StreamRuntime (window / continual,
// push persons as a (P, V, C) array with track ids, events by callback or poll) and
// stgcn.open_source (MediaPipe / OpenPose / NTU / Kinetics / JSONL files as frames).
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.h"
#include "stgcn/sources.h"
#include "stgcn/stream.h"

namespace stgcn::py {
namespace {

struct PyRuntime {
  std::unique_ptr<StreamRuntime> rt;
  std::shared_ptr<const Engine> engine;  // kept alive while the runtime uses it
  std::shared_ptr<nb::object> callback;  // the on_event callable (GIL taken per event)

  ~PyRuntime() {
    // Workers may wait for the GIL inside the callback: stop them without holding it.
    nb::gil_scoped_release release;
    rt.reset();
  }
};

StreamRuntime& live(PyRuntime& r) {
  if (!r.rt) raise(Status(ErrorCode::kInvalidArgument, "this StreamRuntime was cleared"));
  return *r.rt;
}

struct PySource {
  std::unique_ptr<FrameSource> src;
};

// The garbage collector sees the on_event callable (a callback that closes over the runtime
// makes a cycle through C++); clearing stops the workers before dropping it.
int runtime_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  PyRuntime* r = nb::inst_ptr<PyRuntime>(self);
  if (r->callback) Py_VISIT(r->callback->ptr());
  return 0;
}

int runtime_clear(PyObject* self) {
  PyRuntime* r = nb::inst_ptr<PyRuntime>(self);
  {
    nb::gil_scoped_release release;
    r->rt.reset();
  }
  r->callback.reset();
  return 0;
}

PyType_Slot runtime_slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(runtime_traverse)},
                               {Py_tp_clear, reinterpret_cast<void*>(runtime_clear)},
                               {0, nullptr}};

nb::dict event_dict(const StreamEvent& e) {
  nb::dict d;
  d["stream"] = e.stream;
  d["tracks"] = e.tracks;
  d["frame"] = e.frame;
  d["timestamp"] = e.timestamp;
  d["label"] = e.label;
  d["score"] = e.score;
  nb::list top;
  for (const auto& [c, p] : e.top) top.append(nb::make_tuple(c, p));
  d["top"] = top;
  d["logits"] = e.logits;
  d["latency_ms"] = e.latency_ms;
  d["final"] = e.final;
  return d;
}

template <typename E>
E parse_choice(const std::string& v, std::initializer_list<std::pair<const char*, E>> choices,
               const char* what) {
  std::string names;
  for (const auto& [n, e] : choices) {
    if (v == n) return e;
    names += names.empty() ? std::string(n) : std::string(", ") + n;
  }
  raise_value_error(std::string(what) + " must be one of " + names + ", got '" + v + "'");
}

// persons: (P, V, 2|3) array of x, y[, z]; confidence: (P, V) or None.
Frame make_frame(const std::string& stream, double timestamp, nb::handle persons,
                 const std::vector<int64_t>& tracks, nb::handle confidence) {
  Frame f;
  f.stream = stream;
  f.timestamp = timestamp;
  if (persons.is_none()) {
    if (!tracks.empty()) raise_value_error("tracks given without persons");
    return f;
  }
  Tensor p = to_tensor(nb::cast<FloatArray>(
      nb::module_::import_("numpy").attr("asarray")(persons, "float32")));
  if (p.rank() != 3 || (p.shape[2] != 2 && p.shape[2] != 3))
    raise_value_error("persons has shape " + shape_string(p.shape) +
                      ", expected (P, V, 2) or (P, V, 3)");
  const int64_t P = p.shape[0], V = p.shape[1], D = p.shape[2];
  if (static_cast<int64_t>(tracks.size()) != P)
    raise_value_error(std::to_string(tracks.size()) + " track ids for " + std::to_string(P) +
                      " persons");
  Tensor c;
  if (!confidence.is_none()) {
    c = to_tensor(nb::cast<FloatArray>(
        nb::module_::import_("numpy").attr("asarray")(confidence, "float32")));
    if (c.rank() != 2 || c.shape[0] != P || c.shape[1] != V)
      raise_value_error("confidence has shape " + shape_string(c.shape) + ", expected (" +
                        std::to_string(P) + ", " + std::to_string(V) + ")");
  }
  for (int64_t i = 0; i < P; ++i) {
    PersonObs o;
    o.track = tracks[static_cast<size_t>(i)];
    o.xyz.assign(static_cast<size_t>(V * 3), 0.f);
    for (int64_t v = 0; v < V; ++v)
      for (int64_t d = 0; d < D; ++d) o.xyz[v * 3 + d] = p.data[(i * V + v) * D + d];
    if (!c.data.empty()) o.confidence.assign(c.data.begin() + i * V, c.data.begin() + (i + 1) * V);
    f.persons.push_back(std::move(o));
  }
  return f;
}

nb::dict frame_dict(const Frame& f) {
  nb::dict d;
  d["stream"] = f.stream;
  d["timestamp"] = f.timestamp;
  const size_t P = f.persons.size();
  const size_t V = P ? f.persons[0].xyz.size() / 3 : 0;
  Tensor xyz({static_cast<int64_t>(P), static_cast<int64_t>(V), 3});
  Tensor conf({static_cast<int64_t>(P), static_cast<int64_t>(V)});
  std::vector<int64_t> tracks;
  for (size_t i = 0; i < P; ++i) {
    const PersonObs& o = f.persons[i];
    tracks.push_back(o.track);
    std::copy(o.xyz.begin(), o.xyz.begin() + static_cast<std::ptrdiff_t>(std::min(o.xyz.size(), V * 3)),
              xyz.data.begin() + static_cast<std::ptrdiff_t>(i * V * 3));
    for (size_t v = 0; v < V; ++v)
      conf.data[i * V + v] = o.confidence.empty() ? 1.f : o.confidence[v];
  }
  d["persons"] = to_numpy(xyz);
  d["confidence"] = to_numpy(conf);
  d["tracks"] = tracks;
  return d;
}

}  // namespace

void bind_stream(nb::module_& m) {
  nb::class_<PyRuntime>(m, "StreamRuntime", nb::type_slots(runtime_slots),
                        "Action recognition on live pose streams (many cameras, many tracks): "
                        "window or continual mode, events by callback or poll().")
      .def(
          "__init__",
          [](PyRuntime* self, nb::handle source, const std::string& mode, int hop, int T, int M,
             const std::string& grouping, const std::string& channels,
             const std::string& normalize, const std::string& fill, float min_confidence,
             double track_timeout, int min_frames, int top_k, std::vector<std::string> labels,
             int max_batch, double max_delay_ms, int workers, int threads, int queue_capacity,
             bool block_when_full, int events_capacity, bool lookahead, int max_tracks,
             nb::object on_event) {
            StreamOptions o;
            o.mode = parse_choice<StreamMode>(
                mode, {{"window", StreamMode::kWindow}, {"continual", StreamMode::kContinual}},
                "mode");
            o.hop = hop;
            o.grouping = parse_choice<Grouping>(
                grouping,
                {{"auto", Grouping::kAuto}, {"track", Grouping::kTrack}, {"stream", Grouping::kStream}},
                "grouping");
            o.channels = channels;
            o.normalize = parse_choice<Normalize>(
                normalize,
                {{"none", Normalize::kNone}, {"center", Normalize::kCenter},
                 {"center-scale", Normalize::kCenterScale}},
                "normalize");
            o.fill = parse_choice<Fill>(fill, {{"zero", Fill::kZero}, {"last", Fill::kLast}}, "fill");
            o.min_confidence = min_confidence;
            o.track_timeout = track_timeout;
            o.min_frames = min_frames;
            o.top_k = top_k;
            o.labels = std::move(labels);
            o.max_batch = max_batch;
            o.max_delay_ms = max_delay_ms;
            o.workers = workers;
            o.threads = threads;
            o.queue_capacity = queue_capacity;
            o.block_when_full = block_when_full;
            o.events_capacity = events_capacity;
            o.lookahead = lookahead;
            o.max_tracks = max_tracks;
            // Everything is made first: the instance is constructed only on success.
            std::shared_ptr<nb::object> callback;
            std::shared_ptr<const Engine> engine;
            if (!on_event.is_none()) {
              callback = hold(std::move(on_event));
              auto cb = callback;
              o.on_event = [cb](const StreamEvent& e) {
                nb::gil_scoped_acquire gil;
                try {
                  (*cb)(event_dict(e));
                } catch (nb::python_error& err) {
                  err.discard_as_unraisable("stgcn.StreamRuntime on_event");
                }
              };
            }
            Result<std::unique_ptr<StreamRuntime>> r = Status(ErrorCode::kInternal, "unset");
            if (nb::isinstance<PyEngine>(source)) {
              engine = nb::cast<PyEngine&>(source).engine;
              nb::gil_scoped_release release;
              r = o.mode == StreamMode::kContinual ? StreamRuntime::create_continual(engine, o)
                                                   : StreamRuntime::create(engine, o);
            } else if (nb::isinstance<PyModel>(source)) {
              PyModel& pm = nb::cast<PyModel&>(source);
              nb::gil_scoped_release release;
              if (o.mode == StreamMode::kContinual) {
                r = StreamRuntime::create_continual(*pm.model, T, M, o);
              } else {
                BuildOptions b;
                b.T = T;
                b.M = M;
                b.max_batch = 8;
                auto e = Engine::build(*pm.model, b);
                if (e.is_ok()) {
                  engine = *e;
                  r = StreamRuntime::create(engine, o);
                } else {
                  r = e.status();
                }
              }
            } else {
              raise_value_error("StreamRuntime needs an stgcn.Engine or an stgcn.Model");
            }
            std::unique_ptr<StreamRuntime> made = take(std::move(r));
            auto* rt = new (self) PyRuntime();
            rt->rt = std::move(made);
            rt->engine = std::move(engine);
            rt->callback = std::move(callback);
          },
          nb::arg("source"), nb::kw_only(), nb::arg("mode") = "window", nb::arg("hop") = 0,
          nb::arg("T") = 150, nb::arg("M") = 1, nb::arg("grouping") = "auto",
          nb::arg("channels") = "", nb::arg("normalize") = "none", nb::arg("fill") = "zero",
          nb::arg("min_confidence") = 0.f, nb::arg("track_timeout") = 1.0,
          nb::arg("min_frames") = 0, nb::arg("top_k") = 3,
          nb::arg("labels") = std::vector<std::string>{}, nb::arg("max_batch") = 0,
          nb::arg("max_delay_ms") = 2.0, nb::arg("workers") = 0, nb::arg("threads") = 0,
          nb::arg("queue_capacity") = 1024, nb::arg("block_when_full") = false,
          nb::arg("events_capacity") = 65536, nb::arg("lookahead") = false,
          nb::arg("max_tracks") = 64, nb::arg("on_event") = nb::none(),
          "A runtime over an Engine (its T, M, precision) or a Model (continual: from its "
          "weights with T and M; window: an FP32 engine built for T and M). Options as "
          "docs/runtime.md; on_event(event: dict) is called on a worker thread, else events "
          "wait for poll().")
      .def(
          "push",
          [](PyRuntime& r, const std::string& stream, double timestamp, nb::handle persons,
             std::vector<int64_t> tracks, nb::handle confidence) {
            Frame f = make_frame(stream, timestamp, persons, tracks, confidence);
            call_released([&] { return live(r).push(f); });
          },
          nb::arg("stream"), nb::arg("timestamp"), nb::arg("persons") = nb::none(),
          nb::arg("tracks") = std::vector<int64_t>{}, nb::arg("confidence") = nb::none(),
          "One frame of a stream: persons (P, V, 2|3) x, y[, z] with their track ids, and "
          "optional per-joint confidence (P, V). A malformed or out-of-order frame raises "
          "InvalidArgumentError and the stream goes on.")
      .def(
          "push_frame",
          [](PyRuntime& r, nb::dict frame) {
            Frame f = make_frame(nb::cast<std::string>(frame["stream"]),
                                 nb::cast<double>(frame["timestamp"]), frame["persons"],
                                 nb::cast<std::vector<int64_t>>(frame["tracks"]),
                                 frame.contains("confidence") ? nb::handle(frame["confidence"])
                                                              : nb::handle(nb::none()));
            call_released([&] { return live(r).push(f); });
          },
          nb::arg("frame"), "Pushes a frame dict as a source yields it.")
      .def(
          "end_stream",
          [](PyRuntime& r, const std::string& stream) {
            call_released([&] { return live(r).end_stream(stream); });
          },
          nb::arg("stream"), "The stream ended: classify each track's last frames (final events).")
      .def(
          "drain",
          [](PyRuntime& r) {
            nb::gil_scoped_release release;
            live(r).drain();
          },
          "Blocks until every accepted frame's work is classified and delivered.")
      .def(
          "poll",
          [](PyRuntime& r, size_t max) {
            std::vector<StreamEvent> events;
            {
              nb::gil_scoped_release release;
              live(r).poll(events, max);
            }
            nb::list out;
            for (const StreamEvent& e : events) out.append(event_dict(e));
            return out;
          },
          nb::arg("max") = 0, "Queued events (up to `max`; 0: all), as dicts.")
      .def_prop_ro(
          "stats",
          [](PyRuntime& r) {
            const StreamStats s = live(r).stats();
            nb::dict d;
            d["streams"] = s.streams;
            d["tracks"] = s.tracks;
            d["frames"] = s.frames;
            d["rejected"] = s.rejected;
            d["samples"] = s.samples;
            d["events"] = s.events;
            d["dropped"] = s.dropped;
            d["dropped_events"] = s.dropped_events;
            d["unplaced"] = s.unplaced;
            d["batches"] = s.batches;
            d["mean_batch"] = s.mean_batch;
            d["latency_p50_ms"] = s.latency_p50_ms;
            d["latency_p99_ms"] = s.latency_p99_ms;
            d["queued"] = s.queued;
            return d;
          },
          "Counters: frames, events, drops, batches, latency percentiles.")
      .def_prop_ro("T", [](PyRuntime& r) { return live(r).T(); })
      .def_prop_ro("M", [](PyRuntime& r) { return live(r).M(); })
      .def_prop_ro("V", [](PyRuntime& r) { return live(r).V(); })
      .def_prop_ro("num_class", [](PyRuntime& r) { return live(r).num_class(); })
      .def_prop_ro("hop", [](PyRuntime& r) { return live(r).hop(); })
      .def_prop_ro("mode", [](PyRuntime& r) { return std::string(stream_mode_name(live(r).mode())); });

  nb::class_<PySource>(m, "Source",
                       "Frames read from a pose file (stgcn.open_source); iterate for frame "
                       "dicts: stream, timestamp, persons (P, V, 3), confidence (P, V), tracks.")
      .def("__iter__", [](nb::handle self) { return nb::borrow(self); })
      .def("__next__",
           [](PySource& s) {
             Frame f;
             Result<bool> more = false;
             {
               nb::gil_scoped_release release;
               more = s.src->next(f);
             }
             if (!take(std::move(more))) throw nb::stop_iteration();
             return frame_dict(f);
           })
      .def_prop_ro("stream", [](PySource& s) { return s.src->stream(); })
      .def_prop_ro("joints", [](PySource& s) { return s.src->joints(); })
      .def_prop_ro("layout", [](PySource& s) { return s.src->layout(); })
      .def_prop_ro("errors", [](PySource& s) { return s.src->errors(); },
                   "Malformed records skipped so far.");

  m.def(
      "open_source",
      [](nb::object path, const std::string& format, const std::string& stream,
         const std::string& layout, const std::string& source_layout, double fps, double width,
         double height) {
        SourceOptions o;
        o.format = take(parse_source_format(format));
        o.stream = stream;
        o.layout = layout;
        o.source_layout = source_layout;
        o.fps = fps;
        o.width = width;
        o.height = height;
        const std::string p =
            nb::cast<std::string>(nb::str(nb::module_::import_("os").attr("fspath")(path)));
        auto* s = new PySource();
        auto r = FrameSource::open(p, o);
        if (!r.is_ok()) {
          delete s;
          raise(r.status());
        }
        s->src = std::move(*r);
        return s;
      },
      nb::arg("path"), nb::kw_only(), nb::arg("format") = "auto", nb::arg("stream") = "",
      nb::arg("layout") = "", nb::arg("source_layout") = "", nb::arg("fps") = 30.0,
      nb::arg("width") = 0.0, nb::arg("height") = 0.0, nb::rv_policy::take_ownership,
      "Opens a pose file as frames (docs/sources.md): format 'auto' | 'jsonl' | 'mediapipe-json' "
      "| 'mediapipe-csv' | 'openpose' | 'ntu' | 'kinetics'; layout maps the joints to the "
      "model's; width / height normalise pixel coordinates.");
}

}  // namespace stgcn::py
