#include "io/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace stgcn::io {
namespace {

struct DigestDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using DigestContext = std::unique_ptr<EVP_MD_CTX, DigestDeleter>;

Result<DigestContext> start_digest() {
  DigestContext ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return internal_error("SHA-256: OpenSSL EVP initialisation failed");
  return ctx;
}

Result<std::string> finish_digest(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, digest, &len) != 1 || len != 32)
    return internal_error("SHA-256: OpenSSL EVP finalisation failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

}  // namespace

Result<std::string> sha256_hex(std::string_view bytes) {
  STGCN_ASSIGN_OR_RETURN(DigestContext ctx, start_digest());
  if (EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) != 1)
    return internal_error("SHA-256: OpenSSL EVP update failed");
  return finish_digest(ctx.get());
}

Result<std::string> sha256_file_hex(const std::string& path) {
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    const int err = errno;
    const std::string msg = "cannot read '" + path + "': " + std::strerror(err);
    return err == ENOENT ? not_found(msg) : io_error(msg);
  }
  STGCN_ASSIGN_OR_RETURN(DigestContext ctx, start_digest());
  std::string buf(1 << 16, '\0');
  while (true) {
    const size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
    if (n > 0 && EVP_DigestUpdate(ctx.get(), buf.data(), n) != 1)
      return internal_error("SHA-256: OpenSSL EVP update failed");
    if (n < buf.size()) break;
  }
  if (std::ferror(f.get())) return io_error("cannot read '" + path + "': read failed");
  return finish_digest(ctx.get());
}

}  // namespace stgcn::io
