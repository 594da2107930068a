#include "admin_client.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace mtop::server {

namespace {

constexpr std::size_t kMaxReply = 64 << 20;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

AdminReply failed(std::string error) {
  AdminReply r;
  r.error = std::move(error);
  return r;
}

bool send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

AdminReply admin_request(const std::string& host, std::uint16_t port, const std::string& method,
                         const std::string& path, const std::string& token, const std::string& body,
                         int timeout_s) {
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
      rc != 0) {
    return failed(where + ": " + gai_strerror(rc));
  }
  const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addrs(found, &freeaddrinfo);
  Fd sock;
  int last_error = 0;
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    Fd s{::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol)};
    if (s.fd < 0) {
      last_error = errno;
      continue;
    }
    timeval tv{timeout_s, 0};  // bounds connect (Linux), every send and every receive
    setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(s.fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      std::swap(sock.fd, s.fd);
      break;
    }
    last_error = errno;
  }
  if (sock.fd < 0) return failed(where + ": " + std::strerror(last_error));

  std::string request = method + " " + path + " HTTP/1.1\r\nHost: " + where +
                        "\r\nConnection: close\r\nAccept: application/json\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty()) request += "Content-Type: application/json\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  if (!send_all(sock.fd, request)) return failed(where + ": send: " + std::strerror(errno));

  std::string reply;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed(where + ": no answer: " + std::strerror(errno));
    if (n == 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
    if (reply.size() > kMaxReply) return failed(where + ": answer too large");
  }
  const std::size_t head_end = reply.find("\r\n\r\n");
  if (reply.compare(0, 9, "HTTP/1.1 ") != 0 || head_end == std::string::npos || reply.size() < 12) {
    return failed(where + ": not an HTTP answer");
  }
  AdminReply r;
  r.status = std::atoi(reply.substr(9, 3).c_str());
  r.body = reply.substr(head_end + 4);
  return r;
}

}  // namespace mtop::server
