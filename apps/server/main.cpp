// mtop-server: the command line. Everything with protocol or I/O lives in libmtop behind its
// public API (mtop/server.hpp, mtop/admin.hpp); this file only parses flags and dispatches to
// run_server() and the small admin tools.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>

#include "../common/guarded_main.hpp"
#include "ctl.hpp"
#include "../common/sip003.hpp"
#include "mtop/admin.hpp"
#include "mtop/server.hpp"
#include "mtop/version.hpp"
#include "password_input.hpp"
#include "plugin_config.hpp"
#include "run_server.hpp"

namespace {

using namespace mtop;
using namespace mtop::server;

int fail(const std::string& message) {
  std::fprintf(stderr, "mtop-server: %s\n", message.c_str());
  return 1;
}

std::optional<std::string> make_hash(const std::string& scheme) {
  std::string password, error;
  if (!read_new_password(password, error)) {
    fail(error);
    return std::nullopt;
  }
  auto hash = hash_password(
      password, scheme == "pbkdf2" ? PasswordScheme::pbkdf2_sha256 : PasswordScheme::scrypt);
  std::fill(password.begin(), password.end(), '\0');
  if (!hash) {
    fail(std::string(hash.message()));
    return std::nullopt;
  }
  return *hash;
}

std::unique_ptr<UserAdmin> open_admin(const std::string& config_path) {
  auto config = load_server_config(config_path);
  if (!config) {
    fail(std::string(config.message()));
    return nullptr;
  }
  auto admin = UserAdmin::open(config->users);
  if (!admin) {
    fail("users: " + std::string(admin.message()));
    return nullptr;
  }
  return std::move(*admin);
}

int admin_result(const Result<void>& r, const std::string& done) {
  if (!r) return fail(std::string(r.message()));
  std::printf("%s\n", done.c_str());
  return 0;
}

std::string optional_text(const std::optional<std::uint64_t>& v) {
  return v ? std::to_string(*v) : "-";
}

/// Publish grants as typed: "none" (like `quota none`) is the empty text.
std::string grants_text(const std::string& typed) {
  return typed == "none" ? std::string() : typed;
}

}  // namespace

