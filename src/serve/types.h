// The Open Inference Protocol (KServe v2) in transport-neutral types: what the HTTP frontend
// (http_server.cpp, JSON + the binary tensor data extension) and the gRPC frontend
// (grpc_server.cpp, inference.GRPCInferenceService) decode requests into and encode responses
// from. The server core (core.h) only sees these.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace stgcn::serve {

// The outcome of a protocol call; each frontend maps it to its own status
// (HTTP 400/401/404/503/500, gRPC INVALID_ARGUMENT/UNAUTHENTICATED/NOT_FOUND/...).
enum class Code {
  kOk = 0,
  kInvalidArgument,    // malformed request, wrong shape/type/name  -> 400 / INVALID_ARGUMENT
  kNotFound,           // unknown model or version                  -> 404 / NOT_FOUND
  kUnavailable,        // not ready, shutting down                  -> 503 / UNAVAILABLE
  kResourceExhausted,  // queue full, too many sequences            -> 503 / RESOURCE_EXHAUSTED
  kUnauthenticated,    // missing / wrong bearer token              -> 401 / UNAUTHENTICATED
  kDeadlineExceeded,   // a request waited past its limit           -> 504 / DEADLINE_EXCEEDED
  kInternal,           //                                           -> 500 / INTERNAL
};

struct Error {
  Code code = Code::kOk;
  std::string message;
  bool ok() const { return code == Code::kOk; }
  static Error none() { return {}; }
};
inline Error make_error(Code code, std::string message) { return {code, std::move(message)}; }

// A request / response / tensor parameter (InferParameter: bool, int64, uint64, double, string).
struct Param {
  enum Kind { kBool, kInt64, kUint64, kDouble, kString } kind = kString;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  std::string s;

  static Param of_bool(bool v) { Param p; p.kind = kBool; p.b = v; return p; }
  static Param of_int64(int64_t v) { Param p; p.kind = kInt64; p.i = v; return p; }
  static Param of_uint64(uint64_t v) { Param p; p.kind = kUint64; p.u = v; return p; }
  static Param of_double(double v) { Param p; p.kind = kDouble; p.d = v; return p; }
  static Param of_string(std::string v) { Param p; p.kind = kString; p.s = std::move(v); return p; }
};
using Params = std::map<std::string, Param>;

// A tensor on the wire. `datatype` is the protocol's name ("FP32", "INT64", "BYTES", ...).
// `raw` holds the elements little-endian, row-major (as raw_input_contents and the binary
// extension carry them); for BYTES each element is a 4-byte little-endian length and its bytes.
struct Tensor {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
  Params parameters;
  std::string raw;
};

struct RequestedOutput {
  std::string name;
  Params parameters;  // e.g. "binary_data" (HTTP), "classification" (top-k, Triton)
};

struct InferRequest {
  std::string model;
  std::string version;  // "" = the default (only) version, "1"
  std::string id;
  // Triton's sequence extension: "sequence_id" (uint64 / int64, or string),
  // "sequence_start", "sequence_end" (bool). Other keys are kept and ignored.
  Params parameters;
  std::vector<Tensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: every output
};

struct InferResponse {
  std::string model;
  std::string version;
  std::string id;
  Params parameters;
  std::vector<Tensor> outputs;
};

struct TensorMetadata {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;  // -1 for a variable dimension (batch / frames)
};

struct ServerMetadata {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;
  std::vector<TensorMetadata> inputs, outputs;
};

// The subset of Triton's ModelConfig (model_config.proto) a client reads: enough for
// tritonclient's get_model_config and for a load balancer / KServe to learn the batching and
// sequence behaviour. Dims exclude the batch dimension when max_batch_size > 0 (Triton's rule).
struct ModelConfig {
  std::string name;
  std::string platform;  // "stgcn"
  std::string backend;   // "stgcn"
  int max_batch_size = 0;
  std::vector<TensorMetadata> inputs, outputs;  // dims without the batch dimension
  // dynamic_batching
  bool dynamic_batching = false;
  std::vector<int> preferred_batch_size;
  uint64_t max_queue_delay_us = 0;
  // sequence_batching (present when the model serves sequences)
  bool sequence_batching = false;
  uint64_t max_sequence_idle_us = 0;
  int instance_count = 1;  // instance_group [{ count, kind: KIND_CPU }]
  std::map<std::string, std::string> parameters;  // config parameters (string_value)
};

}  // namespace stgcn::serve
