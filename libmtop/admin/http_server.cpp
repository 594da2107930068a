#include "admin/http_server.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <exception>

namespace mtop::admin {

struct HttpServer::Impl {
  HttpHandler handler;
  std::size_t max_body = 0;
};

namespace {

/// What one connection's request has collected so far.
struct Upload {
  std::string body;
  bool too_large = false;
};

MHD_Result send(MHD_Connection* connection, const HttpResponse& r) {
  MHD_Response* response = MHD_create_response_from_buffer(
      r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (!response) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  for (const auto& [name, value] : r.headers) {
    MHD_add_response_header(response, name.c_str(), value.c_str());
  }
  const MHD_Result ok = MHD_queue_response(connection, r.status, response);
  MHD_destroy_response(response);
  return ok;
}

HttpResponse error_response(unsigned status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  std::string escaped;
  for (const char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  r.body = "{\"error\":\"" + escaped + "\"}\n";
  return r;
}

MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url, const char* method,
                      const char* /*version*/, const char* upload_data, size_t* upload_data_size,
                      void** con_cls) {
  auto* impl = static_cast<HttpServer::Impl*>(cls);
  if (*con_cls == nullptr) {  // the head is in: collect the body next
    *con_cls = new (std::nothrow) Upload();
    return *con_cls ? MHD_YES : MHD_NO;
  }
  auto* upload = static_cast<Upload*>(*con_cls);
  if (*upload_data_size > 0) {
    if (upload->body.size() + *upload_data_size > impl->max_body) {
      upload->too_large = true;
      upload->body.clear();
    } else if (!upload->too_large) {
      upload->body.append(upload_data, *upload_data_size);
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (upload->too_large) {
    return send(connection, error_response(413, "request body larger than " +
                                                    std::to_string(impl->max_body) + " bytes"));
  }
  HttpRequest request;
  request.method = method;
  request.path = url;
  if (const char* auth =
          MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION)) {
    request.authorization = auth;
  }
  request.body = std::move(upload->body);
  try {
    return send(connection, impl->handler(request));
  } catch (const std::exception& e) {
    return send(connection, error_response(500, std::string("internal error: ") + e.what()));
  } catch (...) {
    return send(connection, error_response(500, "internal error"));
  }
}

void on_completed(void* /*cls*/, MHD_Connection* /*connection*/, void** con_cls,
                  MHD_RequestTerminationCode /*code*/) {
  delete static_cast<Upload*>(*con_cls);
  *con_cls = nullptr;
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(const Options& options, HttpHandler handler) {
  using R = Result<std::unique_ptr<HttpServer>>;
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  const sockaddr* address = nullptr;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
  if (inet_pton(AF_INET, options.host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(options.port);
    address = reinterpret_cast<const sockaddr*>(&v4);
  } else if (inet_pton(AF_INET6, options.host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(options.port);
    address = reinterpret_cast<const sockaddr*>(&v6);
    flags |= MHD_USE_IPv6;
  } else {
    return R(Errc::config_invalid, "admin listen: \"" + options.host + "\" is not an IP address");
  }
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_unique<Impl>();
  server->impl_->handler = std::move(handler);
  server->impl_->max_body = options.max_body;
  errno = 0;
  server->daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &on_request, server->impl_.get(), MHD_OPTION_SOCK_ADDR, address,
      MHD_OPTION_CONNECTION_LIMIT, options.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
      options.idle_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, &on_completed, nullptr, MHD_OPTION_END);
  if (!server->daemon_) {
    const int e = errno;
    return R(Errc::listen_failed, "admin listen " + options.host + ":" +
                                      std::to_string(options.port) + ": " +
                                      (e ? std::strerror(e) : "libmicrohttpd failed to start"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info ? info->port : options.port;
  return server;
}

HttpServer::~HttpServer() {
  if (daemon_) MHD_stop_daemon(daemon_);
}

}  // namespace mtop::admin
