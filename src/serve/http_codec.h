// The Open Inference Protocol's HTTP/REST body formats (KServe v2 JSON, with Triton's binary
// tensor data extension): pure functions between HTTP bodies and the transport-neutral types
// of types.h. http_server.cpp calls them; they never throw.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "serve/types.h"

namespace stgcn::serve {

// Decodes an inference request body. `json_header_length` is the value of the
// `Inference-Header-Content-Length` header: the body is that many bytes of JSON followed by the
// binary tensors (inputs carrying "binary_data_size", in input order); without it the whole
// body is JSON. Fills out.id / parameters / inputs / outputs (not model / version, which come
// from the URL). Tensor data lands in Tensor::raw (little-endian; BYTES as 4-byte length +
// bytes). Any malformed request is kInvalidArgument with a message naming the input and rule.
Error parse_infer_request(std::string_view body, std::optional<size_t> json_header_length,
                          InferRequest& out);

// Encodes a response. An output goes binary when its requested output asks
// "binary_data": true, else when the request parameter "binary_data_output" is true, else when
// `binary_default`. Binary outputs carry "binary_data_size" and their bytes follow the JSON in
// output order. json_header_length: the JSON's size when any output is binary, else 0.
std::string encode_infer_response(const InferResponse& r, const InferRequest& req,
                                  bool binary_default, size_t& json_header_length);

std::string server_metadata_json(const ServerMetadata& m);
std::string model_metadata_json(const ModelMetadata& m);
// Triton's JSON form of the model configuration (GET /v2/models/{m}/config).
std::string model_config_json(const ModelConfig& c);
std::string error_json(const std::string& message);  // {"error": "..."}

// The HTTP status of an outcome: 200, 400, 401, 404, 503 (unavailable and resource exhausted),
// 504, 500.
int http_status(Code code);

}  // namespace stgcn::serve
