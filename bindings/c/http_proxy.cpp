// mtop_http_proxy_* and mtop_http_proxy_settings_default_versioned: the C handle over
// mtop::http::ProxyRequestParser, in the event shape of the MTop handshake machines.
//
// The C++ parser only says how much of the input the head used and done(); the climber keeps
// the rest and writes the fixed answers itself. This layer gives the handshake shape: the head
// becomes MTOP_PROXY_EVENT_REQUEST, the bytes after it PAYLOAD events (held up to
// max_payload before the decision, passed through after accept()), a parse error becomes
// MTOP_PROXY_EVENT_ERROR, and accept()/reject() queue the answer in the pending output.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "mtop/codec.hpp"
#include "mtop/http_proxy.hpp"
#include "shim.hpp"

namespace http = mtop::http;

struct mtop_http_proxy {
  mtop_http_proxy(http::ProxySettings settings, std::size_t payload_limit)
      : parser(settings), max_payload(payload_limit) {}
  mtop_http_proxy(const mtop_http_proxy&) = delete;
  mtop_http_proxy& operator=(const mtop_http_proxy&) = delete;
  ~mtop_http_proxy() { wipe_credentials(); }

  // Zeroes the password and the Proxy-Authorization value (its base64) of our copy.
  void wipe_credentials() noexcept {
    if (!request) return;
    mtop::secure_wipe(request->credentials.password);
    for (http::Header& h : request->headers) {
      if (h.name.size() == 19 && std::equal(h.name.begin(), h.name.end(), "proxy-authorization",
                                            [](char a, char b) {
                                              return (a >= 'A' && a <= 'Z' ? a + 32 : a) == b;
                                            })) {
        mtop::secure_wipe(h.value);
      }
    }
  }

  enum class Phase { head, decision, accepted, rejected, failed };

  http::ProxyRequestParser parser;
  std::size_t max_payload;
  Phase phase = Phase::head;
  mtop::Errc error = mtop::Errc::invalid_state;  // the peer error when failed
  bool eof = false;
  bool reported = false;     // REQUEST was handed out
  bool answered = false;     // reject() after an error queued its answer
  std::optional<http::ProxyRequest> request;
  mtop::Bytes held;          // bytes after the head, not yet reported
  mtop::Bytes event_payload;
  std::string_view out;      // a fixed answer (static storage)
  std::size_t out_off = 0;
  void* user_data = nullptr;
};

