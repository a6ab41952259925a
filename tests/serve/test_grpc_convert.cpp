// The gRPC frontend's message conversions (src/serve/grpc_convert.h), without a server:
// typed and raw tensor data, the checks on shapes and sizes, parameters, responses, ModelConfig.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "serve/grpc_convert.h"

namespace stgcn::serve {
namespace {

using inference::ModelInferRequest;

// Little-endian bytes of each value.
template <typename T>
std::string le_bytes(const std::vector<T>& values) {
  std::string out;
  for (T v : values) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    if constexpr (std::endian::native == std::endian::big) std::reverse(b, b + sizeof(T));
    out.append(reinterpret_cast<const char*>(b), sizeof(T));
  }
  return out;
}

ModelInferRequest::InferInputTensor* add_input(ModelInferRequest& r, const std::string& name,
                                               const std::string& datatype,
                                               std::vector<int64_t> shape) {
  auto* t = r.add_inputs();
  t->set_name(name);
  t->set_datatype(datatype);
  for (int64_t d : shape) t->add_shape(d);
  return t;
}

Error convert(const ModelInferRequest& r, InferRequest& out) { return from_proto(r, out); }

TEST(ServeGrpcConvert, TypedFp32BecomesLittleEndianRaw) {
  ModelInferRequest r;
  r.set_model_name("stgcn");
  r.set_model_version("1");
  r.set_id("req-7");
  auto* t = add_input(r, "x", "FP32", {1, 3});
  for (float v : {1.5f, -2.0f, 3.25f}) t->mutable_contents()->add_fp32_contents(v);
  InferRequest out;
  ASSERT_TRUE(convert(r, out).ok());
  EXPECT_EQ(out.model, "stgcn");
  EXPECT_EQ(out.version, "1");
  EXPECT_EQ(out.id, "req-7");
  ASSERT_EQ(out.inputs.size(), 1u);
  EXPECT_EQ(out.inputs[0].name, "x");
  EXPECT_EQ(out.inputs[0].datatype, "FP32");
  EXPECT_EQ(out.inputs[0].shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(out.inputs[0].raw, le_bytes<float>({1.5f, -2.0f, 3.25f}));
  EXPECT_TRUE(out.outputs.empty());
}

TEST(ServeGrpcConvert, TypedInt64BoolAndNarrowInts) {
  ModelInferRequest r;
  auto* a = add_input(r, "a", "INT64", {2});
  a->mutable_contents()->add_int64_contents(-1);
  a->mutable_contents()->add_int64_contents(int64_t{1} << 40);
  auto* b = add_input(r, "b", "BOOL", {3});
  for (bool v : {true, false, true}) b->mutable_contents()->add_bool_contents(v);
  auto* c = add_input(r, "c", "INT16", {2});
  c->mutable_contents()->add_int_contents(-300);
  c->mutable_contents()->add_int_contents(7);
  auto* d = add_input(r, "d", "UINT8", {1});
  d->mutable_contents()->add_uint_contents(255);
  InferRequest out;
  ASSERT_TRUE(convert(r, out).ok());
  ASSERT_EQ(out.inputs.size(), 4u);
  EXPECT_EQ(out.inputs[0].raw, le_bytes<int64_t>({-1, int64_t{1} << 40}));
  EXPECT_EQ(out.inputs[1].raw, std::string("\x01\x00\x01", 3));
  EXPECT_EQ(out.inputs[2].raw, le_bytes<int16_t>({-300, 7}));
  EXPECT_EQ(out.inputs[3].raw, std::string("\xff", 1));
}

TEST(ServeGrpcConvert, NarrowIntOutOfRangeRefused) {
  ModelInferRequest r;
  add_input(r, "small", "INT8", {1})->mutable_contents()->add_int_contents(128);
  InferRequest out;
  const Error e = convert(r, out);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_NE(e.message.find("'small'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("out of range"), std::string::npos) << e.message;
}

TEST(ServeGrpcConvert, TypedBytesGetLengthPrefixes) {
  ModelInferRequest r;
  auto* t = add_input(r, "s", "BYTES", {2});
  t->mutable_contents()->add_bytes_contents("ab");
  t->mutable_contents()->add_bytes_contents(std::string("\0z\n", 3));
  InferRequest out;
  ASSERT_TRUE(convert(r, out).ok());
  const std::string expected = std::string("\x02\x00\x00\x00", 4) + "ab" +
                               std::string("\x03\x00\x00\x00", 4) + std::string("\0z\n", 3);
  EXPECT_EQ(out.inputs[0].raw, expected);
}

TEST(ServeGrpcConvert, TypedCountMustMatchShape) {
  ModelInferRequest r;
  auto* t = add_input(r, "x", "FP32", {2, 2});
  for (float v : {1.f, 2.f, 3.f}) t->mutable_contents()->add_fp32_contents(v);
  InferRequest out;
  const Error e = convert(r, out);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_NE(e.message.find("fp32_contents has 3 elements, the shape needs 4"), std::string::npos)
      << e.message;
}

TEST(ServeGrpcConvert, TypedFieldOfAnotherTypeRefused) {
  ModelInferRequest r;
  add_input(r, "x", "FP32", {1})->mutable_contents()->add_int64_contents(1);
  InferRequest out;
  const Error e = convert(r, out);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_NE(e.message.find("fp32_contents"), std::string::npos) << e.message;
}

TEST(ServeGrpcConvert, RawInputContentsTakenAsIs) {
  ModelInferRequest r;
  r.set_model_name("m");
  add_input(r, "x", "FP32", {2, 1});
  add_input(r, "h", "FP16", {3});
  r.add_raw_input_contents(le_bytes<float>({0.5f, 4.0f}));
  r.add_raw_input_contents(std::string("\x00\x3c\x00\x40\x00\xc0", 6));
  InferRequest out;
  ASSERT_TRUE(convert(r, out).ok());
  ASSERT_EQ(out.inputs.size(), 2u);
  EXPECT_EQ(out.inputs[0].raw, le_bytes<float>({0.5f, 4.0f}));
  EXPECT_EQ(out.inputs[1].raw.size(), 6u);
}

TEST(ServeGrpcConvert, RawBytesElementsChecked) {
  ModelInferRequest ok;
  add_input(ok, "s", "BYTES", {2});
  ok.add_raw_input_contents(
      std::string("\x01\x00\x00\x00"
                  "a"
                  "\x00\x00\x00\x00",
                  9));
  InferRequest out;
  EXPECT_TRUE(convert(ok, out).ok());

  ModelInferRequest truncated;
  add_input(truncated, "s", "BYTES", {1});
  truncated.add_raw_input_contents(
      std::string("\x05\x00\x00\x00"
                  "ab",
                  6));
  EXPECT_EQ(convert(truncated, out).code, Code::kInvalidArgument);

  ModelInferRequest extra;
  add_input(extra, "s", "BYTES", {1});
  extra.add_raw_input_contents(std::string("\x00\x00\x00\x00\x00\x00\x00\x00", 8));
  EXPECT_EQ(convert(extra, out).code, Code::kInvalidArgument);
}

TEST(ServeGrpcConvert, RawSizeMismatchRefusedNamingTheInput) {
  ModelInferRequest r;
  add_input(r, "joints", "FP32", {1, 3, 4});
  r.add_raw_input_contents(std::string(47, '\0'));
  InferRequest out;
  const Error e = convert(r, out);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_NE(e.message.find("'joints'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("47 bytes"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("48"), std::string::npos) << e.message;
}

TEST(ServeGrpcConvert, RawCountMismatchRefused) {
  ModelInferRequest r;
  add_input(r, "a", "FP32", {1});
  add_input(r, "b", "FP32", {1});
  r.add_raw_input_contents(le_bytes<float>({1.f}));
  InferRequest out;
  const Error e = convert(r, out);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_NE(e.message.find("1 entries for 2 inputs"), std::string::npos) << e.message;
}

TEST(ServeGrpcConvert, RawAndTypedContentsTogetherRefused) {
  ModelInferRequest r;
  add_input(r, "x", "FP32", {1})->mutable_contents()->add_fp32_contents(1.f);
  r.add_raw_input_contents(le_bytes<float>({1.f}));
  InferRequest out;
  EXPECT_EQ(convert(r, out).code, Code::kInvalidArgument);
}

TEST(ServeGrpcConvert, NegativeDimensionRefused) {
  ModelInferRequest r;
  add_input(r, "x", "FP32", {1, -3});
  r.add_raw_input_contents("");
  InferRequest out;
  const Error e = convert(r, out);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_NE(e.message.find("negative"), std::string::npos) << e.message;
}

TEST(ServeGrpcConvert, HugeShapesRefusedWithoutOverflow) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{max, 2},
        {int64_t{1} << 32, int64_t{1} << 32},
        {max},
        {int64_t{1} << 21, int64_t{1} << 21, int64_t{1} << 21}}) {
    ModelInferRequest r;
    add_input(r, "x", "FP64", shape);
    r.add_raw_input_contents(std::string(8, '\0'));
    InferRequest out;
    const Error e = convert(r, out);
    EXPECT_EQ(e.code, Code::kInvalidArgument) << shape[0];
    EXPECT_NE(e.message.find("too many elements"), std::string::npos) << e.message;
  }
  // Typed contents take the same check.
  ModelInferRequest typed;
  add_input(typed, "y", "INT32", {max, max});
  InferRequest out;
  EXPECT_EQ(convert(typed, out).code, Code::kInvalidArgument);
}

TEST(ServeGrpcConvert, EmptyTensorNeedsNoData) {
  ModelInferRequest r;
  add_input(r, "x", "FP16", {0, 5});
  InferRequest out;
  ASSERT_TRUE(convert(r, out).ok());
  EXPECT_TRUE(out.inputs[0].raw.empty());
}

TEST(ServeGrpcConvert, UnknownDatatypeAndTypelessContentsRefused) {
  ModelInferRequest unknown;
  add_input(unknown, "x", "FLOAT32", {1})->mutable_contents()->add_fp32_contents(1.f);
  InferRequest out;
  EXPECT_EQ(convert(unknown, out).code, Code::kInvalidArgument);

  ModelInferRequest half;  // FP16 has no typed field: raw only
  add_input(half, "h", "FP16", {1})->mutable_contents()->add_fp32_contents(1.f);
  const Error e = convert(half, out);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_NE(e.message.find("raw_input_contents"), std::string::npos) << e.message;
}

TEST(ServeGrpcConvert, ControlCharactersInNamesEscaped) {
  ModelInferRequest r;
  add_input(r, "bad\nname\x1b[2J", "FP32", {-1});
  InferRequest out;
  const Error e = convert(r, out);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_EQ(e.message.find('\n'), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find('\x1b'), std::string::npos) << e.message;
}

TEST(ServeGrpcConvert, ParametersConverted) {
  ModelInferRequest r;
  (*r.mutable_parameters())["sequence_id"].set_uint64_param(18446744073709551000ull);
  (*r.mutable_parameters())["sequence_start"].set_bool_param(true);
  (*r.mutable_parameters())["priority"].set_int64_param(-3);
  (*r.mutable_parameters())["timeout_scale"].set_double_param(0.25);
  auto* t = add_input(r, "x", "FP32", {1});
  t->mutable_contents()->add_fp32_contents(1.f);
  (*t->mutable_parameters())["layout"].set_string_param("NCTVM");
  auto* o = r.add_outputs();
  o->set_name("logits");
  (*o->mutable_parameters())["classification"].set_int64_param(5);
  InferRequest out;
  ASSERT_TRUE(convert(r, out).ok());
  ASSERT_EQ(out.parameters.count("sequence_id"), 1u);
  EXPECT_EQ(out.parameters["sequence_id"].kind, Param::kUint64);
  EXPECT_EQ(out.parameters["sequence_id"].u, 18446744073709551000ull);
  EXPECT_EQ(out.parameters["sequence_start"].kind, Param::kBool);
  EXPECT_TRUE(out.parameters["sequence_start"].b);
  EXPECT_EQ(out.parameters["priority"].kind, Param::kInt64);
  EXPECT_EQ(out.parameters["priority"].i, -3);
  EXPECT_EQ(out.parameters["timeout_scale"].kind, Param::kDouble);
  EXPECT_EQ(out.parameters["timeout_scale"].d, 0.25);
  EXPECT_EQ(out.inputs[0].parameters["layout"].s, "NCTVM");
  ASSERT_EQ(out.outputs.size(), 1u);
  EXPECT_EQ(out.outputs[0].name, "logits");
  EXPECT_EQ(out.outputs[0].parameters["classification"].i, 5);

  ModelInferRequest named;
  (*named.mutable_parameters())["sequence_id"].set_string_param("camera-3/person-12");
  ASSERT_TRUE(convert(named, out).ok());
  EXPECT_EQ(out.parameters["sequence_id"].kind, Param::kString);
  EXPECT_EQ(out.parameters["sequence_id"].s, "camera-3/person-12");

  ModelInferRequest empty;
  (*empty.mutable_parameters())["sequence_end"];  // no value set
  const Error e = convert(empty, out);
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_NE(e.message.find("'sequence_end'"), std::string::npos) << e.message;
}

TEST(ServeGrpcConvert, ParamRoundTripsEveryKind) {
  for (const Param& p : {Param::of_bool(true), Param::of_int64(-9), Param::of_uint64(~0ull),
                         Param::of_double(-1.5), Param::of_string("s")}) {
    inference::InferParameter proto;
    to_proto(p, proto);
    Param back;
    ASSERT_TRUE(from_proto("k", proto, back).ok());
    EXPECT_EQ(back.kind, p.kind);
    EXPECT_EQ(back.b, p.b);
    EXPECT_EQ(back.i, p.i);
    EXPECT_EQ(back.u, p.u);
    EXPECT_EQ(back.d, p.d);
    EXPECT_EQ(back.s, p.s);
  }
}

TEST(ServeGrpcConvert, ResponseRoundTripsThroughTheWire) {
  InferResponse resp;
  resp.model = "stgcn";
  resp.version = "1";
  resp.id = "abc";
  resp.parameters["sequence_id"] = Param::of_uint64(42);
  resp.parameters["sequence_end"] = Param::of_bool(true);
  Tensor logits;
  logits.name = "logits";
  logits.datatype = "FP32";
  logits.shape = {1, 3};
  logits.raw = le_bytes<float>({0.1f, 0.7f, 0.2f});
  Tensor labels;
  labels.name = "labels";
  labels.datatype = "BYTES";
  labels.shape = {1};
  labels.raw = std::string(
      "\x04\x00\x00\x00"
      "wave",
      8);
  labels.parameters["top_k"] = Param::of_int64(1);
  resp.outputs = {logits, labels};

  inference::ModelInferResponse proto;
  to_proto(resp, proto);
  std::string wire;
  ASSERT_TRUE(proto.SerializeToString(&wire));
  inference::ModelInferResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));

  EXPECT_EQ(parsed.model_name(), "stgcn");
  EXPECT_EQ(parsed.model_version(), "1");
  EXPECT_EQ(parsed.id(), "abc");
  EXPECT_EQ(parsed.parameters().at("sequence_id").uint64_param(), 42u);
  EXPECT_TRUE(parsed.parameters().at("sequence_end").bool_param());
  ASSERT_EQ(parsed.outputs_size(), 2);
  ASSERT_EQ(parsed.raw_output_contents_size(), 2);
  EXPECT_EQ(parsed.outputs(0).name(), "logits");
  EXPECT_EQ(parsed.outputs(0).datatype(), "FP32");
  EXPECT_EQ(parsed.outputs(0).shape_size(), 2);
  EXPECT_EQ(parsed.outputs(0).shape(1), 3);
  EXPECT_FALSE(parsed.outputs(0).has_contents());
  EXPECT_EQ(parsed.raw_output_contents(0), logits.raw);
  EXPECT_EQ(parsed.outputs(1).name(), "labels");
  EXPECT_EQ(parsed.outputs(1).parameters().at("top_k").int64_param(), 1);
  EXPECT_EQ(parsed.raw_output_contents(1), labels.raw);
}

TEST(ServeGrpcConvert, ModelConfigFieldValues) {
  ModelConfig c;
  c.name = "ntu60";
  c.platform = "stgcn";
  c.backend = "stgcn";
  c.max_batch_size = 8;
  c.inputs = {{"joints", "FP32", {3, -1, 25, 2}}};
  c.outputs = {{"logits", "FP32", {60}}, {"label", "BYTES", {1}}};
  c.dynamic_batching = true;
  c.preferred_batch_size = {4, 8};
  c.max_queue_delay_us = 2000;
  c.instance_count = 2;
  c.parameters = {{"layout", "ntu-rgb+d"}};

  inference::ModelConfig p;
  to_proto(c, p);
  EXPECT_EQ(p.name(), "ntu60");
  EXPECT_EQ(p.platform(), "stgcn");
  EXPECT_EQ(p.backend(), "stgcn");
  EXPECT_EQ(p.max_batch_size(), 8);
  ASSERT_EQ(p.input_size(), 1);
  EXPECT_EQ(p.input(0).name(), "joints");
  EXPECT_EQ(p.input(0).data_type(), inference::TYPE_FP32);
  ASSERT_EQ(p.input(0).dims_size(), 4);
  EXPECT_EQ(p.input(0).dims(1), -1);
  ASSERT_EQ(p.output_size(), 2);
  EXPECT_EQ(p.output(0).dims(0), 60);
  EXPECT_EQ(p.output(1).data_type(), inference::TYPE_STRING);
  ASSERT_TRUE(p.has_dynamic_batching());
  EXPECT_EQ(p.dynamic_batching().preferred_batch_size_size(), 2);
  EXPECT_EQ(p.dynamic_batching().preferred_batch_size(1), 8);
  EXPECT_EQ(p.dynamic_batching().max_queue_delay_microseconds(), 2000u);
  EXPECT_FALSE(p.has_sequence_batching());
  ASSERT_EQ(p.instance_group_size(), 1);
  EXPECT_EQ(p.instance_group(0).kind(), inference::ModelInstanceGroup::KIND_CPU);
  EXPECT_EQ(p.instance_group(0).count(), 2);
  EXPECT_EQ(p.parameters().at("layout").string_value(), "ntu-rgb+d");

  // A sequence model: sequence_batching (Triton's oneof), its batching as the oldest strategy.
  c.sequence_batching = true;
  c.max_sequence_idle_us = 5'000'000;
  to_proto(c, p);
  ASSERT_TRUE(p.has_sequence_batching());
  EXPECT_FALSE(p.has_dynamic_batching());
  EXPECT_EQ(p.sequence_batching().max_sequence_idle_microseconds(), 5'000'000u);
  ASSERT_TRUE(p.sequence_batching().has_oldest());
  EXPECT_EQ(p.sequence_batching().oldest().preferred_batch_size_size(), 2);
  EXPECT_EQ(p.sequence_batching().oldest().max_queue_delay_microseconds(), 2000u);
}

TEST(ServeGrpcConvert, MetadataConverted) {
  ModelMetadata m;
  m.name = "ntu60";
  m.versions = {"1"};
  m.platform = "stgcn";
  m.inputs = {{"joints", "FP32", {-1, 3, -1, 25, 2}}};
  m.outputs = {{"logits", "FP32", {-1, 60}}};
  inference::ModelMetadataResponse p;
  to_proto(m, p);
  EXPECT_EQ(p.name(), "ntu60");
  ASSERT_EQ(p.versions_size(), 1);
  EXPECT_EQ(p.versions(0), "1");
  EXPECT_EQ(p.platform(), "stgcn");
  ASSERT_EQ(p.inputs_size(), 1);
  EXPECT_EQ(p.inputs(0).datatype(), "FP32");
  EXPECT_EQ(p.inputs(0).shape_size(), 5);
  EXPECT_EQ(p.outputs(0).shape(1), 60);

  ServerMetadata s{"stgcn-rt", "0.9.0", {"sequence", "binary_tensor_data"}};
  inference::ServerMetadataResponse sp;
  to_proto(s, sp);
  EXPECT_EQ(sp.name(), "stgcn-rt");
  EXPECT_EQ(sp.version(), "0.9.0");
  ASSERT_EQ(sp.extensions_size(), 2);
  EXPECT_EQ(sp.extensions(1), "binary_tensor_data");
}

TEST(ServeGrpcConvert, DatatypesAndStatusCodes) {
  EXPECT_EQ(element_size("FP32"), 4);
  EXPECT_EQ(element_size("BF16"), 2);
  EXPECT_EQ(element_size("BYTES"), 0);
  EXPECT_EQ(element_size("fp32"), -1);
  EXPECT_EQ(config_data_type("INT64"), inference::TYPE_INT64);
  EXPECT_EQ(config_data_type("BF16"), inference::TYPE_BF16);
  EXPECT_EQ(config_data_type("nope"), inference::TYPE_INVALID);
  EXPECT_EQ(to_grpc_status(Code::kOk), grpc::StatusCode::OK);
  EXPECT_EQ(to_grpc_status(Code::kInvalidArgument), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(to_grpc_status(Code::kNotFound), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(to_grpc_status(Code::kUnavailable), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(to_grpc_status(Code::kResourceExhausted), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(to_grpc_status(Code::kUnauthenticated), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(to_grpc_status(Code::kDeadlineExceeded), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(to_grpc_status(Code::kInternal), grpc::StatusCode::INTERNAL);
}

}  // namespace
}  // namespace stgcn::serve
