// `stgcn serve`: the Open Inference Protocol (KServe v2 / Triton) over HTTP and gRPC for one or
// more models (engines, or checkpoints built at start), with dynamic batching, per-track
// sequences, Prometheus metrics and a draining shutdown on SIGTERM / SIGINT. docs/serving.md.
#include <fmt/format.h>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>

#include "commands.h"
#include "io/files.h"
#include "serve/grpc_server.h"
#include "serve/http_server.h"
#include "serve/server_core.h"
#include "signals.h"

namespace stgcn::cli {

namespace {

namespace fs = std::filesystem;

struct ServeFlags {
  EngineFlags engine;  // --T, --M, --batch, --precision, INT8 flags: for checkpoints
  std::vector<std::string> models;
  std::string repository;
  std::string host = "127.0.0.1";
  int http_port = 8000, grpc_port = 8001;
  int max_batch = 0;
  int64_t max_queue_delay_us = 2000;
  int queue_capacity = 256;
  int max_sequences = 256;
  double sequence_timeout = 60;
  int workers = 0, threads = 0;  // 0 workers: one per core, one compute thread each
  int http_threads = 64;
  int64_t max_request_bytes = 64 << 20;
  std::string token_file, tls_cert, tls_key, port_file;
  double drain_timeout = 30;
  bool no_sequences = false;
};

bool model_file(const fs::path& p) {
  const std::string e = p.extension().string();
  return e == ".engine" || e == ".pt" || e == ".pth" || e == ".onnx";
}

// NAME=PATH pairs from --model and --model-repository (DIR/NAME.ext or DIR/NAME/model.ext).
Result<std::vector<std::pair<std::string, std::string>>> model_list(const ServeFlags& f) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& m : f.models) {
    const size_t eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size())
      return invalid_argument(fmt::format("--model '{}': expected NAME=PATH", m));
    out.emplace_back(m.substr(0, eq), m.substr(eq + 1));
  }
  if (!f.repository.empty()) {
    std::error_code ec;
    if (!fs::is_directory(f.repository, ec))
      return not_found(fmt::format("--model-repository '{}' is not a directory", f.repository));
    std::map<std::string, std::string> found;
    for (const auto& e : fs::directory_iterator(f.repository, ec)) {
      const fs::path p = e.path();
      if (e.is_regular_file(ec) && model_file(p)) {
        if (!found.emplace(p.stem().string(), p.string()).second)
          return invalid_argument(fmt::format("--model-repository '{}': two files for model '{}'",
                                              f.repository, p.stem().string()));
      } else if (e.is_directory(ec)) {
        for (const char* ext : {".engine", ".pt", ".pth", ".onnx"}) {
          const fs::path q = p / (std::string("model") + ext);
          if (fs::is_regular_file(q, ec)) {
            found.emplace(p.filename().string(), q.string());
            break;
          }
        }
      }
    }
    if (ec) return io_error(fmt::format("--model-repository '{}': {}", f.repository, ec.message()));
    for (auto& [name, path] : found) out.emplace_back(name, path);
    if (found.empty())
      return not_found(fmt::format("--model-repository '{}' holds no model (NAME.engine|.pt|"
                                   ".pth|.onnx or NAME/model.*)",
                                   f.repository));
  }
  if (out.empty()) return invalid_argument("give at least one --model NAME=PATH or --model-repository DIR");
  return out;
}

