// The access log file of mtop::Server (ServerConfig::access_log_path): one line per finished
// tunnel, appended with one write(2) each (O_APPEND keeps lines whole even when another
// process appends too). Opened by name again on reopen(), for log rotation.
#pragma once

#include <string>

#include "mtop/result.hpp"
#include "mtop/server.hpp"

namespace mtop {

class AccessLogFile {
 public:
  /// Opens (creates, mode 0640) `path` for appending. Errors: system_error naming the file.
  static Result<AccessLogFile> open(std::string path, AccessLogFormat format);
  AccessLogFile(AccessLogFile&& other) noexcept;
  AccessLogFile& operator=(AccessLogFile&& other) noexcept;
  AccessLogFile(const AccessLogFile&) = delete;
  AccessLogFile& operator=(const AccessLogFile&) = delete;
  ~AccessLogFile();

  /// Appends the record's line. A failed write (disk full) is counted, not thrown: the
  /// tunnels go on; write_errors() tells.
  void write(const TunnelRecord& record);
  /// Opens the path again; on failure the old file stays in use.
  Result<void> reopen();
  std::uint64_t write_errors() const noexcept { return write_errors_; }

 private:
  AccessLogFile(std::string path, AccessLogFormat format, int fd)
      : path_(std::move(path)), format_(format), fd_(fd) {}
  std::string path_;
  AccessLogFormat format_;
  int fd_ = -1;
  std::uint64_t write_errors_ = 0;
};

}  // namespace mtop
