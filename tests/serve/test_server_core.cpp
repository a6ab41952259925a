// The server core without a network: dynamic batching, the bounded queue, sequences (chunking,
// restart, the cap, unknown ids), draining, the bearer check and the metrics exposition.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <limits>
#include <map>
#include <thread>

#include "serve/server_core.h"
#include "stgcn/engine.h"
#include "stgcn/model.h"
#include "stgcn/npy.h"

namespace stgcn::serve {
namespace {

const std::string kDemo = std::string(STGCN_SOURCE_DIR) + "/models/demo/stgcn_demo.pt";
const std::string kDemoX = std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_input.npy";

std::shared_ptr<const Engine> demo_engine(int batch = 4) {
  static std::map<int, std::shared_ptr<const Engine>> cache;
  if (cache.count(batch)) return cache[batch];
  auto m = load_model(kDemo, {});
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  BuildOptions o;
  o.T = 150;
  o.max_batch = batch;
  auto e = Engine::build(*m, o);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  return cache[batch] = *e;
}

stgcn::Tensor demo_x() {
  auto x = read_npy(kDemoX);
  EXPECT_TRUE(x.is_ok());
  return *x;
}

Tensor wire(const std::string& name, std::vector<int64_t> shape, const float* data) {
  Tensor t;
  t.name = name;
  t.datatype = "FP32";
  t.shape = shape;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  t.raw.assign(reinterpret_cast<const char*>(data), n * sizeof(float));
  return t;
}

std::vector<float> floats(const Tensor& t) {
  std::vector<float> v(t.raw.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), t.raw.data(), t.raw.size());
  return v;
}

InferRequest window_request(const stgcn::Tensor& x, int64_t n0, int64_t n) {
  const int64_t per = x.numel() / x.shape[0];
  InferRequest r;
  r.model = "demo";
  r.inputs.push_back(wire("input", {n, 3, 150, 33, 1}, x.data.data() + n0 * per));
  return r;
}

// (F, V, C) frames of sample n, frames [t0, t0 + F).
std::vector<float> frames_of(const stgcn::Tensor& x, int n, int t0, int F) {
  std::vector<float> out;
  for (int t = t0; t < t0 + F; ++t)
    for (int v = 0; v < 33; ++v)
      for (int c = 0; c < 3; ++c) out.push_back(x.data[(((n * 3 + c) * 150 + t) * 33 + v)]);
  return out;
}

InferRequest sequence_request(uint64_t id, const std::vector<float>& fr, bool start, bool end) {
  InferRequest r;
  r.model = "demo";
  r.parameters["sequence_id"] = Param::of_uint64(id);
  r.parameters["sequence_start"] = Param::of_bool(start);
  r.parameters["sequence_end"] = Param::of_bool(end);
  const int64_t F = static_cast<int64_t>(fr.size() / 99);
  r.inputs.push_back(wire("frames", {1, F, 33, 3}, fr.data()));
  return r;
}

std::unique_ptr<ServerCore> make_core(ModelOptions mo = {}) {
  auto core = std::make_unique<ServerCore>();
  EXPECT_TRUE(core->add_model("demo", demo_engine(), mo).is_ok());
  core->set_ready(true);
  return core;
}

TEST(ServeCore, WindowAnswersEqualTheEngineAndBatchConcurrentRequests) {
  ModelOptions mo;
  mo.batching.max_queue_delay_us = 20000;
  auto core = make_core(mo);
  const stgcn::Tensor x = demo_x();
  auto ctx = demo_engine()->create_context();
  ASSERT_TRUE(ctx.is_ok());
  auto want = (*ctx)->run(x);
  ASSERT_TRUE(want.is_ok());
  std::vector<std::thread> threads;
  std::vector<std::vector<float>> got(8);
  std::vector<Error> errors(8);
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      InferResponse resp;
      errors[i] = core->infer(window_request(x, i % 2, 1), resp, "test");
      if (errors[i].ok()) got[i] = floats(resp.outputs.at(0));
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(errors[i].ok()) << errors[i].message;
    for (size_t k = 0; k < got[i].size(); ++k)
      EXPECT_NEAR(got[i][k], want->data[(i % 2) * got[i].size() + k], 1e-4);
  }
  const std::string text = core->metrics().render();
  EXPECT_NE(text.find("stgcn_requests_total{protocol=\"test\",model=\"demo\",code=\"ok\"} 8"),
            std::string::npos)
      << text;
  // 8 single-sample requests in at most 7 engine calls: some were batched.
  const auto at = text.find("stgcn_batch_size_count{model=\"demo\"} ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(std::stoi(text.substr(at + 37)), 8);
}

TEST(ServeCore, FullQueueAnswersResourceExhausted) {
  ModelOptions mo;
  mo.batching.queue_capacity = 1;
  mo.batching.max_queue_delay_us = 300000;
  auto core = make_core(mo);
  const stgcn::Tensor x = demo_x();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, exhausted{0};
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&] {
      InferResponse resp;
      Error e = core->infer(window_request(x, 0, 1), resp, "test");
      if (e.ok()) ++ok;
      if (e.code == Code::kResourceExhausted) ++exhausted;
    });
  for (auto& t : threads) t.join();
  EXPECT_GE(ok, 1);
  EXPECT_GE(exhausted, 1);
  EXPECT_EQ(ok + exhausted, 6);
}

