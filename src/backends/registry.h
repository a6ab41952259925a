// The backends in this build, by name. The engine, the quantiser and the runtime reach a
// backend only through here and backends/backend.h.
#pragma once

#include <string>
#include <vector>

#include "backends/backend.h"

namespace stgcn::backend {

// The backend engines are built for (the CPU backend).
const Backend& default_backend();
// A backend by name ("cpu"), or null when this build has none of that name.
const Backend* find(const std::string& name);
std::vector<std::string> names();

}  // namespace stgcn::backend
