#include "serve/core.h"

namespace stgcn::serve {

Error check_bearer(std::string_view header, const std::string& token) {
  if (token.empty()) return Error::none();
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() < kScheme.size() || header.substr(0, kScheme.size()) != kScheme)
    return make_error(Code::kUnauthenticated, "this server needs 'Authorization: Bearer <token>'");
  const std::string_view given = header.substr(kScheme.size());
  // Compare every byte whatever the first difference (no timing hint of the prefix matched).
  unsigned diff = given.size() == token.size() ? 0u : 1u;
  for (size_t i = 0; i < token.size(); ++i)
    diff |= static_cast<unsigned char>(token[i]) ^
            static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  if (diff != 0) return make_error(Code::kUnauthenticated, "the bearer token is not valid");
  return Error::none();
}

}  // namespace stgcn::serve
