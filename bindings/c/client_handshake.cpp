// mtop_client_handshake_*: the C handle over mtop::ClientHandshake.
#include <iterator>
#include <type_traits>
#include <utility>
#include <variant>

#include "mtop/client_handshake.hpp"
#include "shim.hpp"

// The handle: the C++ machine plus what the C API adds (user data, and the bytes of the last
// PAYLOAD event, which the C caller reads through a pointer until its next mutating call).
struct mtop_client_handshake {
  explicit mtop_client_handshake(mtop::ClientHandshake machine) : hs(std::move(machine)) {}

  mtop::ClientHandshake hs;
  void* user_data = nullptr;
  mtop::Bytes event_payload;
};

namespace {

using mtop::capi::guarded;
using mtop::capi::to_c;
using mtop::capi::valid_input;
using mtop::capi::version_size;

// Bytes of each version of mtop_client_event (index = version).
constexpr std::size_t kEventSize[] = {0, MTOP_FIELDS_END(mtop_client_event, len)};
static_assert(std::size(kEventSize) == MTOP_CLIENT_EVENT_VERSION + 1);

// Fills the C event from a C++ one; PAYLOAD bytes move into the handle.
void to_c_event(mtop::ClientEvent&& e, mtop_client_handshake& h, mtop_client_event& ev) {
  ev = mtop_client_event{};
  std::visit(
      [&](auto&& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, mtop::event::NeedData>) {
          ev.type = MTOP_EVENT_NEED_DATA;
        } else if constexpr (std::is_same_v<T, mtop::event::Established>) {
          ev.type = MTOP_EVENT_ESTABLISHED;
        } else if constexpr (std::is_same_v<T, mtop::event::Payload>) {
          h.event_payload = std::move(x.data);
          ev.type = MTOP_EVENT_PAYLOAD;
          ev.data = h.event_payload.data();
          ev.len = h.event_payload.size();
        } else if constexpr (std::is_same_v<T, mtop::event::EndOfInput>) {
          ev.type = MTOP_EVENT_END_OF_INPUT;
        } else if constexpr (std::is_same_v<T, mtop::event::Rejected>) {
          ev.type = MTOP_EVENT_REJECTED;
          ev.status = static_cast<int>(x.status);
        } else if constexpr (std::is_same_v<T, mtop::event::ClosedWithoutStatus>) {
          ev.type = MTOP_EVENT_CLOSED_WITHOUT_STATUS;
          ev.error = to_c(mtop::Errc::peer_closed);
        } else {
          static_assert(std::is_same_v<T, mtop::event::Error>, "unhandled client event");
          ev.type = MTOP_EVENT_ERROR;
          ev.error = to_c(x.code);
        }
      },
      std::move(e));
}

}  // namespace

extern "C" {

MTOP_API int mtop_client_handshake_new(mtop_client_handshake** out,
                                       const mtop_auth_message* request) {
  if (out == nullptr || request == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    mtop::AuthMessage m;
    int rc = mtop::capi::from_c(*request, m);
    if (rc == 0) {
      auto r = mtop::ClientHandshake::create(m);
      if (r) {
        *out = new mtop_client_handshake(std::move(*r));
      } else {
        rc = to_c(r.error());
      }
    }
    m.wipe_password();
    return rc;
  });
}

MTOP_API void mtop_client_handshake_free(mtop_client_handshake* hs) {
  delete hs;  // the machine's destructor wipes its output (the encoded password)
}

MTOP_API int mtop_client_handshake_set_user_data(mtop_client_handshake* hs, void* user_data) {
  if (hs == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  hs->user_data = user_data;
  return 0;
}

MTOP_API void* mtop_client_handshake_get_user_data(const mtop_client_handshake* hs) {
  return hs == nullptr ? nullptr : hs->user_data;
}

MTOP_API int mtop_client_handshake_send_payload(mtop_client_handshake* hs, const uint8_t* data,
                                                size_t len) {
  if (hs == nullptr || !valid_input(data, len)) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    auto r = hs->hs.send_payload(mtop::ByteView(data, len));
    return r ? 0 : to_c(r.error());
  });
}

MTOP_API int mtop_client_handshake_pending_output(const mtop_client_handshake* hs,
                                                  const uint8_t** data, size_t* len) {
  return mtop::capi::handshake_pending_output(hs, data, len);
}

MTOP_API int mtop_client_handshake_consume_output(mtop_client_handshake* hs, size_t n) {
  return mtop::capi::handshake_consume_output(hs, n);
}

MTOP_API int mtop_client_handshake_feed(mtop_client_handshake* hs, const uint8_t* data,
                                        size_t len) {
  return mtop::capi::handshake_feed(hs, data, len);
}

MTOP_API int mtop_client_handshake_feed_eof(mtop_client_handshake* hs) {
  return mtop::capi::handshake_feed_eof(hs);
}

MTOP_API int mtop_client_handshake_next_event_versioned(mtop_client_handshake* hs, int version,
                                                        mtop_client_event* ev) {
  const std::size_t size = version_size(kEventSize, version);
  if (hs == nullptr || ev == nullptr || size == 0) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    mtop_client_event full{};
    to_c_event(hs->hs.next_event(), *hs, full);
    mtop::capi::write_prefix(ev, full, size);
    return full.type;
  });
}

MTOP_API int(mtop_client_handshake_next_event)(mtop_client_handshake* hs, mtop_client_event* ev) {
  return mtop_client_handshake_next_event_versioned(hs, 1, ev);
}

}  // extern "C"
