// SHA-256 (engine file checksums, the source checkpoint recorded in exported ONNX metadata).
// Uses OpenSSL's libcrypto (EVP).
#pragma once

#include <string>
#include <string_view>

#include "stgcn/status.h"

namespace stgcn::io {

// Lower-case hex digest (64 characters).
Result<std::string> sha256_hex(std::string_view bytes);

// Digest of a file, read in chunks; kNotFound / kIo name the path.
Result<std::string> sha256_file_hex(const std::string& path);

}  // namespace stgcn::io
