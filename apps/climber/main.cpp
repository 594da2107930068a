// climber: command line, signals and logging around mtop::Climber (include/mtop/climber.hpp),
// which does the work; the program uses nothing but the public API.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "../common/guarded_main.hpp"
#include "../common/process_loop.hpp"
#include "../common/sip003.hpp"
#include "mtop/climber.hpp"
#include "mtop/codec.hpp"
#include "mtop/fd_limit.hpp"
#include "mtop/log.hpp"
#include "mtop/version.hpp"
#include "plugin_config.hpp"

namespace {

constexpr const char* kFooter = R"(Examples:
  Run from a config file:
    climber --config /etc/mtop/climber.json
  SOCKS5 on 127.0.0.1:1080 and an HTTP proxy on 127.0.0.1:8080, password from a file:
    climber --server mtop://alice@vpn.example.com:443 --password-file ~/.mtop-pass \
            --socks 127.0.0.1:1080 --http 127.0.0.1:8080
  One port for both protocols (told apart by the first byte):
    climber --server mtop://alice@vpn.example.com --socks 127.0.0.1:1080 --http 127.0.0.1:1080
  Forward local port 5432 to db.internal:5432 as seen from the server, over QUIC:
    MTOP_PASSWORD=... climber --server mtop://alice@vpn.example.com --transport quic \
            -L 5432:db.internal:5432
  Self-signed server: trust its certificate file, or pin its key:
    climber --server mtop://alice@10.0.0.1 --ca server.crt --sni vpn.example.com --socks 127.0.0.1:1080
  Publish this machine's web server 127.0.0.1:80 on port 8080 of the server (a reverse
  tunnel; the server must grant alice that port: "publish" in its users, docs/USERS.md):
    climber --server mtop://alice@vpn.example.com --password-file ~/.mtop-pass \
            -R 8080:127.0.0.1:80

As a shadowsocks SIP003 plugin (started by ss-local with SS_REMOTE_HOST etc.), the options
come from --plugin-opts: user, password_file (or password), ca, sni, pin, insecure,
transport, target, log_level; see docs/SHADOWSOCKS.md.

The server password comes from, in order: --password-file, $MTOP_PASSWORD, the URI or the
config file. Avoid a password inside --server on the command line: every user of the machine
can read it with `ps`.
SIGINT/SIGTERM stop listening at once; live tunnels get timeouts.drain (5 s) to finish, then
the climber exits 0; a second signal ends them at once.)";

struct Flags {
  std::string config;
  std::string server;
  std::string socks;
  std::string http;
  std::vector<std::string> forwards;
  std::vector<std::string> reverses;
  std::string transport;
  std::string ca;
  std::string sni;
  std::string pin;
  bool insecure = false;
  std::string password_file;
  std::string local_user;
  std::string local_password_file;
  std::string log_level;
  bool check = false;
};

