// mtop_socks5_server_* and mtop_socks5_settings_default_versioned: the C handle over
// mtop::socks5::Server, in the event shape of the MTop handshake machines.
//
// The C++ machine reports peer errors as feed()/next_event() results, says Paused while a
// decision is outstanding and hands pipelined bytes out with take_payload(). This layer turns
// that into the handshake shape: feed() returns counts only and a peer error becomes
// MTOP_PROXY_EVENT_ERROR; Paused and Finished become NEED_DATA; held payload becomes PAYLOAD
// events (before and after the decision); bytes fed after accept() pass through as PAYLOAD;
// feed_eof() gives END_OF_INPUT or, before a request, MTOP_ERR_PEER_CLOSED.
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "mtop/socks5.hpp"
#include "shim.hpp"

namespace socks5 = mtop::socks5;

// The handle: the C++ machine plus what the C event shape needs. The reported credentials
// and target are kept here because the C event only points at them; the last PAYLOAD too.
struct mtop_socks5_server {
  explicit mtop_socks5_server(socks5::ServerSettings settings) : hs(settings) {}
  mtop_socks5_server(const mtop_socks5_server&) = delete;
  mtop_socks5_server& operator=(const mtop_socks5_server&) = delete;
  ~mtop_socks5_server() {
    if (credentials) mtop::secure_wipe(credentials->password);
  }

  socks5::Server hs;
  void* user_data = nullptr;
  bool eof = false;
  std::optional<mtop::Errc> closed_early;  // peer_closed: EOF before a complete request
  std::optional<socks5::Credentials> credentials;
  std::optional<mtop::Address> target;
  mtop::Bytes passthrough;  // fed after accept(), not yet reported
  mtop::Bytes event_payload;
};

namespace {

using mtop::capi::guarded;
using mtop::capi::to_c;
using mtop::capi::valid_input;
using State = socks5::State;

const std::uint8_t* bytes_of(const std::string& s) noexcept {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

bool finished(const mtop_socks5_server& h) noexcept {
  const State st = h.hs.state();
  return h.closed_early || st == State::failed || st == State::closed;
}

// The event when the C++ machine has nothing to report (NeedData, Paused, Finished).
void idle_event(mtop_socks5_server& h, mtop_socks5_event& ev) {
  mtop::Bytes payload = h.hs.take_payload();
  if (!h.passthrough.empty()) {
    payload.insert(payload.end(), h.passthrough.begin(), h.passthrough.end());
    h.passthrough.clear();
  }
  if (!payload.empty()) {
    h.event_payload = std::move(payload);
    ev.type = MTOP_PROXY_EVENT_PAYLOAD;
    ev.data = h.event_payload.data();
    ev.len = h.event_payload.size();
    return;
  }
  ev.type = MTOP_PROXY_EVENT_NEED_DATA;
  if (!h.eof) return;
  switch (h.hs.state()) {
    case State::reply_decision:
    case State::established:
      ev.type = MTOP_PROXY_EVENT_END_OF_INPUT;
      break;
    case State::greeting:
    case State::auth:
    case State::request:
      h.closed_early = mtop::Errc::peer_closed;
      ev.type = MTOP_PROXY_EVENT_ERROR;
      ev.error = to_c(*h.closed_early);
      break;
    case State::auth_decision:  // the credentials are answered first
    case State::closed:
    case State::failed:
      break;
  }
}

void next_event(mtop_socks5_server& h, mtop_socks5_event& ev) {
  ev = mtop_socks5_event{};
  if (h.closed_early) {
    ev.type = MTOP_PROXY_EVENT_ERROR;
    ev.error = to_c(*h.closed_early);
    return;
  }
  auto r = h.hs.next_event();
  if (!r) {
    ev.type = MTOP_PROXY_EVENT_ERROR;
    ev.error = to_c(r.error());
    return;
  }
  std::visit(
      [&](auto&& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, socks5::Credentials>) {
          if (h.credentials) mtop::secure_wipe(h.credentials->password);
          h.credentials.emplace();
          h.credentials->username.swap(x.username);
          h.credentials->password.swap(x.password);
          mtop::secure_wipe(x.password);  // a short password's bytes may stay in x's buffer
          ev.type = MTOP_PROXY_EVENT_AUTH;
          ev.username = bytes_of(h.credentials->username);
          ev.username_len = h.credentials->username.size();
          ev.password = bytes_of(h.credentials->password);
          ev.password_len = h.credentials->password.size();
        } else if constexpr (std::is_same_v<T, socks5::ConnectRequest>) {
          h.target = std::move(x.target);
          ev.type = MTOP_PROXY_EVENT_REQUEST;
          mtop::capi::view_of(*h.target, ev.target);
        } else {
          static_assert(std::is_same_v<T, socks5::NeedData> || std::is_same_v<T, socks5::Paused> ||
                            std::is_same_v<T, socks5::Finished>,
                        "unhandled SOCKS5 event");
          idle_event(h, ev);
        }
      },
      std::move(*r));
}

int answer_credentials(mtop_socks5_server* s, bool accepted) {
  if (s == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    if (s->closed_early) return MTOP_ERR_INVALID_STATE;
    auto r = s->hs.accept_credentials(accepted);
    if (!r) return to_c(r.error());
    if (s->credentials) mtop::secure_wipe(s->credentials->password);
    return 0;
  });
}

}  // namespace

