// The server core behind both frontends: the loaded models, dynamic batching of stateless
// window requests, per-sequence continual state (Triton's sequence extension), readiness,
// draining and the metrics. Thread-safe; every call may block the calling frontend thread
// until its answer is ready (the frontends run thread pools).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "serve/metrics.h"
#include "serve/types.h"

namespace stgcn::serve {

// What both frontends enforce before a request reaches the core.
struct FrontendOptions {
  std::string host = "127.0.0.1";
  int port = 0;                          // 0: an ephemeral port (the bound one is reported)
  std::string bearer_token;              // "": no auth
  std::string tls_cert, tls_key;         // PEM files; both set: TLS
  int64_t max_request_bytes = 64 << 20;  // larger bodies / messages are refused
  int threads = 64;                      // request threads (concurrent requests served)
};

// "Bearer <token>" check shared by the frontends (constant time in the token length).
// Empty `token`: everything passes.
Error check_bearer(std::string_view authorization_header, const std::string& token);

class Core {
 public:
  virtual ~Core() = default;

  virtual bool live() const = 0;
  virtual bool ready() const = 0;  // false until every model is loaded, and while draining
  virtual ServerMetadata server_metadata() const = 0;
  virtual std::vector<std::string> model_names() const = 0;
  // `version` "" or "1" (the only version); anything else is kNotFound.
  virtual Error model_ready(const std::string& name, const std::string& version) const = 0;
  virtual Error model_metadata(const std::string& name, const std::string& version,
                               ModelMetadata& out) const = 0;
  virtual Error model_config(const std::string& name, const std::string& version,
                             ModelConfig& out) const = 0;
  // Blocks until the answer is ready (batched with concurrent requests; a sequence request
  // waits for its frames' per-frame answers). `protocol` labels the metrics ("http", "grpc").
  virtual Error infer(const InferRequest& request, InferResponse& response,
                      std::string_view protocol) = 0;

  virtual Metrics& metrics() = 0;
};

}  // namespace stgcn::serve
