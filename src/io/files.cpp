#include "io/files.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include "stgcn/npy.h"

namespace stgcn {
namespace {

std::string file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

bool under(const std::string& path, const char* dir) { return path.rfind(dir, 0) == 0; }

}  // namespace

Result<uint64_t> regular_file_size(const std::string& path, uint64_t max_bytes) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return not_found("'" + path + "' not found");
    return io_error("cannot open '" + path + "': " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    return invalid_argument("cannot read '" + path + "': it is " + file_kind(st.st_mode) +
                            ", not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    return invalid_argument("cannot read '" + path + "': " + std::to_string(size) +
                            " bytes, the limit is " + std::to_string(max_bytes));
  // A whole-file read holds the file in memory: refuse one that cannot fit (a huge sparse
  // file, or a real one on a small machine) before allocating.
  const int64_t available = available_memory_bytes();
  if (static_cast<int64_t>(std::min<uint64_t>(size, INT64_MAX)) > available)
    return invalid_argument("cannot read '" + path + "': it is " + std::to_string(size >> 20) +
                            " MiB, more than the " + std::to_string(available >> 20) +
                            " MiB of memory available");
  return size;
}

int64_t available_memory_bytes() {
  int64_t available = INT64_MAX;  // unknown: do not refuse
  std::ifstream f("/proc/meminfo");
  std::string key, unit;
  int64_t kb = 0;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") {
      available = kb * 1024;
      break;
    }
  // STGCN_MEMORY_LIMIT_MB caps it (containers whose MemAvailable is the host's; tests).
  if (const char* cap = std::getenv("STGCN_MEMORY_LIMIT_MB"); cap != nullptr && *cap != '\0') {
    char* end = nullptr;
    const long long mb = std::strtoll(cap, &end, 10);
    if (end != nullptr && *end == '\0' && mb > 0 && mb < (int64_t{1} << 43))
      available = std::min<int64_t>(available, static_cast<int64_t>(mb) << 20);
  }
  // A process limit (ulimit -v / -d) bounds it too.
  for (int resource : {RLIMIT_AS, RLIMIT_DATA}) {
    struct rlimit rl;
    if (getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
      available = std::min<int64_t>(available, static_cast<int64_t>(rl.rlim_cur));
  }
  return available;
}

Result<std::string> read_file_prefix(const std::string& path, uint64_t max_bytes) {
  STGCN_ASSIGN_OR_RETURN(uint64_t size, regular_file_size(path, UINT64_MAX));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open '" + path + "': " + std::strerror(errno));
  std::string out;
  try {
    out.resize(static_cast<size_t>(std::min(size, max_bytes)));
  } catch (const std::bad_alloc&) {
    ::close(fd);
    return io_error("cannot read '" + path + "': out of memory for " + std::to_string(size) +
                    " bytes");
  }
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return io_error("cannot read '" + path + "': " + std::strerror(err));
    }
    if (n == 0) break;  // shrank while reading
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

Result<std::string> read_file(const std::string& path) {
  STGCN_ASSIGN_OR_RETURN(uint64_t size, regular_file_size(path));
  return read_file_prefix(path, size);
}

OutputFile::OutputFile(OutputFile&& o) noexcept { *this = std::move(o); }

OutputFile& OutputFile::operator=(OutputFile&& o) noexcept {
  if (this != &o) {
    discard();
    path_ = std::move(o.path_);
    target_ = std::move(o.target_);
    tmp_ = std::move(o.tmp_);
    file_ = std::exchange(o.file_, nullptr);
    through_ = o.through_;
    failed_ = o.failed_;
  }
  return *this;
}

OutputFile::~OutputFile() { discard(); }

Status OutputFile::error(const std::string& what, int err) const {
  std::string msg = "cannot write '" + path_ + "': " + what;
  if (err != 0) msg += std::string(": ") + std::strerror(err);
  return io_error(msg);
}

Result<OutputFile> OutputFile::open(const std::string& path) {
  OutputFile f;
  f.path_ = path;
  f.target_ = path;
  if (path.empty()) return io_error("cannot write '': empty path");
  struct stat lst;
  const bool system_path = under(path, "/dev/") || under(path, "/proc/");
  if (!system_path && ::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
    // Follow the link: its target is written (the link stays a link).
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved) != nullptr) {
      f.target_ = resolved;
    } else {
      // A link to a file not yet there: write its target (one level; the link is kept).
      char link[PATH_MAX];
      const ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
      if (n <= 0) return f.error("it is a symbolic link whose target cannot be resolved", errno);
      std::string target(link, static_cast<size_t>(n));
      if (target.front() != '/') {
        const size_t slash = path.rfind('/');
        target = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + target;
      }
      struct stat tst;
      if (::lstat(target.c_str(), &tst) == 0)
        return f.error("it is a symbolic link whose target cannot be resolved", ELOOP);
      f.target_ = target;
    }
  }
  struct stat st;
  const bool exists = ::stat(f.target_.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) return f.error("it is a directory", 0);
  // Devices, FIFOs, sockets and anything under /dev or /proc are written through: they are
  // never replaced by a regular file.
  if (system_path || (exists && !S_ISREG(st.st_mode)) || under(f.target_, "/dev/") ||
      under(f.target_, "/proc/")) {
    f.through_ = true;
    const int fd = ::open(f.target_.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return f.error("cannot open it for writing", errno);
    f.file_ = ::fdopen(fd, "wb");
    if (f.file_ == nullptr) {
      ::close(fd);
      return f.error("cannot open it for writing", errno);
    }
    return f;
  }
  f.tmp_ = f.target_ + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(f.tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_EXCL,
                        exists ? (st.st_mode & 07777) : 0666);
  if (fd < 0) {
    const int err = errno;
    f.tmp_.clear();
    return f.error("cannot create a temporary file beside it", err);
  }
  f.file_ = ::fdopen(fd, "wb");
  if (f.file_ == nullptr) {
    ::close(fd);
    return f.error("cannot open it for writing", errno);
  }
  return f;
}

Status OutputFile::write(std::string_view bytes) {
  if (file_ == nullptr) return error("already closed", 0);
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    failed_ = true;
    return error("write failed", errno);
  }
  return Status::ok();
}

Status OutputFile::flush() {
  if (file_ == nullptr) return error("already closed", 0);
  if (std::fflush(file_) != 0) {
    failed_ = true;
    return error("write failed", errno);
  }
  return Status::ok();
}

Status OutputFile::commit() {
  if (file_ == nullptr) return error("already closed", 0);
  const bool flushed = std::fflush(file_) == 0;
  const int flush_err = errno;
  const bool synced = through_ || ::fsync(::fileno(file_)) == 0;
  const bool closed = std::fclose(file_) == 0;
  const int close_err = errno;
  file_ = nullptr;
  if (failed_ || !flushed || !synced || !closed) {
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
    tmp_.clear();
    return error("write failed (disk full?)", !flushed ? flush_err : close_err);
  }
  if (through_) return Status::ok();
  if (std::rename(tmp_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    tmp_.clear();
    return error("cannot move the temporary file into place", err);
  }
  tmp_.clear();
  return Status::ok();
}

void OutputFile::discard() {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
}

Status write_file_atomic(const std::string& path, std::string_view bytes) {
  STGCN_ASSIGN_OR_RETURN(OutputFile f, OutputFile::open(path));
  STGCN_RETURN_IF_ERROR(f.write(bytes));
  return f.commit();
}

}  // namespace stgcn
