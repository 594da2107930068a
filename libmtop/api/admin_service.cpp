#include "api/admin_service.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/bearer_token.hpp"
#include "auth/publish_grants.hpp"

namespace mtop {

namespace {

using admin::HttpRequest;
using admin::HttpResponse;
using nlohmann::json;

/// A request the client got wrong: answered with `status` and `message`, never a crash.
struct HttpError {
  unsigned status;
  std::string message;
};

HttpResponse json_response(unsigned status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(2) + "\n";
  return r;
}

HttpResponse error_response(const HttpError& e) {
  HttpResponse r = json_response(e.status, json{{"error", e.message}});
  if (e.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

/// The HTTP status for a store's error.
unsigned status_of(Errc e) {
  switch (e) {
    case Errc::store_duplicate_user:
      return 409;
    case Errc::store_no_such_user:
      return 404;
    case Errc::store_unavailable:
      return 503;
    case Errc::invalid_argument:
      return 400;
    default:
      return 500;
  }
}

template <class T>
void throw_if_failed(const Result<T>& r) {
  if (!r) throw HttpError{status_of(r.error()), std::string(r.message())};
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    const std::size_t slash = path.find('/');
    const std::string_view part = path.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return parts;
}

json parse_body(const std::string& body) {
  if (body.empty()) throw HttpError{400, "a JSON object is required as the request body"};
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw HttpError{400, "bad JSON at byte " + std::to_string(e.byte)};
  }
  if (!j.is_object()) throw HttpError{400, "the request body must be a JSON object"};
  return j;
}

void only_fields(const json& j, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const std::string_view a : allowed) known = known || key == a;
    if (!known) throw HttpError{400, "unknown field \"" + key + "\""};
  }
}

/// A field that may be absent (not touched), null (none) or a value.
template <class T>
struct Setting {
  bool present = false;
  std::optional<T> value;
};

/// A field that is a whole number in [0, max] or null (= none).
template <class T>
Setting<T> optional_number(const json& j, const char* key, T max) {
  Setting<T> s;
  if (!j.contains(key)) return s;
  s.present = true;
  const json& v = j.at(key);
  if (v.is_null()) return s;
  if (!v.is_number_unsigned() || v.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
    throw HttpError{400, "field \"" + std::string(key) + "\": a whole number from 0 to " +
                             std::to_string(max) + ", or null"};
  }
  s.value = static_cast<T>(v.get<std::uint64_t>());
  return s;
}

std::optional<bool> optional_bool(const json& j, const char* key) {
  if (!j.contains(key)) return std::nullopt;
  if (!j.at(key).is_boolean())
    throw HttpError{400, "field \"" + std::string(key) + "\": true or false"};
  return j.at(key).get<bool>();
}

std::optional<std::string> optional_string(const json& j, const char* key) {
  if (!j.contains(key)) return std::nullopt;
  if (!j.at(key).is_string() || j.at(key).get_ref<const std::string&>().empty()) {
    throw HttpError{400, "field \"" + std::string(key) + "\": a non-empty string"};
  }
  return j.at(key).get<std::string>();
}

/// Publish grants: a string ("" = none) or null (= none), refused here with the parser's words
/// so that a PATCH is checked whole before anything is written.
std::optional<std::string> optional_grants(const json& j) {
  if (!j.contains("publish")) return std::nullopt;
  const json& v = j.at("publish");
  if (v.is_null()) return std::string();
  if (!v.is_string()) throw HttpError{400, "field \"publish\": a string of grants, or null"};
  auto grants = auth::PublishGrants::parse(v.get_ref<const std::string&>());
  if (!grants) throw HttpError{400, std::string(grants.message())};  // "publish: ..."
  return v.get<std::string>();
}

template <class T>
json or_null(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json user_json(const UserRecord& u) {
  return json{{"username", u.username},
              {"enabled", u.enabled},
              {"expires_at", or_null(u.expires_at)},
              {"max_tunnels", or_null(u.max_tunnels)},
              {"quota_bytes", or_null(u.quota_bytes)},
              {"used_bytes", u.used_bytes},
              {"rate_limit", or_null(u.rate_limit)},
              {"publish", u.publish}};
}

json stats_json(const ServerStats& s) {
  json failures = json::object();
  for (std::size_t i = 0; i < kTunnelFailureCount; ++i) {
    const auto f = static_cast<TunnelFailure>(i);
    failures[std::string(tunnel_failure_name(f))] = s.failed(f);
  }
  return json{{"live", s.live},
              {"relaying", s.relaying},
              {"total", s.total},
              {"accepted", s.accepted},
              {"bytes_up", s.bytes_up},
              {"bytes_down", s.bytes_down},
              {"active_users", s.active_users},
              {"password_checks", s.password_checks},
              {"cache_hits", s.cache_hits},
              {"rate_limit_delay_ms", s.rate_limit_delay_ms},
              {"reverse_ports", s.reverse_ports},
              {"reverse_visitors", s.reverse_visitors},
              {"reverse_visitors_total", s.reverse_visitors_total},
              {"reverse_visitors_refused", s.reverse_visitors_refused},
              {"reverse_ports_grace", s.reverse_ports_grace},
              {"failures", failures}};
}

json tunnel_json(const LiveTunnel& t) {
  return json{{"id", t.id},         {"user", t.user},           {"source", t.source},
              {"target", t.target}, {"transport", t.transport}, {"listener", t.listener},
              {"stage", t.stage},   {"bytes_up", t.up},         {"bytes_down", t.down},
              {"age_ms", t.age_ms}, {"worker", t.worker}};
}

/// The fields a user's PATCH may change, parsed whole before anything is applied.
struct UserChange {
  std::optional<std::string> password;
  std::optional<bool> enabled;
  Setting<std::uint64_t> quota_bytes;
  bool reset_used = false;
  Setting<std::uint32_t> max_tunnels;
  Setting<std::uint64_t> rate_limit;
  Setting<std::int64_t> expires_at;
  std::optional<std::string> publish;  ///< "" = none
};

UserChange parse_user_change(const json& j) {
  only_fields(j, {"password", "enabled", "quota_bytes", "reset_used", "max_tunnels", "rate_limit",
                  "expires_at", "publish"});
  UserChange c;
  c.password = optional_string(j, "password");
  c.enabled = optional_bool(j, "enabled");
  c.quota_bytes = optional_number<std::uint64_t>(j, "quota_bytes", UINT64_MAX);
  c.reset_used = optional_bool(j, "reset_used").value_or(false);
  c.max_tunnels = optional_number<std::uint32_t>(j, "max_tunnels", UINT32_MAX);
  c.rate_limit = optional_number<std::uint64_t>(j, "rate_limit", UINT64_MAX);
  c.expires_at = optional_number<std::int64_t>(j, "expires_at", INT64_MAX);
  c.publish = optional_grants(j);
  return c;
}

}  // namespace

/// One request on the admin thread.
class AdminService::Request {
 public:
  Request(AdminService& service, const HttpRequest& rq) : s_(service), rq_(rq) {}