// (frame index -> logits) of a sequence response.
std::map<int64_t, std::vector<float>> answers(const InferResponse& r) {
  std::map<int64_t, std::vector<float>> out;
  const std::vector<float> l = floats(r.outputs.at(0));
  const int64_t A = r.outputs.at(1).shape.at(1);
  EXPECT_EQ(r.outputs.at(0).shape.at(1), A);
  const size_t K = A ? l.size() / A : 0;
  for (int64_t a = 0; a < A; ++a) {
    int64_t f = 0;
    std::memcpy(&f, r.outputs[1].raw.data() + 8 * a, 8);
    out[f] = std::vector<float>(l.begin() + a * K, l.begin() + (a + 1) * K);
  }
  return out;
}

TEST(ServeCore, SequenceAnswersDoNotDependOnHowFramesAreChunked) {
  auto core = make_core();
  const stgcn::Tensor x = demo_x();
  const int kFrames = 90;
  const std::vector<float> all = frames_of(x, 0, 0, kFrames);
  InferResponse whole;
  ASSERT_TRUE(core->infer(sequence_request(1, all, true, true), whole, "test").ok());
  const auto want = answers(whole);
  // The demo model looks ahead (centred temporal padding): its first frames have no answer,
  // every later frame has one.
  ASSERT_FALSE(want.empty());
  EXPECT_GT(want.begin()->first, 0);
  EXPECT_EQ(want.rbegin()->first, kFrames - 1);
  EXPECT_EQ(static_cast<int64_t>(want.size()), kFrames - want.begin()->first);
  std::map<int64_t, std::vector<float>> got;
  for (int t = 0; t < kFrames; t += 7) {
    const int F = std::min(7, kFrames - t);
    InferResponse r;
    std::vector<float> fr(all.begin() + t * 99, all.begin() + (t + F) * 99);
    Error e = core->infer(sequence_request(2, fr, t == 0, t + F == kFrames), r, "test");
    ASSERT_TRUE(e.ok()) << e.message;
    for (auto& [f, l] : answers(r)) {
      EXPECT_GE(f, t);
      EXPECT_LT(f, t + F);
      got[f] = l;
    }
  }
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [f, l] : want)
    for (size_t k = 0; k < l.size(); ++k) EXPECT_NEAR(l[k], got[f][k], 1e-4) << f;
  // Ended: the id is unknown now.
  InferResponse r;
  Error e = core->infer(sequence_request(2, frames_of(x, 0, 0, 1), false, false), r, "test");
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_NE(e.message.find("unknown sequence"), std::string::npos) << e.message;
}

TEST(ServeCore, SequenceRestartCapAndStringIds) {
  ModelOptions mo;
  mo.sequences.max_sequences = 2;
  auto core = make_core(mo);
  const stgcn::Tensor x = demo_x();
  const auto f = frames_of(x, 1, 0, 90);
  InferResponse a, b, r;
  ASSERT_TRUE(core->infer(sequence_request(5, f, true, false), a, "test").ok());
  // sequence_start on a live id restarts it: the same frames give the same answers.
  ASSERT_TRUE(core->infer(sequence_request(5, f, true, false), b, "test").ok());
  EXPECT_FALSE(answers(a).empty());
  EXPECT_EQ(answers(a), answers(b));
  InferRequest s = sequence_request(0, f, true, false);
  s.parameters["sequence_id"] = Param::of_string("cam-3/track-9");
  ASSERT_TRUE(core->infer(s, r, "test").ok());
  Error full = core->infer(sequence_request(6, f, true, false), r, "test");
  EXPECT_EQ(full.code, Code::kResourceExhausted) << full.message;
  // Bad parameters.
  InferRequest bad = sequence_request(7, f, true, false);
  bad.parameters["sequence_start"] = Param::of_string("yes");
  EXPECT_EQ(core->infer(bad, r, "test").code, Code::kInvalidArgument);
  InferRequest neg = sequence_request(7, f, true, false);
  neg.parameters["sequence_id"] = Param::of_int64(-3);
  EXPECT_EQ(core->infer(neg, r, "test").code, Code::kInvalidArgument);
}

