// The KServe v2 HTTP body codec: JSON and binary tensor data, every malformed request refused
// with kInvalidArgument, responses in JSON and binary, metadata / config JSON.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "serve/http_codec.h"

namespace stgcn::serve {
namespace {

using nlohmann::json;

template <typename T>
std::string le_bytes(const std::vector<T>& values) {
  std::string out;
  for (T v : values) {
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    for (size_t i = 0; i < sizeof(T); ++i)
      out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  }
  return out;
}

std::string bytes_element(const std::string& s) {
  return le_bytes(std::vector<uint32_t>{static_cast<uint32_t>(s.size())}) + s;
}

InferRequest parse_ok(const std::string& body, std::optional<size_t> header = std::nullopt) {
  InferRequest req;
  Error e = parse_infer_request(body, header, req);
  EXPECT_TRUE(e.ok()) << e.message;
  return req;
}

// A malformed request: kInvalidArgument, with a message containing `needle`.
void expect_invalid(const std::string& body, const std::string& needle,
                    std::optional<size_t> header = std::nullopt) {
  InferRequest req;
  Error e = parse_infer_request(body, header, req);
  EXPECT_EQ(e.code, Code::kInvalidArgument) << body.substr(0, 200);
  EXPECT_NE(e.message.find(needle), std::string::npos) << "message: " << e.message;
}

std::string one_input(const std::string& datatype, const std::string& shape,
                      const std::string& data) {
  return R"({"inputs":[{"name":"x","datatype":")" + datatype + R"(","shape":)" + shape +
         R"(,"data":)" + data + "}]}";
}

TEST(ServeHttpCodec, Fp32FlatAndNested) {
  const std::vector<float> want = {0.5f, -1.25f, 3.0f, 1e-3f, 0.1f, 7.0f};
  for (const char* data : {"[0.5,-1.25,3,0.001,0.1,7]", "[[0.5,-1.25,3],[0.001,0.1,7]]",
                           "[[[0.5],[-1.25],[3]],[[0.001],[0.1],[7]]]"}) {
    InferRequest req =
        parse_ok(R"({"id":"r1","inputs":[{"name":"x","datatype":"FP32","shape":[2,3],"data":)" +
                 std::string(data) + "}]}");
    ASSERT_EQ(req.inputs.size(), 1u);
    EXPECT_EQ(req.id, "r1");
    EXPECT_EQ(req.inputs[0].name, "x");
    EXPECT_EQ(req.inputs[0].datatype, "FP32");
    EXPECT_EQ(req.inputs[0].shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(req.inputs[0].raw, le_bytes(want)) << data;
  }
}

TEST(ServeHttpCodec, IntegerTypes) {
  InferRequest req =
      parse_ok(one_input("INT64", "[3]", "[-9223372036854775808, 0, 9223372036854775807]"));
  EXPECT_EQ(req.inputs[0].raw, le_bytes(std::vector<int64_t>{std::numeric_limits<int64_t>::min(), 0,
                                                             std::numeric_limits<int64_t>::max()}));
  req = parse_ok(one_input("UINT64", "[1]", "[18446744073709551615]"));
  EXPECT_EQ(req.inputs[0].raw, le_bytes(std::vector<uint64_t>{~uint64_t{0}}));
  req = parse_ok(one_input("INT8", "[2]", "[-128, 127]"));
  EXPECT_EQ(req.inputs[0].raw, le_bytes(std::vector<int8_t>{-128, 127}));
  req = parse_ok(one_input("UINT16", "[1]", "[65535]"));
  EXPECT_EQ(req.inputs[0].raw, le_bytes(std::vector<uint16_t>{65535}));
  req = parse_ok(one_input("INT32", "[]", "-7"));  // a scalar
  EXPECT_EQ(req.inputs[0].raw, le_bytes(std::vector<int32_t>{-7}));

  expect_invalid(one_input("INT8", "[1]", "[128]"), "out of range");
  expect_invalid(one_input("UINT8", "[1]", "[-1]"), "negative");
  expect_invalid(one_input("INT64", "[1]", "[1.5]"), "integers");
  expect_invalid(one_input("INT64", "[1]", "[18446744073709551615]"), "out of range");
}

TEST(ServeHttpCodec, BoolAndBytes) {
  InferRequest req = parse_ok(one_input("BOOL", "[3]", "[true,false,true]"));
  EXPECT_EQ(req.inputs[0].raw, std::string("\x01\x00\x01", 3));
  expect_invalid(one_input("BOOL", "[1]", "[1]"), "true / false");

  req = parse_ok(one_input("BYTES", "[2]", R"(["ab",""])"));
  EXPECT_EQ(req.inputs[0].raw, bytes_element("ab") + bytes_element(""));
  expect_invalid(one_input("BYTES", "[1]", "[3]"), "strings");
}

TEST(ServeHttpCodec, Fp16AndBf16) {
  InferRequest req =
      parse_ok(one_input("FP16", "[5]", "[1, -2, 65504, 0.1, 5.960464477539063e-08]"));
  EXPECT_EQ(req.inputs[0].raw,
            le_bytes(std::vector<uint16_t>{0x3c00, 0xc000, 0x7bff, 0x2e66, 0x0001}));
  expect_invalid(one_input("FP16", "[1]", "[70000]"), "out of range");
  expect_invalid(one_input("FP32", "[1]", "[1e300]"), "out of range");
  req = parse_ok(one_input("BF16", "[2]", "[1, -2]"));
  EXPECT_EQ(req.inputs[0].raw, le_bytes(std::vector<uint16_t>{0x3f80, 0xc000}));
  req = parse_ok(one_input("FP64", "[1]", "[0.1]"));
  EXPECT_EQ(req.inputs[0].raw, le_bytes(std::vector<double>{0.1}));
}

TEST(ServeHttpCodec, BinaryExtensionWithTwoInputs) {
  const std::string a = le_bytes(std::vector<float>{1.f, 2.f, 3.f, 4.f});
  const std::string b = bytes_element("hello") + bytes_element("");
  const std::string header =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2,2],"parameters":{"binary_data_size":)" +
      std::to_string(a.size()) +
      R"(}},{"name":"j","datatype":"INT32","shape":[1],"data":[5]},)"
      R"({"name":"b","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":)" +
      std::to_string(b.size()) +
      R"(}}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]})";
  InferRequest req = parse_ok(header + a + b, header.size());
  ASSERT_EQ(req.inputs.size(), 3u);
  EXPECT_EQ(req.inputs[0].raw, a);
  EXPECT_EQ(req.inputs[0].parameters.count("binary_data_size"), 0u);
  EXPECT_EQ(req.inputs[1].raw, le_bytes(std::vector<int32_t>{5}));
  EXPECT_EQ(req.inputs[2].raw, b);
  ASSERT_EQ(req.outputs.size(), 1u);
  EXPECT_EQ(req.outputs[0].name, "y");
  EXPECT_TRUE(req.outputs[0].parameters.at("binary_data").b);

  // Sizes not matching the body or the shape.
  expect_invalid(header + a + b + "x", "bytes after the JSON header", header.size());
  expect_invalid(header + a + b.substr(0, b.size() - 1), "runs past the end", header.size());
  const std::string short_a =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2,2],"parameters":{"binary_data_size":12}}]})";
  expect_invalid(short_a + a.substr(0, 12), "binary_data_size is 12", short_a.size());
  const std::string bad_bytes =
      R"({"inputs":[{"name":"b","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":6}}]})";
  expect_invalid(bad_bytes + bytes_element("abc").substr(0, 4) + "ab", "runs past",
                 bad_bytes.size());
  // binary_data_size without the header, header longer than the body, data + size both.
  expect_invalid(short_a + a.substr(0, 12), "Inference-Header-Content-Length");
  expect_invalid(header + a + b, "only", header.size() + a.size() + b.size() + 1);
  const std::string both =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1],"parameters":{"binary_data_size":4}}]})";
  expect_invalid(both + a.substr(0, 4), "both", both.size());
  const std::string bool_bin =
      R"({"inputs":[{"name":"a","datatype":"BOOL","shape":[1],"parameters":{"binary_data_size":1}}]})";
  expect_invalid(bool_bin + "\x02", "0 or 1", bool_bin.size());
}