Result<std::string> read_token(const ServeFlags& f) {
  std::string token;
  if (!f.token_file.empty()) {
    STGCN_ASSIGN_OR_RETURN(token, read_file_prefix(f.token_file, 4096));
  } else if (const char* env = std::getenv("STGCN_SERVE_TOKEN")) {
    token = env;
  } else {
    return std::string();
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
    token.pop_back();
  if (token.empty() || token.find_first_of(" \t\r\n") != std::string::npos)
    return invalid_argument("the bearer token (--token-file / STGCN_SERVE_TOKEN) is empty or "
                            "holds whitespace");
  return token;
}

int run_serve(const ServeFlags& f) {
  auto list = model_list(f);
  if (!list) return fail(list.status());
  if (f.http_port < 0 && f.grpc_port < 0)
    return fail(invalid_argument("--http-port and --grpc-port are both off: nothing to serve"));
  if ((f.tls_cert.empty()) != (f.tls_key.empty()))
    return fail(invalid_argument("TLS needs both --tls-cert and --tls-key"));
  auto token = read_token(f);
  if (!token) return fail(token.status());
  install_stop_handlers();
  // A client that disconnects mid-answer must not kill the server (TLS writes raise SIGPIPE).
  ::signal(SIGPIPE, SIG_IGN);

  serve::ServerCore core;
  serve::FrontendOptions fo;
  fo.host = f.host;
  fo.bearer_token = *token;
  fo.tls_cert = f.tls_cert;
  fo.tls_key = f.tls_key;
  fo.max_request_bytes = f.max_request_bytes;
  fo.threads = f.http_threads;
  // The frontends listen while the models load: liveness answers, readiness says not yet.
  std::string error;
  std::unique_ptr<serve::HttpServer> http;
  std::unique_ptr<serve::GrpcServer> grpc;
  if (f.http_port >= 0) {
    fo.port = f.http_port;
    http = serve::HttpServer::start(core, fo, error);
    if (!http) return fail(io_error(fmt::format("HTTP on {}:{}: {}", f.host, f.http_port, error)));
  }
  if (f.grpc_port >= 0) {
    fo.port = f.grpc_port;
    grpc = serve::GrpcServer::start(core, fo, error);
    if (!grpc) return fail(io_error(fmt::format("gRPC on {}:{}: {}", f.host, f.grpc_port, error)));
  }
  std::fprintf(stderr, "stgcn serve: HTTP %s, gRPC %s\n",
               http ? fmt::format("{}:{}", f.host, http->port()).c_str() : "off",
               grpc ? fmt::format("{}:{}", f.host, grpc->port()).c_str() : "off");
  if (!f.port_file.empty()) {
    auto out = OutputFile::open(f.port_file);
    if (!out) return fail(out.status());
    const std::string text = fmt::format("{{\"http\": {}, \"grpc\": {}}}\n",
                                         http ? http->port() : -1, grpc ? grpc->port() : -1);
    Status st = out->write(text);
    if (st.is_ok()) st = out->commit();
    if (!st.is_ok()) return fail(st);
  }

  serve::ModelOptions mo;
  mo.batching.max_batch = f.max_batch;
  mo.batching.max_queue_delay_us = f.max_queue_delay_us;
  mo.batching.queue_capacity = f.queue_capacity;
  // Default: one engine context per core with one compute thread each; measured faster than
  // one context on every core for concurrent requests (no OpenMP hand-offs, two batches in
  // flight; docs/serving.md).
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  mo.batching.workers = f.workers > 0 ? f.workers : cores;
  mo.batching.threads = f.workers > 0 ? f.threads : (f.threads > 0 ? f.threads : 1);
  mo.sequences.max_sequences = f.max_sequences;
  mo.sequences.idle_timeout_s = f.sequence_timeout;
  mo.sequences.threads = f.threads;
  mo.serve_sequences = !f.no_sequences;
  for (const auto& [name, path] : *list) {
    if (stop_requested()) break;
    EngineFlags ef = f.engine;
    ef.model.path = path;
    std::fprintf(stderr, "stgcn serve: loading model '%s' from %s\n", name.c_str(), path.c_str());
    auto engine = ef.get(std::max(8, f.engine.batch));
    if (!engine) return fail(engine.status().with_context(fmt::format("model '{}': ", name)));
    Status st = core.add_model(name, *engine, mo);
    if (!st.is_ok()) return fail(st);
    const EngineInfo& info = (*engine)->info();
    serve::ModelConfig cfg;
    (void)core.model_config(name, "", cfg);
    std::fprintf(stderr,
                 "stgcn serve: model '%s': %s %s, T=%d M=%d, max batch %d, sequences: %s\n",
                 name.c_str(), info.spec.family.c_str(), info.precision.c_str(), info.T, info.M,
                 cfg.max_batch_size, cfg.sequence_batching ? "yes" : "no");
  }
  if (!stop_requested()) {
    core.set_ready(true);
    std::fprintf(stderr, "stgcn serve: ready\n");
  }
  while (!stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));

  std::fprintf(stderr, "stgcn serve: signal %d: draining (up to %.0f s)\n", stop_signal(),
               f.drain_timeout);
  const bool drained = core.drain(f.drain_timeout);
  if (grpc) grpc->shutdown(drained ? 1.0 : 0.0);
  if (http) http->shutdown();
  std::fprintf(stderr, "stgcn serve: stopped (%s)\n",
               drained ? "every request answered"
                       : fmt::format("{} requests cut off", core.in_flight()).c_str());
  return 0;
}

}  // namespace