bool apply_flags(const Flags& f, const CLI::App& app, mtop::ClimberConfig& cfg,
                 bool& uri_password_on_cli, std::string& error) {
  if (!f.server.empty()) {
    auto parsed = mtop::parse_server_uri(f.server);
    if (!parsed) {
      error = "--server: " + std::string(parsed.message());
      return false;
    }
    mtop::ServerEndpoint ep = std::move(*parsed);
    uri_password_on_cli = !ep.password.empty();
    if (ep.password.empty()) ep.password = cfg.server.password;  // may come from the file
    cfg.server = std::move(ep);
  }
  auto& e = cfg.engine;
  if (app.count("--socks")) e.socks_listen = f.socks;
  if (app.count("--http")) e.http_listen = f.http;
  if (!f.forwards.empty()) {
    e.forwards.clear();
    for (const auto& spec : f.forwards) {
      auto r = mtop::parse_forward_rule(spec);
      if (!r) {
        error = "-L: " + std::string(r.message());
        return false;
      }
      e.forwards.push_back(std::move(*r));
    }
  }
  if (!f.reverses.empty()) {
    e.reverses.clear();
    for (const auto& spec : f.reverses) {
      auto r = mtop::parse_reverse_rule(spec);
      if (!r) {
        error = "-R: " + std::string(r.message());
        return false;
      }
      e.reverses.push_back(std::move(*r));
    }
  }
  if (!f.transport.empty() && !mtop::parse_transport(f.transport, cfg.server.transport)) {
    error = "--transport: tls, quic or auto";
    return false;
  }
  if (app.count("--ca")) cfg.server.ca_file = f.ca;
  if (app.count("--sni")) cfg.server.sni = f.sni;
  if (app.count("--pin")) cfg.server.pin = f.pin;
  if (f.insecure) cfg.server.insecure = true;
  if (!f.password_file.empty()) {
    auto secret = mtop::read_secret_file(f.password_file);
    if (!secret) {
      error = "--password-file: " + std::string(secret.message());
      return false;
    }
    cfg.server.password = std::move(*secret);
  } else if (const char* env = std::getenv("MTOP_PASSWORD"); env && *env) {
    cfg.server.password = env;
  }
  if (!f.local_user.empty() || !f.local_password_file.empty()) {
    if (f.local_user.empty() || f.local_password_file.empty()) {
      error = "--local-user and --local-password-file go together";
      return false;
    }
    e.local_username = f.local_user;
    auto secret = mtop::read_secret_file(f.local_password_file);
    if (!secret) {
      error = "--local-password-file: " + std::string(secret.message());
      return false;
    }
    e.local_password = std::move(*secret);
  }
  if (!f.log_level.empty() && !mtop::parse_log_level(f.log_level, cfg.log_level)) {
    error = "--log-level: one of debug, info, warn, error, off";
    return false;
  }
  if (cfg.server.host.empty()) {
    error = "no server: give --server mtop://USER@HOST[:PORT] or \"server\" in the config file";
    return false;
  }
  if (cfg.server.username.empty()) {
    error = "no username for the server (mtop://USER@HOST)";
    return false;
  }
  if (cfg.server.password.empty()) {
    error = "no password for the server: use --password-file, MTOP_PASSWORD or the config file";
    return false;
  }
  if (e.socks_listen.empty() && e.http_listen.empty() && e.forwards.empty() && e.reverses.empty()) {
    error = "nothing to serve: give at least one of --socks, --http, -L or -R";
    return false;
  }
  return true;
}

}  // namespace

namespace {
int run(int argc, char** argv) {
  // A write to a socket whose peer went away must fail with EPIPE, not kill the process
  // (libuv writes with write(2), which raises SIGPIPE).
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "climber: the local side of MTop. Offers a SOCKS5 proxy, an HTTP proxy and/or port-forwards\n"
      "on this machine and carries every connection to an MTop server in its own encrypted\n"
      "tunnel (TLS 1.3 over TCP, or QUIC). With -R it publishes a service of this machine on a\n"
      "port of the server (a reverse tunnel, like ssh -R).",
      "climber"};
  app.footer(kFooter);
  app.set_version_flag("--version", "climber " + std::string(mtop::version()));
  Flags f;
  app.add_option("--config", f.config,
                 "JSON config file (docs/CONFIG.md); flags given here override its values")
      ->check(CLI::ExistingFile);
  app.add_option("--server", f.server,
                 "server as mtop://USER[:PASS]@HOST[:PORT][?transport=..&sni=..&ca=..&pin=..]"
                 "  e.g. mtop://alice@vpn.example.com:443");
  app.add_option("--socks", f.socks, "SOCKS5 listen address HOST:PORT, e.g. 127.0.0.1:1080");
  app.add_option("--http", f.http,
                 "HTTP proxy listen address HOST:PORT, e.g. 127.0.0.1:8080 (the same as --socks "
                 "serves both on one port)");
  app.add_option("-L,--forward", f.forwards,
                 "port-forward [BIND:]PORT:HOST:HOSTPORT, repeatable, e.g. -L 5432:db.internal:5432 "
                 "(BIND defaults to 127.0.0.1)");
  app.add_option("-R,--reverse", f.reverses,
                 "publish a local service on the server, [BIND:]PORT:HOST:HOSTPORT, repeatable, "
                 "e.g. -R 8080:127.0.0.1:80 (BIND defaults to 0.0.0.0; PORT 0: any port the "
                 "server allows); over QUIC with --transport quic, else over TLS");
  app.add_option("--transport", f.transport,
                 "tls (TCP, default), quic, or auto (QUIC, falling back to TLS when UDP is blocked)");
  app.add_option("--ca", f.ca, "PEM file of CAs to trust for the server (default: system store)");
  app.add_option("--sni", f.sni, "name to send as SNI and check in the certificate (default: host)");
  app.add_option("--pin", f.pin,
                 "base64 SHA-256 of the server's public key (SPKI); checked in addition to the CA");
  app.add_flag("--insecure", f.insecure,
               "do not verify the server certificate at all (testing only; logs a warning)");
  app.add_option("--password-file", f.password_file,
                 "file whose first line is the server password (safer than the URI)");
  app.add_option("--local-user", f.local_user,
                 "require this username from local apps (SOCKS5 RFC 1929, HTTP Proxy-Authorization)");
  app.add_option("--local-password-file", f.local_password_file,
                 "file whose first line is the local proxy password (with --local-user)");
  app.add_option("--log-level", f.log_level, "debug, info (default), warn, error or off");
  app.add_flag("--check", f.check,
               "validate the config file and flags (and read the password file), then exit");
  CLI11_PARSE(app, argc, argv);

