// The gRPC frontend of `stgcn serve`: inference.GRPCInferenceService (the Open Inference
// Protocol with Triton's extensions, proto/grpc_service.proto) on the gRPC C++ synchronous
// server, answering from a Core. Bearer auth, TLS and the request-size and thread limits come
// from FrontendOptions.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "serve/core.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace stgcn::serve {

class GrpcServer {
 public:
  // Starts serving `core` on options.host:options.port (port 0: ephemeral). Returns an error
  // message in `error` and nullptr when it cannot bind / read the TLS files.
  static std::unique_ptr<GrpcServer> start(Core& core, const FrontendOptions& options,
                                           std::string& error);
  ~GrpcServer();  // shuts down if still running

  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  int port() const { return port_; }  // the bound port

  // Stops accepting, lets in-flight RPCs finish (up to `deadline_s`), then cancels the rest.
  // Returns once every handler has returned. Later calls do nothing.
  void shutdown(double deadline_s);

 private:
  class Service;
  GrpcServer() = default;

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex shutdown_mu_;
  bool stopped_ = false;
};

}  // namespace stgcn::serve
