// SHA-256 of the source checkpoint, recorded in exported ONNX metadata.
// Uses OpenSSL's libcrypto (EVP).
#pragma once

#include <string>
#include <string_view>

#include "stgcn/status.h"

namespace stgcn::onnx_export {

// Lower-case hex digest (64 characters).
Result<std::string> sha256_hex(std::string_view bytes);

// Digest of a file, read in chunks; kNotFound / kIo name the path.
Result<std::string> sha256_file_hex(const std::string& path);

}  // namespace stgcn::onnx_export
