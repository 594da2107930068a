// Fuzz target: ControlChannel driven like an adapter, checked against decode_frame() walked
// over the whole stream (a differential test: chunking and back-pressure must not change the
// outcome). Input: [role][keep-alive][chunk seed] then the peer's byte stream.
//   role % 2: server / climber; keep-alive % 3 picks K (1, 15, 3600 s)
// Invariants (abort on violation): consumed <= offered; pending output never above the bound
// plus one frame; the PONGs sent are exactly the answers to the reference's PINGs, the OPEN
// requests exactly its OPENs (an error on a server), the error the reference's; then the
// keep-alive: at most two PINGs on a silent peer, then keepalive_timeout.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mtop/control_channel.hpp"

#include "fuzz_support.hpp"

namespace {

using mtop::ControlChannel;
namespace event = mtop::event;

// What the stream means, frame by frame, as the codec alone sees it.
struct Reference {
  mtop::Bytes pongs;
  std::vector<mtop::AttachToken> opens;
  bool failed = false;
  mtop::Errc error = mtop::Errc::invalid_state;
  bool partial = false;  // the stream ends inside a frame
};

Reference walk(mtop::ByteView in, bool server) {
  Reference ref;
  size_t at = 0;
  while (at < in.size()) {
    auto d = mtop::decode_frame(in.subspan(at));
    if (!d) {
      ref.failed = true;
      ref.error = d.error();
      return ref;
    }
    if (!d->complete()) {
      ref.partial = true;
      return ref;
    }
    const mtop::ControlFrame& f = *d->message;
    if (f.type == static_cast<uint8_t>(mtop::FrameType::ping)) {
      FUZZ_ASSERT(
          mtop::encode_frame(static_cast<uint8_t>(mtop::FrameType::pong), f.body, ref.pongs).ok());
    } else if (f.type == static_cast<uint8_t>(mtop::FrameType::open)) {
      if (server) {
        ref.failed = true;
        ref.error = mtop::Errc::bad_frame;
        return ref;
      }
      mtop::AttachToken t;
      for (size_t i = 0; i < t.size(); ++i) t[i] = f.body[i];
      ref.opens.push_back(t);
    }
    at += d->size;
  }
  return ref;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const bool server = data[0] % 2 == 0;
  const uint16_t keepalives[] = {1, 15, 3600};
  const uint16_t k = keepalives[data[1] % 3];
  Chunker chunker{data[2], 61};
  const mtop::ByteView stream(data + 3, size - 3);
  const Reference ref = walk(stream, server);

  auto created = ControlChannel::create(
      server ? ControlChannel::Role::server : ControlChannel::Role::climber, k, 0);
  FUZZ_ASSERT(created.ok());
  ControlChannel c = std::move(*created);

  mtop::Bytes sent;
  std::vector<mtop::AttachToken> opens;
  bool saw_error = false;
  mtop::Errc error = mtop::Errc::invalid_state;
  auto drain = [&] {
    for (int guard = 0; guard < 1000; ++guard) {
      mtop::ControlEvent e = c.next_event();
      if (std::holds_alternative<event::NeedData>(e)) return;
      if (auto* o = std::get_if<event::OpenRequest>(&e)) {
        FUZZ_ASSERT(!server);
        opens.push_back(o->token);
      } else if (auto* err = std::get_if<event::Error>(&e)) {
        saw_error = true;
        error = err->code;
        return;
      } else {
        return;  // EndOfInput
      }
    }
    FUZZ_ASSERT(!"next_event() did not settle");
  };
  auto send = [&](size_t n) {
    const mtop::ByteView out = c.pending_output();
    FUZZ_ASSERT(out.size() <= mtop::kControlOutputLimit + mtop::kMaxControlFrameSize);
    if (n > out.size()) n = out.size();
    sent.insert(sent.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
    c.consume_output(n);
  };

  // Time stays below K: the keep-alive must not fire while the stream is fed.
  size_t at = 0;
  uint64_t now = 0;
  int stalls = 0;
  while (at < stream.size() && !saw_error) {
    const size_t n = chunker.next(stream.size() - at);
    auto r = c.feed(stream.subspan(at, n), now);
    FUZZ_ASSERT(r.ok());
    FUZZ_ASSERT(*r <= n);
    at += *r;
    send(chunker.next(1 << 16));  // a socket that takes some of the output
    drain();
    if (*r == 0) {
      FUZZ_ASSERT(++stalls < 100000);  // back-pressure must give way once output is sent
      send(c.pending_output().size());
    } else {
      now += 1;
    }
    FUZZ_ASSERT(c.next_timeout() > now || saw_error);
  }
  send(c.pending_output().size());

  FUZZ_ASSERT(saw_error == ref.failed);
  if (ref.failed) {
    FUZZ_ASSERT(error == ref.error);
    FUZZ_ASSERT(c.feed(stream, now).error() == mtop::Errc::invalid_state);
    FUZZ_ASSERT(c.next_timeout() == UINT64_MAX);
    // Every PING before the offending frame was answered; OPENs not yet reported when the
    // channel failed are dropped with it (the adapter aborts the control tunnel).
    FUZZ_ASSERT(sent == ref.pongs);
    FUZZ_ASSERT(opens.size() <= ref.opens.size());
    for (size_t i = 0; i < opens.size(); ++i) FUZZ_ASSERT(opens[i] == ref.opens[i]);
    return 0;
  }
  FUZZ_ASSERT(at == stream.size());
  FUZZ_ASSERT(sent == ref.pongs);
  FUZZ_ASSERT(opens == ref.opens);

  if (data[2] % 2 == 0) {
    // A silent peer: PINGs at K and 2K after the last byte, then the channel gives up.
    int pings = 0;
    for (int i = 0; i < 4 && c.state() == ControlChannel::State::open; ++i) {
      const uint64_t due = c.next_timeout();
      c.handle_timeout(due);
      if (!c.pending_output().empty()) ++pings;
      send(c.pending_output().size());
    }
    FUZZ_ASSERT(pings == 2);
    FUZZ_ASSERT(c.next_event() == mtop::ControlEvent{event::Error{mtop::Errc::keepalive_timeout}});
    return 0;
  }
  FUZZ_ASSERT(c.feed_eof().ok());
  drain();
  if (ref.partial) {
    FUZZ_ASSERT(saw_error && error == mtop::Errc::peer_closed);
  } else {
    FUZZ_ASSERT(!saw_error && c.next_event() == mtop::ControlEvent{event::EndOfInput{}});
  }
  return 0;
}
