#include "ctl.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "admin_client.hpp"
#include "mtop/host_port.hpp"
#include "mtop/server.hpp"
#include "password_input.hpp"

namespace mtop::server {

namespace {

using nlohmann::json;

int fail(const std::string& message) {
  std::fprintf(stderr, "mtop-server ctl: %s\n", message.c_str());
  return 1;
}

/// `name` percent-encoded for a path segment.
std::string path_segment(const std::string& name) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : name) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// "none" or a whole number, into a JSON value (null for none).
bool number_or_none(const std::string& text, const char* what, json& out) {
  if (text == "none") {
    out = nullptr;
    return true;
  }
  try {
    std::size_t used = 0;
    const unsigned long long v = std::stoull(text, &used);
    if (used != text.size() || text.front() == '-') throw std::invalid_argument(what);
    out = v;
    return true;
  } catch (const std::exception&) {
    fail(std::string(what) + ": a whole number, or none");
    return false;
  }
}

struct Ctl {
  std::string admin;        ///< host:port
  std::string token_file;   ///< the admin token
  std::string config_path;  ///< or: both from the server's config
  std::string metrics_token_file;
  // Operands of the subcommands.
  std::string name;
  std::string id;
  bool disabled = false;
  std::string quota;
  bool reset_used = false;
  std::string max_tunnels, rate, expires;
  std::optional<std::string> publish;  ///< grants, or "none"

  int call(const std::string& method, const std::string& path, const std::string& body = {},
           bool metrics = false) {
    std::string address = admin;
    std::string token_path = metrics ? metrics_token_file : token_file;
    if (!config_path.empty()) {
      auto cfg = load_server_config(config_path);
      if (!cfg) return fail(std::string(cfg.message()));
      if (cfg->admin.listen.empty()) return fail(config_path + ": no admin listener configured");
      if (address.empty()) address = cfg->admin.listen;
      if (!metrics && token_path.empty()) token_path = cfg->admin.token_file;
      if (metrics && token_path.empty()) token_path = cfg->admin.metrics_token_file;
    }
    if (address.empty()) return fail("--admin HOST:PORT or --config FILE is required");
    if (!metrics && token_path.empty()) return fail("--token-file FILE is required");
    auto hp = parse_host_port(address, kListenAddress);
    if (!hp || hp->port == 0) return fail("--admin: \"" + address + "\" is not host:port");
    std::string token;
    if (!token_path.empty()) {
      std::ifstream in(token_path);
      if (!in) return fail("cannot read token file " + token_path);
      std::ostringstream ss;
      ss << in.rdbuf();
      token = ss.str();
      while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
        token.pop_back();
      }
    }
    std::string host = hp->host;
    if (host == "0.0.0.0") host = "127.0.0.1";  // a wildcard listener is reached on loopback
    if (host == "::") host = "::1";
    const AdminReply r = admin_request(host, hp->port, method, path, token, body);
    if (r.status == 0) return fail(r.error);
    if (r.status < 200 || r.status > 299) {
      std::string message = r.body;
      try {
        message = json::parse(r.body).at("error").get<std::string>();
      } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): not JSON: say it raw
      }
      return fail(std::to_string(r.status) + ": " + message);
    }
    std::fwrite(r.body.data(), 1, r.body.size(), stdout);
    return 0;
  }

  /// The fields of `users add` / `users limits` given on the command line.
  bool limits(json& body) {
    json v;
    if (!max_tunnels.empty()) {
      if (!number_or_none(max_tunnels, "--max-tunnels", v)) return false;
      body["max_tunnels"] = v;
    }
    if (!rate.empty()) {
      if (!number_or_none(rate, "--rate", v)) return false;
      body["rate_limit"] = v;
    }
    if (!expires.empty()) {
      if (!number_or_none(expires, "--expires", v)) return false;
      body["expires_at"] = v;
    }
    if (!quota.empty()) {
      if (!number_or_none(quota, "--quota", v)) return false;
      body["quota_bytes"] = v;
    }
    // "none" like the numbers; the server checks the grants and says what is wrong.
    if (publish) body["publish"] = *publish == "none" ? std::string() : *publish;
    return true;
  }

  static bool password(json& body) {
    std::string pw, error;
    if (!read_new_password(pw, error)) {
      fail(error);
      return false;
    }
    body["password"] = pw;
    std::fill(pw.begin(), pw.end(), '\0');
    return true;
  }
};

}  // namespace

