// Conversions between the gRPC messages of inference.GRPCInferenceService (grpc_service.proto,
// model_config.proto) and the transport-neutral types of types.h. No server needed: the gRPC
// frontend (grpc_server.cpp) and its tests use them.
#pragma once

#include <grpcpp/support/status_code_enum.h>

#include <string>
#include <string_view>

#include "grpc_service.pb.h"
#include "model_config.pb.h"
#include "serve/types.h"

namespace stgcn::serve {

// Bytes per element of a protocol datatype ("FP32": 4); 0 for BYTES (variable length),
// -1 for a name the protocol does not define.
int element_size(std::string_view datatype);

// The model_config DataType of a protocol datatype (BYTES is TYPE_STRING); TYPE_INVALID for an
// unknown name.
inference::DataType config_data_type(std::string_view datatype);

grpc::StatusCode to_grpc_status(Code code);

// kInvalidArgument when the parameter carries no value.
Error from_proto(const std::string& key, const inference::InferParameter& in, Param& out);
void to_proto(const Param& in, inference::InferParameter& out);

// A ModelInferRequest as an InferRequest. Each input's bytes come from raw_input_contents (one
// entry per input, or none) or else from its typed `contents`, written little-endian (BYTES:
// 4-byte little-endian length + bytes). Checks the datatype, the shape (no negative dimension,
// no overflow) and that the data holds exactly the shape's elements; kInvalidArgument naming
// the input otherwise. Does not check the model's own input names or shapes (the core does).
Error from_proto(const inference::ModelInferRequest& in, InferRequest& out);

// An InferResponse as a ModelInferResponse, every output's bytes in raw_output_contents (in the
// order of `outputs`, as Triton answers).
void to_proto(const InferResponse& in, inference::ModelInferResponse& out);

void to_proto(const ModelConfig& in, inference::ModelConfig& out);
void to_proto(const ModelMetadata& in, inference::ModelMetadataResponse& out);
void to_proto(const ServerMetadata& in, inference::ServerMetadataResponse& out);

}  // namespace stgcn::serve
