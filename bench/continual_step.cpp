// Continual-mode step cost, every implementation in one run: the first, hand-lowered FP32
// implementation (tests/runtime/continual_oracle.*) and the backend's lowering of FP32, BF16
// and INT8 engines of the same model. Single thread (the stream runtime runs one
// single-threaded worker per core), `--lanes` tracks stepped per call as the runtime batches
// them. Prints ms per track-step, the ratio to the first implementation, and the CPU / ISA.
//
//   build/bench/continual_step MODEL.pt CALIB.npy [--lanes 32] [--steps 300] [--json OUT]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "runtime/continual.h"
#include "runtime/continual_oracle.h"
#include "stgcn/engine.h"
#include "stgcn/model.h"
#include "stgcn/npy.h"

namespace {

using Clock = std::chrono::steady_clock;

// Frame t of sample n of (N, C, T, V, M) as (C, V), channel-major, person 0.
std::vector<float> frame_of(const stgcn::Tensor& x, int64_t n, int64_t t) {
  const int64_t C = x.shape[1], T = x.shape[2], V = x.shape[3], M = x.shape[4];
  std::vector<float> f(static_cast<size_t>(C * V));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t v = 0; v < V; ++v) f[c * V + v] = x.data[(((n * C + c) * T + t) * V + v) * M];
  return f;
}

template <typename StepFn>
double ms_per_track_step(int lanes, int steps, const stgcn::Tensor& x, StepFn step) {
  std::vector<int> slots(lanes);
  for (int i = 0; i < lanes; ++i) slots[i] = i;
  std::vector<std::vector<float>> frames;
  const int64_t T = x.shape[2];
  for (int i = 0; i < lanes; ++i) frames.push_back(frame_of(x, i % x.shape[0], (7 * i) % T));
  std::vector<const float*> ptrs;
  for (auto& f : frames) ptrs.push_back(f.data());
  for (int s = 0; s < 30; ++s) step(slots, ptrs);  // warm-up: rings filled, kernels made
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    for (int s = 0; s < steps; ++s) step(slots, ptrs);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    best = std::min(best, ms / steps / lanes);
  }
  return best;
}

int fail(const std::string& m) {
  std::fprintf(stderr, "continual_step: %s\n", m.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: continual_step MODEL.pt CALIB.npy [--lanes N] [--steps N] [--json OUT]\n");
    return 2;
  }
  const std::string model_path = argv[1], calib_path = argv[2];
  int lanes = 32, steps = 300;
  std::string json_out;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--lanes") lanes = std::max(1, std::atoi(argv[i + 1]));
    else if (k == "--steps") steps = std::max(1, std::atoi(argv[i + 1]));
    else if (k == "--json") json_out = argv[i + 1];
    else return fail("unknown option " + k);
  }
  omp_set_num_threads(1);
  auto model = stgcn::load_model(model_path, {});
  if (!model.is_ok()) return fail(model.status().message());
  auto x = stgcn::read_npy(calib_path);
  if (!x.is_ok()) return fail(x.status().message());
  const int T = static_cast<int>(x->shape[2]);
  const stgcn::MachineInfo mi = stgcn::machine_info();
  std::printf("%s, %d lanes per step, one thread; %s (%s), %s\n", model_path.c_str(), lanes,
              mi.device.c_str(), mi.isa.c_str(), mi.library.c_str());
  std::printf("%-28s %14s %10s %16s\n", "implementation", "ms/track-step", "vs first",
              "track-steps/s/core");
  std::map<std::string, double> results;
  // The first implementation (FP32, its own lowering of the Model).
  {
    auto cm = stgcn::oracle::ContinualModel::create(*model, T, lanes);
    if (!cm.is_ok()) return fail(cm.status().message());
    for (int i = 0; i < lanes; ++i) (*cm)->reset(i);
    results["first (fp32)"] = ms_per_track_step(
        lanes, steps, *x, [&](const std::vector<int>& s, const std::vector<const float*>& f) {
          (*cm)->step(s, f);
        });
  }
  for (const char* precision : {"fp32", "bf16", "int8"}) {
    stgcn::BuildOptions bo;
    bo.T = T;
    bo.precision = precision;
    bo.calib = &*x;
    bo.calib_size = 64;
    auto engine = stgcn::Engine::build(*model, bo);
    if (!engine.is_ok()) return fail(engine.status().message());
    if ((*engine)->info().precision != precision) continue;  // no BF16 on this CPU
    auto cm = stgcn::runtime::continual_from_engine(**engine, lanes);
    if (!cm.is_ok()) return fail(cm.status().message());
    for (int i = 0; i < lanes; ++i) (*cm)->reset(i);
    bool ok = true;
    const double ms = ms_per_track_step(
        lanes, steps, *x, [&](const std::vector<int>& s, const std::vector<const float*>& f) {
          ok = ok && (*cm)->step(s, f).is_ok();
        });
    if (!ok) return fail(std::string("step failed (") + precision + ")");
    results[std::string("engine ") + precision + " (" + (*engine)->info().kernel_isa + ")"] = ms;
  }
  const double first = results["first (fp32)"];
  std::string json = "{\"cpu\": \"" + mi.device + "\", \"isa\": \"" + mi.isa + "\", \"lanes\": " +
                     std::to_string(lanes) + ", \"ms_per_track_step\": {";
  bool comma = false;
  for (const auto& [name, ms] : results) {
    std::printf("%-28s %14.4f %9.2fx %16.0f\n", name.c_str(), ms, first / ms, 1000.0 / ms);
    json += (comma ? ", \"" : "\"") + name + "\": " + std::to_string(ms);
    comma = true;
  }
  json += "}}\n";
  if (!json_out.empty()) std::ofstream(json_out) << json;
  return 0;
}