namespace {

using mtop::capi::guarded;
using mtop::capi::to_c;
using mtop::capi::valid_input;
using Phase = mtop_http_proxy::Phase;

const std::uint8_t* bytes_of(const std::string& s) noexcept {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

// Appends up to the room left below max_payload (everything once accepted); returns the count.
std::size_t hold(mtop_http_proxy& p, const std::uint8_t* data, std::size_t n) {
  std::size_t take = n;
  if (p.phase == Phase::decision) {
    const std::size_t room = p.max_payload > p.held.size() ? p.max_payload - p.held.size() : 0;
    take = std::min(n, room);
  }
  p.held.insert(p.held.end(), data, data + take);
  return take;
}

void request_event(const http::ProxyRequest& r, mtop_http_proxy_event& ev) {
  ev.type = MTOP_PROXY_EVENT_REQUEST;
  ev.method = r.method.data();
  ev.method_len = r.method.size();
  mtop::capi::view_of(r.target.address, ev.target);
  ev.connect = r.is_connect() ? 1 : 0;
  ev.http_minor = r.version == http::HttpVersion::http_1_1 ? 1 : 0;
  if (!r.forward_head.empty()) {
    ev.forward_head = bytes_of(r.forward_head);
    ev.forward_head_len = r.forward_head.size();
  }
  switch (r.credentials.state) {
    case http::AuthState::absent: ev.auth = MTOP_HTTP_AUTH_ABSENT; break;
    case http::AuthState::malformed: ev.auth = MTOP_HTTP_AUTH_MALFORMED; break;
    case http::AuthState::basic:
      ev.auth = MTOP_HTTP_AUTH_BASIC;
      ev.username = bytes_of(r.credentials.user);
      ev.username_len = r.credentials.user.size();
      ev.password = bytes_of(r.credentials.password);
      ev.password_len = r.credentials.password.size();
      break;
  }
}

void next_event(mtop_http_proxy& p, mtop_http_proxy_event& ev) {
  ev = mtop_http_proxy_event{};
  ev.type = MTOP_PROXY_EVENT_NEED_DATA;
  switch (p.phase) {
    case Phase::failed:
      ev.type = MTOP_PROXY_EVENT_ERROR;
      ev.error = to_c(p.error);
      return;
    case Phase::head:
    case Phase::rejected:
      return;
    case Phase::decision:
    case Phase::accepted:
      break;
  }
  if (!p.reported) {
    p.reported = true;
    request_event(*p.request, ev);
  } else if (!p.held.empty()) {
    p.event_payload = std::move(p.held);
    p.held.clear();
    ev.type = MTOP_PROXY_EVENT_PAYLOAD;
    ev.data = p.event_payload.data();
    ev.len = p.event_payload.size();
  } else if (p.eof) {
    ev.type = MTOP_PROXY_EVENT_END_OF_INPUT;
  }
}

}  // namespace

extern "C" {

MTOP_API int mtop_http_proxy_settings_default_versioned(int version,
                                                        mtop_http_proxy_settings* settings) {
  if (settings == nullptr || version < 1 || version > MTOP_HTTP_PROXY_SETTINGS_VERSION)
    return MTOP_ERR_INVALID_ARGUMENT;
  const http::ProxySettings d;
  *settings = mtop_http_proxy_settings{};  // version 1 fields
  settings->max_head_size = d.max_head_size;
  settings->max_header_lines = d.max_header_lines;
  settings->max_payload = MTOP_DEFAULT_PROXY_MAX_PAYLOAD;
  return 0;
}

MTOP_API int mtop_http_proxy_new_versioned(mtop_http_proxy** out, int settings_version,
                                           const mtop_http_proxy_settings* settings) {
  if (out == nullptr || settings_version < 1 ||
      settings_version > MTOP_HTTP_PROXY_SETTINGS_VERSION) {
    return MTOP_ERR_INVALID_ARGUMENT;
  }
  mtop_http_proxy_settings s;
  mtop_http_proxy_settings_default_versioned(MTOP_HTTP_PROXY_SETTINGS_VERSION, &s);
  if (settings != nullptr) {
    s = *settings;  // version 1 is the whole struct today
  }
  return guarded([&] {
    *out = new mtop_http_proxy(http::ProxySettings{s.max_head_size, s.max_header_lines},
                               s.max_payload);
    return 0;
  });
}

MTOP_API void mtop_http_proxy_free(mtop_http_proxy* p) {
  delete p;
}

MTOP_API int mtop_http_proxy_set_user_data(mtop_http_proxy* p, void* user_data) {
  if (p == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  p->user_data = user_data;
  return 0;
}

MTOP_API void* mtop_http_proxy_get_user_data(const mtop_http_proxy* p) {
  return p == nullptr ? nullptr : p->user_data;
}

MTOP_API int mtop_http_proxy_feed(mtop_http_proxy* p, const uint8_t* data, size_t len) {
  if (p == nullptr || !valid_input(data, len)) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    if (p->eof || p->phase == Phase::failed || p->phase == Phase::rejected)
      return MTOP_ERR_INVALID_STATE;
    const std::size_t n = mtop::capi::clamp_to_int(len);
    if (p->phase != Phase::head) return static_cast<int>(hold(*p, data, n));
    auto r = p->parser.feed(mtop::ByteView(data, n));
    if (!r) {
      p->phase = Phase::failed;
      p->error = r.error();
      return static_cast<int>(n);
    }
    if (!p->parser.done()) return static_cast<int>(*r);
    p->request = p->parser.request();
    p->phase = Phase::decision;
    return static_cast<int>(*r + hold(*p, data + *r, n - *r));
  });
}

MTOP_API int mtop_http_proxy_feed_eof(mtop_http_proxy* p) {
  if (p == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  if (p->eof || p->phase == Phase::failed || p->phase == Phase::rejected)
    return MTOP_ERR_INVALID_STATE;
  p->eof = true;
  if (p->phase == Phase::head) {
    p->phase = Phase::failed;
    p->error = mtop::Errc::peer_closed;
  }
  return 0;
}

MTOP_API int mtop_http_proxy_next_event_versioned(mtop_http_proxy* p, int version,
                                                  mtop_http_proxy_event* ev) {
  if (p == nullptr || ev == nullptr || version < 1 || version > MTOP_HTTP_PROXY_EVENT_VERSION)
    return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    next_event(*p, *ev);  // version 1 is the whole struct today
    return ev->type;
  });
}

MTOP_API int mtop_http_proxy_accept(mtop_http_proxy* p) {
  if (p == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  if (p->phase != Phase::decision || !p->reported) return MTOP_ERR_INVALID_STATE;
  p->phase = Phase::accepted;
  if (p->request->is_connect()) {
    p->out = http::proxy_response(http::ProxyStatus::connection_established);
    p->out_off = 0;
  }
  p->wipe_credentials();
  return 0;
}

MTOP_API int mtop_http_proxy_reject(mtop_http_proxy* p, int status) {
  if (p == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  switch (status) {
    case MTOP_HTTP_STATUS_BAD_REQUEST:
    case MTOP_HTTP_STATUS_FORBIDDEN:
    case MTOP_HTTP_STATUS_PROXY_AUTH_REQUIRED:
    case MTOP_HTTP_STATUS_BAD_GATEWAY:
    case MTOP_HTTP_STATUS_GATEWAY_TIMEOUT:
      break;
    default:
      return MTOP_ERR_INVALID_ARGUMENT;
  }
  const bool after_request = p->phase == Phase::decision && p->reported;
  const bool after_error = p->phase == Phase::failed && !p->answered;
  if (!after_request && !after_error) return MTOP_ERR_INVALID_STATE;
  p->out = http::proxy_response(static_cast<http::ProxyStatus>(status));
  p->out_off = 0;
  p->answered = true;
  if (after_request) p->phase = Phase::rejected;
  mtop::secure_wipe(p->held);
  p->wipe_credentials();
  return 0;
}

MTOP_API int mtop_http_proxy_pending_output(const mtop_http_proxy* p, const uint8_t** data,
                                            size_t* len) {
  if (p == nullptr || data == nullptr || len == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  const std::string_view rest = p->out.substr(p->out_off);
  *data = rest.empty() ? nullptr : reinterpret_cast<const std::uint8_t*>(rest.data());
  *len = rest.size();
  return 0;
}

MTOP_API int mtop_http_proxy_consume_output(mtop_http_proxy* p, size_t n) {
  if (p == nullptr || n > p->out.size() - p->out_off) return MTOP_ERR_INVALID_ARGUMENT;
  p->out_off += n;
  return 0;
}

}  // extern "C"
