// StaticSite: a folder of static files served over HTTP/1.1 by libmicrohttpd on a loopback
// port of its own — the web site fallback mode shows when the operator names a folder instead
// of a backend (docs/CONFIG.md, "fallback").
//
// Theory of operation
// - Why a port and not bytes fed in: fallback mode already relays a visitor, decrypted and
//   with every byte read so far, to a backend's TCP port (ServerEngine, tunnel_session.cpp),
//   with back-pressure, half-close, idle time-outs and counts. Serving the folder on
//   127.0.0.1:<ephemeral> makes it one more such backend, so that path stays the only one.
//   Feeding libmicrohttpd the bytes directly would need its "upgrade"/external-socket modes and
//   a second copy of that relay logic on the loop, for a saving of one loopback hop.
// - libmicrohttpd runs one internal polling thread (epoll where there is one); files are
//   streamed from their descriptors (sendfile on Linux), never read whole, and each connection
//   has libmicrohttpd's fixed memory pool: memory is bounded by max_connections.
// - What a request may read is SiteFolder's business (site_folder.hpp): nothing outside the
//   folder, no dot files, only regular files. Answers are those of a plain web server: GET and
//   HEAD (405 with Allow otherwise), index.html for a directory, 301 to add a directory's
//   '/', 404 pages, Content-Type by extension, Last-Modified with If-Modified-Since (304), one
//   byte range (206/416).
// - set_folder() swaps the folder for the requests that come after it (a reload), from any
//   thread; a request in progress finishes with the file it opened.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mtop/result.hpp"
#include "web/site_folder.hpp"

struct MHD_Daemon;

namespace mtop::web {

class StaticSite {
 public:
  struct Options {
    unsigned max_connections = 1'024;  ///< more wait in the listen queue
    unsigned idle_timeout_s = 60;      ///< a keep-alive connection with no request is closed
  };

  /// Binds 127.0.0.1:0 and starts the thread. Errors: listen_failed (with the reason).
  static Result<std::unique_ptr<StaticSite>> start(SiteFolder folder, const Options& options);
  /// Stops the thread; connections still open are closed.
  ~StaticSite();
  StaticSite(const StaticSite&) = delete;
  StaticSite& operator=(const StaticSite&) = delete;

  /// The loopback port the site is served on.
  std::uint16_t port() const noexcept { return port_; }
  /// Serves `folder` from the next request on. Any thread.
  void set_folder(SiteFolder folder);
  /// The folder served now, as configured. Any thread.
  std::string folder() const;

  struct Impl;

 private:
  StaticSite() = default;
  std::unique_ptr<Impl> impl_;
  MHD_Daemon* daemon_ = nullptr;
  std::uint16_t port_ = 0;
};

}  // namespace mtop::web
