#include "backends/registry.h"

#include "backends/cpu/cpu_backend.h"

namespace stgcn::backend {

const Backend& default_backend() { return cpu::cpu_backend(); }

const Backend* find(const std::string& name) {
  if (name == cpu::cpu_backend().name()) return &cpu::cpu_backend();
  return nullptr;
}

std::vector<std::string> names() { return {cpu::cpu_backend().name()}; }

}  // namespace stgcn::backend