TEST(ServeHttpCodec, MalformedRequestsAreInvalidArgument) {
  expect_invalid("{not json", "not valid JSON");
  expect_invalid("", "not valid JSON");
  expect_invalid("[]", "JSON object");
  expect_invalid(R"({"id":"x"})", "\"inputs\"");
  expect_invalid(R"({"inputs":{}})", "\"inputs\"");
  expect_invalid(R"({"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]})", "\"name\"");
  expect_invalid(R"({"inputs":[{"name":"","datatype":"FP32","shape":[1],"data":[1]}]})",
                 "\"name\"");
  expect_invalid(R"({"inputs":[{"name":"x","shape":[1],"data":[1]}]})", "\"datatype\"");
  expect_invalid(R"({"inputs":[{"name":"x","datatype":"FP32","data":[1]}]})", "\"shape\"");
  expect_invalid(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1]}]})", "neither");
  expect_invalid(one_input("FP8", "[1]", "[1]"), "unknown datatype 'FP8'");
  expect_invalid(one_input("FP32", "[2,3]", "[1,2,3,4,5]"),
                 "has 5 elements but shape [2,3] needs 6");
  expect_invalid(one_input("FP32", "[2]", "[1,2,3]"), "more than 2");
  expect_invalid(one_input("FP32", "[-1,3]", "[1,2,3]"), "negative dimension");
  expect_invalid(one_input("FP32", "[1099511627776,1099511627776]", "[1]"), "more elements than");
  expect_invalid(one_input("FP32", "[4294967296,4294967296,4294967296]", "[1]"),
                 "more elements than");
  expect_invalid(one_input("FP32", "[18446744073709551615]", "[1]"), "too large");
  expect_invalid(one_input("FP32", "[1.5]", "[1]"), "array of integers");
  expect_invalid(one_input("FP32", "[1]", R"(["a"])"), "numbers");
  expect_invalid(one_input("FP32", "[1]", "[null]"), "numbers");
  expect_invalid(one_input("FP32", "[1]", "[{}]"), "numbers");
  expect_invalid(R"({"id":3,"inputs":[]})", "\"id\"");
  expect_invalid(R"({"inputs":[],"parameters":[1]})", "\"parameters\"");
  expect_invalid(R"({"inputs":[],"parameters":{"a":null}})", "parameter 'a'");
  expect_invalid(R"({"inputs":[],"parameters":{"binary_data_output":1}})", "binary_data_output");
  expect_invalid(R"({"inputs":[],"outputs":[{"parameters":{}}]})", "\"name\"");
  expect_invalid(R"({"inputs":[],"outputs":[{"name":"y","parameters":{"binary_data":"yes"}}]})",
                 "binary_data");
  expect_invalid(R"({"inputs":[],"outputs":[{"name":"y"},{"name":"y"}]})", "twice");
  expect_invalid(
      one_input("FP32", "[1]", "[1]")
          .replace(0, 11, R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]},)"),
      "given twice");
  expect_invalid(std::string(1000, '[') + std::string(1000, ']'), "nests deeper");
  expect_invalid(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":)" +
                     std::string(100, '[') + "1" + std::string(100, ']') + "}]}",
                 "nests deeper");
  expect_invalid("{\"inputs\":[], \"id\":\"\xff\"}", "not valid JSON");  // invalid UTF-8
}