namespace {
int run(int argc, char** argv) {
  CLI::App app{
      "mtop-server: the MTop secure TCP proxy server.\n"
      "Accepts tunnels from climbers over TLS 1.3 (TCP) and QUIC (UDP) on the same port,\n"
      "checks the user, connects to the target (private and loopback targets are refused unless\n"
      "allowed in the config) and relays bytes both ways, on one worker thread per core unless\n"
      "the config's \"workers\" says otherwise (docs/CONFIG.md, \"Workers\").\n"
      "Climbers may also publish ports of the server (reverse tunnels, climber -R): the ports a\n"
      "user's \"publish\" field grants, none by default (user add --publish, docs/USERS.md).\n\n"
      "  mtop-server --config /etc/mtop/server.json     run the server\n"
      "  mtop-server gen-cert --name proxy.example.com  write a self-signed certificate + key\n"
      "  mtop-server passwd < pwfile                    print a password hash for a users file\n"
      "  mtop-server user --config F add alice          add a user (password from stdin)\n"
      "  mtop-server ctl --config F tunnels             ask a running server (admin API)\n\n"
      "Started by ss-server as a SIP003 plugin (SS_REMOTE_HOST etc. set), it takes its options\n"
      "from --plugin-opts: cert, key, users (or config=server.json), fallback, quic, log_level;\n"
      "see docs/SHADOWSOCKS.md.\n",
      "mtop-server"};
  app.set_version_flag("--version", "mtop-server " + std::string(mtop::version()));
  app.require_subcommand(0, 1);
  app.fallthrough();

  std::string config_path;
  std::string log_level;
  bool check_only = false;
  app.add_option("-c,--config", config_path, "JSON config file (see docs/CONFIG.md)");
  app.add_option("--log-level", log_level, "debug, info, warn, error or off (overrides the config)");
  app.add_flag("--check", check_only, "validate the config file and exit");

  std::string scheme = "scrypt";
  auto* passwd = app.add_subcommand(
      "passwd", "read a password from stdin (or a prompt) and print its hash for a users file");
  passwd->add_option("--scheme", scheme, "scrypt (default) or pbkdf2")
      ->check(CLI::IsMember({"scrypt", "pbkdf2"}));

  CertGenOptions cert;
  cert.cert_path = "cert.pem";
  cert.key_path = "key.pem";
  auto* gen_cert = app.add_subcommand(
      "gen-cert", "write a self-signed ECDSA P-256 certificate and key; climbers then trust it "
                  "with their 'ca' option (or pin it)");
  gen_cert->add_option("--name", cert.name, "the server's DNS name (or IP) climbers connect to")
      ->required();
  gen_cert->add_option("--ip", cert.ips, "an extra IP address for the certificate (repeatable)");
  gen_cert->add_option("--cert", cert.cert_path, "certificate file to write (default cert.pem)");
  gen_cert->add_option("--key", cert.key_path, "key file to write, mode 0600 (default key.pem)");
  gen_cert->add_option("--days", cert.valid_days, "validity in days (default 3650)")
      ->check(CLI::Range(1, 36500));
  gen_cert->add_flag("--force", cert.overwrite, "overwrite existing files");

  auto* user = app.add_subcommand(
      "user", "manage users in the store the config names (file, sqlite, postgres, mysql); "
              "passwords come from stdin or a prompt, never from the command line");
  user->require_subcommand(1);
  std::string name;
  bool add_disabled = false;
  std::optional<std::int64_t> expires;
  std::optional<std::uint32_t> max_tunnels;
  std::optional<std::uint64_t> quota, rate;
  std::string quota_text;
  std::string publish;
  bool reset_used = false;
  auto* u_add = user->add_subcommand("add", "add a user (password from stdin or a prompt)");
  u_add->add_option("name", name, "user name")->required();
  u_add->add_flag("--disabled", add_disabled, "add the user disabled");
  u_add->add_option("--expires", expires, "expiry time, Unix seconds");
  u_add->add_option("--max-tunnels", max_tunnels, "concurrent tunnels allowed (per server)");
  u_add->add_option("--quota", quota, "byte quota, up + down");
  u_add->add_option("--rate", rate, "bandwidth limit, bytes per second each way");
  u_add->add_option("--publish", publish,
                    "public binds for reverse tunnels, e.g. \"8000-8099\" (docs/USERS.md)");
  u_add->add_option("--scheme", scheme, "scrypt (default) or pbkdf2")
      ->check(CLI::IsMember({"scrypt", "pbkdf2"}));
  auto* u_del = user->add_subcommand("del", "delete a user");
  u_del->add_option("name", name)->required();
  auto* u_list = user->add_subcommand("list", "list users (never their hashes)");
  auto* u_passwd = user->add_subcommand("passwd", "set a user's password (stdin or a prompt)");
  u_passwd->add_option("name", name)->required();
  auto* u_enable = user->add_subcommand("enable", "enable a user");
  u_enable->add_option("name", name)->required();
  auto* u_disable = user->add_subcommand("disable", "disable a user (live tunnels close soon)");
  u_disable->add_option("name", name)->required();
  auto* u_quota = user->add_subcommand("quota", "set a byte quota (or 'none')");
  u_quota->add_option("name", name)->required();
  u_quota->add_option("bytes", quota_text, "bytes, or none")->required();
  u_quota->add_flag("--reset", reset_used, "also reset the bytes used to 0");
  auto* u_publish = user->add_subcommand(
      "publish", "set the public binds a user may publish with reverse tunnels (or 'none')");
  u_publish->add_option("name", name)->required();
  u_publish
      ->add_option("grants", publish,
                   "e.g. \"8000-8099\" or \"*:2222, 192.0.2.10:443\" (docs/USERS.md), or none")
      ->required();

  auto* db = app.add_subcommand("db", "database maintenance");
  db->require_subcommand(1);
  auto* db_init = db->add_subcommand("init", "create the users table if it is missing");
  auto* db_migrate = db->add_subcommand(
      "migrate",
      "upgrade a users database made by an older mtop-server (back it up first); "
      "running it again changes nothing");

  CLI::App* ctl = nullptr;
  const std::function<int()> run_ctl = add_ctl(app, ctl);

  CLI11_PARSE(app, argc, argv);

  if (ctl->parsed()) return run_ctl();

  if (passwd->parsed()) {
    auto hash = make_hash(scheme);
    if (!hash) return 1;
    std::printf("%s\n", hash->c_str());
    return 0;
  }
  if (gen_cert->parsed()) {
    auto fingerprint = generate_self_signed_cert(cert);
    if (!fingerprint) return fail("gen-cert: " + std::string(fingerprint.message()));
    std::printf("wrote %s and %s\nSHA-256 fingerprint: %s\n", cert.cert_path.c_str(),
                cert.key_path.c_str(), fingerprint->c_str());
    return 0;
  }
  if (config_path.empty() && app::started_as_plugin() && !user->parsed() && !db->parsed()) {
    // ss-server's child (docs/SHADOWSOCKS.md): everything comes from its variables.
    auto env = app::read_plugin_env();
    auto config = env ? plugin_config(*env) : Result<ServerConfig>(env.failure());
    if (!config) {
      std::fprintf(stderr, "mtop-server (SIP003 plugin): %s\n",
                   std::string(config.message()).c_str());
      return app::kPluginUsageExit;
    }
    if (!log_level.empty() && !parse_log_level(log_level, config->log_level)) {
      return fail("--log-level: one of debug, info, warn, error, off");
    }
    if (!app::exit_with_parent()) return fail("SIP003 plugin: the shadowsocks parent is gone");
    return run_server(*config, StartedFrom{});
  }
  if (config_path.empty()) return fail("--config FILE is required (see --help)");

  if (user->parsed() || db->parsed()) {
    auto admin = open_admin(config_path);
    if (!admin) return 1;
    if (db_init->parsed()) return admin_result(admin->init_schema(), "schema ready");
    if (db_migrate->parsed()) {
      auto from = admin->migrate_schema();
      if (!from) return fail(std::string(from.message()));
      const std::string now = std::to_string(kUserSchemaVersion);
      std::printf(
          "%s\n",
          *from == kUserSchemaVersion
              ? ("schema is at version " + now + " already: nothing to do").c_str()
              : ("schema upgraded from version " + std::to_string(*from) + " to " + now).c_str());
      return 0;
    }
    if (u_add->parsed()) {
      auto hash = make_hash(scheme);
      if (!hash) return 1;
      UserRecord rec;
      rec.username = name;
      rec.password_hash = *hash;
      rec.enabled = !add_disabled;
      rec.expires_at = expires;
      rec.max_tunnels = max_tunnels;
      rec.quota_bytes = quota;
      rec.rate_limit = rate;
      rec.publish = grants_text(publish);
      return admin_result(admin->add(rec), "added " + name);
    }
    if (u_del->parsed()) return admin_result(admin->del(name), "deleted " + name);
    if (u_passwd->parsed()) {
      auto hash = make_hash(scheme);
      if (!hash) return 1;
      return admin_result(admin->set_password_hash(name, *hash), "password set for " + name);
    }
    if (u_enable->parsed()) return admin_result(admin->set_enabled(name, true), "enabled " + name);
    if (u_disable->parsed())
      return admin_result(admin->set_enabled(name, false), "disabled " + name);
    if (u_quota->parsed()) {
      std::optional<std::uint64_t> q;
      if (quota_text != "none") {
        try {
          size_t used = 0;
          q = std::stoull(quota_text, &used);
          if (used != quota_text.size()) throw std::invalid_argument("x");
        } catch (const std::exception&) {
          return fail("quota: a number of bytes, or none");
        }
      }
      return admin_result(admin->set_quota(name, q, reset_used), "quota set for " + name);
    }
    if (u_publish->parsed()) {
      const std::string grants = grants_text(publish);
      return admin_result(admin->set_publish(name, grants), grants.empty()
                                                                ? "no publish grants for " + name
                                                                : "publish grants set for " + name);
    }
    if (u_list->parsed()) {
      auto users = admin->list();
      if (!users) return fail(std::string(users.message()));
      std::printf("%-24s %-8s %-12s %-8s %-14s %-14s %-14s %s\n", "user", "enabled", "expires",
                  "tunnels", "quota", "used", "rate", "publish");
      for (const auto& u : *users) {
        std::printf(
            "%-24s %-8s %-12s %-8s %-14s %-14llu %-14s %s\n", u.username.c_str(),
            u.enabled ? "yes" : "no", u.expires_at ? std::to_string(*u.expires_at).c_str() : "-",
            u.max_tunnels ? std::to_string(*u.max_tunnels).c_str() : "-",
            optional_text(u.quota_bytes).c_str(), static_cast<unsigned long long>(u.used_bytes),
            optional_text(u.rate_limit).c_str(), u.publish.empty() ? "-" : u.publish.c_str());
      }
      return 0;
    }
    return fail("nothing to do (see --help)");
  }

  auto loaded = load_server_config(config_path);
  if (!loaded) return fail(std::string(loaded.message()));
  ServerConfig& config = *loaded;
  if (!log_level.empty() && !parse_log_level(log_level, config.log_level)) {
    return fail("--log-level: one of debug, info, warn, error, off");
  }
  if (check_only) {
    std::printf("%s: OK\n", config_path.c_str());
    return 0;
  }
  return run_server(config, StartedFrom{config_path, log_level});
}

}  // namespace

int main(int argc, char** argv) {
  return mtop::app::guarded_main("mtop-server", run, argc, argv);
}
