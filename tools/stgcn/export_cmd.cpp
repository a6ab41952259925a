// `stgcn export`: ONNX export from flags, or interactively (prompts on a
// terminal, or with --interactive reading the answers from stdin).
// Exit codes: 0 done; 1 the export failed (model unreadable, a value that
// contradicts the model, write error, input ended mid-session); 2 bad usage
// (flag values, MODEL missing without a terminal).
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <set>

#include "commands.h"
#include "stgcn/npy.h"
#include "stgcn/onnx.h"

namespace stgcn::cli {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxT = 1 << 20;
constexpr int kMaxPersons = 1 << 10;
constexpr int kMaxBatch = 1 << 20;

struct ExportFlags {
  ModelFlags model;
  std::string output;
  int opset = 17;
  int T = 150;
  int M = 1;
  int C = 0;  // 0: the model's
  int batch = 1;
  bool dynamic_batch = false;
  bool softmax = false;
  std::string graph_conv = "matmul";
  bool fold_bn = true;
  std::string input_name = "input";
  std::string output_name = "output";
  bool interactive = false;
  std::string precision = "fp32";
  bool io_fp16 = false;
  Int8Flags int8;
  TritonRepo triton;
  CLI::Option* batch_option = nullptr;
  CLI::Option* output_option = nullptr;
  CLI::App* app = nullptr;
};

// One planned export: a model, its options and where it goes.
struct Job {
  std::string model_path;
  Model model;
  OnnxExportOptions options;
  std::string output;
  Int8Flags int8;  // precision int8: where the calibration comes from
  ModelFlags model_flags;
};

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

Result<int> parse_int(const std::string& text, int lo, int hi, const std::string& what) {
  int v = 0;
  size_t used = 0;
  try {
    v = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    return invalid_argument(what + " must be a whole number, got '" + text + "'");
  if (v < lo || v > hi)
    return invalid_argument(what + " must be in " + std::to_string(lo) + ".." + std::to_string(hi) +
                            ", got " + std::to_string(v));
  return v;
}

Result<OnnxPrecision> parse_precision(const std::string& text) {
  const std::string p = lower(text);
  if (p == "fp32") return OnnxPrecision::kFp32;
  if (p == "fp16") return OnnxPrecision::kFp16;
  if (p == "int8") return OnnxPrecision::kInt8;
  return invalid_argument("precision must be fp32, fp16 or int8, got '" + text + "'");
}

Status check_opset(int opset, const std::string& graph_conv, const std::string& precision = "") {
  if (opset < 11 || opset > 18)
    return invalid_argument("opset " + std::to_string(opset) + " is not supported: choose 11..18");
  if (precision == "int8" && opset < 13)
    return invalid_argument("an INT8 (QDQ) export needs opset >= 13 (per-channel "
                            "DequantizeLinear), got " + std::to_string(opset));
  if (graph_conv == "einsum" && opset < 12)
    return invalid_argument(
        "--graph-conv einsum needs opset >= 12 (ONNX Einsum appeared in opset 12)");
  return Status::ok();
}

// Flag values that need no model; a failure is a usage error.
Status check_flags(const ExportFlags& f) {
  if (f.graph_conv != "matmul" && f.graph_conv != "einsum")
    return invalid_argument("--graph-conv must be matmul or einsum, got '" + f.graph_conv + "'");
  STGCN_RETURN_IF_ERROR(check_opset(f.opset, f.graph_conv, f.precision));
  if (f.precision == "int8" && f.graph_conv == "einsum")
    return invalid_argument("--precision int8 writes the aggregation as MatMul (TensorRT runs "
                            "Einsum only in FP32 / FP16): drop --graph-conv einsum");
  if (f.precision == "int8" && !f.fold_bn)
    return invalid_argument("--precision int8 folds every BatchNorm: drop --no-fold-bn");
  if (f.precision != "int8" && f.int8.any())
    return invalid_argument(
        "--calib, --calib-table, --max-drop and --keep-fp32 need --precision int8");
  if (f.io_fp16 && f.precision == "fp32")
    return invalid_argument("--io-fp16 needs --precision fp16 or int8");
  if (!f.triton.dir.empty()) {
    if (f.output_option->count() > 0)
      return invalid_argument("--triton-repo writes DIR/<name>/1/model.onnx: drop --output");
    if (f.batch_option->count() > 0)
      return invalid_argument("--triton-repo exports a dynamic batch (Triton batches requests): "
                              "drop --batch, use --triton-max-batch");
    if (f.interactive) return invalid_argument("--triton-repo does not combine with --interactive");
    if (!f.triton.name.empty()) STGCN_RETURN_IF_ERROR(check_triton_name(f.triton.name));
  }
  STGCN_RETURN_IF_ERROR(parse_int(std::to_string(f.T), 1, kMaxT, "--T").status());
  STGCN_RETURN_IF_ERROR(parse_int(std::to_string(f.M), 1, kMaxPersons, "--M").status());
  if (f.C < 0) return invalid_argument("--C must be positive, got " + std::to_string(f.C));
  if (f.dynamic_batch && f.batch_option->count() > 0)
    return invalid_argument("--batch and --dynamic-batch exclude each other");
  STGCN_RETURN_IF_ERROR(parse_int(std::to_string(f.batch), 1, kMaxBatch, "--batch").status());
  if (f.input_name.empty() || f.output_name.empty() || f.input_name == f.output_name)
    return invalid_argument("--input-name and --output-name must be non-empty and differ");
  return Status::ok();
}

OnnxExportOptions options_from(const ExportFlags& f, const std::string& model_path) {
  OnnxExportOptions o;
  o.opset = f.opset;
  o.T = f.T;
  o.M = f.M;
  o.batch = f.batch;
  o.dynamic_batch = f.dynamic_batch;
  o.softmax = f.softmax;
  o.graph_conv = f.graph_conv == "einsum" ? GraphConvForm::kEinsum : GraphConvForm::kMatMul;
  o.fold_bn = f.fold_bn;
  o.input_name = f.input_name;
  o.output_name = f.output_name;
  o.source_path = model_path;
  const Result<OnnxPrecision> precision = parse_precision(f.precision);  // checked by CLI11
  o.precision = precision.is_ok() ? *precision : OnnxPrecision::kFp32;
  o.io_fp16 = f.io_fp16;
  return o;
}

// precision int8: the engine's calibration and fallback, planned for this export's T and M.
Status plan_int8_job(Job& j) {
  if (j.options.precision != OnnxPrecision::kInt8) return Status::ok();
  BuildOptions b;
  b.T = j.options.T;
  b.M = j.options.M;
  b.precision = "int8";
  b.progress = [](const std::string& w) {
    std::fprintf(stderr, "stgcn: %s\n", escape_control(w).c_str());
  };
  Int8Flags::Data data;
  ModelFlags mf = j.model_flags;
  mf.path = j.model_path;
  STGCN_RETURN_IF_ERROR(j.int8.apply(mf, j.model.spec, b, data));
  STGCN_ASSIGN_OR_RETURN(Int8Plan plan, plan_int8(j.model, b));
  j.options.int8_thresholds = std::move(plan.thresholds);
  j.options.int8_fp32_layers = std::move(plan.fp32_layers);
  j.options.int8_record = std::move(plan.record_json);
  return Status::ok();
}

std::string default_output(const std::string& model_path, int M,
                           const std::string& precision = "fp32") {
  fs::path p(model_path);
  const std::string suffix = precision == "fp32" ? "" : "_" + precision;
  return (p.parent_path() / (p.stem().string() + "_M" + std::to_string(M) + suffix + ".onnx"))
      .string();
}

std::string shapes(const Job& j) {
  const OnnxExportOptions& o = j.options;
  const ModelSpec& s = j.model.spec;
  const std::string n = o.dynamic_batch ? "N" : std::to_string(o.batch);
  const std::string type = o.io_fp16 ? " float16" : "";
  if (s.input_layout() == InputLayout::kNMTVC)
    return fmt::format("input '{}'{} [{}, {}, {}, {}, {}] -> output '{}' [{}, {}]", o.input_name,
                       type, n, o.M, o.T, s.V(), s.C(), o.output_name, n, s.num_class());
  return fmt::format("input '{}'{} [{}, {}, {}, {}, {}] -> output '{}' [{}, {}]", o.input_name,
                     type, n, s.C(), o.T, s.V(), o.M, o.output_name, n, s.num_class());
}

std::string precision_note(const OnnxExportOptions& o) {
  if (o.precision == OnnxPrecision::kFp32) return "";
  if (o.precision == OnnxPrecision::kFp16) return ", fp16";
  const size_t kept = o.int8_fp32_layers.size();
  return fmt::format(", int8 Q/DQ ({} layer{} kept fp32)", kept, kept == 1 ? "" : "s");
}

// Exports and writes one job; the one-line summary on success.
Result<std::string> run_job(Job& j, const TritonRepo* triton = nullptr) {
  STGCN_RETURN_IF_ERROR(plan_int8_job(j));
  STGCN_ASSIGN_OR_RETURN(std::string bytes, export_onnx_bytes(j.model, j.options));
  std::string where = j.output;
  if (triton) {
    STGCN_ASSIGN_OR_RETURN(std::string dir, write_triton_repo(*triton, j.model.spec, j.options, bytes));
    where = dir + " (config.pbtxt, 1/model.onnx, build_tensorrt.sh)";
  } else {
    STGCN_RETURN_IF_ERROR(write_file_atomic(j.output, bytes));
  }
  return fmt::format("wrote '{}' (opset {}, {}{}{}, {:.1f} MB): {}", where, j.options.opset,
                     j.options.graph_conv == GraphConvForm::kMatMul ? "matmul" : "einsum",
                     j.options.fold_bn ? "" : ", BatchNorm kept", precision_note(j.options),
                     bytes.size() / 1e6, shapes(j));
}

int usage_error(const Status& st) {
  std::fprintf(stderr, "stgcn: error: %s\n", escape_control(st.message()).c_str());
  return kExitUsage;
}

int run_flags(const ExportFlags& f) {
  auto model = f.model.load();
  if (!model.is_ok()) return fail(model.status());
  if (f.C != 0 && f.C != model->spec.C())
    return fail(invalid_argument("--C " + std::to_string(f.C) + " does not match the model's C=" +
                                 std::to_string(model->spec.C())));
  Job job{f.model.path, std::move(*model), options_from(f, f.model.path),
          f.output.empty() ? default_output(f.model.path, f.M, f.precision) : f.output, f.int8,
          f.model};
  TritonRepo triton = f.triton;
  if (!triton.dir.empty()) {
    if (triton.name.empty()) triton.name = fs::path(f.model.path).stem().string();
    if (Status st = check_triton_name(triton.name); !st.is_ok()) return usage_error(st);
    job.options.dynamic_batch = true;
  }
  auto summary = run_job(job, triton.dir.empty() ? nullptr : &triton);
  if (!summary.is_ok()) return fail(summary.status());
  fmt::print("stgcn: {}\n", *summary);
  return 0;
}

// ---- interactive mode ----------------------------------------------------

class Prompter {
 public:
  // Asks until `accept` takes the answer (an empty answer is `def`); an
  // invalid one prints a one-line reason and asks again. EOF: nullopt.
  template <typename T>
  std::optional<T> ask(const std::string& question, const std::string& def,
                       const std::function<Result<T>(const std::string&)>& accept) {
    while (true) {
      std::cout << question << " [" << def << "]: " << std::flush;
      std::string line;
      if (!std::getline(std::cin, line)) {
        std::cout << "\n";
        eof_at_ = question;
        return std::nullopt;
      }
      if (!echo_) std::cout << line << "\n";  // piped answers: keep the transcript readable
      line = trim(line);
      Result<T> r = accept(line.empty() ? def : line);
      if (r.is_ok()) return std::move(r).value();
      std::cout << "  invalid: " << r.status().message() << "\n";
    }
  }
  const std::string& eof_at() const { return eof_at_; }

 private:
  bool echo_ = ::isatty(STDIN_FILENO) != 0;  // a terminal echoes the answers itself
  std::string eof_at_;
};

// An absolute, normalised spelling of `p` (to spot two models sent to one file).
std::string normalized(const fs::path& p) {
  std::error_code ec;
  const fs::path abs = fs::absolute(p, ec);
  return (ec ? p : abs).lexically_normal().string();
}

bool is_model_file(const fs::path& p) {
  const std::string ext = lower(p.extension().string());
  return ext == ".pt" || ext == ".pth" || ext == ".onnx";
}

std::vector<std::string> list_models(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && is_model_file(e.path()))
      files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

// "all", or numbers separated by commas ("1,3"); 1-based, in order, no repeats.
Result<std::vector<int>> parse_selection(const std::string& text, int count) {
  std::vector<int> picked;
  if (lower(text) == "all") {
    for (int i = 0; i < count; ++i) picked.push_back(i);
    return picked;
  }
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    STGCN_ASSIGN_OR_RETURN(
        int n, parse_int(trim(text.substr(start, comma - start)), 1, count, "each selection"));
    if (std::find(picked.begin(), picked.end(), n - 1) == picked.end()) picked.push_back(n - 1);
    start = comma + 1;
  }
  return picked;
}

// The prompts for one model; nullopt on EOF.
std::optional<Job> ask_for_model(Prompter& p, const ExportFlags& f, const std::string& path,
                                 Model model, std::set<std::string>& outputs) {
  const ModelSpec& spec = model.spec;
  const int C = spec.C(), V = spec.V();
  auto persons = p.ask<int>("  Single- or multi-person (single: M=1, multi: M=5)", "single",
                            [](const std::string& a) -> Result<int> {
                              const std::string s = lower(a);
                              if (s == "single" || s == "s") return 1;
                              if (s == "multi" || s == "m") return 5;
                              return invalid_argument("answer single or multi, got '" + a + "'");
                            });
  if (!persons) return std::nullopt;
  auto output = p.ask<std::string>(
      "  Output file", f.output.empty() ? default_output(path, *persons) : f.output,
      [&](const std::string& a) -> Result<std::string> {
        const fs::path out(a), dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
        std::error_code ec;
        if (!fs::is_directory(dir, ec))
          return invalid_argument("no directory '" + dir.string() + "'");
        if (fs::is_directory(out, ec)) return invalid_argument("'" + a + "' is a directory");
        if (fs::equivalent(out, path, ec)) return invalid_argument("that is the model itself");
        if (outputs.count(normalized(out)))
          return invalid_argument("'" + a + "' is already the output of another model");
        return a;
      });
  if (!output) return std::nullopt;
  auto same_as_model = [](int want, const std::string& what) {
    return [want, what](const std::string& a) -> Result<int> {
      STGCN_ASSIGN_OR_RETURN(int v, parse_int(a, 1, 1 << 16, what));
      if (v != want)
        return invalid_argument(what + " must be the model's " + std::to_string(want) + ", got " +
                                std::to_string(v));
      return v;
    };
  };
  if (!p.ask<int>("  C (channels)", std::to_string(f.C ? f.C : C), same_as_model(C, "C")))
    return std::nullopt;
  auto T = p.ask<int>("  T (frames)", std::to_string(f.T),
                      [](const std::string& a) { return parse_int(a, 1, kMaxT, "T"); });
  if (!T) return std::nullopt;
  if (!p.ask<int>("  V (joints)", std::to_string(V), same_as_model(V, "V"))) return std::nullopt;
  auto M = p.ask<int>("  M (persons)", std::to_string(*persons),
                      [](const std::string& a) { return parse_int(a, 1, kMaxPersons, "M"); });
  if (!M) return std::nullopt;
  auto precision = p.ask<OnnxPrecision>(
      "  Precision (fp32; fp16 or int8 Q/DQ for TensorRT)", f.precision,
      [&](const std::string& a) -> Result<OnnxPrecision> {
        STGCN_ASSIGN_OR_RETURN(OnnxPrecision v, parse_precision(a));
        if (v == OnnxPrecision::kInt8 && f.graph_conv == "einsum")
          return invalid_argument("int8 writes the aggregation as MatMul: drop --graph-conv einsum");
        return v;
      });
  if (!precision) return std::nullopt;
  const bool int8 = *precision == OnnxPrecision::kInt8;
  Int8Flags i8 = f.int8;
  if (int8 && i8.calib.empty() && i8.calib_table.empty()) {
    auto calib = p.ask<std::string>(
        "  INT8 calibration: samples (.npy) or a calibration table", "",
        [](const std::string& a) -> Result<std::string> {
          std::error_code ec;
          if (a.empty() || !fs::is_regular_file(a, ec))
            return invalid_argument("no file '" + a + "'");
          return a;
        });
    if (!calib) return std::nullopt;
    (lower(fs::path(*calib).extension().string()) == ".npy" ? i8.calib : i8.calib_table) = *calib;
  }
  const std::string def_opset = std::to_string(int8 ? std::max(f.opset, 13) : f.opset);
  auto opset = p.ask<int>(int8 ? "  Opset (13..18)" : "  Opset (11..18)", def_opset,
                          [&](const std::string& a) -> Result<int> {
                            STGCN_ASSIGN_OR_RETURN(int v, parse_int(a, 1, 1000, "the opset"));
                            STGCN_RETURN_IF_ERROR(
                                check_opset(v, f.graph_conv, int8 ? "int8" : ""));
                            return v;
                          });
  if (!opset) return std::nullopt;
  outputs.insert(normalized(*output));
  Job job{path, std::move(model), options_from(f, path), *output, i8, f.model};
  job.options.T = *T;
  job.options.M = *M;
  job.options.opset = *opset;
  job.options.precision = *precision;
  return job;
}

int run_interactive(const ExportFlags& f) {
  Prompter p;
  auto aborted = [&p] {
    return fail(invalid_argument("export aborted: input ended at '" + trim(p.eof_at()) +
                                 "'; nothing was written"));
  };
  std::vector<std::string> paths;
  if (!f.model.path.empty()) {
    paths.push_back(f.model.path);
  } else {
    std::vector<std::string> files;
    auto dir = p.ask<std::string>(
        "Models directory", ".", [&](const std::string& a) -> Result<std::string> {
          std::error_code ec;
          if (!fs::is_directory(a, ec)) return invalid_argument("'" + a + "' is not a directory");
          files = list_models(a);
          if (files.empty()) return invalid_argument("no .pt, .pth or .onnx files in '" + a + "'");
          return a;
        });
    if (!dir) return aborted();
    std::cout << "Models in '" << *dir << "':\n";
    for (size_t i = 0; i < files.size(); ++i)
      std::cout << "  " << i + 1 << ") " << files[i] << "\n";
    const int count = static_cast<int>(files.size());
    auto picked = p.ask<std::vector<int>>(
        "Export which (numbers like 1,3 or 'all')", "all",
        [count](const std::string& a) { return parse_selection(a, count); });
    if (!picked) return aborted();
    for (int i : *picked)
      paths.push_back((fs::path(*dir) / files[static_cast<size_t>(i)]).string());
  }

  std::vector<Job> jobs;
  std::set<std::string> outputs;
  int failed = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    ModelFlags mf = f.model;
    mf.path = paths[i];
    auto model = mf.load();
    if (!model.is_ok()) {
      std::cout << "[" << i + 1 << "/" << paths.size() << "] skipped: " << model.status().message()
                << "\n";
      ++failed;
      continue;
    }
    const ModelSpec& s = model->spec;
    std::cout << "[" << i + 1 << "/" << paths.size() << "] " << paths[i] << ": "
              << (s.two_stream ? "two-stream" : "single-stream") << ", layout " << s.layout
              << ", C=" << s.C() << ", V=" << s.V() << ", " << s.num_class() << " classes\n";
    auto job = ask_for_model(p, f, paths[i], std::move(*model), outputs);
    if (!job) return aborted();
    jobs.push_back(std::move(*job));
  }

