// EofReplayStream: hands a local connection to the relay after its EOF was already consumed.
//
// While the climber opens a tunnel it keeps reading the local socket (the bytes become early
// data). If the application half-closes in that window (`printf 'GET / ...' | nc`), libuv
// reports the EOF once, to the session, and never again. The relay must still learn of it, or
// it would wait forever for the client's half-close. This wrapper forwards every call to the
// real stream and, on the first start_read(), reports on_eof from the loop (never inside the
// call, as io::Stream promises).
#pragma once

#include <uv.h>

#include "mtop/stream.hpp"
#include "uv/poster.hpp"

namespace mtop {

class EofReplayStream final : public io::Stream {
 public:
  /// Wraps `inner`, whose EOF has been seen already. The wrapper frees itself on close().
  static io::StreamPtr wrap(uv_loop_t* loop, io::StreamPtr inner);

  void set_handler(Handler* handler) override { handler_ = handler; }
  void start_read() override;
  void stop_read() override {}
  void write(ByteView data) override { inner_->write(data); }
  std::size_t write_queue_size() const override { return inner_->write_queue_size(); }
  void shutdown() override { inner_->shutdown(); }
  void close() override;
  std::string peer_name() const override { return inner_->peer_name(); }

 private:
  EofReplayStream(uv_loop_t* loop, io::StreamPtr inner);
  ~EofReplayStream() override = default;

  // The inner stream's events, passed on (no reads follow its EOF; errors and drains may).
  struct Forward final : io::Stream::Handler {
    explicit Forward(EofReplayStream& s) : self(s) {}
    void on_read(ByteView data) override {
      if (self.handler_) self.handler_->on_read(data);
    }
    void on_eof() override {}
    void on_error(std::string_view reason) override {
      if (self.handler_) self.handler_->on_error(reason);
    }
    void on_drain() override {
      if (self.handler_) self.handler_->on_drain();
    }
    EofReplayStream& self;
  };

  Forward forward_{*this};
  io::StreamPtr inner_;
  io::Poster poster_;
  Handler* handler_ = nullptr;
  bool replayed_ = false;
};

}  // namespace mtop
