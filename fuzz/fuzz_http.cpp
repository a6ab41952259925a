// libFuzzer target: the KServe v2 HTTP request decoder must refuse any byte string cleanly, and
// what it accepts must be self-consistent and encode back without trouble.
// Byte 0, bit 0 set: bytes 1-2 (little-endian) give Inference-Header-Content-Length, taken
// modulo (body size + 2) so that lengths past the body are tried too; the body follows.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "serve/http_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stgcn::serve;
  if (size < 3) return 0;
  std::optional<size_t> header;
  const std::string_view body(reinterpret_cast<const char*>(data) + 3, size - 3);
  if (data[0] & 1)
    header = (static_cast<size_t>(data[1]) | static_cast<size_t>(data[2]) << 8) % (body.size() + 2);

  InferRequest req;
  const Error e = parse_infer_request(body, header, req);
  if (!e.ok()) {
    if (e.message.empty()) __builtin_trap();
    return 0;
  }
  InferResponse resp;
  resp.model = "m";
  resp.id = req.id;
  resp.parameters = req.parameters;
  size_t total = 0;
  for (const auto& t : req.inputs) {
    uint64_t n = 1;
    for (int64_t d : t.shape) {
      if (d < 0) __builtin_trap();
      n *= static_cast<uint64_t>(d);
    }
    static constexpr struct {
      std::string_view name;
      uint64_t size;
    } kSizes[] = {{"BOOL", 1},   {"UINT8", 1}, {"INT8", 1},   {"UINT16", 2}, {"INT16", 2},
                  {"FP16", 2},   {"BF16", 2},  {"UINT32", 4}, {"INT32", 4},  {"FP32", 4},
                  {"UINT64", 8}, {"INT64", 8}, {"FP64", 8}};
    for (const auto& s : kSizes)
      if (t.datatype == s.name && t.raw.size() != n * s.size) __builtin_trap();
    total += t.raw.size();
    resp.outputs.push_back(t);
  }
  size_t header_length = 0;
  const std::string out = encode_infer_response(resp, req, (data[0] & 2) != 0, header_length);
  if (header_length > out.size()) __builtin_trap();
  if (header_length && out.size() - header_length > total) __builtin_trap();
  return 0;
}