extern "C" {

MTOP_API int mtop_socks5_settings_default_versioned(int version, mtop_socks5_settings* settings) {
  if (settings == nullptr || version < 1 || version > MTOP_SOCKS5_SETTINGS_VERSION)
    return MTOP_ERR_INVALID_ARGUMENT;
  // Version 1 fields; a later version fills its own fields after these.
  const socks5::ServerSettings d;
  *settings = mtop_socks5_settings{};
  settings->no_auth = d.no_auth ? 1 : 0;
  settings->username_password = d.username_password ? 1 : 0;
  settings->max_payload = d.max_payload;
  return 0;
}

MTOP_API int mtop_socks5_server_new_versioned(mtop_socks5_server** out, int settings_version,
                                              const mtop_socks5_settings* settings) {
  if (out == nullptr || settings_version < 1 || settings_version > MTOP_SOCKS5_SETTINGS_VERSION)
    return MTOP_ERR_INVALID_ARGUMENT;
  socks5::ServerSettings s;
  if (settings != nullptr) {
    s.no_auth = settings->no_auth != 0;  // version 1 fields
    s.username_password = settings->username_password != 0;
    s.max_payload = settings->max_payload;
    if (!s.no_auth && !s.username_password) return MTOP_ERR_INVALID_ARGUMENT;
  }
  return guarded([&] {
    *out = new mtop_socks5_server(s);
    return 0;
  });
}

MTOP_API void mtop_socks5_server_free(mtop_socks5_server* s) {
  delete s;
}

MTOP_API int mtop_socks5_server_set_user_data(mtop_socks5_server* s, void* user_data) {
  if (s == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  s->user_data = user_data;
  return 0;
}

MTOP_API void* mtop_socks5_server_get_user_data(const mtop_socks5_server* s) {
  return s == nullptr ? nullptr : s->user_data;
}

MTOP_API int mtop_socks5_server_feed(mtop_socks5_server* s, const uint8_t* data, size_t len) {
  if (s == nullptr || !valid_input(data, len)) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    if (s->eof || finished(*s)) return MTOP_ERR_INVALID_STATE;
    const std::size_t n = mtop::capi::clamp_to_int(len);
    if (s->hs.state() == State::established) {
      s->passthrough.insert(s->passthrough.end(), data, data + n);
      return static_cast<int>(n);
    }
    auto r = s->hs.feed(mtop::ByteView(data, n));
    if (r) return static_cast<int>(*r);
    // A peer error: the machine failed and reports it as an event. The bytes are consumed.
    return s->hs.state() == State::failed ? static_cast<int>(n) : to_c(r.error());
  });
}

MTOP_API int mtop_socks5_server_feed_eof(mtop_socks5_server* s) {
  if (s == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  if (s->eof || finished(*s)) return MTOP_ERR_INVALID_STATE;
  s->eof = true;
  return 0;
}

MTOP_API int mtop_socks5_server_next_event_versioned(mtop_socks5_server* s, int version,
                                                     mtop_socks5_event* ev) {
  if (s == nullptr || ev == nullptr || version < 1 || version > MTOP_SOCKS5_EVENT_VERSION)
    return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    next_event(*s, *ev);  // version 1 is the whole struct today
    return ev->type;
  });
}

MTOP_API int mtop_socks5_server_accept_credentials(mtop_socks5_server* s) {
  return answer_credentials(s, true);
}

MTOP_API int mtop_socks5_server_reject_credentials(mtop_socks5_server* s) {
  return answer_credentials(s, false);
}

MTOP_API int mtop_socks5_server_accept(mtop_socks5_server* s, const mtop_address* bound) {
  if (s == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    mtop::Address b;  // 0.0.0.0:0
    if (bound != nullptr) {
      const int rc = mtop::capi::from_c(*bound, b);
      if (rc < 0) return rc;
    }
    auto r = s->hs.reply(socks5::ReplyCode::succeeded, b);
    return r ? 0 : to_c(r.error());
  });
}

MTOP_API int mtop_socks5_server_reject(mtop_socks5_server* s, int reply) {
  if (s == nullptr || reply < MTOP_SOCKS5_REPLY_GENERAL_FAILURE ||
      reply > MTOP_SOCKS5_REPLY_ADDRESS_TYPE_NOT_SUPPORTED) {
    return MTOP_ERR_INVALID_ARGUMENT;
  }
  return guarded([&] {
    auto r = s->hs.reply(static_cast<socks5::ReplyCode>(reply), mtop::Address{});
    if (!r) return to_c(r.error());
    s->passthrough.clear();
    return 0;
  });
}

MTOP_API int mtop_socks5_server_pending_output(const mtop_socks5_server* s, const uint8_t** data,
                                               size_t* len) {
  return mtop::capi::handshake_pending_output(s, data, len);
}

MTOP_API int mtop_socks5_server_consume_output(mtop_socks5_server* s, size_t n) {
  return mtop::capi::handshake_consume_output(s, n);
}

}  // extern "C"
