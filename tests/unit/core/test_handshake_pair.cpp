// A ClientHandshake and a ServerHandshake wired together through two in-memory "wires",
// driven by a seeded random scheduler: writes and reads of random sizes, the server's decision
// after a random delay, half-closes at both ends. Exact event sequences and payload bytes are
// asserted for accept, stealth reject and reply reject, with several seeds each.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "mtop/client_handshake.hpp"
#include "mtop/server_handshake.hpp"

using mtop::Bytes;
using mtop::ClientEvent;
using mtop::ClientHandshake;
using mtop::RejectMode;
using mtop::ServerEvent;
using mtop::ServerHandshake;
using mtop::Status;
namespace event = mtop::event;

namespace {

enum class Decision { accept, reject_stealth, reject_reply };

struct Scenario {
  std::uint32_t seed;
  Decision decision;
  std::size_t early_limit;
  std::size_t early_size;   // client payload queued before the answer
  std::size_t later_size;   // client payload after Established
  std::size_t server_size;  // server payload after its response
};

Bytes pattern(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 31 + salt);
  return b;
}

template <class Event>
void append(std::vector<Event>& out, Event& e) {
  // Adjacent payloads are merged: the split depends on the chunking, the bytes must not.
  if (auto* p = std::get_if<event::Payload>(&e);
      p && !out.empty() && std::holds_alternative<event::Payload>(out.back())) {
    auto& prev = std::get<event::Payload>(out.back()).data;
    prev.insert(prev.end(), p->data.begin(), p->data.end());
    return;
  }
  out.push_back(std::move(e));
}

bool client_terminal(const ClientEvent& e) {
  return std::holds_alternative<event::Rejected>(e) ||
         std::holds_alternative<event::ClosedWithoutStatus>(e) ||
         std::holds_alternative<event::Error>(e) || std::holds_alternative<event::EndOfInput>(e);
}

struct Outcome {
  std::vector<ClientEvent> client;
  std::vector<ServerEvent> server;
};

Outcome run(const Scenario& sc, const mtop::AuthMessage& request) {
  std::mt19937 rng(sc.seed);
  auto upto = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n)(rng); };

  auto created = ClientHandshake::create(request);
  REQUIRE(created);
  ClientHandshake client = std::move(*created);
  ServerHandshake server(ServerHandshake::Options{sc.early_limit});

  const Bytes early = pattern(sc.early_size, 1);
  const Bytes later = pattern(sc.later_size, 2);
  const Bytes from_server = pattern(sc.server_size, 3);
  // Early payload is queued in two parts, the second at a random moment before the answer.
  const std::size_t first_part = upto(early.size());
  REQUIRE(client.send_payload(mtop::ByteView(early).first(first_part)));
  bool early_rest_sent = false;

  Outcome out;
  Bytes c2s, s2c;
  bool c2s_eof = false, s2c_eof = false;        // the writer closed and the wire is flushed
  bool client_closing = false, client_done = false, client_eof_fed = false;
  bool server_saw_request = false, server_decided = false, server_payload_queued = false;
  bool server_eof_fed = false, server_done = false;
  int decide_in = static_cast<int>(upto(20));

  auto drain_client = [&] {
    for (;;) {
      ClientEvent e = client.next_event();
      if (std::holds_alternative<event::NeedData>(e)) return;
      const bool terminal = client_terminal(e);
      if (std::holds_alternative<event::Established>(e)) {
        if (!early_rest_sent) {
          REQUIRE(client.send_payload(mtop::ByteView(early).subspan(first_part)));
          early_rest_sent = true;
        }
        REQUIRE(client.send_payload(later));
        client_closing = true;
      }
      append(out.client, e);
      if (terminal) {
        client_done = true;
        return;
      }
    }
  };
  auto drain_server = [&] {
    for (;;) {
      ServerEvent e = server.next_event();
      if (std::holds_alternative<event::NeedData>(e)) return;
      const bool terminal = std::holds_alternative<event::EndOfInput>(e) ||
                            std::holds_alternative<event::Error>(e);
      if (std::holds_alternative<event::AuthRequest>(e)) server_saw_request = true;
      append(out.server, e);
      if (terminal) return;
    }
  };

  for (int step = 0; step < 1'000'000 && !(client_done && server_done); ++step) {
    switch (upto(5)) {
      case 0: {  // the client writes some of its output
        if (!early_rest_sent && !client_done && upto(3) == 0) {
          REQUIRE(client.send_payload(mtop::ByteView(early).subspan(first_part)));
          early_rest_sent = true;
        }
        const std::size_t n = upto(client.pending_output().size());
        c2s.insert(c2s.end(), client.pending_output().begin(), client.pending_output().begin() + static_cast<long>(n));
        client.consume_output(n);
        if (client_closing && client.pending_output().empty()) c2s_eof = true;
        break;
      }
      case 1: {  // the server reads
        if (server_decided && server.state() != ServerHandshake::State::accepted) break;
        if (!c2s.empty()) {
          const std::size_t n = 1 + upto(c2s.size() - 1);
          auto r = server.feed(mtop::ByteView(c2s).first(n));
          REQUIRE(r);
          REQUIRE(*r <= n);
          // Back-pressure: never more early payload held than the bound.
          if (server.state() == ServerHandshake::State::awaiting_decision)
            REQUIRE(server.early_data_size() <= sc.early_limit);
          c2s.erase(c2s.begin(), c2s.begin() + static_cast<long>(*r));
          drain_server();
        } else if (c2s_eof && !server_eof_fed &&
                   server.state() == ServerHandshake::State::accepted) {
          REQUIRE(server.feed_eof());
          server_eof_fed = true;
          drain_server();
          server_done = server_payload_queued;
        }
        break;
      }
      case 2: {  // the server app decides, some time after it saw the request
        if (!server_saw_request || server_decided || decide_in-- > 0) break;
        server_decided = true;
        if (sc.decision == Decision::accept) {
          REQUIRE(server.accept());
          drain_server();  // the held early payload
        } else {
          REQUIRE(server.reject(Status::auth_failed, sc.decision == Decision::reject_reply
                                                         ? RejectMode::reply
                                                         : RejectMode::stealth));
        }
        break;
      }
      case 3: {  // the server writes its output, then (accepted) its payload, then closes
        const std::size_t n = upto(server.pending_output().size());
        s2c.insert(s2c.end(), server.pending_output().begin(), server.pending_output().begin() + static_cast<long>(n));
        server.consume_output(n);
        if (server_decided && server.pending_output().empty() && !s2c_eof) {
          if (server.state() == ServerHandshake::State::accepted) {
            s2c.insert(s2c.end(), from_server.begin(), from_server.end());
            server_payload_queued = true;
            server_done = server_eof_fed;
          } else {
            server_done = true;
          }
          s2c_eof = true;
        }
        break;
      }
      case 4:
      case 5: {  // the client reads
        if (client_done) break;
        if (!s2c.empty()) {
          const std::size_t n = 1 + upto(s2c.size() - 1);
          auto r = client.feed(mtop::ByteView(s2c).first(n));
          REQUIRE(r);
          REQUIRE(*r <= n);
          s2c.erase(s2c.begin(), s2c.begin() + static_cast<long>(*r));
          drain_client();
        } else if (s2c_eof && !client_eof_fed) {
          REQUIRE(client.feed_eof());
          client_eof_fed = true;
          drain_client();
        }
        break;
      }
    }
  }
  REQUIRE(client_done);
  REQUIRE(server_done);
  return out;
}

}  // namespace

