// The HTTP/REST frontend of `stgcn serve`: the Open Inference Protocol (KServe v2) routes with
// Triton's binary tensor data extension, health, model metadata / readiness / config and the
// Prometheus metrics, served by cpp-httplib on a thread pool (TLS when a certificate and key
// are given). Requests go to the Core; http_codec.h does the body formats.
#pragma once

#include <memory>
#include <string>

#include "serve/core.h"

namespace stgcn::serve {

class HttpServer {
 public:
  // Binds (port 0: an ephemeral port) and starts the listener thread. nullptr and `error` when
  // it cannot bind or load the TLS files.
  static std::unique_ptr<HttpServer> start(Core& core, const FrontendOptions& options,
                                           std::string& error);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;  // the bound port
  // Stops accepting; returns once the listener thread has ended and in-flight requests have
  // been answered. Idempotent.
  void shutdown();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stgcn::serve
