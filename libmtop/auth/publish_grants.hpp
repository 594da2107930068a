// PublishGrants: which public binds a user may ask for with a reverse tunnel (PROTOCOL.md
// section 9). Every user store keeps them as one text field, UserRecord::publish, so the
// grammar below is the storage format too:
//
//   grants  = "" | grant *( "," grant )          (spaces around commas are ignored)
//   grant   = [ address ":" ] ports
//   address = "*" | IPv4 | "[" IPv6 "]"          (no address = "*": any bind address)
//   ports   = port | port "-" port               (1-65535, first <= last)
//
// e.g. "8000-8099", "*:2222, 192.0.2.10:443", "[2001:db8::1]:8080-8081". The empty text (the
// default of every store) grants nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/ip_prefix.hpp"
#include "mtop/result.hpp"

namespace mtop::auth {

struct PublishGrant {
  std::optional<IpAddress> address;  ///< absent = any bind address ("*")
  std::uint16_t first_port = 0;
  std::uint16_t last_port = 0;

  friend bool operator==(const PublishGrant&, const PublishGrant&) = default;
};

class PublishGrants {
 public:
  /// Longest text and most grants accepted: a store's field is not a place for a port list.
  static constexpr std::size_t max_text = 1024;
  static constexpr std::size_t max_grants = 64;

  /// Parses the grammar above. Errors: invalid_argument with the grant it could not read
  /// ("publish: \"70000\": port must be 1-65535").
  static Result<PublishGrants> parse(std::string_view text);

  bool empty() const { return grants_.empty(); }
  const std::vector<PublishGrant>& grants() const { return grants_; }

  /// May the user publish `port` (1-65535) on `bind`? A grant with an address matches only a
  /// bind on exactly that address (the wildcard binds 0.0.0.0 and :: are addresses like any
  /// other here); a grant without one matches every bind. Port 0 is never allowed: a request
  /// for "any port" is answered with candidate_ports().
  bool allows(const IpAddress& bind, std::uint16_t port) const;

  /// The ports a request for port 0 on `bind` may be given, in the grants' order, each once.
  /// At most `limit` ports, so a grant of a wide range does not build a huge list.
  std::vector<std::uint16_t> candidate_ports(const IpAddress& bind, std::size_t limit) const;

  /// The canonical text (parse(to_string()) gives the same grants).
  std::string to_string() const;

 private:
  std::vector<PublishGrant> grants_;
};

}  // namespace mtop::auth