TEST(ServeCore, RefusesBadRequestsAndDrains) {
  auto core = make_core();
  const stgcn::Tensor x = demo_x();
  InferResponse r;
  InferRequest unknown = window_request(x, 0, 1);
  unknown.model = "other";
  EXPECT_EQ(core->infer(unknown, r, "test").code, Code::kNotFound);
  InferRequest version = window_request(x, 0, 1);
  version.version = "2";
  EXPECT_EQ(core->infer(version, r, "test").code, Code::kNotFound);
  InferRequest shape = window_request(x, 0, 1);
  shape.inputs[0].shape = {1, 3, 150, 33, 2};
  EXPECT_EQ(core->infer(shape, r, "test").code, Code::kInvalidArgument);
  InferRequest type = window_request(x, 0, 1);
  type.inputs[0].datatype = "FP16";
  EXPECT_EQ(core->infer(type, r, "test").code, Code::kInvalidArgument);
  InferRequest output = window_request(x, 0, 1);
  output.outputs.push_back({"probabilities", {}});
  EXPECT_EQ(core->infer(output, r, "test").code, Code::kInvalidArgument);
  InferRequest nan = window_request(x, 0, 1);
  const float q = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan.inputs[0].raw.data() + 40, &q, 4);
  Error e = core->infer(nan, r, "test");
  EXPECT_EQ(e.code, Code::kInvalidArgument);
  EXPECT_NE(e.message.find("element 10"), std::string::npos) << e.message;
  EXPECT_TRUE(core->ready());
  EXPECT_TRUE(core->drain(5));
  EXPECT_FALSE(core->ready());
  EXPECT_EQ(core->infer(window_request(x, 0, 1), r, "test").code, Code::kUnavailable);
  EXPECT_EQ(core->metrics().requests_total(Code::kInvalidArgument), 4);
}

TEST(ServeCore, BearerCheck) {
  EXPECT_TRUE(check_bearer("", "").ok());
  EXPECT_TRUE(check_bearer("Bearer abc", "abc").ok());
  EXPECT_EQ(check_bearer("", "abc").code, Code::kUnauthenticated);
  EXPECT_EQ(check_bearer("Bearer abd", "abc").code, Code::kUnauthenticated);
  EXPECT_EQ(check_bearer("Bearer abcd", "abc").code, Code::kUnauthenticated);
  EXPECT_EQ(check_bearer("Bearer ab", "abc").code, Code::kUnauthenticated);
  EXPECT_EQ(check_bearer("Basic abc", "abc").code, Code::kUnauthenticated);
}

TEST(ServeCore, MetricsHaveOneHelpPerFamily) {
  ServerCore core;
  ASSERT_TRUE(core.add_model("a", demo_engine(), {}).is_ok());
  ASSERT_TRUE(core.add_model("b", demo_engine(), {}).is_ok());
  EXPECT_FALSE(core.add_model("a", demo_engine(), {}).is_ok());
  EXPECT_FALSE(core.add_model("x/y", demo_engine(), {}).is_ok());
  const std::string text = core.metrics().render();
  size_t n = 0;
  for (size_t at = text.find("# TYPE stgcn_queue_depth gauge"); at != std::string::npos;
       at = text.find("# TYPE stgcn_queue_depth gauge", at + 1))
    ++n;
  EXPECT_EQ(n, 1u) << text;
  EXPECT_NE(text.find("stgcn_queue_depth{model=\"a\"} 0"), std::string::npos);
  EXPECT_NE(text.find("stgcn_live_sequences{model=\"b\"} 0"), std::string::npos);
}

}  // namespace
}  // namespace stgcn::serve
