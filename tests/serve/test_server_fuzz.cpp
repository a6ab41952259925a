// Property test of the running server (both frontends in process, on loopback): random and
// malformed HTTP requests and gRPC messages are answered with an error status, never a crash,
// and the server still answers a good request afterwards. Under the ASan build (scripts/test.sh)
// this also checks for memory errors and leaks.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <future>
#include <random>
#include <set>

#include "grpc_service.grpc.pb.h"
#include "serve/grpc_server.h"
#include "serve/http_server.h"
#include "serve/server_core.h"
#include "stgcn/engine.h"
#include "stgcn/model.h"

namespace stgcn::serve {
namespace {

std::shared_ptr<const Engine> small_engine() {
  auto m = load_model(std::string(STGCN_SOURCE_DIR) + "/models/demo/stgcn_demo.pt", {});
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  BuildOptions o;
  o.T = 30;  // a short window: the property test is about the frontends, not the compute
  o.max_batch = 2;
  auto e = Engine::build(*m, o);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  return *e;
}

std::string mutate(std::string s, std::mt19937& rng) {
  std::uniform_int_distribution<int> kind(0, 4), byte(0, 255);
  const int n = 1 + static_cast<int>(rng() % 8);
  for (int k = 0; k < n && !s.empty(); ++k) {
    const size_t at = rng() % s.size();
    switch (kind(rng)) {
      case 0: s[at] = static_cast<char>(byte(rng)); break;           // flip a byte
      case 1: s.resize(at); break;                                   // truncate
      case 2: s.insert(at, 1, static_cast<char>(byte(rng))); break;  // insert
      case 3: s.erase(at, 1 + rng() % 16); break;                    // cut a piece
      default: s.insert(at, s.substr(at, rng() % 64)); break;        // repeat a piece
    }
  }
  return s;
}

class ServeFuzz : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(core_.add_model("demo", small_engine(), {}).is_ok());
    core_.set_ready(true);
    FrontendOptions fo;
    fo.max_request_bytes = 1 << 20;
    fo.threads = 8;
    std::string error;
    http_ = HttpServer::start(core_, fo, error);
    ASSERT_TRUE(http_) << error;
    grpc_ = GrpcServer::start(core_, fo, error);
    ASSERT_TRUE(grpc_) << error;
  }
  void TearDown() override {
    if (grpc_) grpc_->shutdown(1);
    if (http_) http_->shutdown();
  }
  // A valid window request body (JSON) for the T=30 engine.
  static std::string valid_json() {
    std::string data;
    for (int i = 0; i < 3 * 30 * 33; ++i) data += i ? ",0.5" : "0.5";
    return R"({"id":"x","inputs":[{"name":"input","shape":[1,3,30,33,1],"datatype":"FP32","data":[)" +
           data + "]}]}";
  }
  ServerCore core_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<GrpcServer> grpc_;
};

TEST_F(ServeFuzz, RandomHttpRequestsGetAnErrorStatusNeverACrash) {
  httplib::Client cli("127.0.0.1", http_->port());
  cli.set_read_timeout(30, 0);
  const std::string good = valid_json();
  auto ok = cli.Post("/v2/models/demo/infer", good, "application/json");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  std::mt19937 rng(1234);
  const std::set<int> allowed = {200, 400, 404, 405, 411, 413, 503};
  const std::vector<std::string> paths = {"/v2/models/demo/infer", "/v2/models/demo",
                                          "/v2/models/demo/config", "/v2/models//infer",
                                          "/v2/models/demo/versions/1/infer", "/v2/../etc"};
  int errors = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string body = mutate(good, rng);
    httplib::Headers headers;
    if (i % 3 == 0)
      headers.emplace("Inference-Header-Content-Length",
                      std::to_string(static_cast<int64_t>(rng() % (body.size() + 10)) - 5));
    auto r = cli.Post(paths[i % 7 == 0 ? rng() % paths.size() : 0], headers, body,
                      "application/json");
    ASSERT_TRUE(r) << "request " << i << ": no answer (" << httplib::to_string(r.error()) << ")";
    EXPECT_TRUE(allowed.count(r->status)) << "request " << i << ": " << r->status;
    if (r->status != 200) {
      ++errors;
      EXPECT_NE(r->body.find("\"error\""), std::string::npos) << r->status << " " << r->body;
    }
  }
  EXPECT_GT(errors, 200);  // nearly every mutation breaks the request
  auto after = cli.Post("/v2/models/demo/infer", good, "application/json");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST_F(ServeFuzz, RandomGrpcMessagesGetAnErrorStatusNeverACrash) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_->port()),
                                     grpc::InsecureChannelCredentials());
  inference::ModelInferRequest req;
  req.set_model_name("demo");
  auto* in = req.add_inputs();
  in->set_name("input");
  in->set_datatype("FP32");
  for (int64_t d : {1, 3, 30, 33, 1}) in->add_shape(d);
  req.add_raw_input_contents(std::string(4 * 3 * 30 * 33, '\0'));
  (*req.mutable_parameters())["sequence_id"].set_string_param("s");
  (*req.mutable_parameters())["sequence_start"].set_bool_param(true);
  const std::string good = req.SerializeAsString();

  grpc::GenericStub stub(channel);
  auto call = [&](const std::string& bytes) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, "/inference.GRPCInferenceService/ModelInfer", grpc::StubOptions(),
                   &request, &response, [&](grpc::Status s) { done.set_value(s); });
    return done.get_future().get();
  };
  // The good message fails as a sequence (wrong input name for one) but is answered.
  EXPECT_EQ(call(good).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::mt19937 rng(99);
  int answered = 0;
  for (int i = 0; i < 300; ++i) {
    const grpc::Status s = call(mutate(good, rng));
    EXPECT_NE(s.error_code(), grpc::StatusCode::UNAVAILABLE) << "request " << i;
    EXPECT_NE(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << "request " << i;
    ++answered;
  }
  EXPECT_EQ(answered, 300);
  // Still serving: a good window request.
  auto typed = inference::GRPCInferenceService::NewStub(channel);
  req.mutable_parameters()->clear();
  inference::ModelInferResponse resp;
  grpc::ClientContext ctx;
  const grpc::Status s = typed->ModelInfer(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.raw_output_contents_size(), 1);
}

}  // namespace
}  // namespace stgcn::serve
