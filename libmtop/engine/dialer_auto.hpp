// AutoDialer: `--transport auto`. Tries QUIC first and falls back to TLS over TCP when QUIC
// does not deliver a stream within fallback_ms or fails (UDP blocked, a middlebox eating
// QUIC). The choice of TLS is remembered for remember_ms, so a network that blocks UDP costs
// the fallback delay once per period rather than on every tunnel; then QUIC is tried again.
//
// Every open() gets exactly one callback, on the loop, never inside open(): the QUIC stream,
// or else the TLS dialer's answer. A QUIC stream that arrives after the fallback began is
// closed (the tunnel is already on its way over TLS).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "mtop/log.hpp"
#include "mtop/stream.hpp"
#include "uv/timer.hpp"

namespace mtop {

struct AutoDialerOptions {
  std::uint64_t fallback_ms = 1'500;    ///< QUIC must deliver a stream within this
  std::uint64_t remember_ms = 300'000;  ///< how long to keep using TLS after a QUIC failure
};

class AutoDialer final : public io::StreamDialer {
 public:
  /// Both dialers are owned; they are destroyed with the AutoDialer (their pending opens are
  /// then dropped without callbacks, as theirs promise).
  AutoDialer(uv_loop_t* loop, std::unique_ptr<io::StreamDialer> quic,
             std::unique_ptr<io::StreamDialer> tls, AutoDialerOptions options = {},
             Logger log = {});
  ~AutoDialer() override;
  AutoDialer(const AutoDialer&) = delete;
  AutoDialer& operator=(const AutoDialer&) = delete;

  void open(OpenCallback cb) override;

  /// True while the remembered choice is TLS (QUIC is skipped).
  bool using_tls() const noexcept;
  std::uint64_t quic_opens() const noexcept { return quic_opens_; }
  std::uint64_t tls_opens() const noexcept { return tls_opens_; }

 private:
  struct Attempt {
    explicit Attempt(uv_loop_t* loop) : timer(loop) {}
    OpenCallback cb;
    io::Timer timer;
    bool fell_back = false;
  };
  using AttemptIt = std::list<Attempt>::iterator;

  void open_tls(OpenCallback cb);
  void on_quic(AttemptIt it, io::StreamPtr stream, const std::string& error);
  void fall_back(AttemptIt it, const std::string& why);

  uv_loop_t* loop_;
  std::unique_ptr<io::StreamDialer> quic_;
  std::unique_ptr<io::StreamDialer> tls_;
  AutoDialerOptions options_;
  Logger log_;
  std::list<Attempt> attempts_;     ///< QUIC opens not yet answered
  std::uint64_t tls_until_ms_ = 0;  ///< uv_now() before which QUIC is skipped
  bool tls_chosen_ = false;
  bool quic_reported_ = false;  ///< "using QUIC" was logged since the last fallback
  std::uint64_t quic_opens_ = 0;
  std::uint64_t tls_opens_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mtop