Subcommand add_serve_command(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve models over the Open Inference Protocol (KServe v2 / Triton): HTTP and gRPC, "
      "dynamic batching, sequences, /metrics");
  cmd->add_option("--model", f->models,
                  "NAME=PATH: an engine (.engine) or a checkpoint / ONNX model built at start "
                  "(repeatable)");
  cmd->add_option("--model-repository", f->repository,
                  "Directory of models: NAME.engine|.pt|.pth|.onnx or NAME/model.*");
  f->engine.add_to(cmd, true);
  // MODEL is positional in the other commands; here the models come from --model.
  cmd->remove_option(cmd->get_option("MODEL"));
  const char* g = "Server";
  cmd->add_option("--host", f->host, "Listen address (0.0.0.0: every interface)")
      ->capture_default_str()->group(g);
  cmd->add_option("--http-port", f->http_port, "HTTP/REST port and /metrics (0: any free, -1: off)")
      ->capture_default_str()->check(CLI::Range(-1, 65535))->group(g);
  cmd->add_option("--grpc-port", f->grpc_port, "gRPC port (0: any free, -1: off)")
      ->capture_default_str()->check(CLI::Range(-1, 65535))->group(g);
  cmd->add_option("--max-batch", f->max_batch,
                  "Dynamic batching: samples per engine call (0: the engine's batch)")
      ->capture_default_str()->check(CLI::Range(0, 4096))->group(g);
  cmd->add_option("--max-queue-delay-us", f->max_queue_delay_us,
                  "Dynamic batching: a partial batch waits at most this long")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{10000000}))->group(g);
  cmd->add_option("--queue-capacity", f->queue_capacity,
                  "Window requests waiting per model; beyond: HTTP 503 / RESOURCE_EXHAUSTED")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20))->group(g);
  cmd->add_option("--max-sequences", f->max_sequences, "Live sequences (tracks) per model")
      ->capture_default_str()->check(CLI::Range(1, 100000))->group(g);
  cmd->add_option("--sequence-timeout", f->sequence_timeout,
                  "Seconds a sequence may stay idle before its state is dropped")
      ->capture_default_str()->check(CLI::Range(0.01, 86400.0))->group(g);
  cmd->add_flag("--no-sequences", f->no_sequences, "Serve windows only (no continual state)")
      ->group(g);
  cmd->add_option("--workers", f->workers,
                  "Engine contexts per model for window requests (0: one per core, with one "
                  "compute thread each)")
      ->capture_default_str()->check(CLI::Range(0, 256))->group(g);
  cmd->add_option("--threads", f->threads, "Compute threads per worker (0: cores / workers)")
      ->capture_default_str()->check(CLI::Range(0, 1024))->group(g);
  cmd->add_option("--http-threads", f->http_threads, "Requests served at once per protocol")
      ->capture_default_str()->check(CLI::Range(1, 4096))->group(g);
  cmd->add_option("--max-request-bytes", f->max_request_bytes, "Largest request body / message")
      ->capture_default_str()->check(CLI::Range(int64_t{1024}, int64_t{1} << 32))->group(g);
  cmd->add_option("--token-file", f->token_file,
                  "Bearer-token auth: the token (else env STGCN_SERVE_TOKEN; neither: no auth)")
      ->group(g);
  cmd->add_option("--tls-cert", f->tls_cert, "TLS certificate (PEM) for both ports")->group(g);
  cmd->add_option("--tls-key", f->tls_key, "TLS private key (PEM)")->group(g);
  cmd->add_option("--drain-timeout", f->drain_timeout,
                  "On SIGTERM / SIGINT: seconds to finish the requests in flight")
      ->capture_default_str()->check(CLI::Range(0.0, 3600.0))->group(g);
  cmd->add_option("--port-file", f->port_file,
                  "Write {\"http\": PORT, \"grpc\": PORT} here once listening")
      ->group(g);
  return {cmd, [f] { return run_serve(*f); }};
}

}  // namespace stgcn::cli