  HttpResponse answer() {
    try {
      return route();
    } catch (const HttpError& e) {
      return error_response(e);
    }
  }

 private:
  HttpResponse route() {
    const auto parts = split_path(rq_.path);
    if (parts.size() == 1 && parts[0] == "metrics") return metrics();
    if (!admin::bearer_matches(rq_.authorization, s_.options_.token)) {
      throw HttpError{401, "missing or wrong bearer token"};
    }
    if (parts.empty() || parts[0] != "api") throw HttpError{404, "no such path: " + rq_.path};
    const std::size_t n = parts.size();
    if (n == 2 && parts[1] == "stats") {
      allow("GET");
      ServerStats st;
      on_loop([&] { st = s_.server_.stats(); });
      return json_response(200, stats_json(st));
    }
    if (n == 2 && parts[1] == "config") {
      allow("GET");
      HttpResponse r;
      on_loop([&] { r.body = s_.options_.config_json(); });
      return r;
    }
    if (n == 2 && parts[1] == "reload") {
      allow("POST");
      Result<ReloadReport> r = Errc::invalid_state;
      on_loop([&] { r = s_.options_.reload(); });
      if (!r)
        throw HttpError{400,
                        "reload refused, the running config stays: " + std::string(r.message())};
      log("admin: reloaded: " + reload_summary(*r));
      return json_response(
          200, json{{"reloaded", true}, {"changed", r->changed}, {"not_applied", r->warnings}});
    }
    if (n >= 2 && parts[1] == "tunnels") return tunnels(parts);
    if (n >= 2 && parts[1] == "users") return users(parts);
    throw HttpError{404, "no such path: " + rq_.path};
  }

