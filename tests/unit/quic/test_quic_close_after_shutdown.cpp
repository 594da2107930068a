// shutdown() then close() in the same loop turn, with every byte already acknowledged: that
// is how a relay ends a tunnel (both sides at EOF, nothing queued). The peer must see a clean
// EOF (FIN), not RESET_STREAM: a reset makes the climber report an error and drop output it
// still holds for a slow local reader. close() without shutdown() still aborts.
#include <catch2/catch.hpp>

#include "must.hpp"
#include "quic_test_support.hpp"

using namespace qt;
using namespace mtop::quic;

namespace {

/// Server side that only records; the test decides when to shut down and close.
struct Holder {
  struct Session : Stream::Handler {
    StreamPtr s;
    Bytes got;
    bool eof = false;
    void on_read(ByteView d) override { got.insert(got.end(), d.begin(), d.end()); }
    void on_eof() override { eof = true; }
    void on_error(std::string_view) override {}
    void on_drain() override {}
  };
  std::vector<std::unique_ptr<Session>> sessions;
  mtop::io::StreamAcceptor::AcceptCallback acceptor() {
    return [this](StreamPtr s) {
      auto sess = std::make_unique<Session>();
      sess->s = std::move(s);
      sess->s->set_handler(sess.get());
      sess->s->start_read();
      sessions.push_back(std::move(sess));
    };
  }
};

struct Pair {
  Loop loop;
  Certs certs;
  Holder holder;
  std::unique_ptr<QuicServer> server;
  std::unique_ptr<QuicClient> client;
  Collector far;

  /// A stream whose request ("ping" + FIN) reached the server and whose answer ("pong") the
  /// client's QUIC stack has acknowledged.
  Holder::Session* exchange() {
    std::string error;
    server = must(QuicServer::create(loop.get(), server_options(certs), holder.acceptor()));
    REQUIRE(server);
    client = must(QuicClient::create(loop.get(), client_options(certs, server->port())));
    REQUIRE(client);
    far.s = open_stream(loop, *client, error);
    REQUIRE(far.s);
    far.s->set_handler(&far);
    far.s->start_read();
    const Bytes ping{'p', 'i', 'n', 'g'};
    far.s->write(ping);
    far.s->shutdown();
    REQUIRE(loop.run_until([&] { return !holder.sessions.empty() && holder.sessions[0]->eof; }));
    Holder::Session* s = holder.sessions[0].get();
    CHECK(s->got == ping);
    const Bytes pong{'p', 'o', 'n', 'g'};
    s->s->write(pong);
    REQUIRE(loop.run_until([&] { return s->s->write_queue_size() == 0 && far.bytes == 4; }));
    return s;
  }

  ~Pair() {
    far.s.reset();
    client.reset();
    holder.sessions.clear();
    server.reset();
  }
};

}  // namespace

TEST_CASE("quic stream: shutdown() then close() at once ends with FIN, not a reset", "[quic]") {
  Pair p;
  Holder::Session* s = p.exchange();
  s->s->shutdown();
  s->s.reset();  // close() in the same turn: the FIN has not left yet
  REQUIRE(p.loop.run_until([&] { return p.far.eof || !p.far.error.empty(); }));
  CHECK(p.far.error.empty());
  CHECK(p.far.eof);
  CHECK(p.far.data == Bytes{'p', 'o', 'n', 'g'});
}

TEST_CASE("quic stream: close() without shutdown() still resets the stream", "[quic]") {
  Pair p;
  Holder::Session* s = p.exchange();
  s->s.reset();
  REQUIRE(p.loop.run_until([&] { return p.far.eof || !p.far.error.empty(); }));
  CHECK_FALSE(p.far.eof);
  INFO(p.far.error);
  CHECK(p.far.error.find("reset by peer") != std::string::npos);
}
