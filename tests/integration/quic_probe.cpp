// quic_probe: one QUIC connection to 127.0.0.1:PORT (certificate checked against CA for the
// name "localhost"), one bidirectional stream carrying the bytes given in hex, then reports on
// stdout how the stream ended, for test_h3.py: "data N" (bytes received) then "eof", or
// "error: <reason>" (a stream reset or the connection's close, with its code), or
// "open failed: <reason>", or "timeout" after WAIT_MS. `--h3`: the server may open HTTP/3's
// unidirectional streams (ignored); `--dump`: "bytes HEX" (all bytes received) before the last
// line; `--abort-after N`: once N bytes came, the stream is reset and STOP_SENDING sent
// (H3_REQUEST_CANCELLED, as a browser cancelling a request) and the last line is "aborted".
// `--interactive` (test_reverse.py's Junk over QUIC, a hand-driven control tunnel): every chunk
// received is printed at once as "read HEX", and each line read from stdin once the stream is
// open is written to it (hex; "fin" half-closes); the end of stdin ends the probe ("stdin
// closed").
//
//   quic_probe PORT CA HEX [--fin] [--alpn NAME] [--wait-ms N] [--h3] [--dump]
//              [--abort-after N] [--interactive]
#include <uv.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "mtop/bytes.hpp"
#include "mtop/stream.hpp"
#include "quic/client.hpp"

namespace {

mtop::Bytes from_hex(const char* s) {
  mtop::Bytes out;
  for (std::size_t i = 0; s[i] && s[i + 1]; i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(s + i, 2), nullptr, 16)));
  }
  return out;
}

struct Report final : mtop::io::Stream::Handler {
  uv_loop_t* loop = nullptr;
  mtop::io::StreamPtr* stream = nullptr;
  std::size_t received = 0;
  bool dump = false;
  bool interactive = false;
  std::size_t abort_after = 0;  ///< 0: never
  std::string hex;
  bool ended = false;
  void end(const std::string& line) {
    if (ended) return;
    ended = true;
    if (received > 0) std::printf("data %zu\n", received);
    if (dump) std::printf("bytes %s\n", hex.c_str());
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    uv_stop(loop);
  }
  void on_read(mtop::ByteView data) override {
    received += data.size();
    if (dump || interactive) {
      static constexpr char kDigits[] = "0123456789abcdef";
      for (std::uint8_t b : data) {
        hex.push_back(kDigits[b >> 4]);
        hex.push_back(kDigits[b & 15]);
      }
    }
    if (interactive) {
      std::printf("read %s\n", hex.c_str());
      std::fflush(stdout);
      hex.clear();
    }
    if (abort_after > 0 && received >= abort_after && !ended) {
      constexpr std::uint64_t kH3RequestCancelled = 0x10c;
      stream->release()->abort(kH3RequestCancelled);
      end("aborted");
    }
  }
  void on_eof() override { end("eof"); }
  void on_error(std::string_view reason) override { end("error: " + std::string(reason)); }
  void on_drain() override {}
};

/// --interactive: the lines of stdin, written to the stream as they come.
struct StdinLines {
  uv_pipe_t pipe{};
  Report* report = nullptr;
  std::string line;
  char buffer[4096];

  void start(uv_loop_t* loop) {
    uv_pipe_init(loop, &pipe, 0);
    uv_pipe_open(&pipe, 0);
    pipe.data = this;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&pipe),
        [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
          auto* self = static_cast<StdinLines*>(h->data);
          *buf = uv_buf_init(self->buffer, sizeof self->buffer);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* self = static_cast<StdinLines*>(s->data);
          if (n < 0) {
            uv_read_stop(s);
            self->report->end("stdin closed");
            return;
          }
          self->take(std::string_view(buf->base, static_cast<std::size_t>(n)));
        });
  }
  void take(std::string_view data) {
    for (char c : data) {
      if (c != '\n') {
        line.push_back(c);
        continue;
      }
      mtop::io::StreamPtr& stream = *report->stream;
      if (stream && line == "fin") {
        stream->shutdown();
      } else if (stream) {
        stream->write(from_hex(line.c_str()));
      }
      line.clear();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: quic_probe PORT CA HEX [--fin] [--alpn NAME] [--wait-ms N]\n");
    return 2;
  }
  mtop::quic::QuicClientOptions o;
  o.host = "127.0.0.1";
  o.port = static_cast<std::uint16_t>(std::stoi(argv[1]));
  o.tls.server_name = "localhost";
  o.tls.ca_file = argv[2];
  o.max_connections = 1;
  const mtop::Bytes payload = from_hex(argv[3]);
  bool fin = false;
  bool dump = false;
  bool interactive = false;
  std::size_t abort_after = 0;
  std::uint64_t wait_ms = 8'000;
  for (int i = 4; i < argc; ++i) {
    if (std::strcmp(argv[i], "--fin") == 0) fin = true;
    if (std::strcmp(argv[i], "--alpn") == 0 && i + 1 < argc) o.alpn = argv[++i];
    if (std::strcmp(argv[i], "--wait-ms") == 0 && i + 1 < argc) wait_ms = std::stoull(argv[++i]);
    if (std::strcmp(argv[i], "--h3") == 0) o.limits.server_uni_streams = 3;
    if (std::strcmp(argv[i], "--dump") == 0) dump = true;
    if (std::strcmp(argv[i], "--interactive") == 0) interactive = true;
    if (std::strcmp(argv[i], "--abort-after") == 0 && i + 1 < argc) {
      abort_after = std::stoull(argv[++i]);
    }
  }
  uv_loop_t* loop = uv_default_loop();
  auto client = mtop::quic::QuicClient::create(loop, o);
  if (!client) {
    std::fprintf(stderr, "quic_probe: %s\n", std::string(client.message()).c_str());
    return 2;
  }
  mtop::io::StreamPtr stream;
  Report report;
  report.loop = loop;
  report.stream = &stream;
  report.dump = dump;
  report.interactive = interactive;
  StdinLines lines;
  lines.report = &report;
  report.abort_after = abort_after;
  (*client)->open([&](mtop::io::StreamPtr s, std::string error) {
    if (!s) {
      report.end("open failed: " + error);
      return;
    }
    stream = std::move(s);
    stream->set_handler(&report);
    if (!payload.empty()) stream->write(payload);
    if (fin) stream->shutdown();
    stream->start_read();
    if (interactive) lines.start(loop);
  });
  uv_timer_t timer;
  uv_timer_init(loop, &timer);
  timer.data = &report;
  uv_timer_start(
      &timer, [](uv_timer_t* t) { static_cast<Report*>(t->data)->end("timeout"); }, wait_ms, 0);
  uv_run(loop, UV_RUN_DEFAULT);
  stream.reset();
  client->reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  if (lines.pipe.loop) uv_close(reinterpret_cast<uv_handle_t*>(&lines.pipe), nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
