// UserCheck: how an embedded mtop::Server decides who may open a tunnel.
//
// Theory of operation
// - For every complete auth message the server (after its own per-source failure throttle)
//   calls UserCheck::check() on its loop thread with the username, the password, the
//   climber's address and the requested target. The check answers through the
//   UserCheckReply it was given: allow(grant), deny() or unavailable(), exactly once, now or
//   later, from any thread (LDAP, PAM, an HTTP service, the app's own database...).
// - A reply dropped unanswered counts as deny(). A reply answered after the tunnel is gone
//   (the climber closed, the handshake time-out fired, the server was stopped or freed) is
//   ignored: answering is always safe, and the check needs no cancellation logic.
// - The handshake time-out (ServerOptions::handshake_timeout_ms) covers the check: a check
//   that never answers holds the tunnel until then, not longer.
// - What follows an allow: the target policy (private addresses refused unless allowed) and
//   the connection to the target; the grant's limits apply to the user's live tunnels.
//
// The built-in stores (users file, SQLite, PostgreSQL, MySQL) are UserChecks too
// (open_user_check() in server.hpp): they verify PHC password hashes off the loop, in
// constant time, behind a credential cache, and add quotas, expiry and live re-checks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mtop/export.hpp"
#include "mtop/result.hpp"

namespace mtop {

/// What the climber asked for. The password is the plaintext the climber sent: compare it in
/// constant time, never log it.
struct UserCheckRequest {
  std::string username;     ///< 1-255 bytes
  std::string password;     ///< 1-255 bytes
  std::string source;       ///< the climber's address, "ip:port" / "[v6]:port"
  std::string target_host;  ///< a domain name or an IP literal (no brackets)
  std::uint16_t target_port = 0;
};

/// An allowed user's name and limits, as the server applies them to the tunnel.
struct UserGrant {
  std::string user;                          ///< for logs and per-user limits; empty = username
  std::optional<std::uint32_t> max_tunnels;  ///< live tunnels of this user; absent = no limit
  std::optional<std::uint64_t> rate_limit;   ///< bytes/s each way, shared by the user's tunnels
  /// The public binds the user may publish with reverse tunnels, in the grammar of the user
  /// stores' `publish` field (docs/USERS.md, "Publish grants"): "8000-8099",
  /// "*:2222, 192.0.2.10:443". Empty = none. The grant of the answer to a REVERSE request's
  /// own check decides that request; text that does not parse grants nothing (logged), so
  /// check it first with check_publish_grants().
  std::string publish{};
};

/// Checks a publish text (UserGrant::publish, UserRecord::publish). Errors: invalid_argument
/// with a message naming the grant at fault ("publish: \"70000\": port must be 1-65535").
MTOP_CPP_API Result<void> check_publish_grants(std::string_view text);

namespace detail {
struct UserCheckReplyState;
struct UserCheckReplyAccess;  ///< the library's own checks answer with more detail through it
}  // namespace detail

/// The answer slot of one check. Move-only; thread-safe: answer from any thread. The first
/// answer counts; later ones are ignored. Destroying it unanswered answers deny().
class MTOP_CPP_API UserCheckReply {
 public:
  UserCheckReply() = default;  ///< answers nothing (for containers); see valid()
  explicit UserCheckReply(std::shared_ptr<detail::UserCheckReplyState> state) noexcept;
  ~UserCheckReply();
  UserCheckReply(UserCheckReply&&) noexcept = default;
  UserCheckReply& operator=(UserCheckReply&& other) noexcept;
  UserCheckReply(const UserCheckReply&) = delete;
  UserCheckReply& operator=(const UserCheckReply&) = delete;

  /// The user may tunnel, with the grant's name and limits.
  void allow(UserGrant grant = {});
  /// Unknown user or wrong password: the climber gets auth_failed (reply mode) or a silent
  /// close (stealth), and the source's failure counter grows.
  void deny();
  /// The check could not answer (its backend is down): the climber gets server_failure, and
  /// the failure counter does not grow.
  void unavailable();

  /// False for a default-constructed or moved-from reply, or once answered.
  bool valid() const noexcept;

 private:
  friend struct detail::UserCheckReplyAccess;
  std::shared_ptr<detail::UserCheckReplyState> state_;
};

class MTOP_CPP_API UserCheck {
 public:
  virtual ~UserCheck();
  /// Decides on `request`. Called on the server's loop thread; must not block it. Answer
  /// through `reply` (see the file comment). `request` is valid only during the call: copy
  /// what an asynchronous check needs.
  virtual void check(const UserCheckRequest& request, UserCheckReply reply) = 0;
};

}  // namespace mtop