TEST(ServeHttpCodec, Parameters) {
  InferRequest req = parse_ok(
      R"({"parameters":{"sequence_id":18446744073709551615,"sequence_start":true,"sequence_end":false,)"
      R"("small":42,"neg":-3,"ratio":0.5,"tag":"abc"},"inputs":[]})");
  EXPECT_EQ(req.parameters.at("sequence_id").kind, Param::kUint64);
  EXPECT_EQ(req.parameters.at("sequence_id").u, 18446744073709551615ull);
  EXPECT_EQ(req.parameters.at("sequence_start").kind, Param::kBool);
  EXPECT_TRUE(req.parameters.at("sequence_start").b);
  EXPECT_FALSE(req.parameters.at("sequence_end").b);
  EXPECT_EQ(req.parameters.at("small").kind, Param::kInt64);
  EXPECT_EQ(req.parameters.at("small").i, 42);
  EXPECT_EQ(req.parameters.at("neg").i, -3);
  EXPECT_EQ(req.parameters.at("ratio").kind, Param::kDouble);
  EXPECT_EQ(req.parameters.at("ratio").d, 0.5);
  EXPECT_EQ(req.parameters.at("tag").kind, Param::kString);

  req = parse_ok(R"({"parameters":{"sequence_id":"walk-7"},"inputs":[]})");
  EXPECT_EQ(req.parameters.at("sequence_id").kind, Param::kString);
  EXPECT_EQ(req.parameters.at("sequence_id").s, "walk-7");
  req = parse_ok(R"({"parameters":{"sequence_id":9223372036854775808},"inputs":[]})");  // 2^63
  EXPECT_EQ(req.parameters.at("sequence_id").kind, Param::kUint64);
  req = parse_ok(R"({"parameters":{"sequence_id":9223372036854775807},"inputs":[]})");
  EXPECT_EQ(req.parameters.at("sequence_id").kind, Param::kInt64);
}

