#include "web/static_site.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string_view>
#include <utility>

#include "web/byte_range.hpp"
#include "web/content_type.hpp"
#include "web/http_date.hpp"

namespace mtop::web {

struct StaticSite::Impl {
  mutable std::mutex mutex;
  std::shared_ptr<const SiteFolder> folder;  ///< swapped whole by set_folder

  std::shared_ptr<const SiteFolder> current() const {
    const std::lock_guard lock(mutex);
    return folder;
  }
};

namespace {

/// The error page a plain web server sends: the status as the title and the heading.
std::string error_page(unsigned status, std::string_view reason) {
  const std::string title = std::to_string(status) + " " + std::string(reason);
  return "<!doctype html>\n<html><head><title>" + title + "</title></head>\n<body><h1>" + title +
         "</h1></body></html>\n";
}

MHD_Result queue(MHD_Connection* connection, unsigned status, MHD_Response* response) {
  if (!response) return MHD_NO;
  const MHD_Result ok = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return ok;
}

MHD_Response* page_response(unsigned status, std::string_view reason) {
  const std::string body = error_page(status, reason);
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                    MHD_RESPMEM_MUST_COPY);
  if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
  return r;
}

MHD_Result send_error(MHD_Connection* connection, unsigned status, std::string_view reason) {
  return queue(connection, status, page_response(status, reason));
}

/// A decoded path percent-encoded again for a Location header: what may stand in a URI path
/// as it is (RFC 3986 pchar and '/'), the rest as %XX.
std::string encode_path(std::string_view path) {
  static constexpr std::string_view kPlain =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/!$&'()*+,;=:@";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : path) {
    if (kPlain.find(c) != std::string_view::npos) {
      out += c;
    } else {
      const auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return out;
}

/// True for an RFC 9110 token (a method): libmicrohttpd takes any bytes up to the first space.
bool is_token(std::string_view s) {
  static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  for (const char c : s) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!alnum && kSymbols.find(c) == std::string_view::npos) return false;
  }
  return true;
}

const char* header(MHD_Connection* connection, const char* name) {
  return MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
}

/// 200, 206, 304 or 416 for an open file, as the request's conditions and Range ask.
MHD_Result send_file(MHD_Connection* connection, OpenFile file) {
  const std::string last_modified = format_http_date(file.mtime());
  const char* since = header(connection, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
  if (since && !header(connection, MHD_HTTP_HEADER_IF_NONE_MATCH)) {
    if (auto t = parse_http_date(since); t && file.mtime() <= *t) {
      MHD_Response* r = MHD_create_response_from_buffer(0, nullptr, MHD_RESPMEM_PERSISTENT);
      if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, last_modified.c_str());
      return queue(connection, MHD_HTTP_NOT_MODIFIED, r);
    }
  }
  ByteRange range;
  if (const char* r = header(connection, MHD_HTTP_HEADER_RANGE)) {
    const char* if_range = header(connection, MHD_HTTP_HEADER_IF_RANGE);
    // If-Range with a date other than ours: the file changed, send it whole.
    if (!if_range || last_modified == if_range) range = parse_byte_range(r, file.size());
  }
  if (range.kind == ByteRange::Kind::unsatisfiable) {
    MHD_Response* r = page_response(416, "Range Not Satisfiable");
    const std::string content_range = "bytes */" + std::to_string(file.size());
    if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, content_range.c_str());
    return queue(connection, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
  }
  const bool partial = range.kind == ByteRange::Kind::partial;
  const std::uint64_t offset = partial ? range.first : 0;
  const std::uint64_t length = partial ? range.last - range.first + 1 : file.size();
  const std::string type(content_type_for(file.path()));
  // libmicrohttpd owns the descriptor from here (it closes it with the response).
  const int fd = file.release();
  MHD_Response* r = MHD_create_response_from_fd_at_offset64(length, fd, offset);
  if (!r) {
    ::close(fd);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type.c_str());
  MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, last_modified.c_str());
  MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  if (partial) {
    const std::string content_range = "bytes " + std::to_string(range.first) + "-" +
                                      std::to_string(range.last) + "/" +
                                      std::to_string(file.size());
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, content_range.c_str());
  }
  return queue(connection, partial ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, r);
}

MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url, const char* method,
                      const char* /*version*/, const char* /*upload_data*/,
                      size_t* upload_data_size, void** con_cls) {
  const auto* impl = static_cast<const StaticSite::Impl*>(cls);
  const std::string_view m(method);
  if (!is_token(m)) {
    // Binary bytes (a failed MTop login among them) are a bad request to a web server.
    return send_error(connection, MHD_HTTP_BAD_REQUEST, "Bad Request");
  }
  if (m != MHD_HTTP_METHOD_GET && m != MHD_HTTP_METHOD_HEAD) {
    // Answered with the head: the body is never read, and the connection closes after it.
    MHD_Response* r = page_response(405, "Method Not Allowed");
    if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    return queue(connection, MHD_HTTP_METHOD_NOT_ALLOWED, r);
  }
  // GET and HEAD are answered once the request is complete (a body, rare, is dropped): an
  // answer queued with the head would make libmicrohttpd close the connection after it, and
  // a browser's keep-alive connection should stay open as a web server's does.
  static char head_seen;
  if (*con_cls == nullptr) {
    *con_cls = &head_seen;
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    *upload_data_size = 0;
    return MHD_YES;
  }
  const auto folder = impl->current();
  SiteFolder::Lookup found = folder->lookup(url);
  switch (found.found) {
    case SiteFolder::Found::file:
      return send_file(connection, std::move(found.file));
    case SiteFolder::Found::add_slash: {
      MHD_Response* r = page_response(301, "Moved Permanently");
      const std::string location = encode_path(url) + "/";
      if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location.c_str());
      return queue(connection, MHD_HTTP_MOVED_PERMANENTLY, r);
    }
    case SiteFolder::Found::not_found:
      break;
  }
  return send_error(connection, MHD_HTTP_NOT_FOUND, "Not Found");
}

}  // namespace

Result<std::unique_ptr<StaticSite>> StaticSite::start(SiteFolder folder, const Options& options) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::unique_ptr<StaticSite> site(new StaticSite());
  site->impl_ = std::make_unique<Impl>();
  site->impl_->folder = std::make_shared<const SiteFolder>(std::move(folder));
  errno = 0;
  site->daemon_ = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, nullptr, nullptr, &on_request,
      site->impl_.get(), MHD_OPTION_SOCK_ADDR, reinterpret_cast<const sockaddr*>(&address),
      MHD_OPTION_CONNECTION_LIMIT, options.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
      options.idle_timeout_s, MHD_OPTION_END);
  if (!site->daemon_) {
    const int e = errno;
    return Failure{Errc::listen_failed,
                   std::string("static site on 127.0.0.1: ") +
                       (e ? std::strerror(e) : "libmicrohttpd failed to start")};
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(site->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  site->port_ = info ? info->port : 0;
  if (site->port_ == 0) return Failure{Errc::listen_failed, "static site: no port was bound"};
  return site;
}

StaticSite::~StaticSite() {
  if (daemon_) MHD_stop_daemon(daemon_);
}

void StaticSite::set_folder(SiteFolder folder) {
  auto next = std::make_shared<const SiteFolder>(std::move(folder));
  const std::lock_guard lock(impl_->mutex);
  impl_->folder = std::move(next);
}

std::string StaticSite::folder() const {
  return impl_->current()->configured();
}

}  // namespace mtop::web
