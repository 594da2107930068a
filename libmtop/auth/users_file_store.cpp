#include "auth/users_file_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "auth/users_file.hpp"

namespace mtop::auth {

namespace {

// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

template <class Sig>
void fill_signature(const struct stat& st, Sig& sig) {
  sig.dev = st.st_dev;
  sig.ino = st.st_ino;
  sig.size = static_cast<std::uint64_t>(st.st_size);
  sig.mtime_sec = st.st_mtim.tv_sec;
  sig.mtime_nsec = st.st_mtim.tv_nsec;
  sig.ctime_sec = st.st_ctim.tv_sec;
  sig.ctime_nsec = st.st_ctim.tv_nsec;
  sig.error = 0;
}

// Reads a whole regular file of at most kMaxUsersFileSize bytes. `sig` describes the file
// as it was before reading: a write during the read changes it, and the next check reloads.
template <class Sig>
Result<std::string> read_file(const std::string& path, Sig& sig) {
  auto fail = [&](std::string why) { return Failure{Errc::system_error, path + ": " + why}; };
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (f.fd < 0) {
    sig = Sig{};
    sig.error = errno;
    return fail(std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    sig = Sig{};
    sig.error = errno;
    return fail(std::strerror(errno));
  }
  fill_signature(st, sig);
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(std::strerror(errno));
    }
    if (n == 0) return out;
    // Checked while reading, not from st_size: the file may grow under us.
    if (out.size() + static_cast<std::size_t>(n) > kMaxUsersFileSize) {
      return fail("file larger than " + std::to_string(kMaxUsersFileSize) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

Result<std::unique_ptr<UsersFileStore>> UsersFileStore::open(uv_loop_t* loop, std::string path,
                                                             Options options) {
  std::unique_ptr<UsersFileStore> store(new UsersFileStore(std::move(path), std::move(options)));
  if (auto r = store->reload(); !r) return r.failure();

  for (auto* slot : {&store->answer_timer_, &store->check_timer_}) {
    auto timer = io::UvHandle<uv_timer_t>::make();
    if (int rc = uv_timer_init(loop, timer.get()); rc != 0) {
      timer.release_uninitialised();
      return Failure{Errc::system_error, std::string("uv_timer_init: ") + uv_strerror(rc)};
    }
    timer->data = store.get();
    *slot = std::move(timer);
  }
  const std::uint64_t interval =
      std::clamp<std::uint64_t>(store->options_.poll_interval_ms, 1, 3'600'000);
  uv_timer_start(store->check_timer_.get(), &UsersFileStore::on_check, interval, interval);
  // Watching the file alone must not keep the loop running once everything else has stopped.
  uv_unref(store->check_timer_.handle());
  return store;
}

UsersFileStore::UsersFileStore(std::string path, Options options)
    : path_(std::move(path)), options_(std::move(options)) {}

UsersFileStore::~UsersFileStore() { *alive_ = false; }

UsersFileStore::Signature UsersFileStore::signature_of(const char* path) {
  Signature sig;
  struct stat st {};
  if (::stat(path, &st) != 0) {
    sig.error = errno;
    return sig;
  }
  fill_signature(st, sig);
  return sig;
}

Result<void> UsersFileStore::reload() {
  Signature seen;
  auto r = reload_with(seen);
  loaded_ = seen;
  return r;
}

Result<void> UsersFileStore::reload_with(Signature& seen) {
  auto text = read_file(path_, seen);
  if (!text) return text.failure();
  auto parsed = parse_users_file(*text);
  if (!parsed) return Failure{parsed.error(), path_ + ": " + std::string(parsed.message())};
  std::unordered_map<std::string, UserRecord> users;
  std::unordered_map<std::string, std::uint64_t> usage;
  for (auto& u : *parsed) {
    // Usage counted so far carries over for users that are still there.
    if (auto it = usage_.find(u.username); it != usage_.end()) usage.emplace(*it);
    std::string name = u.username;
    users.emplace(std::move(name), std::move(u));
  }
  users_ = std::move(users);
  usage_ = std::move(usage);
  return {};
}

void UsersFileStore::on_check(uv_timer_t* timer) {
  if (auto* self = static_cast<UsersFileStore*>(timer->data)) self->check();
}

void UsersFileStore::check() {
  const Signature now = signature_of(path_.c_str());
  if (now == loaded_) return;  // unchanged, or the same failure already reported
  if (now.error != 0) {
    loaded_ = now;
    if (options_.on_error) {
      options_.on_error(path_ + ": " + std::strerror(now.error) + " (keeping " +
                        std::to_string(users_.size()) + " users)");
    }
    return;
  }
  if (auto r = reload(); r) {
    if (options_.on_reload) options_.on_reload(users_.size());
  } else if (options_.on_error) {
    options_.on_error(std::string(r.message()) + " (keeping " + std::to_string(users_.size()) +
                      " users)");
  }
}

void UsersFileStore::lookup(std::string_view username, LookupCallback cb) {
  if (!cb) return;
  pending_.emplace_back(std::string(username), std::move(cb));
  if (pending_.size() == 1) uv_timer_start(answer_timer_.get(), &UsersFileStore::on_answer, 0, 0);
}

void UsersFileStore::on_answer(uv_timer_t* timer) {
  if (auto* self = static_cast<UsersFileStore*>(timer->data)) self->answer_pending();
}

void UsersFileStore::answer_pending() {
  // Callbacks may call lookup() again (queued for the next round) or destroy the store.
  auto batch = std::move(pending_);
  pending_.clear();
  const std::shared_ptr<bool> alive = alive_;
  for (auto& [name, cb] : batch) {
    if (!*alive) return;
    LookupResult r;
    if (const auto it = users_.find(name); it != users_.end()) {
      r.status = LookupStatus::found;
      r.user = it->second;
      if (const auto u = usage_.find(name); u != usage_.end()) r.user.used_bytes = u->second;
    }
    cb(std::move(r));
  }
}

void UsersFileStore::add_usage(std::string_view username, std::uint64_t bytes) {
  const std::string name(username);
  // Only known users are counted, so the map stays bounded by the users file.
  if (users_.find(name) == users_.end()) return;
  std::uint64_t& used = usage_[name];
  used = bytes > UINT64_MAX - used ? UINT64_MAX : used + bytes;
}

}  // namespace mtop::auth
