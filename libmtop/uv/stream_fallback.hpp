// StreamFallback: where a tunnel stream that fails its MTop handshake before a right password
// goes instead of being closed, when the transport it came on has a site of its own: the QUIC
// port's HTTP/3 site (docs/PROTOCOL.md section 10, quic/h3_gate.hpp). The TLS port's fallback
// does not use it (its tunnels relay to the backend themselves).
//
// The object speaks for the whole connection the stream belongs to: one tunnel's outcome
// decides what the connection is, and the connection may change its mind for every tunnel on
// it at once (recall). Every call on the loop's thread.
#pragma once

#include <functional>
#include <memory>

#include "mtop/bytes.hpp"
#include "mtop/stream.hpp"

namespace mtop::io {

class StreamFallback {
 public:
  /// Held by a tunnel while it may still be recalled; destroying it stops the recall.
  class Watch {
   public:
    virtual ~Watch() = default;
  };

  virtual ~StreamFallback() = default;

  /// Whether a tunnel that fails now may be handed over with take(): false when there is no
  /// site, or once the connection is a climber's (a right password was seen on it).
  virtual bool open() const = 0;
  /// A tunnel of this connection passed its login: the connection is a climber's from now on.
  virtual void passed() = 0;
  /// Takes a failed tunnel's stream, with every byte read from it so far (`kept`, in order)
  /// and whether its end was read (`eof`). The stream's handler is replaced; the tunnel must
  /// not touch it any more.
  virtual void take(StreamPtr stream, Bytes kept, bool eof) = 0;
  /// `recall` is called (at most once) when the connection stops being undecided for a
  /// reason other than this tunnel: the tunnel should then hand its stream over with take()
  /// if it has not passed its login. Never called inside watch().
  virtual std::unique_ptr<Watch> watch(std::function<void()> recall) = 0;
};

}  // namespace mtop::io
