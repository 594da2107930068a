#include "auth/source_table.hpp"

namespace mtop::auth {

std::size_t SourceKeyHash::operator()(const SourceKey& k) const noexcept {
  // FNV-1a: keys are chosen by remote peers, so do not rely on them being well mixed.
  std::size_t h = 1469598103934665603ull;
  for (std::uint8_t b : k) h = (h ^ b) * 1099511628211ull;
  return h;
}

SourceKey source_key(const IpAddress& addr, unsigned v4_bits, unsigned v6_bits) {
  const IpAddress a = addr.unmapped();
  SourceKey k{};
  unsigned bits = 0;
  std::size_t at = 0;
  if (a.is_v6) {
    bits = std::min(v6_bits, 128u);
  } else {
    k[10] = k[11] = 0xff;
    bits = std::min(v4_bits, 32u);
    at = 12;
  }
  for (unsigned i = 0; i < bits; ++i) {
    if (a.bytes[i / 8] & (0x80u >> (i % 8)))
      k[at + i / 8] |= static_cast<std::uint8_t>(0x80u >> (i % 8));
  }
  return k;
}

}  // namespace mtop::auth
