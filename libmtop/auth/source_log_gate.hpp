// SourceLogGate: "log this source's refusals at most once per interval", so that a flood from
// one source gives one line a minute, not one per connection.
//
// Theory of operation: the first event of a source opens a window of `interval_ms` and may be
// logged; later events in the window are only counted. The first event after the window may be
// logged again and reports how many were held back. Windows that have ended are forgotten
// (oldest first, on every call) and at most `max_sources` are kept (the least recently logged
// goes first; it is then logged again at its next event, which only costs a line). Sources are
// grouped by source_key() (an IPv4 address, an IPv6 /64). Time comes in as an argument (ms on
// a monotonic clock). Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>

#include "auth/ip_prefix.hpp"
#include "auth/source_table.hpp"

namespace mtop::auth {

class SourceLogGate {
 public:
  struct Options {
    std::uint64_t interval_ms = 60'000;
    std::size_t max_sources = 10'000;
  };

  explicit SourceLogGate(Options options);

  /// An event of `source` at `now_ms`: if it may be logged, how many events of the source were
  /// held back since its last line (0 for the first, or when its window was forgotten);
  /// nothing if it is to be held back.
  std::optional<std::uint64_t> admit(const IpAddress& source, std::uint64_t now_ms);

  std::size_t tracked() const { return windows_.size(); }

 private:
  struct Window {
    std::uint64_t opened_ms = 0;
    std::uint64_t held = 0;  ///< events not logged since opened_ms
  };

  Options options_;
  SourceTable<Window> windows_;  ///< touched when a line is logged: oldest window last
};

}  // namespace mtop::auth
