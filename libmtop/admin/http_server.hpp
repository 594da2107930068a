// HttpServer: the admin listener's HTTP side — libmicrohttpd on a thread of its own, handing
// each complete request to one handler on that thread.
//
// Theory of operation: libmicrohttpd runs its internal polling thread; requests are served one
// at a time on it, so the handler needs no locking of its own and may block (password hashing,
// a database) at the cost of the next request's latency. Bodies are collected up to max_body
// (a larger one gets 413 without reaching the handler), connections are limited in number and
// time, and the handler's response is copied out. Nothing here knows about tokens or routes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mtop/result.hpp"

struct MHD_Daemon;

namespace mtop::admin {

struct HttpRequest {
  std::string method;         ///< "GET", "POST", ...
  std::string path;           ///< percent-decoded, without the query
  std::string authorization;  ///< the Authorization header, or empty
  std::string body;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< more headers
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";  ///< an IPv4 or IPv6 address
    std::uint16_t port = 0;          ///< 0: the OS picks (port() tells)
    std::size_t max_body = 1 << 20;
    unsigned max_connections = 64;
    unsigned idle_timeout_s = 30;
  };

  /// Binds and starts the thread. Errors: config_invalid (host is not an IP address),
  /// listen_failed (with the reason, e.g. the port is in use).
  static Result<std::unique_ptr<HttpServer>> start(const Options& options, HttpHandler handler);
  /// Stops the thread; waits for a request being handled.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }

  struct Impl;

 private:
  HttpServer() = default;
  std::unique_ptr<Impl> impl_;
  MHD_Daemon* daemon_ = nullptr;
  std::uint16_t port_ = 0;
};

}  // namespace mtop::admin
