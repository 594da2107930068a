// SharedLimits: what the server's workers decide together. With `workers` > 1 each worker
// runs its own ServerEngine on its own loop and thread; the limits a client or a user must
// not escape by landing on another worker live here, behind one mutex: the admission policy
// (source lists, live tunnels per address and subnet, the source rate, its counters and log
// gate), the failure throttle, the live tunnels of the whole server (max_tunnels) and of each
// user (a user's max_tunnels), each user's bandwidth gate (a user's rate_limit, one RateGate
// per user with live tunnels on any worker), and what the reverse tunnels' hubs share
// (reverse_share.hpp: public ports, ATTACH tokens). A single-worker server has one of its own,
// uncontended.
//
// Every call is short (a map look-up under the lock) and safe from any thread. Time comes in
// as an argument, as the policies it wraps take it (each worker's uv_now()); the rate gates,
// which every worker asks about every chunk, read a clock all workers share (RateGate::Clock,
// their own lock).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "auth/failure_throttle.hpp"
#include "auth/ip_prefix.hpp"
#include "engine/admission.hpp"
#include "engine/reverse_share.hpp"
#include "engine/server_rate_gate.hpp"
#include "mtop/log.hpp"
#include "mtop/result.hpp"
#include "mtop/server.hpp"

namespace mtop {

class SharedLimits {
 public:
  /// The users' rate gates run on RateGate::monotonic_ms().
  explicit SharedLimits(const ServerOptions& options);
  /// The same with `clock` for the rate gates (tests).
  SharedLimits(const ServerOptions& options, RateGate::Clock clock);
  SharedLimits(const SharedLimits&) = delete;
  SharedLimits& operator=(const SharedLimits&) = delete;

  /// AdmissionPolicy::configure for every worker at once; a changed failure throttle starts
  /// afresh. Called by each worker's engine on a reload with the same options: the second
  /// call finds nothing changed.
  Result<void> configure(const ServerOptions& options);

  // The admission policy (admission.hpp), under the lock.
  std::optional<AdmissionPolicy::Refusal> check_source(const auth::IpAddress& source) const;
  std::optional<AdmissionPolicy::Refusal> admit(const auth::IpAddress& source, std::uint64_t now_ms,
                                                AdmissionPolicy::Ticket& ticket);
  void release(const AdmissionPolicy::Ticket& ticket);
  void count(AdmissionRule rule);
  std::array<std::uint64_t, kAdmissionRuleCount> counts() const;
  void report(const auth::IpAddress& source, const AdmissionPolicy::Refusal& refusal,
              std::uint64_t now_ms, const Logger& log);

  // The failure throttle (failure_throttle.hpp), under the lock.
  bool allowed(const auth::IpAddress& source, std::uint64_t now_ms);
  void record_failure(const auth::IpAddress& source, std::uint64_t now_ms);
  void record_success(const auth::IpAddress& source);

  /// Takes one of the server's `max` live tunnels; false (nothing taken) when all are live.
  bool take_tunnel(std::size_t max);
  void release_tunnel();
  /// Takes one of `user`'s live tunnels, unless `max` are live already (then null and `live`
  /// says how many); no `max`: no limit. Returns the user's rate gate, shared by all their
  /// tunnels on every worker: made (with no limit; the caller sets the rate) with the user's
  /// first live tunnel, dropped here with their last.
  std::shared_ptr<RateGate> take_user_tunnel(const std::string& user,
                                             std::optional<std::uint32_t> max, std::size_t& live);
  void release_user_tunnel(const std::string& user);
  /// Users with live authorised tunnels on any worker.
  std::size_t active_users() const;
  /// The reverse tunnels' share (locks itself).
  ReverseShare& reverse() noexcept { return reverse_; }

 private:
  mutable std::mutex mu_;
  AdmissionPolicy admission_;
  auth::FailureThrottle::Options throttle_options_;
  auth::FailureThrottle throttle_;
  std::size_t live_ = 0;
  struct UserTunnels {
    std::size_t live = 0;
    std::shared_ptr<RateGate> gate;
  };
  RateGate::Clock clock_;                               ///< for new rate gates
  std::unordered_map<std::string, UserTunnels> users_;  ///< entries only while live > 0
  ReverseShare reverse_;
};

}  // namespace mtop
