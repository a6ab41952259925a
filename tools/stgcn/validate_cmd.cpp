// `stgcn validate`: compares a model or engine with a reference on data, with
// pass/fail thresholds for CI pipelines.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "stgcn/engine.h"
#include "stgcn/npy.h"
#include "stgcn/reference.h"

namespace stgcn::cli {
namespace {

struct ValidateOptions {
  EngineFlags candidate;
  std::string reference, data, labels, json_out;
  double tolerance = -1, min_agreement = -1;
  int threads = 0;
};

// Logits of an engine file, a model compiled into an engine, or (reference
// side) the reference executor.
Result<Tensor> logits_of(const EngineFlags& flags, const Tensor& x, bool reference_executor,
                         int threads, std::string* what) {
  if (is_engine_path(flags.model.path)) {
    STGCN_ASSIGN_OR_RETURN(auto e, Engine::load(flags.model.path));
    *what = fmt::format("{} engine", e->info().precision);
    STGCN_ASSIGN_OR_RETURN(auto ctx, e->create_context(threads));
    return ctx->run(x);
  }
  if (reference_executor) {
    STGCN_ASSIGN_OR_RETURN(Model m, flags.model.load());
    STGCN_RETURN_IF_ERROR(check_model_input(m.spec, x, "--data"));
    *what = "reference executor";
    return run_reference(m, x);
  }
  STGCN_ASSIGN_OR_RETURN(auto e, flags.get(static_cast<int>(std::min<int64_t>(x.shape[0], 16))));
  *what = fmt::format("{} engine (built in memory)", e->info().precision);
  STGCN_ASSIGN_OR_RETURN(auto ctx, e->create_context(threads));
  return ctx->run(x);
}

// Logits saved by another runtime (TensorRT, Triton, ONNX Runtime): an (N, classes) .npy.
bool is_logits_file(const std::string& path) {
  return path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0;
}

Result<Tensor> saved_logits(const std::string& path, int64_t samples) {
  STGCN_ASSIGN_OR_RETURN(Tensor t, read_npy(path));
  if (t.rank() != 2 || t.shape[0] != samples)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("candidate logits '{}' have shape {}, expected ({}, classes) for "
                              "the {} samples of --data",
                              path, shape_string(t.shape), samples, samples));
  return t;
}

int argmax(const float* p, int64_t n) { return static_cast<int>(std::max_element(p, p + n) - p); }

int run_validate(ValidateOptions o, CLI::App* cmd) {
  // Saved logits are compared as they are; the data's layout comes from the reference.
  const bool logits_file = is_logits_file(o.candidate.model.path);
  if (logits_file && (o.candidate.precision != "fp32" || o.candidate.any()))
    return fail(Status(ErrorCode::kInvalidArgument,
                       "candidate logits (.npy) are compared as they are: drop --precision and "
                       "the int8 options"));
  ModelFlags layout_source = o.candidate.model;
  if (logits_file) layout_source.path = o.reference;
  auto spec = layout_source.spec();
  if (!spec.is_ok()) return fail(spec.status());
  auto x = layout_source.read_samples(o.data, *spec, "--data");
  if (!x.is_ok()) return fail(x.status());
  if (x->rank() != 5 || x->shape[0] < 1)
    return fail(Status(ErrorCode::kInvalidArgument,
                       fmt::format("--data '{}' has shape {}, expected (N, C, T, V, M)", o.data,
                                   shape_string(x->shape))));
  // A model is compiled for the data's window unless --T / --M say otherwise.
  if (cmd->count("--T") == 0) o.candidate.T = static_cast<int>(x->shape[2]);
  if (cmd->count("--M") == 0) o.candidate.M = static_cast<int>(x->shape[4]);
  Tensor y;
  const bool labelled = !o.labels.empty();
  if (labelled) {
    auto l = read_labels_npy(o.labels);
    if (!l.is_ok()) return fail(l.status());
    y = std::move(*l);
    if (y.numel() != x->shape[0])
      return fail(Status(ErrorCode::kInvalidArgument,
                         fmt::format("--labels '{}' holds {} values for {} samples", o.labels,
                                     y.numel(), x->shape[0])));
  }
  std::string cand_what, ref_what;
  auto cand = logits_file ? saved_logits(o.candidate.model.path, x->shape[0])
                          : logits_of(o.candidate, *x, false, o.threads, &cand_what);
  if (logits_file) cand_what = "saved logits";
  if (!cand.is_ok()) return fail(cand.status());
  EngineFlags rf = o.candidate;
  rf.model.path = o.reference;
  rf.precision = "fp32";
  rf.calib.clear(), rf.calib_table.clear(), rf.val.clear(), rf.val_labels.clear();
  rf.keep_fp32.clear(), rf.max_drop = -1;
  auto ref = logits_of(rf, *x, true, o.threads, &ref_what);
  if (!ref.is_ok()) return fail(ref.status());
  if (cand->shape != ref->shape)
    return fail(Status(ErrorCode::kInvalidArgument,
                       fmt::format("the candidate gives logits {} and the reference {}",
                                   shape_string(cand->shape), shape_string(ref->shape))));
  const int64_t N = cand->shape[0], C = cand->shape[1];
  // Non-finite logits never validate (NaN compares false with every bound).
  for (const auto* side : {&*cand, &*ref})
    for (size_t i = 0; i < side->data.size(); ++i)
      if (!std::isfinite(side->data[i]))
        return fail(Status(
            ErrorCode::kInvalidArgument,
            fmt::format("the {} gives a non-finite logit ({}) for sample {}: validation fails",
                        side == &*cand ? "candidate" : "reference", side->data[i],
                        i / static_cast<size_t>(C))));
  if (labelled)
    for (float v : y.data)
      if (!(v >= 0 && v < static_cast<float>(C)) || v != std::floor(v))
        return fail(Status(ErrorCode::kInvalidArgument,
                           fmt::format("--labels: {} is not a class index in 0..{}", v, C - 1)));
  double max_abs = 0, sum_abs = 0, cos_sum = 0, cos_min = 1;
  int64_t agree = 0, cand_hit = 0, ref_hit = 0;
  std::vector<int64_t> per_n(C, 0), per_cand(C, 0), per_ref(C, 0);
  for (int64_t i = 0; i < N; ++i) {
    const float* a = cand->data.data() + i * C;
    const float* b = ref->data.data() + i * C;
    double dot = 0, na = 0, nb = 0;
    for (int64_t c = 0; c < C; ++c) {
      const double d = std::fabs(static_cast<double>(a[c]) - b[c]);
      max_abs = std::max(max_abs, d);
      sum_abs += d;
      dot += static_cast<double>(a[c]) * b[c];
      na += static_cast<double>(a[c]) * a[c];
      nb += static_cast<double>(b[c]) * b[c];
    }
    const double cs = na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : (na == nb ? 1.0 : 0.0);
    cos_sum += cs;
    cos_min = std::min(cos_min, cs);
    const int pa = argmax(a, C), pb = argmax(b, C);
    agree += pa == pb;
    if (labelled) {
      const int t = static_cast<int>(y.data[i]);
      ++per_n[t];
      per_cand[t] += pa == t;
      per_ref[t] += pb == t;
      cand_hit += pa == t;
      ref_hit += pb == t;
    }
  }
  const double agreement = 100.0 * agree / N;
  const double mean_abs = sum_abs / static_cast<double>(N * C);
  std::vector<std::string> failures;
  if (o.tolerance >= 0 && max_abs > o.tolerance)
    failures.push_back(fmt::format("max |diff| {:.4g} > --tolerance {}", max_abs, o.tolerance));
  if (o.min_agreement >= 0 && agreement < o.min_agreement)
    failures.push_back(
        fmt::format("top-1 agreement {:.2f} % < --min-agreement {}", agreement, o.min_agreement));

  nlohmann::json j = {{"candidate", o.candidate.model.path},
                      {"candidate_kind", cand_what},
                      {"reference", o.reference},
                      {"reference_kind", ref_what},
                      {"data", o.data},
                      {"samples", N},
                      {"classes", C},
                      {"max_abs_error", max_abs},
                      {"mean_abs_error", mean_abs},
                      {"cosine_mean", cos_sum / N},
                      {"cosine_min", cos_min},
                      {"top1_agreement", agreement},
                      {"pass", failures.empty()},
                      {"failures", failures}};
  if (labelled) {
    j["accuracy"] = 100.0 * cand_hit / N;
    j["reference_accuracy"] = 100.0 * ref_hit / N;
    j["accuracy_drop"] = 100.0 * (ref_hit - cand_hit) / N;
    nlohmann::json pc = nlohmann::json::array();
    for (int64_t c = 0; c < C; ++c)
      if (per_n[c] > 0)
        pc.push_back({{"class", c},
                      {"samples", per_n[c]},
                      {"accuracy", 100.0 * per_cand[c] / per_n[c]},
                      {"reference_accuracy", 100.0 * per_ref[c] / per_n[c]}});
    j["per_class"] = pc;
  }
  if (!o.json_out.empty()) {
    if (o.json_out == "-") {
      fmt::print("{}\n", j.dump(2));
    } else {
      Status st = write_file_atomic(o.json_out, j.dump(2) + "\n");
      if (!st.is_ok()) return fail(st);
    }
  }
  if (o.json_out != "-") {
    fmt::print("candidate:        {} ({})\n", o.candidate.model.path, cand_what);
    fmt::print("reference:        {} ({})\n", o.reference, ref_what);
    fmt::print("data:             {} ({} samples, {} classes)\n", o.data, N, C);
    fmt::print("max |diff|:       {:.4g}\n", max_abs);
    fmt::print("mean |diff|:      {:.4g}\n", mean_abs);
    fmt::print("cosine:           {:.6f} mean, {:.6f} min\n", cos_sum / N, cos_min);
    fmt::print("top-1 agreement:  {:.2f} % ({}/{})\n", agreement, agree, N);
    if (labelled) {
      fmt::print("accuracy:         {:.2f} % (reference {:.2f} %, drop {:.2f} points)\n",
                 100.0 * cand_hit / N, 100.0 * ref_hit / N, 100.0 * (ref_hit - cand_hit) / N);
      fmt::print("per class:        class  samples  accuracy  reference\n");
      for (int64_t c = 0; c < C; ++c)
        if (per_n[c] > 0)
          fmt::print("                  {:5}  {:7}  {:7.2f}%  {:8.2f}%\n", c, per_n[c],
                     100.0 * per_cand[c] / per_n[c], 100.0 * per_ref[c] / per_n[c]);
    }
    fmt::print("result:           {}\n",
               failures.empty() ? "PASS" : fmt::format("FAIL ({})", fmt::join(failures, "; ")));
  }
  if (!failures.empty()) {
    fmt::print(stderr, "stgcn: validation failed: {}\n", fmt::join(failures, "; "));
    return kExitFailure;
  }
  return 0;
}

}  // namespace

Subcommand add_validate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "validate",
      "Compare a model, an engine or saved logits (.npy, e.g. from TensorRT) with a reference on "
      "data: errors, cosine, top-1 agreement, accuracy; exit 1 when a threshold fails");
  auto o = std::make_shared<ValidateOptions>();
  o->candidate.add_to(cmd, true);
  cmd->add_option("--reference,-r", o->reference,
                  "Reference: checkpoint or ONNX (run by the reference executor) or an engine")
      ->required();
  cmd->add_option("--data,-d", o->data,
                  "Input .npy in the model's layout (see --input-layout); a model is compiled for its T, M")
      ->required();
  cmd->add_option("--labels,-l", o->labels, "Class index per sample, .npy: adds accuracy");
  cmd->add_option("--tolerance", o->tolerance, "Fail when max |diff| of the logits exceeds this")
      ->check(CLI::Range(0.0, 1e30));
  cmd->add_option("--min-agreement", o->min_agreement,
                  "Fail when top-1 agreement (percent) is below this")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--threads", o->threads, "Threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--json", o->json_out,
                  "Also write the report as JSON to this file ('-': stdout only)");
  return {cmd, [o, cmd]() { return run_validate(*o, cmd); }};
}

}  // namespace stgcn::cli