  HttpResponse metrics() {
    allow("GET");
    if (!s_.options_.metrics_token.empty() &&
        !admin::bearer_matches(rq_.authorization, s_.options_.metrics_token)) {
      throw HttpError{401, "missing or wrong bearer token for /metrics"};
    }
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    on_loop([&] { r.body = s_.server_.metrics_text(); });
    return r;
  }

  HttpResponse tunnels(const std::vector<std::string_view>& parts) {
    if (parts.size() == 2) {
      allow("GET");
      std::vector<LiveTunnel> list;
      on_loop([&] { list = s_.server_.tunnels(); });
      json out = json::array();
      for (const auto& t : list) out.push_back(tunnel_json(t));
      return json_response(200, json{{"tunnels", out}});
    }
    if (parts.size() != 3) throw HttpError{404, "no such path: " + rq_.path};
    allow("DELETE");
    std::uint64_t id = 0;
    const std::string_view text = parts[2];
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || end != text.data() + text.size()) {
      throw HttpError{400, "tunnel id: a number, as GET /api/tunnels lists them"};
    }
    bool closed = false;
    on_loop([&] { closed = s_.server_.close_tunnel(id); });
    if (!closed) throw HttpError{404, "no live tunnel " + std::to_string(id)};
    log("admin: closed tunnel " + std::to_string(id));
    return json_response(200, json{{"closed", 1}});
  }

  HttpResponse users(const std::vector<std::string_view>& parts) {
    if (parts.size() == 4 && parts[3] == "tunnels") {  // kick every tunnel of a user
      allow("DELETE");
      const std::string name(parts[2]);
      std::size_t closed = 0;
      on_loop([&] { closed = s_.server_.revoke_user(name); });
      log("admin: closed " + std::to_string(closed) + " tunnel(s) of user " + name);
      return json_response(200, json{{"closed", closed}});
    }
    if (parts.size() > 3) throw HttpError{404, "no such path: " + rq_.path};
    UserAdmin& store = user_store();
    if (parts.size() == 2) {
      if (rq_.method == "GET") {
        json out = json::array();
        for (const auto& u : take(store.list())) out.push_back(user_json(u));
        return json_response(200, json{{"users", out}});
      }
      allow("POST");
      return add_user(store, parse_body(rq_.body));
    }
    const std::string name(parts[2]);
    if (rq_.method == "GET") {
      return json_response(200, user_json(take(store.get(name))));
    }
    if (rq_.method == "DELETE") {
      check_store(store.del(name));
      log("admin: user " + name + " deleted");
      users_changed();
      return json_response(200, json{{"deleted", name}});
    }
    allow("PATCH");
    return change_user(store, name, parse_user_change(parse_body(rq_.body)));
  }

  HttpResponse add_user(UserAdmin& store, const json& j) {
    only_fields(j, {"username", "password", "enabled", "quota_bytes", "max_tunnels", "rate_limit",
                    "expires_at", "publish"});
    UserRecord u;
    const auto name = optional_string(j, "username");
    if (!name) throw HttpError{400, "field \"username\": required"};
    u.username = *name;
    json change_fields = j;
    change_fields.erase("username");
    const UserChange c = parse_user_change(change_fields);
    if (!c.password) throw HttpError{400, "field \"password\": required"};
    auto hash = hash_password(*c.password);
    if (!hash) throw HttpError{400, "field \"password\": " + std::string(hash.message())};
    u.password_hash = std::move(*hash);
    u.enabled = c.enabled.value_or(true);
    u.quota_bytes = c.quota_bytes.value;
    u.max_tunnels = c.max_tunnels.value;
    u.rate_limit = c.rate_limit.value;
    u.expires_at = c.expires_at.value;
    u.publish = c.publish.value_or("");
    check_store(store.add(u));
    log("admin: user " + u.username + " added");
    users_changed();
    return json_response(201, user_json(take(store.get(u.username))));
  }

