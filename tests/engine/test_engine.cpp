// The oneDNN engine end to end: every fixture case against PyTorch's logits,
// every pass disable-able without changing the logits, engine files
// (round trip, determinism, refusal of bad files), contexts (batch limits,
// threads, steady-state allocations).
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <thread>

#include "backends/cpu/cpu_backend.h"
#include "engine/engine_file.h"
#include "fixture_cases.h"
#include "ir/from_model.h"
#include "passes/passes.h"
#include "stgcn/engine.h"
#include "stgcn/npy.h"
#include "stgcn/reference.h"
#include "test_util.h"

// Counts operator new calls while armed (steady-state allocation test).
namespace {
std::atomic<bool> g_count_allocs{false};
std::atomic<int64_t> g_allocs{0};
}  // namespace
// Every (non-aligned) form is replaced, so new/delete pairs stay matched
// under the sanitizers too.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
void* counted_alloc(size_t n) {
  if (g_count_allocs.load(std::memory_order_relaxed))
    g_allocs.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
}  // namespace
void* operator new(size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace stgcn {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Case {
  Model model;
  Tensor input, want;
  int T = 0, M = 0, N = 0;
};

Case load_case(const std::string& name) {
  Case out;
  const json* c = testing::find_case(name);
  EXPECT_NE(c, nullptr) << name;
  if (!c) return out;
  auto model = load_model(testing::fixture_path((*c)["checkpoint"]), testing::options_for(*c));
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  if (!model.is_ok()) return out;
  out.model = std::move(*model);
  auto x = read_npy(testing::fixture_path((*c)["input"]));
  auto y = read_npy(testing::fixture_path((*c)["logits64"]));
  EXPECT_TRUE(x.is_ok() && y.is_ok());
  out.input = std::move(*x);
  out.want = std::move(*y);
  out.N = static_cast<int>(out.input.shape[0]);
  out.T = static_cast<int>(out.input.shape[2]);
  out.M = static_cast<int>(out.input.shape[4]);
  return out;
}

Result<Tensor> run_engine(const Case& c, std::vector<std::string> disabled = {}, int threads = 2,
                          int max_batch = 0, const std::string& precision = "fp32") {
  BuildOptions o;
  o.precision = precision;
  o.T = c.T;
  o.M = c.M;
  o.max_batch = max_batch > 0 ? max_batch : c.N;
  o.disabled_passes = std::move(disabled);
  STGCN_ASSIGN_OR_RETURN(auto engine, Engine::build(c.model, o));
  STGCN_ASSIGN_OR_RETURN(auto ctx, engine->create_context(threads));
  return ctx->run(c.input);
}

class EngineCase : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineCase, LogitsMatchPyTorch) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case(GetParam());
  ASSERT_FALSE(c.input.data.empty());
  for (int threads : {1, 2}) {
    auto got = run_engine(c, {}, threads);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    auto cmp = testing::compare_logits(*got, c.want);
    EXPECT_TRUE(cmp.ok()) << "threads " << threads << ": max |engine - torch| " << cmp.max_abs_diff
                          << " > " << cmp.tolerance;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EngineCase,
                         ::testing::ValuesIn(testing::manifest_names("cases")),
                         testing::param_name);

// Each pass alone disabled, and all of them, give the same logits.
class PassDisabled : public ::testing::TestWithParam<std::string> {};

TEST_P(PassDisabled, KeepsTheLogits) {
  STGCN_REQUIRE_FIXTURES();
  for (const char* name : {"blazepose_spatial_2s_central", "coco_uniform_2s_central_m5"}) {
    Case c = load_case(name);
    ASSERT_FALSE(c.input.data.empty());
    std::vector<std::string> disabled;
    if (GetParam() == "all")
      for (const auto& p : passes::pipeline()) disabled.push_back(p.name);
    else
      disabled.push_back(GetParam());
    auto got = run_engine(c, disabled);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    auto cmp = testing::compare_logits(*got, c.want);
    EXPECT_TRUE(cmp.ok()) << name << ": max diff " << cmp.max_abs_diff << " > " << cmp.tolerance;
  }
}

std::vector<std::string> pass_names() {
  std::vector<std::string> n{"all"};
  for (const auto& p : passes::pipeline()) n.push_back(p.name);
  return n;
}
INSTANTIATE_TEST_SUITE_P(Passes, PassDisabled, ::testing::ValuesIn(pass_names()),
                         testing::param_name);

TEST(Engine, UnknownPassIsAnError) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case("openpose_spatial");
  auto r = run_engine(c, {"fold_everything"});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("unknown pass 'fold_everything'"), std::string::npos);
}

