#include "web/site_folder.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

namespace mtop::web {

namespace {

/// True for a path segment the site never serves: ".", "..", and dot files, except
/// ".well-known" (RFC 8615).
bool hidden_segment(std::string_view segment) {
  return !segment.empty() && segment.front() == '.' && segment != ".well-known";
}

/// True when no segment of `path` is hidden (empty segments are skipped).
bool visible_path(std::string_view path) {
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    if (hidden_segment(segment)) return false;
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return true;
}

/// realpath(3) into a std::string, or nothing.
bool real_path(const std::string& path, std::string& out) {
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr),
                                                       &std::free);
  if (!resolved) return false;
  out = resolved.get();
  return true;
}

}  // namespace

OpenFile::OpenFile(OpenFile&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), size_(o.size_), mtime_(o.mtime_), path_(std::move(o.path_)) {}

OpenFile& OpenFile::operator=(OpenFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    size_ = o.size_;
    mtime_ = o.mtime_;
    path_ = std::move(o.path_);
  }
  return *this;
}

OpenFile::~OpenFile() {
  if (fd_ >= 0) ::close(fd_);
}

int OpenFile::release() noexcept {
  return std::exchange(fd_, -1);
}

Result<SiteFolder> SiteFolder::open(const std::string& path) {
  if (path.empty()) return Failure{Errc::config_invalid, "no folder given"};
  std::string root;
  if (!real_path(path, root)) {
    return Failure{Errc::config_invalid, "\"" + path + "\": " + std::strerror(errno)};
  }
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Failure{Errc::config_invalid, "\"" + path + "\" is not a directory"};
  }
  if (root == "/") {
    // Every real path starts with "/": the containment check below would mean nothing.
    return Failure{Errc::config_invalid, "\"" + path + "\" is the root of the file system"};
  }
  return SiteFolder(path, std::move(root));
}

SiteFolder::Lookup SiteFolder::open_inside(const std::string& candidate, bool& directory) const {
  directory = false;
  std::string real;
  if (!real_path(candidate, real)) return {};
  // Inside the folder: the root itself or below it (a '/' after the root's path, so that
  // "/var/www/site2" is not taken for a file of "/var/www/site").
  if (real != root_ && (real.size() <= root_.size() || real.compare(0, root_.size(), root_) != 0 ||
                        real[root_.size()] != '/')) {
    return {};
  }
  if (!visible_path(std::string_view(real).substr(root_.size()))) return {};
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0) return {};
  if (S_ISDIR(st.st_mode)) {
    directory = true;
    return {};
  }
  if (!S_ISREG(st.st_mode)) return {};
  // The real path has no link left: O_NOFOLLOW refuses one swapped in since.
  const int fd = ::open(real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return {};
  }
  return Lookup{Found::file, OpenFile(fd, static_cast<std::uint64_t>(st.st_size), st.st_mtim.tv_sec,
                                      std::move(real))};
}

SiteFolder::Lookup SiteFolder::lookup(std::string_view url_path) const {
  if (url_path.empty() || url_path.front() != '/') return {};
  if (url_path.find('\0') != std::string_view::npos) return {};
  if (!visible_path(url_path.substr(1))) return {};
  std::string candidate = root_;
  candidate.append(url_path);
  if (candidate.size() >= PATH_MAX) return {};
  bool directory = false;
  Lookup found = open_inside(candidate, directory);
  if (!directory) return found;
  if (url_path.back() != '/') return Lookup{Found::add_slash, {}};
  return open_inside(candidate + "index.html", directory);
}

}  // namespace mtop::web
