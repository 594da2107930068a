// CertWatch: notices that the certificate or key file changed on disk, so mtop::Server can
// serve a renewed certificate (certbot, another ACME client) to new handshakes with no
// operator.
//
// Why polling (uv_fs_poll) and not inotify (uv_fs_event): ACME clients replace files in ways
// inotify on a path misses — certbot points the symlinks in live/ at new files in archive/,
// others rename a new file over the old one, so a watch on the old inode never fires again.
// stat(2) follows symlinks and sees a new inode, size or mtime whichever way the file was
// replaced; one stat per file per interval costs nothing.
//
// A change starts a short settling delay (writers write the certificate and the key one after
// the other); further changes within it restart it; then on_change runs once. Whether the new
// pair is usable is the owner's call: a half-written pair fails to load and is tried again on
// the next change.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mtop/result.hpp"
#include "uv/handle.hpp"
#include "uv/timer.hpp"

namespace mtop {

class CertWatch {
 public:
  /// Watches `paths` (stat every `interval_ms`, > 0); `on_change` runs on the loop after a
  /// change has settled. Errors: system_error naming the path libuv could not watch.
  static Result<std::unique_ptr<CertWatch>> start(uv_loop_t* loop, std::vector<std::string> paths,
                                                  std::uint64_t interval_ms,
                                                  std::function<void()> on_change);
  ~CertWatch() = default;
  CertWatch(const CertWatch&) = delete;
  CertWatch& operator=(const CertWatch&) = delete;

  const std::vector<std::string>& paths() const noexcept { return paths_; }
  std::uint64_t interval_ms() const noexcept { return interval_ms_; }

 private:
  CertWatch(uv_loop_t* loop, std::vector<std::string> paths, std::uint64_t interval_ms,
            std::function<void()> on_change);
  static void on_poll(uv_fs_poll_t* handle, int status, const uv_stat_t* prev,
                      const uv_stat_t* curr);
  void changed();

  std::vector<std::string> paths_;
  std::uint64_t interval_ms_;
  std::function<void()> on_change_;
  io::Timer settle_;
  std::vector<io::UvHandle<uv_fs_poll_t>> polls_;
};

}  // namespace mtop
