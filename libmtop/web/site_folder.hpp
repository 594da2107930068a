// SiteFolder: which file of a folder a request path names, without ever leaving the folder.
//
// The rules (docs/CONFIG.md, "fallback"), the ones a careful static web server applies:
// - The path is the request's, already percent-decoded (so "%2e%2e" arrives as ".."). It is
//   split at '/'; empty segments are skipped. A segment that starts with '.' ("..", ".", dot
//   files such as ".git" or ".htpasswd") is not found, except ".well-known" (RFC 8615, ACME).
// - Symbolic links are followed only when the file they lead to is inside the folder (and its
//   path inside the folder passes the rule above): the real path of the file must start with
//   the real path of the folder. A link that leaves the folder is not found.
// - A directory is served as its index.html; asked for without the trailing '/', the caller is
//   told to redirect (as web servers do, so that relative links in the page work). No
//   listings: a directory without index.html is not found.
// - Only regular files are served (a FIFO or a device in the folder is not found; files are
//   opened non-blocking, so nothing can stall the server's thread).
// The real path is checked when the request comes; someone who may write into the folder
// could swap a component for a link between the check and the open, but could as well put any
// file there: the folder's writers are trusted, its readers are the world.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "mtop/result.hpp"

namespace mtop::web {

/// An open regular file of the folder; closes it unless release()d.
class OpenFile {
 public:
  OpenFile() = default;
  OpenFile(int fd, std::uint64_t size, std::time_t mtime, std::string path) noexcept
      : fd_(fd), size_(size), mtime_(mtime), path_(std::move(path)) {}
  OpenFile(OpenFile&& o) noexcept;
  OpenFile& operator=(OpenFile&& o) noexcept;
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile();

  bool is_open() const noexcept { return fd_ >= 0; }
  std::uint64_t size() const noexcept { return size_; }
  std::time_t mtime() const noexcept { return mtime_; }
  /// The file's real path (its name decides the Content-Type).
  const std::string& path() const noexcept { return path_; }
  /// Hands the descriptor over (to libmicrohttpd, which closes it); -1 afterwards.
  int release() noexcept;

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::time_t mtime_ = 0;
  std::string path_;
};

class SiteFolder {
 public:
  /// The folder at `path` (its real path is kept). Errors: config_invalid when it does not
  /// exist, is not a directory or cannot be resolved (the reason in the message).
  static Result<SiteFolder> open(const std::string& path);

  enum class Found : std::uint8_t {
    file,       ///< `file` is open
    add_slash,  ///< a directory asked for without its trailing '/': redirect to path + "/"
    not_found,  ///< missing, refused by the rules above, or unreadable
  };
  struct Lookup {
    Found found = Found::not_found;
    OpenFile file;
  };
  /// The file `url_path` (percent-decoded, starting with '/') names.
  Lookup lookup(std::string_view url_path) const;

  /// The folder as configured, and its real path.
  const std::string& configured() const noexcept { return configured_; }
  const std::string& root() const noexcept { return root_; }

 private:
  SiteFolder(std::string configured, std::string root)
      : configured_(std::move(configured)), root_(std::move(root)) {}
  /// Opens `candidate` (a path under the root) when its real path is a regular file inside
  /// the folder that passes the segment rule; `directory` tells it was a directory instead.
  Lookup open_inside(const std::string& candidate, bool& directory) const;
  std::string configured_;
  std::string root_;
};

}  // namespace mtop::web
