#include "serve/server_core.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstring>

#include "stgcn/model.h"

namespace stgcn::serve {

namespace {

constexpr const char* kWindowInput = "input";
constexpr const char* kFramesInput = "frames";
constexpr const char* kLogits = "logits";
constexpr const char* kFrameIndex = "frame_index";

std::string tensor_raw(const float* data, size_t n) {
  return std::string(reinterpret_cast<const char*>(data), n * sizeof(float));
}

std::string shape_text(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

// Counts a request in flight for drain(), and its outcome in the metrics.
class InFlight {
 public:
  InFlight(std::atomic<int64_t>& n, std::mutex& mu, std::condition_variable& cv)
      : n_(n), mu_(mu), cv_(cv) {
    ++n_;
  }
  ~InFlight() {
    if (--n_ == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
  }

 private:
  std::atomic<int64_t>& n_;
  std::mutex& mu_;
  std::condition_variable& cv_;
};

// Copies FP32 `raw` into floats, refusing NaN / Inf (one bad sample would fail a whole batch).
Error read_floats(const Tensor& t, std::vector<float>& out) {
  out.resize(t.raw.size() / sizeof(float));
  std::memcpy(out.data(), t.raw.data(), out.size() * sizeof(float));
  for (size_t i = 0; i < out.size(); ++i)
    if (!std::isfinite(out[i]))
      return make_error(Code::kInvalidArgument,
                        fmt::format("input '{}': element {} is not finite", t.name, i));
  return Error::none();
}

}  // namespace

ServerCore::ServerCore() = default;

ServerCore::~ServerCore() {
  // Batchers and sequence runtimes stop their threads before the metrics they report to go.
  models_.clear();
}

Status ServerCore::add_model(const std::string& name, std::shared_ptr<const Engine> engine,
                             const ModelOptions& options) {
  if (name.empty() || name.size() > 200 ||
      name.find_first_of("/\\ \t\r\n?#%") != std::string::npos)
    return invalid_argument(fmt::format("model name '{}': use letters, digits, '-', '_' or '.'",
                                        escape_control(name)));
  if (models_.count(name)) return invalid_argument(fmt::format("model '{}' is given twice", name));
  auto m = std::make_unique<Served>();
  m->name = name;
  m->engine = engine;
  m->options = options;
  m->nmtvc = engine->info().spec.input_layout() == InputLayout::kNMTVC;
  auto b = WindowBatcher::create(engine, options.batching, name, &metrics_);
  if (!b) return b.status().with_context(fmt::format("model '{}': ", name));
  m->batcher = std::move(b).value();
  if (options.serve_sequences) {
    auto s = Sequences::create(engine, options.sequences, name, &metrics_);
    if (s)
      m->sequences = std::move(s).value();
    else
      m->sequences_note = s.status().message();
  } else {
    m->sequences_note = fmt::format("model '{}' serves no sequences (turned off)", name);
  }
  const std::string labels = fmt::format("model=\"{}\"", name);
  WindowBatcher* batcher = m->batcher.get();
  metrics_.gauge("stgcn_queue_depth", "Window requests waiting for an engine call.", labels,
                 [batcher] { return static_cast<double>(batcher->queue_depth()); });
  if (Sequences* seq = m->sequences.get())
    metrics_.gauge("stgcn_live_sequences", "Sequences (tracks) holding state.", labels,
                   [seq] { return static_cast<double>(seq->live()); });
  models_.emplace(name, std::move(m));
  return Status::ok();
}

bool ServerCore::drain(double timeout_s) {
  draining_ = true;
  std::unique_lock<std::mutex> lock(drain_mu_);
  return drain_cv_.wait_for(lock, std::chrono::duration<double>(timeout_s),
                            [this] { return in_flight_ == 0; });
}

ServerMetadata ServerCore::server_metadata() const {
  ServerMetadata m;
  m.name = "stgcn-rt";
  m.version = STGCN_VERSION;
  m.extensions = {"binary_tensor_data", "sequence", "model_configuration"};
  return m;
}

std::vector<std::string> ServerCore::model_names() const {
  std::vector<std::string> names;
  for (const auto& [name, m] : models_) names.push_back(name);
  return names;
}

std::vector<int64_t> ServerCore::sample_dims(const Served& m) {
  const EngineInfo& info = m.engine->info();
  const int64_t C = info.spec.C(), T = info.T, V = info.spec.V(), M = info.M;
  return m.nmtvc ? std::vector<int64_t>{M, T, V, C} : std::vector<int64_t>{C, T, V, M};
}

Error ServerCore::find(const std::string& name, const std::string& version,
                       const Served*& out) const {
  auto it = models_.find(name);
  if (it == models_.end())
    return make_error(Code::kNotFound, fmt::format("unknown model '{}' (this server has: {})",
                                                   escape_control(name),
                                                   fmt::join(model_names(), ", ")));
  if (!version.empty() && version != "1")
    return make_error(Code::kNotFound,
                      fmt::format("model '{}' has no version '{}' (only 1)", name,
                                  escape_control(version)));
  out = it->second.get();
  return Error::none();
}

Error ServerCore::model_ready(const std::string& name, const std::string& version) const {
  const Served* m = nullptr;
  Error e = find(name, version, m);
  if (!e.ok()) return e;
  if (!ready()) return make_error(Code::kUnavailable, fmt::format("model '{}' is not ready", name));
  return Error::none();
}

// The protocol metadata is the configuration's tensors with their batch dimension: -1 for
// windows, 1 for a sequence request (one track).
Error ServerCore::model_metadata(const std::string& name, const std::string& version,
                                 ModelMetadata& out) const {
  ModelConfig cfg;
  Error e = model_config(name, version, cfg);
  if (!e.ok()) return e;
  out = {};
  out.name = name;
  out.versions = {"1"};
  out.platform = cfg.platform;
  auto with_batch = [](TensorMetadata t, bool sequence) {
    t.shape.insert(t.shape.begin(), sequence ? 1 : -1);
    return t;
  };
  for (const TensorMetadata& t : cfg.inputs)
    out.inputs.push_back(with_batch(t, t.name == kFramesInput));
  for (const TensorMetadata& t : cfg.outputs)
    out.outputs.push_back(with_batch(t, t.name == kFrameIndex));
  return Error::none();
}

Error ServerCore::model_config(const std::string& name, const std::string& version,
                               ModelConfig& out) const {
  const Served* m = nullptr;
  Error e = find(name, version, m);
  if (!e.ok()) return e;
  const EngineInfo& info = m->engine->info();
  const int64_t C = info.spec.C(), V = info.spec.V();
  out = {};
  out.name = name;
  out.platform = "stgcn";
  out.backend = "stgcn";
  out.max_batch_size = m->batcher->max_batch();
  out.inputs.push_back({kWindowInput, "FP32", sample_dims(*m)});
  out.outputs.push_back({kLogits, "FP32", {info.spec.num_class()}});
  out.dynamic_batching = true;
  out.preferred_batch_size = {m->batcher->max_batch()};
  out.max_queue_delay_us = static_cast<uint64_t>(m->options.batching.max_queue_delay_us);
  if (m->sequences) {
    out.inputs.push_back({kFramesInput, "FP32", {-1, V, C}});
    out.outputs.push_back({kFrameIndex, "INT64", {-1}});
    out.sequence_batching = true;
    out.max_sequence_idle_us =
        static_cast<uint64_t>(m->options.sequences.idle_timeout_s * 1e6);
  }
  out.instance_count = std::max(1, m->options.batching.workers);
  out.parameters["precision"] = info.precision;
  out.parameters["family"] = info.spec.family;
  out.parameters["input_layout"] = m->nmtvc ? "nmtvc" : "nctvm";
  out.parameters["sequences"] = m->sequences ? "continual, hop 1" : m->sequences_note;
  return Error::none();
}

Error ServerCore::infer(const InferRequest& req, InferResponse& resp, std::string_view protocol) {
  const auto t0 = std::chrono::steady_clock::now();
  InFlight guard(in_flight_, drain_mu_, drain_cv_);
  const Served* m = nullptr;
  Error e;
  if (draining_ || !ready_)
    e = make_error(Code::kUnavailable, draining_ ? "the server is shutting down"
                                                 : "the server is still loading its models");
  if (e.ok()) e = find(req.model, req.version, m);
  if (e.ok()) {
    resp = {};
    resp.model = m->name;
    resp.version = "1";
    resp.id = req.id;
    // Triton's sequence parameters: a non-zero id (uint64 / int64) or a non-empty string.
    std::string key;
    bool start = false, end = false;
    for (const auto& [k, p] : req.parameters) {
      if (k == "sequence_id") {
        if (p.kind == Param::kUint64 && p.u != 0) key = std::to_string(p.u);
        else if (p.kind == Param::kInt64 && p.i > 0) key = std::to_string(p.i);
        else if (p.kind == Param::kInt64 && p.i < 0)
          e = make_error(Code::kInvalidArgument, "sequence_id must not be negative");
        else if (p.kind == Param::kString && !p.s.empty()) key = "s:" + p.s;
        else if (p.kind != Param::kUint64 && p.kind != Param::kInt64 && p.kind != Param::kString)
          e = make_error(Code::kInvalidArgument, "sequence_id must be an integer or a string");
      } else if (k == "sequence_start" || k == "sequence_end") {
        if (p.kind != Param::kBool)
          e = make_error(Code::kInvalidArgument, fmt::format("{} must be a boolean", k));
        (k == "sequence_start" ? start : end) = p.b;
      }
    }
    if (e.ok() && key.empty() && (start || end))
      e = make_error(Code::kInvalidArgument, "sequence_start / sequence_end need a sequence_id");
    if (e.ok()) e = key.empty() ? infer_window(*m, req, resp) : infer_sequence(*m, req, key, resp);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  metrics_.request(protocol, m ? m->name : "", e.code, s);
  return e;
}

namespace {

// The one input of a request: `name`, FP32, shape checked by `check`.
Error single_input(const InferRequest& req, const char* name, const Tensor*& out) {
  if (req.inputs.size() != 1)
    return make_error(Code::kInvalidArgument,
                      fmt::format("model '{}' takes one input tensor ('{}'), got {}", req.model,
                                  name, req.inputs.size()));
  const Tensor& t = req.inputs[0];
  if (t.name != name)
    return make_error(Code::kInvalidArgument,
                      fmt::format("input '{}': this request needs '{}' ('{}' for windows, '{}' "
                                  "with a sequence_id)",
                                  escape_control(t.name), name, kWindowInput, kFramesInput));
  if (t.datatype != "FP32")
    return make_error(Code::kInvalidArgument,
                      fmt::format("input '{}' is {}, the model takes FP32", name,
                                  escape_control(t.datatype)));
  out = &t;
  return Error::none();
}

Error check_outputs(const InferRequest& req, bool sequence) {
  for (const RequestedOutput& o : req.outputs)
    if (o.name != kLogits && !(sequence && o.name == kFrameIndex))
      return make_error(Code::kInvalidArgument,
                        fmt::format("unknown output '{}' (this model gives '{}'{})",
                                    escape_control(o.name), kLogits,
                                    sequence ? fmt::format(" and '{}'", kFrameIndex) : ""));
  return Error::none();
}

bool wants(const InferRequest& req, const char* name) {
  if (req.outputs.empty()) return true;
  for (const RequestedOutput& o : req.outputs)
    if (o.name == name) return true;
  return false;
}

}  // namespace

Error ServerCore::infer_window(const Served& m, const InferRequest& req, InferResponse& resp) {
  const Tensor* t = nullptr;
  Error e = single_input(req, kWindowInput, t);
  if (!e.ok()) return e;
  if (e = check_outputs(req, false); !e.ok()) return e;
  const EngineInfo& info = m.engine->info();
  const std::vector<int64_t> per = sample_dims(m);
  const auto& s = t->shape;
  if (s.size() != 5 || s[0] < 1 || !std::equal(per.begin(), per.end(), s.begin() + 1))
    return make_error(Code::kInvalidArgument,
                      fmt::format("input '{}' has shape {}; model '{}' takes [N, {}] ({})",
                                  kWindowInput, shape_text(s), m.name, fmt::join(per, ", "),
                                  m.nmtvc ? "N, M, T, V, C" : "N, C, T, V, M"));
  const int64_t N = s[0];
  const size_t per_n = static_cast<size_t>(per[0] * per[1] * per[2] * per[3]);
  if (t->raw.size() != per_n * static_cast<size_t>(N) * sizeof(float))
    return make_error(Code::kInvalidArgument,
                      fmt::format("input '{}' holds {} bytes, shape {} needs {}", kWindowInput,
                                  t->raw.size(), shape_text(s), per_n * N * sizeof(float)));
  std::vector<float> x;
  if (e = read_floats(*t, x); !e.ok()) return e;
  if (m.nmtvc) {
    auto conv = convert_input_layout(stgcn::Tensor(s, std::move(x)), InputLayout::kNMTVC,
                                     InputLayout::kNCTVM);
    if (!conv) return make_error(Code::kInvalidArgument, conv.status().message());
    x = std::move(conv->data);
  }
  std::vector<float> logits;
  if (e = m.batcher->run(x, static_cast<int>(N), logits); !e.ok()) return e;
  if (wants(req, kLogits)) {
    Tensor out;
    out.name = kLogits;
    out.datatype = "FP32";
    out.shape = {N, info.spec.num_class()};
    out.raw = tensor_raw(logits.data(), logits.size());
    resp.outputs.push_back(std::move(out));
  }
  return Error::none();
}

Error ServerCore::infer_sequence(const Served& m, const InferRequest& req, const std::string& key,
                                 InferResponse& resp) {
  if (!m.sequences) return make_error(Code::kInvalidArgument, m.sequences_note);
  const Tensor* t = nullptr;
  Error e = single_input(req, kFramesInput, t);
  if (!e.ok()) return e;
  if (e = check_outputs(req, true); !e.ok()) return e;
  const int64_t V = m.sequences->V(), C = m.sequences->C();
  const auto& s = t->shape;
  if (s.size() != 4 || s[0] != 1 || s[1] < 1 || s[1] > 100000 || s[2] != V || s[3] != C)
    return make_error(Code::kInvalidArgument,
                      fmt::format("input '{}' has shape {}; model '{}' takes [1, F, {}, {}] (F "
                                  "frames of one track, 1..100000)",
                                  kFramesInput, shape_text(s), m.name, V, C));
  const int64_t F = s[1];
  if (t->raw.size() != static_cast<size_t>(F * V * C) * sizeof(float))
    return make_error(Code::kInvalidArgument,
                      fmt::format("input '{}' holds {} bytes, shape {} needs {}", kFramesInput,
                                  t->raw.size(), shape_text(s), F * V * C * 4));
  std::vector<float> x;
  if (e = read_floats(*t, x); !e.ok()) return e;
  bool start = false, end = false;
  if (auto it = req.parameters.find("sequence_start"); it != req.parameters.end()) start = it->second.b;
  if (auto it = req.parameters.find("sequence_end"); it != req.parameters.end()) end = it->second.b;
  std::vector<float> logits;
  std::vector<int64_t> idx;
  if (e = m.sequences->step(key, start, end, x, static_cast<int>(F), logits, idx); !e.ok())
    return e;
  const int64_t K = m.engine->info().spec.num_class();
  const int64_t A = static_cast<int64_t>(idx.size());  // frames answered (<= F)
  if (wants(req, kLogits)) {
    Tensor out;
    out.name = kLogits;
    out.datatype = "FP32";
    out.shape = {1, A, K};
    out.raw = tensor_raw(logits.data(), logits.size());
    resp.outputs.push_back(std::move(out));
  }
  if (wants(req, kFrameIndex)) {
    Tensor out;
    out.name = kFrameIndex;
    out.datatype = "INT64";
    out.shape = {1, A};
    out.raw.assign(reinterpret_cast<const char*>(idx.data()), idx.size() * sizeof(int64_t));
    resp.outputs.push_back(std::move(out));
  }
  resp.parameters = {};
  for (const auto& [k, p] : req.parameters)
    if (k == "sequence_id") resp.parameters.emplace(k, p);
  return Error::none();
}

}  // namespace stgcn::serve
