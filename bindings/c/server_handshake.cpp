// mtop_server_handshake_* and mtop_server_settings_default: the C handle over
// mtop::ServerHandshake.
#include <cstdint>
#include <iterator>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "mtop/server_handshake.hpp"
#include "shim.hpp"

// The handle: the C++ machine plus what the C API adds. The reported auth request is kept
// here because the C event only points at its fields; the last PAYLOAD event's bytes too.
struct mtop_server_handshake {
  explicit mtop_server_handshake(mtop::ServerHandshake::Options options) : hs(options) {}
  mtop_server_handshake(const mtop_server_handshake&) = delete;
  mtop_server_handshake& operator=(const mtop_server_handshake&) = delete;
  ~mtop_server_handshake() {
    if (request) request->wipe_password();
    mtop::secure_wipe(event_payload);
  }

  mtop::ServerHandshake hs;
  void* user_data = nullptr;
  std::optional<mtop::AuthMessage> request;
  mtop::Bytes event_payload;
};

namespace {

using mtop::capi::guarded;
using mtop::capi::to_c;
using mtop::capi::version_size;

// Bytes of each version of the versioned structs (index = version).
constexpr std::size_t kSettingsSize[] = {0,
                                         MTOP_FIELDS_END(mtop_server_settings, early_data_limit)};
constexpr std::size_t kEventSize[] = {0, MTOP_FIELDS_END(mtop_server_event, request)};
static_assert(std::size(kSettingsSize) == MTOP_SERVER_SETTINGS_VERSION + 1);
static_assert(std::size(kEventSize) == MTOP_SERVER_EVENT_VERSION + 1);

// Fills the C event from a C++ one; the request and PAYLOAD bytes move into the handle.
void to_c_event(mtop::ServerEvent&& e, mtop_server_handshake& h, mtop_server_event& ev) {
  ev = mtop_server_event{};
  std::visit(
      [&](auto&& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, mtop::event::NeedData>) {
          ev.type = MTOP_EVENT_NEED_DATA;
        } else if constexpr (std::is_same_v<T, mtop::event::AuthRequest>) {
          h.request = std::move(x.request);
          x.request.wipe_password();  // moved-from, but a short password may have been copied
          ev.type = MTOP_EVENT_AUTH_REQUEST;
          mtop::capi::view_of(*h.request, ev.request);
        } else if constexpr (std::is_same_v<T, mtop::event::Payload>) {
          h.event_payload = std::move(x.data);
          ev.type = MTOP_EVENT_PAYLOAD;
          ev.data = h.event_payload.data();
          ev.len = h.event_payload.size();
        } else if constexpr (std::is_same_v<T, mtop::event::EndOfInput>) {
          ev.type = MTOP_EVENT_END_OF_INPUT;
        } else {
          static_assert(std::is_same_v<T, mtop::event::Error>, "unhandled server event");
          ev.type = MTOP_EVENT_ERROR;
          ev.error = to_c(x.code);
        }
      },
      std::move(e));
}

}  // namespace

extern "C" {

MTOP_API int mtop_server_settings_default_versioned(int version, mtop_server_settings* settings) {
  const std::size_t size = version_size(kSettingsSize, version);
  if (settings == nullptr || size == 0) return MTOP_ERR_INVALID_ARGUMENT;
  mtop_server_settings s{};
  s.version = static_cast<std::uint32_t>(version);
  s.early_data_limit = mtop::kDefaultEarlyDataLimit;
  mtop::capi::write_prefix(settings, s, size);
  return 0;
}

MTOP_API int(mtop_server_settings_default)(mtop_server_settings* settings) {
  return mtop_server_settings_default_versioned(1, settings);
}

MTOP_API int mtop_server_handshake_new(mtop_server_handshake** out,
                                       const mtop_server_settings* settings) {
  if (out == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  mtop::ServerHandshake::Options options;
  if (settings != nullptr) {
    // The leading version field says how much of the struct the caller has.
    const std::uint32_t version = settings->version;
    const std::size_t size = version > MTOP_SERVER_SETTINGS_VERSION
                                 ? 0
                                 : version_size(kSettingsSize, static_cast<int>(version));
    if (size == 0) return MTOP_ERR_INVALID_ARGUMENT;
    mtop_server_settings s{};
    if (mtop_server_settings_default_versioned(MTOP_SERVER_SETTINGS_VERSION, &s) != 0)
      return MTOP_ERR_INTERNAL;
    mtop::capi::read_prefix(s, settings, size);
    options.early_data_limit = s.early_data_limit;
  }
  return guarded([&] {
    *out = new mtop_server_handshake(options);
    return 0;
  });
}

MTOP_API void mtop_server_handshake_free(mtop_server_handshake* hs) {
  delete hs;
}

MTOP_API int mtop_server_handshake_set_user_data(mtop_server_handshake* hs, void* user_data) {
  if (hs == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  hs->user_data = user_data;
  return 0;
}

MTOP_API void* mtop_server_handshake_get_user_data(const mtop_server_handshake* hs) {
  return hs == nullptr ? nullptr : hs->user_data;
}

MTOP_API int mtop_server_handshake_feed(mtop_server_handshake* hs, const uint8_t* data,
                                        size_t len) {
  return mtop::capi::handshake_feed(hs, data, len);
}

MTOP_API int mtop_server_handshake_feed_eof(mtop_server_handshake* hs) {
  return mtop::capi::handshake_feed_eof(hs);
}

MTOP_API int mtop_server_handshake_next_event_versioned(mtop_server_handshake* hs, int version,
                                                        mtop_server_event* ev) {
  const std::size_t size = version_size(kEventSize, version);
  if (hs == nullptr || ev == nullptr || size == 0) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    mtop_server_event full{};
    to_c_event(hs->hs.next_event(), *hs, full);
    mtop::capi::write_prefix(ev, full, size);
    return full.type;
  });
}

MTOP_API int(mtop_server_handshake_next_event)(mtop_server_handshake* hs, mtop_server_event* ev) {
  return mtop_server_handshake_next_event_versioned(hs, 1, ev);
}

MTOP_API int mtop_server_handshake_accept(mtop_server_handshake* hs) {
  if (hs == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    auto r = hs->hs.accept();
    return r ? 0 : to_c(r.error());
  });
}

MTOP_API int mtop_server_handshake_reject(mtop_server_handshake* hs, int status, int mode) {
  if (hs == nullptr || status < 0 || status > 0xff) return MTOP_ERR_INVALID_ARGUMENT;
  if (mode != MTOP_REJECT_STEALTH && mode != MTOP_REJECT_REPLY) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    auto r = hs->hs.reject(static_cast<mtop::Status>(status), mode == MTOP_REJECT_REPLY
                                                                  ? mtop::RejectMode::reply
                                                                  : mtop::RejectMode::stealth);
    return r ? 0 : to_c(r.error());
  });
}

MTOP_API int mtop_server_handshake_wipe_password(mtop_server_handshake* hs) {
  if (hs == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  if (hs->request) hs->request->wipe_password();
  return 0;
}

MTOP_API int mtop_server_handshake_pending_output(const mtop_server_handshake* hs,
                                                  const uint8_t** data, size_t* len) {
  return mtop::capi::handshake_pending_output(hs, data, len);
}

MTOP_API int mtop_server_handshake_consume_output(mtop_server_handshake* hs, size_t n) {
  return mtop::capi::handshake_consume_output(hs, n);
}

MTOP_API int mtop_server_handshake_early_data_size(const mtop_server_handshake* hs, size_t* size) {
  if (hs == nullptr || size == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  *size = hs->hs.early_data_size();
  return 0;
}

}  // extern "C"