  mtop::ClimberConfig cfg;
  bool uri_password_on_cli = false;
  if (mtop::app::started_as_plugin()) {
    // ss-local's child (docs/SHADOWSOCKS.md): everything comes from its variables.
    auto env = mtop::app::read_plugin_env();
    auto made =
        env ? mtop::climber::plugin_config(*env) : mtop::Result<mtop::ClimberConfig>(env.failure());
    if (!made) {
      std::cerr << "climber (SIP003 plugin): " << made.message() << "\n";
      return mtop::app::kPluginUsageExit;
    }
    cfg = std::move(*made);
    if (!mtop::app::exit_with_parent()) {
      std::cerr << "climber (SIP003 plugin): the shadowsocks parent is gone\n";
      return 1;
    }
  } else {
    if (!f.config.empty()) {
      auto loaded = mtop::load_climber_config(f.config);
      if (!loaded) {
        std::cerr << "climber: " << loaded.message() << "\n";
        return 2;
      }
      cfg = std::move(*loaded);
    }
    std::string error;
    if (!apply_flags(f, app, cfg, uri_password_on_cli, error)) {
      std::cerr << "climber: " << error << "\n";
      return 2;
    }
  }

  mtop::Logger log(cfg.log_level, mtop::stderr_sink());
  if (uri_password_on_cli) {
    log.warn(
        "the --server URI holds a password: other users can see it with `ps`; use "
        "--password-file or MTOP_PASSWORD");
  }
  if (cfg.server.insecure) {
    log.warn(
        "*** --insecure: the server certificate is NOT verified; anyone on the path can "
        "read and change this traffic ***");
  }
  // Each tunnel holds the local socket and, over TLS, its own connection to the server: the
  // usual soft limit of 1024 would be a hidden ceiling far below limits.max_connections.
  const std::uint64_t fds = mtop::io::raise_fd_limit();
  const std::uint64_t fds_needed = 2 * static_cast<std::uint64_t>(cfg.engine.max_connections) + 64;
  if (fds < fds_needed) {
    log.warn("open file limit " + std::to_string(fds) + " is below the " +
             std::to_string(fds_needed) + " that limits.max_connections " +
             std::to_string(cfg.engine.max_connections) +
             " can need (raise the hard limit, e.g. ulimit -Hn or LimitNOFILE=)");
  }
  mtop::app::ProcessLoop process(log);
  if (!process.init()) return 1;
  auto created = mtop::Climber::create(process.loop(), cfg, log);
  mtop::secure_wipe(cfg.server.password);
  mtop::secure_wipe(cfg.engine.local_password);
  if (!created) {
    std::cerr << "climber: " << created.message() << "\n";
    return 1;
  }
  if (f.check) {
    // Everything create() checks (server, credentials, listen addresses, forwards, CA file)
    // passed; nothing was bound or connected.
    std::cout << (f.config.empty() ? std::string("flags") : f.config) << ": OK\n";
    return 0;
  }
  std::unique_ptr<mtop::Climber> climber = std::move(*created);  // closed before the loop
  if (auto started = climber->start(); !started) {
    std::cerr << "climber: " << started.message() << "\n";
    return 1;
  }
  log.info("climber: server " + cfg.server.host + ":" + std::to_string(cfg.server.port) + " over " +
           std::string(mtop::transport_name(cfg.server.transport)) + " as " + cfg.server.username);
  mtop::app::SignalHooks hooks;
  hooks.drain = [&](std::function<void()> done) { climber->drain(std::move(done)); };
  hooks.stop_now = [&] { climber->abort_all("shutdown"); };
  const bool ran = process.run(std::move(hooks));
  climber.reset();
  log.info("climber: stopped");
  return ran ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return mtop::app::guarded_main("climber", run, argc, argv);
}
