// ReadBuffers: the scratch space every TlsStream of one listener or dialer reads into — one
// for ciphertext from the socket, one for the plaintext handed to on_read. Streams of one
// loop never read at the same time (libuv callbacks do not nest), so one pair serves
// thousands of connections instead of 2 x 64 KiB each.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace mtop::tls {

struct ReadBuffers {
  static constexpr std::size_t kSize = 64 * 1024;
  std::vector<std::uint8_t> cipher = std::vector<std::uint8_t>(kSize);
  std::vector<std::uint8_t> plain = std::vector<std::uint8_t>(kSize);
};

using SharedReadBuffers = std::shared_ptr<ReadBuffers>;

}  // namespace mtop::tls
