// Percentiles over latency samples, and errno tallies for failure reports.
#pragma once

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace mtop::bench {

/// Nearest-rank percentile (p in [0, 100]) of samples sorted ascending; 0 if empty.
inline double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  return sorted[static_cast<std::size_t>(rank + 0.5)];
}

/// Counts failures by cause; 0 stands for "peer closed early", negative for our own checks.
class FailureTally {
 public:
  static constexpr int kClosed = 0;
  static constexpr int kMismatch = -1;
  static constexpr int kTimeout = -2;

  void add(int cause) {
    ++by_cause_[cause];
    ++total_;
  }
  std::size_t total() const { return total_; }

  /// "ECONNREFUSED:3,closed:1" style summary; "none" when empty.
  std::string summary() const {
    if (by_cause_.empty()) return "none";
    std::string out;
    for (const auto& [cause, n] : by_cause_) {
      if (!out.empty()) out += ',';
      out += name(cause) + ':' + std::to_string(n);
    }
    return out;
  }

 private:
  static std::string name(int cause) {
    if (cause == kClosed) return "closed";
    if (cause == kMismatch) return "mismatch";
    if (cause == kTimeout) return "timeout";
    if (const char* n = strerrorname_np(cause)) return n;
    return "errno" + std::to_string(cause);
  }

  std::map<int, std::size_t> by_cause_;
  std::size_t total_ = 0;
};

}  // namespace mtop::bench
