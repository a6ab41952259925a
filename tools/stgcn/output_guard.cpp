// An output that names one of the command's inputs would destroy it (infer -i a.npy -o a.npy,
// build m.pt -o m.pt, --calib X --calib-table X, run --source s.jsonl --out s.jsonl, ...):
// refused before any work, for every subcommand, from the options it was given.
#include <fmt/format.h>
#include <sys/stat.h>

#include <set>
#include <string>

#include "commands.h"

namespace stgcn::cli {
namespace {

bool is_output_option(const CLI::App& sub, const CLI::Option& opt) {
  const std::string name = opt.get_name();
  if (name == "--output" || name == "--out" || name == "--json" || name == "--triton-repo")
    return true;
  // --calib-table is written when --calib calibrates, read otherwise.
  if (name == "--calib-table") {
    const CLI::Option* calib = sub.get_option_no_throw("--calib");
    return calib != nullptr && calib->count() > 0;
  }
  return false;
}

}  // namespace

Status check_outputs_are_not_inputs(const CLI::App& sub) {
  struct Named {
    std::string option, value;
  };
  std::vector<Named> outputs, inputs;
  for (const CLI::Option* opt : sub.get_options()) {
    if (opt->count() == 0) continue;
    const bool out = is_output_option(sub, *opt);
    for (const std::string& v : opt->results()) {
      if (v.empty() || v == "-") continue;
      (out ? outputs : inputs).push_back({opt->get_name(), v});
    }
  }
  for (const Named& o : outputs) {
    struct stat so;
    if (::stat(o.value.c_str(), &so) != 0 || !S_ISREG(so.st_mode)) continue;
    for (const Named& i : inputs) {
      struct stat si;
      if (::stat(i.value.c_str(), &si) != 0) continue;
      if (si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        return invalid_argument(fmt::format(
            "refusing to write {} '{}': it is the same file as the input '{}' ({}); choose "
            "another output path",
            o.option, o.value, i.value, i.option));
    }
  }
  return Status::ok();
}

}  // namespace stgcn::cli
