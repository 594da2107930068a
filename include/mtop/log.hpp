// Logger: where the engines write what happens. The library owns no global logger and no
// output stream: an application hands the engines a Logger whose sink it chooses (stderr in
// mtop-server and climber, a vector in tests). Messages never contain passwords.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "mtop/export.hpp"

namespace mtop {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

/// "debug", "info", "warn", "error", "off".
MTOP_CPP_API std::string_view log_level_name(LogLevel level) noexcept;
/// Parses a level name; false if unknown.
MTOP_CPP_API bool parse_log_level(std::string_view name, LogLevel& out) noexcept;

class MTOP_CPP_API Logger {
 public:
  using Sink = std::function<void(LogLevel, std::string_view)>;

  Logger() = default;  ///< logs nothing
  /// Out of line: the shared level is made inside libmtop_cpp, so that programs and the C
  /// library instantiate (and export) no std::make_shared machinery of their own.
  Logger(LogLevel min_level, Sink sink);

  bool enabled(LogLevel level) const noexcept {
    return sink_ && min_ && level >= min_->load(std::memory_order_relaxed);
  }
  /// The lowest level written. A Logger and its copies share it: set_level (from any thread)
  /// changes what every copy writes, e.g. the copies the engines keep (Server::reload).
  LogLevel level() const noexcept {
    return min_ ? min_->load(std::memory_order_relaxed) : LogLevel::off;
  }
  void set_level(LogLevel level) noexcept {
    if (min_) min_->store(level, std::memory_order_relaxed);
  }
  void log(LogLevel level, std::string_view message) const {
    if (enabled(level)) sink_(level, message);
  }
  void debug(std::string_view m) const { log(LogLevel::debug, m); }
  void info(std::string_view m) const { log(LogLevel::info, m); }
  void warn(std::string_view m) const { log(LogLevel::warn, m); }
  void error(std::string_view m) const { log(LogLevel::error, m); }

 private:
  std::shared_ptr<std::atomic<LogLevel>> min_;  ///< null only with no sink
  Sink sink_;
};

/// A sink writing "2026-11-21T21:19:51.123Z info  message" lines to stderr, one write per line.
MTOP_CPP_API Logger::Sink stderr_sink();

}  // namespace mtop
