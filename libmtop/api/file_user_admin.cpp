#include "api/file_user_admin.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "auth/publish_grants.hpp"
#include "auth/users_file.hpp"

namespace mtop {

namespace {

using auth::UserRecord;

class FileUserAdmin final : public store::UserAdmin {
 public:
  explicit FileUserAdmin(std::string path) : path_(std::move(path)) {}

  Result<void> load() {
    std::ifstream in(path_);
    if (!in) return {};  // no file yet: no users
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = auth::parse_users_file(text.str());
    if (!parsed) return Failure{parsed.error(), path_ + ": " + std::string(parsed.message())};
    users_ = std::move(*parsed);
    return {};
  }

  Result<void> init_schema() override { return save(); }
  Result<int> migrate_schema() override {  // a file has no schema to upgrade
    error_.clear();
    return kUserSchemaVersion;
  }

  Result<void> add(const UserRecord& user) override {
    if (user.username.empty() || user.username.size() > 255)
      return fail(Errc::invalid_argument, "username must be 1-255 bytes");
    if (find(user.username))
      return fail(Errc::store_duplicate_user, "user " + user.username + " exists");
    if (auto r = check_publish(user.publish); !r) return r;
    users_.push_back(user);
    return save();
  }
  Result<void> del(std::string_view name) override {
    auto it = std::find_if(users_.begin(), users_.end(),
                           [&](const UserRecord& u) { return u.username == name; });
    if (it == users_.end()) return no_such(name);
    users_.erase(it);
    return save();
  }
  Result<std::vector<UserRecord>> list() override {
    auto sorted = users_;
    std::sort(sorted.begin(), sorted.end(),
              [](const UserRecord& a, const UserRecord& b) { return a.username < b.username; });
    error_.clear();
    return sorted;
  }
  Result<UserRecord> get(std::string_view name) override {
    if (auto* u = find(name)) {
      error_.clear();
      return *u;
    }
    return no_such(name).error();
  }
  Result<void> set_password_hash(std::string_view name, std::string_view phc) override {
    return change(name, [&](UserRecord& u) { u.password_hash = std::string(phc); });
  }
  Result<void> set_enabled(std::string_view name, bool enabled) override {
    return change(name, [&](UserRecord& u) { u.enabled = enabled; });
  }
  Result<void> set_quota(std::string_view name, std::optional<std::uint64_t> bytes,
                         bool reset_used) override {
    return change(name, [&](UserRecord& u) {
      u.quota_bytes = bytes;
      if (reset_used) u.used_bytes = 0;
    });
  }
  Result<void> set_rate_limit(std::string_view name, std::optional<std::uint64_t> bps) override {
    return change(name, [&](UserRecord& u) { u.rate_limit = bps; });
  }
  Result<void> set_max_tunnels(std::string_view name, std::optional<std::uint32_t> n) override {
    return change(name, [&](UserRecord& u) { u.max_tunnels = n; });
  }
  Result<void> set_expiry(std::string_view name, std::optional<std::int64_t> at) override {
    return change(name, [&](UserRecord& u) { u.expires_at = at; });
  }
  Result<void> set_publish(std::string_view name, std::string_view grants) override {
    if (auto r = check_publish(grants); !r) return r;
    return change(name, [&](UserRecord& u) { u.publish = std::string(grants); });
  }
  const std::string& last_error() const override { return error_; }

 private:
  UserRecord* find(std::string_view name) {
    for (auto& u : users_) {
      if (u.username == name) return &u;
    }
    return nullptr;
  }
  template <class F>
  Result<void> change(std::string_view name, F&& f) {
    UserRecord* u = find(name);
    if (!u) return no_such(name);
    f(*u);
    return save();
  }
  Result<void> fail(Errc e, std::string message) {
    error_ = std::move(message);
    return e;
  }
  // The file is read back with the same check (parse_users_file): what we write, we can load.
  Result<void> check_publish(std::string_view grants) {
    if (auto g = auth::PublishGrants::parse(grants); !g)
      return fail(Errc::invalid_argument, std::string(g.message()));
    return {};
  }
  Result<void> no_such(std::string_view name) {
    return fail(Errc::store_no_such_user, "no user " + std::string(name));
  }

  Result<void> save() {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& u : users_) {
      nlohmann::json j = {{"username", u.username}, {"password", u.password_hash}};
      if (!u.enabled) j["enabled"] = false;
      if (u.expires_at) j["expires_at"] = *u.expires_at;
      if (u.max_tunnels) j["max_tunnels"] = *u.max_tunnels;
      if (u.quota_bytes) j["quota_bytes"] = *u.quota_bytes;
      if (u.rate_limit) j["rate_limit"] = *u.rate_limit;
      if (!u.publish.empty()) j["publish"] = u.publish;
      arr.push_back(std::move(j));
    }
    const std::string text = nlohmann::json{{"users", arr}}.dump(2) + "\n";
    const std::string tmp = path_ + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return fail(Errc::store_query_failed, "cannot write " + tmp);
    // The new file replaces the old one: it keeps the old one's owner, group and mode, so that
    // `mtop-server user add` run as root leaves the file readable by the service's group
    // (/etc/mtop/users.json is root:mtop 0640 in the package). A new file is 0600.
    struct stat old_file {};
    if (::stat(path_.c_str(), &old_file) == 0) {
      if (::fchown(fd, old_file.st_uid, old_file.st_gid) != 0 && errno != EPERM) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return fail(Errc::store_query_failed, "cannot give " + tmp + " the owner of " + path_);
      }
      if (::fchmod(fd, old_file.st_mode & 07777) != 0) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return fail(Errc::store_query_failed, "cannot give " + tmp + " the mode of " + path_);
      }
    }
    size_t off = 0;
    while (off < text.size()) {
      const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
      if (n <= 0) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return fail(Errc::store_query_failed, "cannot write " + tmp);
      }
      off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0 || std::rename(tmp.c_str(), path_.c_str()) != 0) {
      ::unlink(tmp.c_str());
      return fail(Errc::store_query_failed, "cannot replace " + path_);
    }
    error_.clear();
    return {};
  }

  std::string path_;
  std::vector<UserRecord> users_;
  std::string error_;
};

}  // namespace

Result<std::unique_ptr<store::UserAdmin>> open_file_user_admin(const std::string& path) {
  auto admin = std::make_unique<FileUserAdmin>(path);
  if (auto r = admin->load(); !r) return r.failure();
  return std::unique_ptr<store::UserAdmin>(std::move(admin));
}

}  // namespace mtop
