// Errors as values: every fallible call returns Status or Result<T>.
// Messages name the file, the tensor and the rule that failed.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace stgcn {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // bad user input (flags, shapes, values)
  kNotFound,         // missing file or key
  kIo,               // read / write failure
  kCorrupt,          // malformed or truncated file contents
  kUnsafe,           // refused: e.g. a pickle that would execute code
  kUnsupported,      // well-formed but not something we handle
  kInternal,
};

const char* error_code_name(ErrorCode code);

// `text` with every control character (C0, DEL; so ESC sequences and newlines) written as
// \n, \r, \t or \xNN: safe to print in a one-line message that quotes input (log injection).
std::string escape_control(std::string_view text);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  bool is_ok() const { return code_ == ErrorCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes context, e.g. "cannot load 'x.pt': " + message.
  Status with_context(const std::string& prefix) const {
    if (is_ok()) return *this;
    return Status(code_, prefix + message_);
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) {
  return {ErrorCode::kInvalidArgument, std::move(m)};
}
inline Status not_found(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Status io_error(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
inline Status corrupt(std::string m) { return {ErrorCode::kCorrupt, std::move(m)}; }
inline Status unsafe(std::string m) { return {ErrorCode::kUnsafe, std::move(m)}; }
inline Status unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
inline Status internal_error(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {    // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).is_ok()) std::abort();  // a Result error must carry an error
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace stgcn

#define STGCN_CONCAT_INNER(a, b) a##b
#define STGCN_CONCAT(a, b) STGCN_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not ok.
#define STGCN_RETURN_IF_ERROR(expr) \
  do {                              \
    ::stgcn::Status _st = (expr);   \
    if (!_st.is_ok()) return _st;   \
  } while (0)

// `STGCN_ASSIGN_OR_RETURN(auto x, f());`
#define STGCN_ASSIGN_OR_RETURN(lhs, rexpr) \
  STGCN_ASSIGN_OR_RETURN_IMPL(STGCN_CONCAT(_res_, __LINE__), lhs, rexpr)
#define STGCN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                \
  if (!tmp.is_ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

// Broken internal invariant: abort with file and line.
#define STGCN_CHECK(cond)                                                  \
  do {                                                                     \
    if (!(cond)) ::stgcn::detail::check_failed(#cond, __FILE__, __LINE__); \
  } while (0)

namespace stgcn::detail {
[[noreturn]] void check_failed(const char* cond, const char* file, int line);
}