std::function<int()> add_ctl(CLI::App& app, CLI::App*& ctl_app) {
  auto c = std::make_shared<Ctl>();
  ctl_app = app.add_subcommand(
      "ctl",
      "talk to a running server's admin API (docs/ADMIN_API.md). The address and token come from\n"
      "--admin and --token-file, or from the server's config (--config, its \"admin\" section).\n"
      "Answers are printed as JSON; the exit status is 1 on an error.\n\n"
      "  mtop-server ctl --config /etc/mtop/server.json tunnels\n"
      "  mtop-server ctl --admin 127.0.0.1:9443 --token-file admin.token kick 42\n"
      "  echo 's3cret-pass' | mtop-server ctl -c server.json users add bob --quota 10000000000");
  CLI::App& ctl = *ctl_app;
  ctl.require_subcommand(1);
  ctl.add_option("--admin", c->admin, "the admin listener, host:port");
  ctl.add_option("--token-file", c->token_file, "a file holding the admin bearer token");
  ctl.add_option("--metrics-token-file", c->metrics_token_file,
                 "a file holding the /metrics token (metrics only, if one is set)");
  // "-c,--config" is the main program's option; fallthrough lets `ctl` read it too.
  ctl.fallthrough();

  struct Step {
    CLI::App* app;
    std::function<int()> run;
  };
  auto steps = std::make_shared<std::vector<Step>>();
  auto add = [&](CLI::App* sub, std::function<int()> run) {
    steps->push_back({sub, std::move(run)});
  };

  add(ctl.add_subcommand("stats", "counters: tunnels, bytes, failures by reason"),
      [c] { return c->call("GET", "/api/stats"); });
  add(ctl.add_subcommand("tunnels", "list live tunnels (id, user, source, target, bytes, age)"),
      [c] { return c->call("GET", "/api/tunnels"); });
  auto* kick = ctl.add_subcommand("kick", "close a live tunnel by its id (from `tunnels`)");
  kick->add_option("id", c->id, "tunnel id")->required();
  add(kick, [c] { return c->call("DELETE", "/api/tunnels/" + path_segment(c->id)); });
  auto* kick_user = ctl.add_subcommand("kick-user", "close every live tunnel of a user");
  kick_user->add_option("name", c->name, "user name")->required();
  add(kick_user,
      [c] { return c->call("DELETE", "/api/users/" + path_segment(c->name) + "/tunnels"); });
  add(ctl.add_subcommand("reload", "reload what can change without a restart (the users file)"),
      [c] { return c->call("POST", "/api/reload"); });
  add(ctl.add_subcommand("config", "the effective config, secrets redacted"),
      [c] { return c->call("GET", "/api/config"); });
  add(ctl.add_subcommand("metrics", "the Prometheus metrics text"),
      [c] { return c->call("GET", "/metrics", {}, true); });

  auto* users = ctl.add_subcommand(
      "users", "manage users in the server's store (passwords from stdin or a prompt)");
  users->require_subcommand(1);
  add(users->add_subcommand("list", "every user (never a hash)"),
      [c] { return c->call("GET", "/api/users"); });
  auto* show = users->add_subcommand("show", "one user");
  show->add_option("name", c->name)->required();
  add(show, [c] { return c->call("GET", "/api/users/" + path_segment(c->name)); });
  auto* u_add = users->add_subcommand("add", "add a user (password from stdin or a prompt)");
  u_add->add_option("name", c->name)->required();
  u_add->add_flag("--disabled", c->disabled, "add the user disabled");
  u_add->add_option("--quota", c->quota, "byte quota, up + down (or none)");
  u_add->add_option("--max-tunnels", c->max_tunnels, "concurrent tunnels (or none)");
  u_add->add_option("--rate", c->rate, "bytes per second each way (or none)");
  u_add->add_option("--expires", c->expires, "expiry, Unix seconds (or none)");
  u_add->add_option("--publish", c->publish,
                    "public binds for reverse tunnels, e.g. \"8000-8099\" (docs/USERS.md)");
  add(u_add, [c] {
    json body = {{"username", c->name}, {"enabled", !c->disabled}};
    if (!c->limits(body) || !Ctl::password(body)) return 1;
    return c->call("POST", "/api/users", body.dump());
  });
  auto* u_passwd = users->add_subcommand("passwd", "set a password (stdin or a prompt)");
  u_passwd->add_option("name", c->name)->required();
  add(u_passwd, [c] {
    json body = json::object();
    if (!Ctl::password(body)) return 1;
    return c->call("PATCH", "/api/users/" + path_segment(c->name), body.dump());
  });
  for (const bool enable : {true, false}) {
    auto* sub =
        users->add_subcommand(enable ? "enable" : "disable",
                              enable ? "enable a user" : "disable a user (live tunnels close)");
    sub->add_option("name", c->name)->required();
    add(sub, [c, enable] {
      return c->call("PATCH", "/api/users/" + path_segment(c->name),
                     json{{"enabled", enable}}.dump());
    });
  }
  auto* u_del = users->add_subcommand("del", "delete a user");
  u_del->add_option("name", c->name)->required();
  add(u_del, [c] { return c->call("DELETE", "/api/users/" + path_segment(c->name)); });
  auto* u_quota = users->add_subcommand("quota", "set a byte quota (or none)");
  u_quota->add_option("name", c->name)->required();
  u_quota->add_option("bytes", c->quota, "bytes, or none")->required();
  u_quota->add_flag("--reset", c->reset_used, "also reset the bytes used to 0");
  add(u_quota, [c] {
    json body = {{"reset_used", c->reset_used}};
    if (!c->limits(body)) return 1;
    return c->call("PATCH", "/api/users/" + path_segment(c->name), body.dump());
  });
  auto* u_publish = users->add_subcommand(
      "publish", "set the public binds a user may publish with reverse tunnels (or none)");
  u_publish->add_option("name", c->name)->required();
  u_publish->add_option("grants", c->publish, "e.g. \"8000-8099\" (docs/USERS.md), or none")
      ->required();
  add(u_publish, [c] {
    json body = json::object();
    if (!c->limits(body)) return 1;
    return c->call("PATCH", "/api/users/" + path_segment(c->name), body.dump());
  });
  auto* u_limits = users->add_subcommand("limits", "set tunnel, rate and expiry limits");
  u_limits->add_option("name", c->name)->required();
  u_limits->add_option("--max-tunnels", c->max_tunnels, "concurrent tunnels (or none)");
  u_limits->add_option("--rate", c->rate, "bytes per second each way (or none)");
  u_limits->add_option("--expires", c->expires, "expiry, Unix seconds (or none)");
  add(u_limits, [c] {
    json body = json::object();
    if (!c->limits(body)) return 1;
    if (body.empty()) return fail("users limits: give --max-tunnels, --rate or --expires");
    return c->call("PATCH", "/api/users/" + path_segment(c->name), body.dump());
  });

  return [c, steps, &app]() -> int {
    // --config belongs to the main program; ctl reads it from there.
    if (auto* opt = app.get_option_no_throw("--config"); opt && opt->count() > 0) {
      c->config_path = opt->as<std::string>();
    }
    for (const Step& s : *steps) {
      if (s.app->parsed()) return s.run();
    }
    return fail("nothing to do (see mtop-server ctl --help)");
  };
}

}  // namespace mtop::server