std::shared_ptr<const Engine> small_engine(int max_batch = 3) {
  Case c = load_case("openpose_uniform_2s");
  BuildOptions o;
  o.T = c.T;
  o.M = c.M;
  o.max_batch = max_batch;
  auto e = Engine::build(c.model, o);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  return e.is_ok() ? *e : nullptr;
}

TEST(EngineFile, SaveLoadRoundTripIsBitExactAndDeterministic) {
  STGCN_REQUIRE_FIXTURES();
  auto a = small_engine(), b = small_engine();
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->bytes().size(), b->bytes().size());
  EXPECT_EQ(std::memcmp(a->bytes().data(), b->bytes().data(), a->bytes().size()), 0)
      << "building twice must give byte-identical files";
  const fs::path dir = fs::path(::testing::TempDir()) / "stgcn_engine_rt";
  fs::create_directories(dir);
  const std::string path = (dir / "m.engine").string();
  ASSERT_TRUE(a->save(path).is_ok());
  auto loaded = Engine::load(path);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().message();
  ASSERT_EQ((*loaded)->bytes().size(), a->bytes().size());
  EXPECT_EQ(std::memcmp((*loaded)->bytes().data(), a->bytes().data(), a->bytes().size()), 0);
  EXPECT_EQ((*loaded)->info().T, 37);
  EXPECT_EQ((*loaded)->info().max_batch, 3);
  EXPECT_EQ((*loaded)->graph_text(), a->graph_text());
  // Same logits from the file as from the engine built in memory.
  Case c = load_case("openpose_uniform_2s");
  auto c1 = a->create_context(2);
  auto c2 = (*loaded)->create_context(2);
  ASSERT_TRUE(c1.is_ok() && c2.is_ok());
  auto y1 = (*c1)->run(c.input), y2 = (*c2)->run(c.input);
  ASSERT_TRUE(y1.is_ok() && y2.is_ok());
  EXPECT_EQ(y1->data, y2->data);
  fs::remove_all(dir);
}

// Re-serialises an engine with its metadata edited (so the checksum holds and
// the semantic checks are what refuses it).
Result<std::shared_ptr<const Engine>> with_metadata(const Engine& e,
                                                    const std::function<void(json&)>& edit) {
  auto file = engine::MappedEngineFile::from_bytes(
      std::vector<uint8_t>(e.bytes().begin(), e.bytes().end()));
  if (!file.is_ok()) return file.status();
  engine::EngineFileContents contents;
  json meta = json::parse((*file)->metadata_json());
  edit(meta);
  contents.metadata_json = meta.dump();
  contents.tensors = (*file)->tensors();
  auto bytes = engine::serialize_engine_file(contents);
  if (!bytes.is_ok()) return bytes.status();
  return Engine::from_bytes(std::move(*bytes), "edited.engine");
}

TEST(EngineFile, RefusesAnIsaThisCpuLacks) {
  STGCN_REQUIRE_FIXTURES();
  auto e = small_engine();
  ASSERT_TRUE(e);
  auto r = with_metadata(*e, [](json& m) { m["kernel_isa"] = "avx512_core_amx"; });
  // Only a CPU with AMX would accept it; the dev and CI machines have none.
  if (r.is_ok()) GTEST_SKIP() << "this CPU has AMX";
  EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(r.status().message().find("needs avx512_core_amx kernels"), std::string::npos)
      << r.status().message();
}

TEST(EngineFile, RefusesWeightsPackedForAnotherLayout) {
  STGCN_REQUIRE_FIXTURES();
  auto e = small_engine();
  ASSERT_TRUE(e);
  auto file = engine::MappedEngineFile::from_bytes(
      std::vector<uint8_t>(e->bytes().begin(), e->bytes().end()));
  ASSERT_TRUE(file.is_ok());
  engine::EngineFileContents contents;
  contents.metadata_json = (*file)->metadata_json();
  contents.tensors = (*file)->tensors();
  bool edited = false;
  std::vector<uint8_t> layout;
  for (auto& t : contents.tensors)
    if (!t.layout.empty() && !edited) {
      layout = t.layout;
      layout[8] ^= 0x5a;  // inside the dims: another shape/layout
      t.layout = layout;
      edited = true;
    }
  ASSERT_TRUE(edited);
  auto bytes = engine::serialize_engine_file(contents);
  ASSERT_TRUE(bytes.is_ok());
  auto r = Engine::from_bytes(std::move(*bytes), "edited.engine");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("cannot load 'edited.engine'"), std::string::npos)
      << r.status().message();
}