InferResponse sample_response() {
  InferResponse r;
  r.model = "stgcn";
  r.version = "1";
  r.id = "req-9";
  r.parameters["sequence_id"] = Param::of_uint64(18446744073709551615ull);
  r.parameters["sequence_end"] = Param::of_bool(true);
  Tensor scores{"scores", "FP32", {1, 3}, {}, le_bytes(std::vector<float>{0.1f, 1e-7f, -3.5f})};
  Tensor labels{"labels", "BYTES", {2}, {}, bytes_element("walk") + bytes_element("run\n\"x\"")};
  Tensor index{"index", "INT64", {1}, {}, le_bytes(std::vector<int64_t>{-2})};
  r.outputs = {scores, labels, index};
  return r;
}

TEST(ServeHttpCodec, JsonResponse) {
  InferRequest req;
  size_t header_length = 99;
  const std::string body = encode_infer_response(sample_response(), req, false, header_length);
  EXPECT_EQ(header_length, 0u);
  json j = json::parse(body);
  EXPECT_EQ(j["model_name"], "stgcn");
  EXPECT_EQ(j["model_version"], "1");
  EXPECT_EQ(j["id"], "req-9");
  EXPECT_EQ(j["parameters"]["sequence_id"].get<uint64_t>(), 18446744073709551615ull);
  EXPECT_EQ(j["parameters"]["sequence_end"], true);
  ASSERT_EQ(j["outputs"].size(), 3u);
  EXPECT_EQ(j["outputs"][0]["name"], "scores");
  EXPECT_EQ(j["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(j["outputs"][0]["shape"], json::array({1, 3}));
  EXPECT_FALSE(j["outputs"][0].contains("parameters"));
  // Float data round-trips exactly through the decimal text.
  std::vector<float> scores;
  for (const auto& v : j["outputs"][0]["data"])
    scores.push_back(static_cast<float>(v.get<double>()));
  EXPECT_EQ(scores, (std::vector<float>{0.1f, 1e-7f, -3.5f}));
  EXPECT_NE(body.find("[0.1,1e-07,-3.5]"), std::string::npos) << body;
  EXPECT_EQ(j["outputs"][1]["data"], json::array({"walk", "run\n\"x\""}));
  EXPECT_EQ(j["outputs"][2]["data"], json::array({-2}));
}

TEST(ServeHttpCodec, BinaryResponse) {
  const InferResponse r = sample_response();
  InferRequest req;
  RequestedOutput scores{"scores", {}};
  scores.parameters["binary_data"] = Param::of_bool(true);
  RequestedOutput labels{"labels", {}};
  labels.parameters["binary_data"] = Param::of_bool(false);
  req.outputs = {scores, labels};
  size_t header_length = 0;
  std::string body = encode_infer_response(r, req, false, header_length);
  ASSERT_GT(header_length, 0u);
  json j = json::parse(body.substr(0, header_length));
  EXPECT_EQ(j["outputs"][0]["parameters"]["binary_data_size"], 12);
  EXPECT_FALSE(j["outputs"][0].contains("data"));
  EXPECT_TRUE(j["outputs"][1].contains("data"));
  EXPECT_TRUE(j["outputs"][2].contains("data"));
  EXPECT_EQ(body.substr(header_length), r.outputs[0].raw);

  // Request-level binary_data_output, overridden per output ("labels" asked false).
  req.parameters["binary_data_output"] = Param::of_bool(true);
  body = encode_infer_response(r, req, false, header_length);
  j = json::parse(body.substr(0, header_length));
  EXPECT_FALSE(j["outputs"][0].contains("data"));
  EXPECT_TRUE(j["outputs"][1].contains("data"));
  EXPECT_EQ(j["outputs"][2]["parameters"]["binary_data_size"], 8);
  EXPECT_EQ(body.substr(header_length), r.outputs[0].raw + r.outputs[2].raw);

  // binary_default: everything not asking false.
  body = encode_infer_response(r, InferRequest{}, true, header_length);
  EXPECT_EQ(body.substr(header_length), r.outputs[0].raw + r.outputs[1].raw + r.outputs[2].raw);
  j = json::parse(body.substr(0, header_length));
  EXPECT_EQ(j["outputs"][1]["parameters"]["binary_data_size"], r.outputs[1].raw.size());

  // A request parsed from JSON drives the same choice.
  InferRequest parsed =
      parse_ok(R"({"inputs":[],"outputs":[{"name":"index","parameters":{"binary_data":true}}]})");
  body = encode_infer_response(r, parsed, false, header_length);
  EXPECT_EQ(body.substr(header_length), r.outputs[2].raw);
}

TEST(ServeHttpCodec, HttpStatus) {
  EXPECT_EQ(http_status(Code::kOk), 200);
  EXPECT_EQ(http_status(Code::kInvalidArgument), 400);
  EXPECT_EQ(http_status(Code::kUnauthenticated), 401);
  EXPECT_EQ(http_status(Code::kNotFound), 404);
  EXPECT_EQ(http_status(Code::kUnavailable), 503);
  EXPECT_EQ(http_status(Code::kResourceExhausted), 503);
  EXPECT_EQ(http_status(Code::kDeadlineExceeded), 504);
  EXPECT_EQ(http_status(Code::kInternal), 500);
}

TEST(ServeHttpCodec, MetadataAndConfigJson) {
  ServerMetadata server{"stgcn-rt", "0.9.0", {"binary_tensor_data", "sequence"}};
  json s = json::parse(server_metadata_json(server));
  EXPECT_EQ(s["name"], "stgcn-rt");
  EXPECT_EQ(s["extensions"], json::array({"binary_tensor_data", "sequence"}));

  ModelMetadata meta{
      "ntu", {"1"}, "stgcn", {{"x", "FP32", {-1, 3, 300, 25, 2}}}, {{"y", "FP32", {-1, 60}}}};
  json m = json::parse(model_metadata_json(meta));
  EXPECT_EQ(m["versions"], json::array({"1"}));
  EXPECT_EQ(m["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(m["inputs"][0]["shape"], json::array({-1, 3, 300, 25, 2}));
  EXPECT_EQ(m["outputs"][0]["name"], "y");

  ModelConfig c;
  c.name = "ntu";
  c.platform = c.backend = "stgcn";
  c.max_batch_size = 8;
  c.inputs = {{"x", "FP32", {3, 300, 25, 2}}};
  c.outputs = {{"y", "BYTES", {60}}};
  c.dynamic_batching = true;
  c.preferred_batch_size = {4, 8};
  c.max_queue_delay_us = 2000;
  c.instance_count = 2;
  c.parameters["layout"] = "NCTVM";
  json j = json::parse(model_config_json(c));
  EXPECT_EQ(j["name"], "ntu");
  EXPECT_EQ(j["platform"], "stgcn");
  EXPECT_EQ(j["backend"], "stgcn");
  EXPECT_EQ(j["max_batch_size"], 8);
  EXPECT_EQ(j["input"][0]["name"], "x");
  EXPECT_EQ(j["input"][0]["data_type"], "TYPE_FP32");
  EXPECT_EQ(j["input"][0]["dims"], json::array({3, 300, 25, 2}));
  EXPECT_EQ(j["output"][0]["data_type"], "TYPE_STRING");
  EXPECT_EQ(j["dynamic_batching"]["preferred_batch_size"], json::array({4, 8}));
  EXPECT_EQ(j["dynamic_batching"]["max_queue_delay_microseconds"], 2000);
  EXPECT_FALSE(j.contains("sequence_batching"));
  ASSERT_EQ(j["instance_group"].size(), 1u);
  EXPECT_EQ(j["instance_group"][0]["count"], 2);
  EXPECT_EQ(j["instance_group"][0]["kind"], "KIND_CPU");
  EXPECT_EQ(j["parameters"]["layout"]["string_value"], "NCTVM");

  c.dynamic_batching = false;
  c.sequence_batching = true;
  c.max_sequence_idle_us = 5000000;
  j = json::parse(model_config_json(c));
  EXPECT_FALSE(j.contains("dynamic_batching"));
  EXPECT_EQ(j["sequence_batching"]["max_sequence_idle_microseconds"], 5000000);

  EXPECT_EQ(json::parse(error_json("bad \"x\"\n"))["error"], "bad \"x\"\n");
  EXPECT_EQ(json::parse(error_json("\xff"))["error"], "\xef\xbf\xbd");  // invalid UTF-8 replaced
}

}  // namespace
}  // namespace stgcn::serve
