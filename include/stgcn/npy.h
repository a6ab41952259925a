// NumPy .npy files: little-endian float32 / float64, C order (others are
// refused with a message naming the file and the rule).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "stgcn/status.h"
#include "stgcn/tensor.h"

namespace stgcn {

// Reads `path` as float32 (float64 data is converted).
Result<Tensor> read_npy(const std::string& path);
Result<Tensor> read_npy_bytes(std::span<const uint8_t> bytes, std::string_view name);
// Class labels: also accepts int64 / int32 (values as float).
Result<Tensor> read_labels_npy(const std::string& path);

// Writes float32 '<f4' C-order. Atomic: a temporary file in the same
// directory is renamed over `path`, so a failure never leaves a partial file.
Status write_npy(const std::string& path, const Tensor& t);

// Reads a whole regular file (at most 16 GiB; devices, FIFOs and directories are refused);
// kNotFound / kIo / kInvalidArgument with the path in the message.
Result<std::string> read_file(const std::string& path);

// Writes `bytes` to `path`: atomically (temporary file + rename) over a regular file or a
// new path; through to a device, FIFO or socket (never replaced); a symlink's target is
// written and the link kept. On failure no partial file is left (src/io/files.h).
Status write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace stgcn
