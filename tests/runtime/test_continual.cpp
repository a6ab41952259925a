// Continual inference (the backend's streaming lowering of an engine graph, reached through
// src/runtime/continual.h) against the window engine and against the first, hand-lowered
// continual implementation (continual_oracle.*).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "stgcn/engine.h"
#include "stgcn/model.h"
#include "stgcn/npy.h"
#include "runtime/continual.h"
#include "runtime/continual_oracle.h"
#include "test_util.h"

namespace stgcn::runtime {
namespace {

const std::string kDemoModel = std::string(STGCN_SOURCE_DIR) + "/models/demo/stgcn_demo.pt";
const std::string kTrained =
    std::string(STGCN_SOURCE_DIR) + "/models/trained/stgcn_seed_actions.pt";
const std::string kTrainedInput = std::string(STGCN_SOURCE_DIR) + "/models/trained/test_input.npy";

using ContinualModel = backend::Streaming;

// The continual lowering of an FP32 engine of the model (window T).
Result<std::unique_ptr<ContinualModel>> create(const Model& model, int T, int slots,
                                               int scratch = 0) {
  return continual_from_model(model, T, slots, scratch);
}

Model load(const std::string& path) {
  auto m = load_model(path, {});
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  return std::move(m).value();
}

// Frame t of sample n of an (N, C, T, V, M=1) tensor as (C, V), channel-major.
std::vector<float> frame_of(const Tensor& x, int64_t n, int64_t t) {
  const int64_t C = x.shape[1], T = x.shape[2], V = x.shape[3];
  std::vector<float> f(C * V);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t v = 0; v < V; ++v) f[c * V + v] = x.data[((n * C + c) * T + t) * V + v];
  return f;
}

// Window engine logits for `x` (N, C, T, V, M).
Tensor window_logits(const Model& model, const Tensor& x, int M) {
  BuildOptions bo;
  bo.T = static_cast<int>(x.shape[2]);
  bo.M = M;
  auto engine = Engine::build(model, bo);
  EXPECT_TRUE(engine.is_ok()) << engine.status().message();
  auto ctx = (*engine)->create_context(2);
  auto out = (*ctx)->run(x);
  EXPECT_TRUE(out.is_ok()) << out.status().message();
  return std::move(out).value();
}

// Runs each sample as one track of exactly T frames, flushed at the end (or
// not: the live answer at its last frame).
std::vector<std::vector<float>> continual_logits(ContinualModel& cm, const Tensor& x,
                                                 int persons_M, bool flush = true) {
  const int64_t N = x.shape[0], T = x.shape[2];
  std::vector<int> slots;
  for (int64_t n = 0; n < N; ++n) {
    slots.push_back(static_cast<int>(n));
    cm.reset(static_cast<int>(n));
  }
  for (int64_t t = 0; t < T; ++t) {
    std::vector<std::vector<float>> frames;
    std::vector<const float*> ptrs;
    for (int64_t n = 0; n < N; ++n) frames.push_back(frame_of(x, n, t));
    for (auto& f : frames) ptrs.push_back(f.data());
    EXPECT_TRUE(cm.step(slots, ptrs).is_ok());
  }
  std::vector<std::vector<float>> out;
  for (int64_t n = 0; n < N; ++n) {
    if (flush) {
      EXPECT_TRUE(cm.flush(static_cast<int>(n)).is_ok());
    }
    std::vector<float> f;
    EXPECT_TRUE(cm.features(static_cast<int>(n), f));
    std::vector<const std::vector<float>*> persons{&f};
    for (int m = 1; m < persons_M; ++m) persons.push_back(nullptr);
    std::vector<float> logits(cm.num_class());
    EXPECT_TRUE(cm.logits(persons, logits).is_ok());
    out.push_back(logits);
  }
  return out;
}

double max_rel_diff(const Tensor& ref, const std::vector<std::vector<float>>& got) {
  double scale = 1e-6, diff = 0;
  for (float v : ref.data) scale = std::max(scale, static_cast<double>(std::fabs(v)));
  const int64_t K = ref.shape[1];
  for (size_t n = 0; n < got.size(); ++n)
    for (int64_t k = 0; k < K; ++k)
      diff = std::max(diff, std::fabs(static_cast<double>(ref.data[n * K + k]) - got[n][k]));
  return diff / scale;
}

TEST(Continual, FlushedTrackOfTFramesEqualsTheWindowEngine) {
  Model model = load(kDemoModel);
  auto x = read_npy(std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_input.npy");
  ASSERT_TRUE(x.is_ok()) << x.status().message();
  auto cm = create(model, 150, 4);
  ASSERT_TRUE(cm.is_ok()) << cm.status().message();
  Tensor ref = window_logits(model, *x, 1);
  auto got = continual_logits(**cm, *x, 1);
  EXPECT_LT(max_rel_diff(ref, got), 1e-4);
}

// Frames [t0, t0 + T) of every sample of an (N, C, T, V, 1) tensor.
Tensor crop_frames(const Tensor& full, int64_t t0, int64_t T) {
  const int64_t N = full.shape[0], C = full.shape[1], T0 = full.shape[2], V = full.shape[3];
  Tensor x({N, C, T, V, 1});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t v = 0; v < V; ++v)
          x.data[((n * C + c) * T + t) * V + v] = full.data[((n * C + c) * T0 + t + t0) * V + v];
  return x;
}

TEST(Continual, ShortWindowsAndOddLengthsMatchToo) {
  // T = 37: the strided layers' last outputs come from the right padding.
  Model model = load(kDemoModel);
  auto full = read_npy(std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_input.npy");
  ASSERT_TRUE(full.is_ok());
  const int64_t T = 37;
  const Tensor x = crop_frames(*full, 50, T);
  auto cm = create(model, static_cast<int>(T), 2);
  ASSERT_TRUE(cm.is_ok());
  EXPECT_LT(max_rel_diff(window_logits(model, x, 1), continual_logits(**cm, x, 1)), 1e-4);
}

TEST(Continual, EmptyPersonSlotsMatchAZeroPerson) {
  Model model = load(kDemoModel);
  auto x1 = read_npy(std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_input.npy");
  ASSERT_TRUE(x1.is_ok());
  const int64_t N = 2, C = 3, T = 150, V = x1->shape[3];
  Tensor x2({N, C, T, V, 2});  // person 1 = the sample, person 2 = zeros
  for (int64_t i = 0; i < N * C * T * V; ++i) x2.data[i * 2] = x1->data[i];
  auto cm = create(model, 150, 2);
  ASSERT_TRUE(cm.is_ok());
  EXPECT_LT(max_rel_diff(window_logits(model, x2, 2), continual_logits(**cm, *x1, 2)), 1e-4);
}

TEST(Continual, ASlotsResultDoesNotDependOnItsBatchCompanions) {
  Model model = load(kDemoModel);
  auto x = read_npy(std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_input.npy");
  ASSERT_TRUE(x.is_ok());
  auto cm = create(model, 150, 3);
  ASSERT_TRUE(cm.is_ok());
  ContinualModel& m = **cm;
  // Slot 0 alone; slots 1 and 2 start 7 frames later than each other and are
  // stepped in mixed batches. Slot 1 replays sample 0, so it must match slot 0.
  for (int s = 0; s < 3; ++s) m.reset(s);
  for (int t = 0; t < 120; ++t) {
    auto f0 = frame_of(*x, 0, t);
    const float* p0 = f0.data();
    int s0 = 0;
    ASSERT_TRUE(m.step({&s0, 1}, {&p0, 1}).is_ok());
  }
  for (int t = 0; t < 127; ++t) {
    std::vector<int> slots;
    std::vector<std::vector<float>> frames;
    if (t < 120) {
      slots.push_back(1);
      frames.push_back(frame_of(*x, 0, t));
    }
    if (t >= 7) {
      slots.push_back(2);
      frames.push_back(frame_of(*x, 1, t - 7));
    }
    std::vector<const float*> ptrs;
    for (auto& f : frames) ptrs.push_back(f.data());
    ASSERT_TRUE(m.step(slots, ptrs).is_ok());
  }
  std::vector<float> a, b;
  ASSERT_TRUE(m.features(0, a));
  ASSERT_TRUE(m.features(1, b));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * (1 + std::fabs(a[i])));
}

TEST(Continual, BatchedLookaheadEqualsOneAtATimeAndLeavesTheTracksAlone) {
  Model model = load(kDemoModel);
  auto x = read_npy(std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_input.npy");
  ASSERT_TRUE(x.is_ok());
  auto cm = create(model, 150, 10, ContinualModel::kLookaheadChunk);
  ASSERT_TRUE(cm.is_ok());
  ContinualModel& m = **cm;
  // Ten tracks of different lengths (5..95 frames): more than one chunk.
  std::vector<int> slots;
  for (int s = 0; s < 10; ++s) {
    m.reset(s);
    slots.push_back(s);
    for (int t = 0; t < 5 + 10 * s; ++t) {
      auto f = frame_of(*x, s % 2, t);
      const float* p = f.data();
      ASSERT_TRUE(m.step({&s, 1}, {&p, 1}).is_ok());
    }
  }
  std::vector<std::vector<float>> batched;
  std::vector<char> ok;
  ASSERT_TRUE(m.features_lookahead(slots, 0, batched, ok).is_ok());
  for (int s = 0; s < 10; ++s) {
    std::vector<float> one;
    std::vector<std::vector<float>> f1;
    std::vector<char> ok1;
    ASSERT_TRUE(m.features_lookahead({&s, 1}, 0, f1, ok1).is_ok());
    ASSERT_EQ(static_cast<bool>(ok1[0]), static_cast<bool>(ok[s]));
    one = f1[0];
    ASSERT_TRUE(ok[s]);  // a flushed copy always has outputs
    ASSERT_EQ(one.size(), batched[s].size());
    for (size_t i = 0; i < one.size(); ++i)
      EXPECT_NEAR(one[i], batched[s][i], 1e-5 * (1 + std::fabs(one[i]))) << s;
  }
  // The tracks themselves were not flushed: they step on.
  auto f = frame_of(*x, 0, 100);
  const float* p = f.data();
  ASSERT_TRUE(m.step({slots.data(), 1}, {&p, 1}).is_ok());
}

TEST(Continual, NoFeaturesBeforeTheFirstOutput) {
  Model model = load(kDemoModel);
  auto cm = create(model, 150, 1);
  ASSERT_TRUE(cm.is_ok());
  (*cm)->reset(0);
  std::vector<float> f;
  EXPECT_FALSE((*cm)->features(0, f));
  std::vector<float> zero(static_cast<size_t>((*cm)->C()) * (*cm)->V(), 0.0f);
  const float* p = zero.data();
  int slot = 0;
  ASSERT_TRUE((*cm)->step({&slot, 1}, {&p, 1}).is_ok());
  EXPECT_FALSE((*cm)->features(0, f));  // the first output needs `pad` more frames per layer
}

Model load_causal(const std::string& path) {
  LoadOptions lo;
  lo.temporal_padding = TemporalPadding::kCausal;
  auto m = load_model(path, lo);
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  return std::move(m).value();
}

// A causal model (the demo weights read with causal padding) streams without
// delay: its live answer at the last frame of a T-frame track is the window
// engine's, with no flush; a flush adds nothing.
TEST(Continual, CausalModelIsLiveWithoutLag) {
  auto x = read_npy(std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_input.npy");
  ASSERT_TRUE(x.is_ok());
  Model causal = load_causal(kDemoModel);
  auto cm = create(causal, 150, 4);
  ASSERT_TRUE(cm.is_ok()) << cm.status().message();
  const Tensor ref = window_logits(causal, *x, 1);
  EXPECT_LT(max_rel_diff(ref, continual_logits(**cm, *x, 1, /*flush=*/false)), 1e-4);
  EXPECT_LT(max_rel_diff(ref, continual_logits(**cm, *x, 1, /*flush=*/true)), 1e-4);

  // Odd T, strided layers: still exact.
  const int64_t T = 37;
  const Tensor xs = crop_frames(*x, 50, T);
  auto cm37 = create(causal, static_cast<int>(T), 2);
  ASSERT_TRUE(cm37.is_ok());
  EXPECT_LT(max_rel_diff(window_logits(causal, xs, 1), continual_logits(**cm37, xs, 1, false)),
            1e-4);

  // The first frame already gives features; the centre-padded model's live
  // answer lags (it differs from its window engine until flushed).
  (*cm)->reset(0);
  auto f0 = frame_of(*x, 0, 0);
  const float* p = f0.data();
  int slot = 0;
  ASSERT_TRUE((*cm)->step({&slot, 1}, {&p, 1}).is_ok());
  std::vector<float> feats;
  EXPECT_TRUE((*cm)->features(0, feats));
  Model centre = load(kDemoModel);
  auto cmc = create(centre, 150, 2);
  ASSERT_TRUE(cmc.is_ok());
  EXPECT_GT(max_rel_diff(window_logits(centre, *x, 1), continual_logits(**cmc, *x, 1, false)),
            1e-2);
}

TEST(Continual, SeedArchitectureCostsOver20TimesLessPerFrame) {
  Model model = load(kTrained);
  auto cm = create(model, 150, 1);
  ASSERT_TRUE(cm.is_ok());
  const int64_t window = count_macs(model.spec, 150, 1);
  const int64_t step = (*cm)->macs_per_step();
  EXPECT_GT(step, 0);
  EXPECT_GE(window / step, 20) << window << " vs " << step;
}

// The first n bundled test sequences of the trained demo model (N = 0 when unreadable).
Tensor trained_sequences(int64_t n) {
  auto x = read_npy(kTrainedInput);
  EXPECT_TRUE(x.is_ok()) << x.status().message();
  if (!x.is_ok()) return Tensor({0});
  Tensor out({n, x->shape[1], x->shape[2], x->shape[3], 1});
  std::copy(x->data.begin(), x->data.begin() + out.numel(), out.data.begin());
  return out;
}

TEST(Continual, TrainedModelFlushedMatchesTheWindowEngine) {
  Model model = load(kTrained);
  const Tensor x4 = trained_sequences(4);
  ASSERT_EQ(x4.shape[0], 4);
  auto cm = create(model, 150, 4);
  ASSERT_TRUE(cm.is_ok());
  EXPECT_LT(max_rel_diff(window_logits(model, x4, 1), continual_logits(**cm, x4, 1)), 1e-4);
}

// The trained causal demo model (models/trained/causal): the live answer at
// the last frame of each bundled test sequence is the window engine's.
TEST(Continual, TrainedCausalModelLiveEqualsTheWindowEngine) {
  Model model = load_causal(std::string(STGCN_SOURCE_DIR) +
                            "/models/trained/causal/stgcn_seed_actions_causal.pt");
  const Tensor x4 = trained_sequences(4);
  ASSERT_EQ(x4.shape[0], 4);
  auto cm = create(model, 150, 4);
  ASSERT_TRUE(cm.is_ok());
  EXPECT_LT(max_rel_diff(window_logits(model, x4, 1), continual_logits(**cm, x4, 1, false)), 1e-4);
}

TEST(Continual, CentralDifferenceIsRefused) {
  LoadOptions lo;
  lo.motion = MotionMode::kCentralDifference;
  auto model = load_model(kDemoModel, lo);
  ASSERT_TRUE(model.is_ok());
  auto cm = create(*model, 150, 1);
  ASSERT_FALSE(cm.is_ok());
  EXPECT_NE(cm.status().message().find("first_difference"), std::string::npos);
}

// The first continual implementation (the oracle) and the backend's lowering of the FP32
// engine give the same live features at every 10th frame of 2T-frame tracks and the same
// flushed logits.
TEST(Continual, EngineLoweringEqualsTheFirstImplementation) {
  for (const std::string& path : {kDemoModel, kTrained}) {
    Model model = load(path);
    const Tensor x = path == kTrained ? trained_sequences(3)
                                      : *read_npy(std::string(STGCN_SOURCE_DIR) +
                                                  "/models/demo/sample_input.npy");
    const int64_t N = std::min<int64_t>(3, x.shape[0]), T = x.shape[2];
    auto cm = create(model, static_cast<int>(T), static_cast<int>(N));
    ASSERT_TRUE(cm.is_ok()) << cm.status().message();
    auto oracle = oracle::ContinualModel::create(model, static_cast<int>(T), static_cast<int>(N));
    ASSERT_TRUE(oracle.is_ok()) << oracle.status().message();
    std::vector<int> slots;
    for (int n = 0; n < N; ++n) {
      slots.push_back(n);
      (*cm)->reset(n);
      (*oracle)->reset(n);
    }
    double worst = 0;
    int compared = 0;
    // Tracks of 2T frames (the sequence played twice): the running mean of the last layer
    // evicts its oldest outputs for the second half.
    for (int64_t t = 0; t < 2 * T; ++t) {
      std::vector<std::vector<float>> frames;
      std::vector<const float*> ptrs;
      for (int64_t n = 0; n < N; ++n) frames.push_back(frame_of(x, n, t % T));
      for (auto& f : frames) ptrs.push_back(f.data());
      ASSERT_TRUE((*cm)->step(slots, ptrs).is_ok());
      (*oracle)->step(slots, ptrs);
      if (t % 10 != 9) continue;
      for (int n = 0; n < N; ++n) {
        std::vector<float> a, b;
        const bool ha = (*cm)->features(n, a), hb = (*oracle)->features(n, b);
        ASSERT_EQ(ha, hb) << path << " frame " << t;
        if (!ha) continue;
        double scale = 1e-6, diff = 0;
        for (size_t i = 0; i < a.size(); ++i) {
          scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
          diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
        }
        worst = std::max(worst, diff / scale);
        ++compared;
      }
    }
    EXPECT_GT(compared, 0);
    EXPECT_LT(worst, 1e-4) << path;
    for (int n = 0; n < N; ++n) {
      ASSERT_TRUE((*cm)->flush(n).is_ok());
      (*oracle)->flush(n);
      std::vector<float> a, b, la((*cm)->num_class()), lb((*cm)->num_class());
      ASSERT_TRUE((*cm)->features(n, a));
      ASSERT_TRUE((*oracle)->features(n, b));
      std::vector<const std::vector<float>*> pa{&a}, pb{&b};
      ASSERT_TRUE((*cm)->logits(pa, la).is_ok());
      (*oracle)->logits(pb, lb);
      double scale = 1e-6, diff = 0;
      for (size_t k = 0; k < la.size(); ++k) {
        scale = std::max(scale, std::fabs(static_cast<double>(lb[k])));
        diff = std::max(diff, std::fabs(static_cast<double>(la[k]) - lb[k]));
      }
      EXPECT_LT(diff / scale, 1e-4) << path << " sample " << n;
    }
  }
}

// Live continual answers at the last frame of each sequence from an engine of another
// precision vs that engine's window answers (the causal demo model: no lag).
std::pair<double, double> live_vs_window(const std::string& precision, int64_t n_seq) {
  Model model = load_causal(std::string(STGCN_SOURCE_DIR) +
                            "/models/trained/causal/stgcn_seed_actions_causal.pt");
  const Tensor x = trained_sequences(n_seq);
  BuildOptions bo;
  bo.T = static_cast<int>(x.shape[2]);
  bo.max_batch = 4;
  bo.precision = precision;
  Tensor calib;
  if (precision == "int8") {
    calib = trained_sequences(16);
    bo.calib = &calib;
  }
  auto engine = Engine::build(model, bo);
  EXPECT_TRUE(engine.is_ok()) << engine.status().message();
  if (!engine.is_ok()) return {1e9, 0};
  EXPECT_EQ((*engine)->info().precision, precision);
  EXPECT_TRUE((*engine)->info().continual) << (*engine)->info().continual_note;
  auto ctx = (*engine)->create_context(2);
  auto ref = (*ctx)->run(x);
  EXPECT_TRUE(ref.is_ok());
  auto cm = continual_from_engine(**engine, static_cast<int>(n_seq));
  EXPECT_TRUE(cm.is_ok()) << cm.status().message();
  if (!cm.is_ok() || !ref.is_ok()) return {1e9, 0};
  const auto got = continual_logits(**cm, x, 1, /*flush=*/false);
  int agree = 0;
  const int64_t K = ref->shape[1];
  for (int64_t n = 0; n < n_seq; ++n) {
    const float* r = ref->data.data() + n * K;
    agree += std::max_element(r, r + K) - r ==
             std::max_element(got[n].begin(), got[n].end()) - got[n].begin();
  }
  return {max_rel_diff(*ref, got), 100.0 * agree / static_cast<double>(n_seq)};
}

TEST(Continual, Int8EngineStreamsWithTheWindowEnginesScales) {
  const auto [diff, agreement] = live_vs_window("int8", 8);
  // Same int8 operands, same requantisation: only the FP32 head sums differ in order.
  EXPECT_LT(diff, 1e-3);
  EXPECT_EQ(agreement, 100.0);
}

TEST(Continual, Bf16EngineStreams) {
  if (machine_info().isa != "avx512_core_amx" && machine_info().isa != "avx512_core_bf16")
    GTEST_SKIP() << "this CPU has no BF16 instructions";
  const auto [diff, agreement] = live_vs_window("bf16", 8);
  EXPECT_LT(diff, 5e-2);  // bf16 activations rounded after differently blocked sums
  EXPECT_EQ(agreement, 100.0);
}

TEST(Continual, EngineMetadataSaysWhetherItStreams) {
  LoadOptions lo;
  lo.motion = MotionMode::kCentralDifference;
  auto model = load_model(kDemoModel, lo);
  ASSERT_TRUE(model.is_ok());
  BuildOptions bo;
  bo.T = 30;
  auto engine = Engine::build(*model, bo);
  ASSERT_TRUE(engine.is_ok());
  const bool two_stream = model->spec.two_stream;
  EXPECT_EQ((*engine)->info().continual, !two_stream);
  if (two_stream) {
    EXPECT_NE((*engine)->info().continual_note.find("first_difference"), std::string::npos);
    auto cm = continual_from_engine(**engine, 1);
    ASSERT_FALSE(cm.is_ok());
    EXPECT_NE(cm.status().message().find("continual"), std::string::npos);
  }
}

// ST-GCN++ (mmaction2): the multi-scale unit streams too -- dilated convs, the max-pool and the
// concat whose branches line up. Causal: live at the last frame = the window; centre: flushed.
TEST(Continual, StgcnPlusPlusStreams) {
  STGCN_REQUIRE_FIXTURES();
  const auto& m = testing::manifest();
  ASSERT_TRUE(m.contains("mm"));
  for (const char* name : {"causal_stgcnpp_coco2d_mmengine", "offset_res_mstcn_ntu_mmengine"}) {
    const nlohmann::json* c = nullptr;
    for (const auto& e : m["mm"]["cases"])
      if (e["name"] == name) c = &e;
    ASSERT_NE(c, nullptr) << name;
    LoadOptions o;
    o.strides = (*c)["strides"].get<std::vector<int>>();
    const bool causal = (*c)["temporal_padding"] == "causal";
    if (causal) o.temporal_padding = TemporalPadding::kCausal;
    auto model = load_model(testing::fixture_path((*c)["checkpoint"]), o);
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    auto raw = read_npy(testing::fixture_path((*c)["input"]));
    ASSERT_TRUE(raw.is_ok());
    auto x = convert_input_layout(*raw, InputLayout::kNMTVC, InputLayout::kNCTVM);
    ASSERT_TRUE(x.is_ok());
    ASSERT_EQ(x->shape[4], 1);
    const int T = static_cast<int>(x->shape[2]);
    auto cm = create(*model, T, static_cast<int>(x->shape[0]));
    ASSERT_TRUE(cm.is_ok()) << name << ": " << cm.status().message();
    const Tensor ref = window_logits(*model, *x, 1);
    EXPECT_LT(max_rel_diff(ref, continual_logits(**cm, *x, 1, /*flush=*/true)), 1e-4) << name;
    if (causal) {
      EXPECT_LT(max_rel_diff(ref, continual_logits(**cm, *x, 1, /*flush=*/false)), 1e-4) << name;
    } else {  // the centre-padded model lags until flushed
      EXPECT_GT(max_rel_diff(ref, continual_logits(**cm, *x, 1, /*flush=*/false)), 1e-3) << name;
    }
  }
}

}  // namespace
}  // namespace stgcn::runtime
