#include "api/access_log_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace mtop {

namespace {

Result<int> open_for_append(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return Result<int>(Errc::system_error,
                       "access_log: cannot open " + path + ": " + std::strerror(errno));
  }
  return fd;
}

}  // namespace

Result<AccessLogFile> AccessLogFile::open(std::string path, AccessLogFormat format) {
  auto fd = open_for_append(path);
  if (!fd) return fd.failure();
  return AccessLogFile(std::move(path), format, *fd);
}

AccessLogFile::AccessLogFile(AccessLogFile&& other) noexcept
    : path_(std::move(other.path_)),
      format_(other.format_),
      fd_(std::exchange(other.fd_, -1)),
      write_errors_(other.write_errors_) {}

AccessLogFile& AccessLogFile::operator=(AccessLogFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    format_ = other.format_;
    fd_ = std::exchange(other.fd_, -1);
    write_errors_ = other.write_errors_;
  }
  return *this;
}

AccessLogFile::~AccessLogFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AccessLogFile::write(const TunnelRecord& record) {
  const std::string line = format_access_record(record, format_) + "\n";
  // One write: O_APPEND makes it atomic for regular files, so lines never interleave.
  const ssize_t n = ::write(fd_, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) ++write_errors_;
}

Result<void> AccessLogFile::reopen() {
  auto fd = open_for_append(path_);
  if (!fd) return fd.failure();
  ::close(fd_);
  fd_ = *fd;
  return {};
}

}  // namespace mtop