TEST_CASE("pair: accepted tunnels carry early and later payload both ways", "[pair]") {
  const mtop::AuthMessage req{mtop::Method::connect, "climber", "pa55",
                              mtop::Address::from_domain("target.example", 443)};
  const Scenario scenarios[] = {
      {1, Decision::accept, 65536, 300, 200, 500},
      {2, Decision::accept, 16, 300, 50, 1},        // early payload far above the bound
      {3, Decision::accept, 0, 40, 0, 0},           // no early payload read before accept
      {4, Decision::accept, 1024, 0, 0, 0},         // nothing but the handshake
      {5, Decision::accept, 7, 7, 1, 3000},
      {6, Decision::accept, 100, 5000, 100, 100},
      {7, Decision::accept, 1, 2, 3, 4},
  };
  for (const Scenario& sc : scenarios) {
    INFO("seed " << sc.seed);
    Outcome o = run(sc, req);

    std::vector<ServerEvent> server{event::AuthRequest{req}};
    Bytes to_target = pattern(sc.early_size, 1);
    const Bytes later = pattern(sc.later_size, 2);
    to_target.insert(to_target.end(), later.begin(), later.end());
    if (!to_target.empty()) server.push_back(event::Payload{to_target});
    server.push_back(event::EndOfInput{});
    CHECK(o.server == server);

    std::vector<ClientEvent> client{event::Established{}};
    if (sc.server_size) client.push_back(event::Payload{pattern(sc.server_size, 3)});
    client.push_back(event::EndOfInput{});
    CHECK(o.client == client);
  }
}

TEST_CASE("pair: rejections in stealth and reply mode", "[pair]") {
  const mtop::AuthMessage req{mtop::Method::connect, "climber", "wrong",
                              mtop::Address::from_ipv4({203, 0, 113, 5}, 22)};
  for (std::uint32_t seed = 10; seed < 16; ++seed) {
    for (Decision d : {Decision::reject_stealth, Decision::reject_reply}) {
      INFO("seed " << seed << " reply " << (d == Decision::reject_reply));
      Outcome o = run({seed, d, 64, 200, 10, 10}, req);
      CHECK(o.server == std::vector<ServerEvent>{event::AuthRequest{req}});
      if (d == Decision::reject_reply) {
        CHECK(o.client == std::vector<ClientEvent>{event::Rejected{Status::auth_failed}});
      } else {
        CHECK(o.client == std::vector<ClientEvent>{event::ClosedWithoutStatus{}});
      }
    }
  }
}
