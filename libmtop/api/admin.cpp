// mtop/admin.hpp over the internal layers: auth::hash_password, tls::generate_self_signed and
// the store::UserAdmin of store_factory.hpp (the users file and the databases alike).
#include "mtop/admin.hpp"

#include <utility>

#include "api/store_factory.hpp"
#include "auth/password_hash.hpp"
#include "mtop/server.hpp"
#include "tls/cert_gen.hpp"

namespace mtop {

Result<std::string> hash_password(std::string_view password, PasswordScheme scheme) {
  if (password.empty()) return Result<std::string>(Errc::invalid_argument, "empty password");
  auth::HashParams params;
  params.scheme = scheme == PasswordScheme::pbkdf2_sha256 ? auth::HashScheme::pbkdf2_sha256
                                                          : auth::HashScheme::scrypt;
  auto hash = auth::hash_password(password, params);
  if (!hash) {
    return Result<std::string>(
        hash.error(), "cannot hash the password: " + std::string(errc_message(hash.error())));
  }
  return hash;
}

Result<std::string> generate_self_signed_cert(const CertGenOptions& options) {
  return tls::generate_self_signed(options);
}

struct UserAdmin::Impl {
  std::unique_ptr<store::UserAdmin> admin;

  // The store admins say what went wrong in last_error(); the public API in the Result.
  Result<void> done(Result<void> r) const {
    if (r) return r;
    return Result<void>(r.error(), admin->last_error());
  }
  template <class T>
  Result<T> done(Result<T> r) const {
    if (r) return r;
    return Result<T>(r.error(), admin->last_error());
  }
};

Result<std::unique_ptr<UserAdmin>> UserAdmin::open(const UsersSource& source) {
  auto admin = open_store_admin(source);
  if (!admin) return admin.failure();
  auto impl = std::make_unique<Impl>();
  impl->admin = std::move(*admin);
  return std::unique_ptr<UserAdmin>(new UserAdmin(std::move(impl)));
}

UserAdmin::UserAdmin(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UserAdmin::~UserAdmin() = default;

Result<void> UserAdmin::init_schema() {
  return impl_->done(impl_->admin->init_schema());
}
Result<int> UserAdmin::migrate_schema() {
  return impl_->done(impl_->admin->migrate_schema());
}
Result<void> UserAdmin::add(const UserRecord& user) {
  return impl_->done(impl_->admin->add(user));
}
Result<void> UserAdmin::del(std::string_view username) {
  return impl_->done(impl_->admin->del(username));
}
Result<std::vector<UserRecord>> UserAdmin::list() {
  return impl_->done(impl_->admin->list());
}
Result<UserRecord> UserAdmin::get(std::string_view username) {
  return impl_->done(impl_->admin->get(username));
}
Result<void> UserAdmin::set_password_hash(std::string_view username, std::string_view phc) {
  return impl_->done(impl_->admin->set_password_hash(username, phc));
}
Result<void> UserAdmin::set_enabled(std::string_view username, bool enabled) {
  return impl_->done(impl_->admin->set_enabled(username, enabled));
}
Result<void> UserAdmin::set_quota(std::string_view username, std::optional<std::uint64_t> bytes,
                                  bool reset_used) {
  return impl_->done(impl_->admin->set_quota(username, bytes, reset_used));
}
Result<void> UserAdmin::set_rate_limit(std::string_view username,
                                       std::optional<std::uint64_t> bytes_per_second) {
  return impl_->done(impl_->admin->set_rate_limit(username, bytes_per_second));
}
Result<void> UserAdmin::set_max_tunnels(std::string_view username,
                                        std::optional<std::uint32_t> max_tunnels) {
  return impl_->done(impl_->admin->set_max_tunnels(username, max_tunnels));
}
Result<void> UserAdmin::set_expiry(std::string_view username,
                                   std::optional<std::int64_t> expires_at) {
  return impl_->done(impl_->admin->set_expiry(username, expires_at));
}
Result<void> UserAdmin::set_publish(std::string_view username, std::string_view grants) {
  return impl_->done(impl_->admin->set_publish(username, grants));
}

}  // namespace mtop