  std::vector<std::string> summary;
  for (Job& j : jobs) {
    auto line = run_job(j);
    if (line.is_ok()) {
      summary.push_back(*line);
    } else {
      std::cout << "failed: " << j.model_path << ": " << line.status().message() << "\n";
      ++failed;
    }
  }
  std::cout << "Exported " << summary.size() << " of " << paths.size() << " model(s):\n";
  for (const std::string& s : summary) std::cout << "  " << s << "\n";
  std::cout << std::flush;
  if (failed > 0)
    return fail(internal_error(std::to_string(failed) + " of " + std::to_string(paths.size()) +
                               " model(s) were not exported (see above)"));
  return 0;
}

}  // namespace

Subcommand add_export_command(CLI::App& app) {
  auto f = std::make_shared<ExportFlags>();
  CLI::App* sub = app.add_subcommand("export",
                                     "Export a model to ONNX: its own input layout ((N, C, T, V, M), or (N, M, T, V, C) "
                                     "for mmaction2 / pyskl models) -> (N, num_class); "
                                     "interactive without MODEL on a terminal");
  f->app = sub;
  f->model.add_to(sub, /*model_required=*/false);
  f->output_option = sub->add_option("--output,-o", f->output,
                  "Output .onnx (default: <model stem>_M<M>[_fp16|_int8].onnx next to the model)");
  sub->add_option("--opset", f->opset, "ONNX opset, 11..18")->capture_default_str();
  sub->add_option("--T", f->T, "Frames")->capture_default_str();
  sub->add_option("--M", f->M, "Persons")->capture_default_str();
  sub->add_option("--C", f->C, "Channels (must be the model's; default: the model's)");
  f->batch_option =
      sub->add_option("--batch", f->batch, "Fixed batch size N")->capture_default_str();
  sub->add_flag("--dynamic-batch", f->dynamic_batch,
                "Symbolic batch axis 'N' instead of a fixed one");
  sub->add_flag("--softmax", f->softmax, "Append a Softmax over the classes");
  sub->add_option(
         "--graph-conv", f->graph_conv,
         "Graph aggregation form: matmul (one MatMul per block, any opset) or einsum (opset >= 12)")
      ->capture_default_str();
  sub->add_flag("--fold-bn,!--no-fold-bn", f->fold_bn,
                "Fold BatchNorms into the convolutions (default) or keep BatchNormalization nodes");
  sub->add_option("--input-name", f->input_name, "Name of the graph input")->capture_default_str();
  sub->add_option("--output-name", f->output_name, "Name of the graph output")
      ->capture_default_str();
  sub->add_option("--precision", f->precision,
                  "Numeric form: fp32; fp16 (float16 weights and activations; data_bn, the head "
                  "and softmax kept fp32); int8 (explicit QuantizeLinear/DequantizeLinear from "
                  "our calibration, for TensorRT; opset >= 13). See docs/tensorrt.md")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "fp16", "int8"}));
  sub->add_flag("--io-fp16", f->io_fp16,
                "fp16 / int8: a float16 graph input and output (default: float32, with a Cast "
                "at each end)");
  f->int8.add_to(sub);
  const char* tg = "Triton model repository";
  sub->add_option("--triton-repo", f->triton.dir,
                  "Write a Triton model repository instead of one file: DIR/<name>/config.pbtxt "
                  "(onnxruntime backend, dynamic batching), DIR/<name>/1/model.onnx (dynamic "
                  "batch) and DIR/<name>/build_tensorrt.sh (the TensorRT recipe)")
      ->group(tg);
  sub->add_option("--triton-name", f->triton.name, "Model name in the repository (default: the "
                  "model file's stem)")
      ->group(tg);
  sub->add_option("--triton-max-batch", f->triton.max_batch, "max_batch_size of the config")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096))
      ->group(tg);
  sub->add_option("--triton-queue-delay-us", f->triton.queue_delay_us,
                  "Dynamic batching: longest wait for a fuller batch, microseconds")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000000))
      ->group(tg);
  sub->add_option("--triton-instances", f->triton.instances, "Model instances (instance_group count)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64))
      ->group(tg);
  sub->add_flag("--interactive", f->interactive,
                "Ask for the models and settings, reading the answers from stdin (the default "
                "without MODEL on a terminal)");
  Subcommand s;
  s.app = sub;
  s.run = [f] {
    Status st = check_flags(*f);
    if (!st.is_ok()) return usage_error(st);
    if (f->interactive || (f->model.path.empty() && ::isatty(STDIN_FILENO)))
      return run_interactive(*f);
    if (f->model.path.empty()) {
      std::fprintf(stderr,
                   "stgcn: error: MODEL is required (run on a terminal or with --interactive for "
                   "the prompts)\n%s",
                   f->app->help("stgcn").c_str());
      return kExitUsage;
    }
    return run_flags(*f);
  };
  return s;
}

}  // namespace stgcn::cli
