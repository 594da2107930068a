#include "mtop/log.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <utility>

namespace mtop {

std::string_view log_level_name(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    case LogLevel::off: return "off";
  }
  return "?";
}

bool parse_log_level(std::string_view name, LogLevel& out) noexcept {
  for (auto l : {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error, LogLevel::off}) {
    if (name == log_level_name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

Logger::Logger(LogLevel min_level, Sink sink)
    : min_(std::make_shared<std::atomic<LogLevel>>(min_level)), sink_(std::move(sink)) {}

Logger::Sink stderr_sink() {
  return [](LogLevel level, std::string_view message) {
    using namespace std::chrono;
    const auto now = system_clock::now();
    const std::time_t secs = system_clock::to_time_t(now);
    const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string line;
    line.reserve(message.size() + 48);
    char head[64];
    std::snprintf(head, sizeof head, "%s.%03dZ %-5s ", stamp, static_cast<int>(ms),
                  log_level_name(level).data());
    line += head;
    line += message;
    line += '\n';
    // One write() per line so lines from several processes sharing stderr do not interleave.
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(STDERR_FILENO, p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<size_t>(n);
    }
  };
}

}  // namespace mtop