// A constant that our own kernels read as plain FP32 (here the aggregation
// matrix), stored as packed bytes: refused, not read out of bounds.
TEST(EngineFile, RefusesPackedBytesWherePlainValuesAreRead) {
  STGCN_REQUIRE_FIXTURES();
  auto e = small_engine();
  ASSERT_TRUE(e);
  auto file = engine::MappedEngineFile::from_bytes(
      std::vector<uint8_t>(e->bytes().begin(), e->bytes().end()));
  ASSERT_TRUE(file.is_ok());
  engine::EngineFileContents contents;
  contents.metadata_json = (*file)->metadata_json();
  contents.tensors = (*file)->tensors();
  std::vector<uint8_t> layout;
  for (const auto& t : contents.tensors)
    if (!t.layout.empty()) layout = t.layout;
  ASSERT_FALSE(layout.empty());
  bool edited = false;
  for (auto& t : contents.tensors)
    if (t.name.find(".agg.gemm_matrix") != std::string::npos && !edited) {
      t.dtype = engine::FileDType::kBytes;
      t.layout = layout;
      edited = true;
    }
  ASSERT_TRUE(edited);
  auto bytes = engine::serialize_engine_file(contents);
  ASSERT_TRUE(bytes.is_ok());
  auto r = Engine::from_bytes(std::move(*bytes), "edited.engine");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("must be plain FP32"), std::string::npos)
      << r.status().message();
}

TEST(EngineFile, RefusesBrokenMetadata) {
  STGCN_REQUIRE_FIXTURES();
  auto e = small_engine();
  ASSERT_TRUE(e);
  const std::vector<std::function<void(json&)>> edits = {
      [](json& m) { m["precision"] = "fp64"; },
      [](json& m) { m["max_batch"] = 0; },
      [](json& m) { m["graph"]["nodes"][3]["inputs"] = json::array({999}); },
      [](json& m) { m["graph"]["nodes"][2]["op"] = "softmax"; },
      [](json& m) {
        m["graph"]["values"][1]["shape"] = json::array({1, 2});
      },
      [](json& m) { m["graph"]["constants"][0]["tensor"] = "nope"; },
      [](json& m) { m["spec"]["streams"] = json::array(); },
      [](json& m) { m.erase("graph"); },
      [](json& m) { m["format"] = "something-else"; },
      // Fields the runner sizes its buffers by (a heap overflow before they were checked
      // against the graph): the class count, T, M, C and V.
      [](json& m) {
        for (json& s : m["spec"]["streams"]) s["num_class"] = 1;
      },
      [](json& m) { m["T"] = m["T"].get<int>() - 1; },
      [](json& m) { m["T"] = m["T"].get<int>() + 100; },
      [](json& m) { m["M"] = m["M"].get<int>() + 1; },
      [](json& m) {
        for (json& s : m["spec"]["streams"]) s["C"] = 2;
      },
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    auto r = with_metadata(*e, edits[i]);
    EXPECT_FALSE(r.is_ok()) << "edit " << i << " was accepted";
    if (!r.is_ok()) {
      EXPECT_NE(r.status().message().find("cannot load 'edited.engine'"), std::string::npos)
          << r.status().message();
    }
  }
}

