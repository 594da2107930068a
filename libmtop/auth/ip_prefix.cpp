#include "auth/ip_prefix.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace mtop::auth {

std::optional<IpAddress> IpAddress::from_sockaddr(const struct sockaddr* sa) {
  if (!sa) return std::nullopt;
  IpAddress a;
  if (sa->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    std::memcpy(a.bytes.data(), &in.sin_addr, 4);
    return a;
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof in6);
    a.is_v6 = true;
    std::memcpy(a.bytes.data(), &in6.sin6_addr, 16);
    return a;
  }
  return std::nullopt;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a terminated string; no valid address is longer than 45 characters.
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
    a.is_v6 = true;
    return a;
  }
  return std::nullopt;
}

IpAddress IpAddress::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress r;
  r.bytes[0] = a;
  r.bytes[1] = b;
  r.bytes[2] = c;
  r.bytes[3] = d;
  return r;
}

IpAddress IpAddress::unmapped() const {
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!is_v6 || std::memcmp(bytes.data(), kMapped, sizeof kMapped) != 0) return *this;
  return v4(bytes[12], bytes[13], bytes[14], bytes[15]);
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

Result<IpPrefix> IpPrefix::parse(std::string_view text) {
  auto fail = [](std::string reason) { return Failure{Errc::invalid_argument, std::move(reason)}; };
  const auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) return fail("not an IP address: \"" + std::string(text.substr(0, slash)) + "\"");
  IpPrefix p;
  p.base = *addr;
  p.length = addr->bit_length();
  if (slash != std::string_view::npos) {
    const std::string_view len = text.substr(slash + 1);
    unsigned v = 0;
    const auto r = std::from_chars(len.data(), len.data() + len.size(), v);
    if (len.empty() || len.size() > 3 || r.ec != std::errc{} ||
        r.ptr != len.data() + len.size() || v > addr->bit_length()) {
      return fail("bad prefix length \"" + std::string(len) + "\" (0-" +
                  std::to_string(addr->bit_length()) + ")");
    }
    p.length = v;
  }
  IpPrefix masked = p;
  for (unsigned bit = p.length; bit < p.base.bit_length(); ++bit) {
    masked.base.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  if (!(masked.base == p.base)) {
    return fail("host bits set in \"" + std::string(text) + "\" (did you mean " +
                masked.to_string() + "?)");
  }
  return p;
}

bool IpPrefix::contains(const IpAddress& a) const {
  if (a.is_v6 != base.is_v6) return false;
  const unsigned full = length / 8;
  if (std::memcmp(a.bytes.data(), base.bytes.data(), full) != 0) return false;
  const unsigned rest = length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
  return (a.bytes[full] & mask) == (base.bytes[full] & mask);
}

std::string IpPrefix::to_string() const {
  return base.to_string() + "/" + std::to_string(length);
}

}  // namespace mtop::auth
