// TLS 1.3 key-exchange groups, the same for both transports (TLS over TCP and QUIC) and both
// sides. The default is X25519 then P-256: the two every TLS 1.3 stack has, and the cheapest.
// Finite-field groups (ffdhe2048 ... ffdhe8192) are not offered and cannot be configured: a
// client that offers only ffdhe8192 would make each handshake cost the server several times
// more CPU (≈ 270 ms instead of ≈ 50 ms for 20 handshakes here), a cheap way to exhaust it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace mtop {

enum class TlsGroup : std::uint8_t { x25519, p256, p384, p521, x448 };

/// Every group, with the name config files use (also OpenSSL's name for it).
inline constexpr std::array<std::pair<TlsGroup, std::string_view>, 5> kTlsGroupNames{{
    {TlsGroup::x25519, "X25519"},
    {TlsGroup::p256, "P-256"},
    {TlsGroup::p384, "P-384"},
    {TlsGroup::p521, "P-521"},
    {TlsGroup::x448, "X448"},
}};

/// "X25519", "P-256", ...
constexpr std::string_view tls_group_name(TlsGroup g) noexcept {
  for (const auto& [group, name] : kTlsGroupNames) {
    if (group == g) return name;
  }
  return "?";
}

/// The group a config name stands for (exact spelling as in kTlsGroupNames); nothing if unknown.
constexpr std::optional<TlsGroup> parse_tls_group(std::string_view name) noexcept {
  for (const auto& [group, n] : kTlsGroupNames) {
    if (n == name) return group;
  }
  return std::nullopt;
}

/// X25519, then P-256.
inline std::vector<TlsGroup> default_tls_groups() {
  return {TlsGroup::x25519, TlsGroup::p256};
}

}  // namespace mtop