TEST(EngineFile, CorruptedAndTruncatedFilesAreRefused) {
  STGCN_REQUIRE_FIXTURES();
  auto e = small_engine();
  ASSERT_TRUE(e);
  std::vector<uint8_t> bytes(e->bytes().begin(), e->bytes().end());
  for (size_t cut : {size_t{0}, size_t{7}, size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
    auto r =
        Engine::from_bytes(std::vector<uint8_t>(bytes.begin(), bytes.begin() + cut), "cut.engine");
    EXPECT_FALSE(r.is_ok()) << "truncated at " << cut;
  }
  for (size_t pos : {size_t{200}, bytes.size() / 3, bytes.size() - 10}) {
    auto flipped = bytes;
    flipped[pos] ^= 0x01;
    auto r = Engine::from_bytes(std::move(flipped), "flip.engine");
    ASSERT_FALSE(r.is_ok()) << "flip at " << pos;
    EXPECT_NE(r.status().message().find("checksum"), std::string::npos) << r.status().message();
  }
}

TEST(Context, BatchLimitsAndSizesAreChecked) {
  STGCN_REQUIRE_FIXTURES();
  auto e = small_engine(2);
  ASSERT_TRUE(e);
  auto ctx = e->create_context(1);
  ASSERT_TRUE(ctx.is_ok());
  const auto& i = e->info();
  const size_t per = static_cast<size_t>(i.spec.C()) * i.T * i.spec.V() * i.M;
  std::vector<float> in(per * 3, 0.5f), out(static_cast<size_t>(i.spec.num_class()) * 3);
  EXPECT_FALSE((*ctx)->run(std::span<const float>(in.data(), per * 3), 3, out).is_ok());
  EXPECT_FALSE((*ctx)
                   ->run(std::span<const float>(in.data(), per * 2 - 1), 2,
                         std::span<float>(out.data(), i.spec.num_class() * 2))
                   .is_ok());
  EXPECT_FALSE((*ctx)->run(std::span<const float>(in.data(), 0), 0, std::span<float>()).is_ok());
  // N = 0 is refused as the model (the reference executor) refuses it.
  Tensor empty;
  empty.shape = {0, i.spec.C(), i.T, i.spec.V(), i.M};
  auto none = (*ctx)->run(empty);
  ASSERT_FALSE(none.is_ok());
  EXPECT_NE(none.status().message().find("N must be at least 1"), std::string::npos)
      << none.status().message();
  // A 5-sample tensor runs in chunks of the maximum batch.
  Case c = load_case("openpose_uniform_2s");
  Tensor five;
  five.shape = c.input.shape;
  five.shape[0] = 5;
  for (int k = 0; k < 2; ++k)
    five.data.insert(five.data.end(), c.input.data.begin(), c.input.data.end());
  five.data.resize(static_cast<size_t>(5 * per));
  auto y = (*ctx)->run(five);
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  auto ref = run_reference(c.model, five);
  ASSERT_TRUE(ref.is_ok());
  EXPECT_TRUE(testing::compare_logits(*y, *ref).ok());
}

TEST(Context, ManyThreadsShareOneEngine) {
  STGCN_REQUIRE_FIXTURES();
  auto e = small_engine(3);
  ASSERT_TRUE(e);
  Case c = load_case("openpose_uniform_2s");
  auto ref = run_reference(c.model, c.input);
  ASSERT_TRUE(ref.is_ok());
  std::atomic<int> bad{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&] {
      auto ctx = e->create_context(1);
      if (!ctx.is_ok()) {
        ++bad;
        return;
      }
      for (int it = 0; it < 3; ++it) {
        auto y = (*ctx)->run(c.input);
        if (!y.is_ok() || !testing::compare_logits(*y, *ref).ok()) ++bad;
      }
    });
  for (auto& t : workers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// Context::run allocates nothing of its own in the steady state. oneDNN 2.x
// builds its argument map on the heap inside every primitive execute, so the
// check is twofold: with oneDNN's executions skipped (a testing switch of the
// backend) a run allocates nothing at all, and with them the count is the
// same on every run (bounded, no growth).
TEST(Context, SteadyStateRunAllocatesNothingOfItsOwn) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case("openpose_uniform_2s");
  auto g = ir::graph_from_model(c.model, c.T, c.M);
  ASSERT_TRUE(g.is_ok());
  ASSERT_TRUE(passes::run_pipeline(*g, {}).is_ok());
  auto exe = cpu::Executable::prepare(*g, c.N);
  ASSERT_TRUE(exe.is_ok()) << exe.status().message();
  for (int threads : {1, 2}) {
    auto runner = (*exe)->create_runner(threads);
    ASSERT_TRUE(runner.is_ok());
    std::vector<float> out(static_cast<size_t>(c.N) * c.model.spec.num_class());
    ASSERT_TRUE((*runner)->run(c.input.data.data(), c.N, out.data()).is_ok());  // warm-up
    std::vector<int64_t> counts;
    for (int it = 0; it < 4; ++it) {
      g_allocs = 0;
      g_count_allocs = true;
      Status st = (*runner)->run(c.input.data.data(), c.N, out.data());
      g_count_allocs = false;
      ASSERT_TRUE(st.is_ok()) << st.message();
      counts.push_back(g_allocs.load());
    }
    for (int64_t n : counts) EXPECT_EQ(n, counts.front()) << "threads " << threads;
    (*runner)->skip_library_calls_for_testing(true);
    g_allocs = 0;
    g_count_allocs = true;
    Status st = (*runner)->run(c.input.data.data(), c.N, out.data());
    g_count_allocs = false;
    ASSERT_TRUE(st.is_ok());
    EXPECT_EQ(g_allocs.load(), 0) << "threads " << threads;
  }
}

bool cpu_has_bf16() {
  return (cpu::cpu_isa_bits() & cpu::isa_bits("avx512_core_bf16")) ==
         cpu::isa_bits("avx512_core_bf16");
}

// BF16 activations and weights, FP32 accumulation: logits within 5e-2 of
// PyTorch's (relative to max(1, max|y|)), the same top-1 class wherever
// PyTorch's top-2 margin exceeds that error, and half the file size.
class Bf16Case : public ::testing::TestWithParam<std::string> {};

TEST_P(Bf16Case, CloseToPyTorchAndSameTopClass) {
  STGCN_REQUIRE_FIXTURES();
  if (!cpu_has_bf16())
    GTEST_SKIP() << "no AVX512-BF16 on this CPU (the fallback is tested in the CLI)";
  Case c = load_case(GetParam());
  ASSERT_FALSE(c.input.data.empty());
  auto got = run_engine(c, {}, 2, 0, "bf16");
  ASSERT_TRUE(got.is_ok()) << got.status().message();
  auto cmp = testing::compare_logits(*got, c.want, 5e-2);
  EXPECT_TRUE(cmp.ok()) << "max |bf16 - torch| " << cmp.max_abs_diff << " > " << cmp.tolerance;
  const int64_t classes = c.want.shape[1];
  for (int64_t n = 0; n < c.want.shape[0]; ++n) {
    const float* w = c.want.data.data() + n * classes;
    const float* g = got->data.data() + n * classes;
    const int64_t top = std::max_element(w, w + classes) - w;
    float second = -INFINITY;
    for (int64_t j = 0; j < classes; ++j)
      if (j != top) second = std::max(second, w[j]);
    if (classes > 1 && w[top] - second > 2 * cmp.max_abs_diff) {
      EXPECT_EQ(std::max_element(g, g + classes) - g, top) << "sample " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Bf16Case, ::testing::ValuesIn(testing::manifest_names("cases")),
                         testing::param_name);

TEST(Engine, Bf16HalvesTheFileAndRefusesAnUnfusedGraph) {
  STGCN_REQUIRE_FIXTURES();
  if (!cpu_has_bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  Case c = load_case("seed_full");
  BuildOptions o;
  auto fp32 = Engine::build(c.model, o);
  o.precision = "bf16";
  auto bf16 = Engine::build(c.model, o);
  ASSERT_TRUE(fp32.is_ok() && bf16.is_ok());
  EXPECT_EQ((*bf16)->info().precision, "bf16");
  // What the kernels were really packed for: AMX tiles where the CPU has them.
  EXPECT_EQ((*bf16)->info().kernel_isa,
            cpu::cpu_isa_name() == "avx512_core_amx" ? "avx512_core_amx" : "avx512_core_bf16");
  const double ratio = static_cast<double>((*bf16)->info().file_bytes) / (*fp32)->info().file_bytes;
  EXPECT_LE(ratio, 0.52) << ratio;
  EXPECT_NE((*bf16)->graph_text().find(" bf16 = temporal_conv"), std::string::npos);
  o.disabled_passes = {"fuse_relu"};
  auto unfused = Engine::build(c.model, o);
  ASSERT_FALSE(unfused.is_ok());
  EXPECT_NE(unfused.status().message().find("bf16 needs the fused graph"), std::string::npos)
      << unfused.status().message();
}

// FP16 storage: half the file, FP32 compute on the rounded weights.
TEST(Engine, Fp16StorageHalvesTheFileAndKeepsTheLogits) {
  STGCN_REQUIRE_FIXTURES();
  for (const char* name : {"seed_full", "coco_uniform_2s_central_m5", "ntu_spatial_2s_central"}) {
    Case c = load_case(name);
    auto got = run_engine(c, {}, 2, 0, "fp16");
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    auto cmp = testing::compare_logits(*got, c.want, 5e-3);
    EXPECT_TRUE(cmp.ok()) << name << ": " << cmp.max_abs_diff << " > " << cmp.tolerance;
  }
  Case c = load_case("seed_full");
  BuildOptions o;
  auto fp32 = Engine::build(c.model, o);
  o.precision = "fp16";
  auto fp16 = Engine::build(c.model, o);
  ASSERT_TRUE(fp32.is_ok() && fp16.is_ok());
  EXPECT_EQ((*fp16)->info().precision, "fp16");
  const double ratio = static_cast<double>((*fp16)->info().file_bytes) / (*fp32)->info().file_bytes;
  EXPECT_LE(ratio, 0.52) << ratio;
}

TEST(Engine, RefusesUnknownPrecisionAndUncalibratedInt8) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case("openpose_spatial");
  BuildOptions o;
  o.precision = "int4";
  auto e = Engine::build(c.model, o);
  ASSERT_FALSE(e.is_ok());
  EXPECT_EQ(e.status().code(), ErrorCode::kUnsupported);
  o.precision = "int8";  // no calibration data and no table
  e = Engine::build(c.model, o);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("int8 needs calibration"), std::string::npos);
}

// An engine runs at any thread count, whatever the thread count it was built (packed) and
// loaded with: oneDNN's AMX kernels pick the packed weight layout by the thread count, and
// an AMX machine used to refuse a two-thread context of an engine built with more.
TEST(Context, AnyThreadCountRunsAnEngineBuiltWithAnother) {
  STGCN_REQUIRE_FIXTURES();
  Case c = load_case("blazepose_spatial_2s_central");
  std::vector<std::string> precisions = {"fp32", "int8"};
  if (cpu_has_bf16()) precisions.push_back("bf16");
  const int saved = omp_get_max_threads();
  for (const std::string& precision : precisions) {
    SCOPED_TRACE(precision);
    BuildOptions o;
    o.T = c.T;
    o.M = c.M;
    o.precision = precision;
    o.calib = &c.input;
    omp_set_num_threads(16);  // built (packed) as under OMP_NUM_THREADS=16
    auto built = Engine::build(c.model, o);
    omp_set_num_threads(1);  // loaded under OMP_NUM_THREADS=1
    ASSERT_TRUE(built.is_ok()) << built.status().message();
    auto e = Engine::from_bytes(
        std::vector<uint8_t>((*built)->bytes().begin(), (*built)->bytes().end()), "t.engine");
    omp_set_num_threads(saved);
    ASSERT_TRUE(e.is_ok()) << e.status().message();
    Tensor first;
    for (int threads : {1, 2, 3, 4, 16}) {
      auto ctx = (*e)->create_context(threads);
      ASSERT_TRUE(ctx.is_ok()) << threads << " threads: " << ctx.status().message();
      auto y = (*ctx)->run(c.input);
      ASSERT_TRUE(y.is_ok()) << y.status().message();
      if (threads == 1) {
        first = *y;
        continue;
      }
      // Another thread split may sum in another order: equal up to rounding.
      auto cmp = testing::compare_logits(*y, first, precision == "bf16" ? 2e-2 : 1e-4);
      EXPECT_TRUE(cmp.ok()) << threads << " threads: max diff " << cmp.max_abs_diff;
    }
  }
}

// An engine file changed in place while loaded (a rebuild over it, a truncation) changes
// nothing: the loaded engine holds its own copy (with a mapping it raised SIGBUS).
TEST(EngineFile, ChangingTheFileInPlaceAfterLoadChangesNothing) {
  STGCN_REQUIRE_FIXTURES();
  auto e = small_engine();
  ASSERT_TRUE(e);
  const fs::path dir = fs::path(::testing::TempDir()) / "stgcn_engine_inplace";
  fs::create_directories(dir);
  const std::string path = (dir / "m.engine").string();
  ASSERT_TRUE(e->save(path).is_ok());
  auto loaded = Engine::load(path);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().message();
  Case c = load_case("openpose_uniform_2s");
  auto ctx = (*loaded)->create_context(1);
  ASSERT_TRUE(ctx.is_ok());
  auto before = (*ctx)->run(c.input);
  ASSERT_TRUE(before.is_ok());
  {  // same inode: truncated, then rewritten with other bytes
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << std::string(1000, '\x55');
  }
  auto after = (*ctx)->run(c.input);
  ASSERT_TRUE(after.is_ok());
  EXPECT_EQ(after->data, before->data);
  auto ctx2 = (*loaded)->create_context(1);
  ASSERT_TRUE(ctx2.is_ok());
  auto again = (*ctx2)->run(c.input);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->data, before->data);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace stgcn