  HttpResponse change_user(UserAdmin& store, const std::string& name, const UserChange& c) {
    const UserRecord before = take(store.get(name));  // 404 before anything is hashed or written
    if (c.password) {
      auto hash = hash_password(*c.password);
      if (!hash) throw HttpError{400, "field \"password\": " + std::string(hash.message())};
      check_store(store.set_password_hash(name, *hash));
    }
    if (c.enabled) check_store(store.set_enabled(name, *c.enabled));
    if (c.quota_bytes.present || c.reset_used) {
      const auto quota = c.quota_bytes.present ? c.quota_bytes.value : before.quota_bytes;
      check_store(store.set_quota(name, quota, c.reset_used));
    }
    if (c.max_tunnels.present) check_store(store.set_max_tunnels(name, c.max_tunnels.value));
    if (c.rate_limit.present) check_store(store.set_rate_limit(name, c.rate_limit.value));
    if (c.expires_at.present) check_store(store.set_expiry(name, c.expires_at.value));
    if (c.publish) check_store(store.set_publish(name, *c.publish));
    log("admin: user " + name + " changed");
    users_changed();
    return json_response(200, user_json(take(store.get(name))));
  }

  /// A users file is watched by polling: have the server read it now, so that a user just
  /// added can log in at once (and its first tries do not count as failures). Database
  /// stores follow their rows by themselves (cache_ttl, PostgreSQL's notifications).
  void users_changed() {
    if (s_.users_source_.type != "file") return;
    Result<void> r;
    on_loop([&] { r = s_.server_.reload(); });
    if (!r) log("admin: the server did not take the users file: " + std::string(r.message()));
  }

  UserAdmin& user_store() {
    std::optional<UsersSource> source;
    on_loop([&] { source = s_.options_.users(); });  // a reload may have changed it
    if (!source) {
      throw HttpError{501, "this server's users come from the program's own user check"};
    }
    // A users file is read afresh for each request: a UserAdmin keeps the file's users from
    // when it was opened, and an edit made meanwhile (by hand, `mtop-server user`) must not
    // be written over. A database connection is kept (its rows are live) while the source
    // stays the same.
    if (!s_.users_ || source->type == "file" || !(*source == s_.users_source_)) {
      s_.users_.reset();
      auto opened = UserAdmin::open(*source);
      if (!opened) throw HttpError{status_of(opened.error()), std::string(opened.message())};
      s_.users_ = std::move(*opened);
      s_.users_source_ = std::move(*source);
    }
    return *s_.users_;
  }

  /// Throws the store's error; a store that was unreachable is opened afresh next time.
  template <class T>
  void check_store(const Result<T>& r) {
    if (!r && r.error() == Errc::store_unavailable) s_.users_.reset();
    throw_if_failed(r);
  }
  template <class T>
  T take(Result<T> r) {
    check_store(r);
    return std::move(*r);
  }

  void allow(std::string_view method) const {
    if (rq_.method != method) {
      throw HttpError{405, rq_.method + " " + rq_.path + ": use " + std::string(method)};
    }
  }

  template <class Fn>
  void on_loop(Fn&& fn) {
    if (!s_.loop_call_->call(std::forward<Fn>(fn), kLoopWaitMs)) {
      throw HttpError{503, "the server did not answer in time (busy or stopping)"};
    }
  }

  /// Logs on the loop thread, where the Logger is used; not worth a 503 when it is busy.
  void log(std::string message) {
    s_.loop_call_->call([this, m = std::move(message)] { s_.options_.log.info(m); }, kLoopWaitMs);
  }

  AdminService& s_;
  const HttpRequest& rq_;
};

Result<std::unique_ptr<AdminService>> AdminService::start(uv_loop_t* loop, Server& server,
                                                          Options options) {
  std::unique_ptr<AdminService> service(new AdminService(server, std::move(options)));
  auto call = io::LoopCall::create(loop);
  if (!call) return call.failure();
  service->loop_call_ = std::move(*call);
  admin::HttpServer::Options http;
  http.host = service->options_.host;
  http.port = service->options_.port;
  AdminService* self = service.get();
  auto started = admin::HttpServer::start(
      http, [self](const HttpRequest& rq) { return Request(*self, rq).answer(); });
  if (!started) return started.failure();
  service->http_ = std::move(*started);
  return service;
}

AdminService::~AdminService() {
  if (loop_call_) loop_call_->shut();  // a request waiting for the loop gives up now
  http_.reset();                       // joins the HTTP thread
}

}  // namespace mtop
