// UsersFileStore: the UserStore behind a JSON users file (docs/USERS.md).
//
// Theory of operation: the file is read and validated once when the store is opened — a
// broken file is a start-up error. A repeating uv timer then stat()s the path and compares
// (device, inode, size, mtime, ctime) with the file last read, so an editor's in-place save
// and an atomic rename both count as changes, and a change made between the first read and
// the first check is not missed. On a change the file is read and validated again, and only
// a valid file replaces the users in memory. A broken or vanished file keeps the previous
// users and is reported once through on_error, so the server goes on with the last good
// list. The stat and the read happen on the loop thread (a local stat is microseconds; the
// file is capped at kMaxUsersFileSize and read only when it changed).
//
// lookup() queues the question and answers it from a zero-delay uv timer, so the callback
// never runs inside lookup(). add_usage() counts in memory only (the file is never written);
// counters survive reloads for users still in the file. Destroying the store drops queued
// lookups without calling their callbacks (like dropping a ConnectAttempt). All calls on the
// loop's thread.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/user_store.hpp"
#include "mtop/result.hpp"
#include "uv/handle.hpp"

namespace mtop::auth {

class UsersFileStore final : public UserStore {
 public:
  struct Options {
    std::uint64_t poll_interval_ms = 2'000;  ///< how often the file is stat()ed
    /// A reload failed (message names the file and the problem); the old users stay.
    std::function<void(std::string_view error)> on_error;
    /// A reload succeeded; `users` is the new number of users.
    std::function<void(std::size_t users)> on_reload;
  };

  /// Loads `path` and starts watching it. The loop must outlive the store. Errors:
  /// invalid_argument (the file's content: "users.json: line 3, column 7: ..."),
  /// system_error (it cannot be read: "users.json: No such file or directory").
  static Result<std::unique_ptr<UsersFileStore>> open(uv_loop_t* loop, std::string path,
                                                      Options options);

  ~UsersFileStore() override;
  UsersFileStore(const UsersFileStore&) = delete;
  UsersFileStore& operator=(const UsersFileStore&) = delete;

  void lookup(std::string_view username, LookupCallback cb) override;
  void add_usage(std::string_view username, std::uint64_t bytes) override;
  std::string_view kind() const override { return "file"; }

  /// Reads and validates the file now, as a detected change would. On success the users are
  /// replaced; on failure the old users stay. Errors as open().
  Result<void> reload();

  std::size_t user_count() const { return users_.size(); }
  const std::string& path() const { return path_; }

 private:
  UsersFileStore(std::string path, Options options);
  /// What identifies one version of the file: compared on every tick.
  struct Signature {
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t mtime_sec = 0, mtime_nsec = 0, ctime_sec = 0, ctime_nsec = 0;
    int error = 0;  ///< errno of a failed stat (0 = the stat worked)
    friend bool operator==(const Signature&, const Signature&) = default;
  };
  static Signature signature_of(const char* path);
  static void on_check(uv_timer_t* timer);
  void check();
  Result<void> reload_with(Signature& seen);
  static void on_answer(uv_timer_t* timer);
  void answer_pending();

  std::string path_;
  Options options_;
  std::unordered_map<std::string, UserRecord> users_;
  std::unordered_map<std::string, std::uint64_t> usage_;
  std::vector<std::pair<std::string, LookupCallback>> pending_;
  Signature loaded_;  ///< of the last version read (valid or not): no reload until it changes
  io::UvHandle<uv_timer_t> check_timer_;
  io::UvHandle<uv_timer_t> answer_timer_;
  /// Shared with a running answer_pending(), which stops if a callback destroyed the store.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mtop::auth
