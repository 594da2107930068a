// loadgen: the load generator and echo target for bench/run.sh. Modes (see --help):
//   echo      an epoll echo server, the target behind the proxies (never the bottleneck)
//   rate      tunnels per second: connect, 64 bytes out, 64-byte echo back, close; 32 at once
//   pingpong  64-byte round trips on one connection; p50/p90/p99/max in µs
//   connlat   time from connect() to the first echo on fresh connections, one at a time
//   idle      N established tunnels held open until a signal; for memory per tunnel
// Results are single lines of key=value pairs on stdout.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "loadgen/modes.hpp"

namespace {

using mtop::bench::Endpoint;

// CLI11 check for "host:port" / "[v6]:port" / "port".
struct EndpointValidator : CLI::Validator {
  EndpointValidator() {
    name_ = "ENDPOINT";
    func_ = [](const std::string& text) {
      Endpoint ep;
      return mtop::bench::parse_endpoint(text, ep) ? std::string{}
                                                   : "not a numeric host:port: " + text;
    };
  }
};

Endpoint endpoint(const std::string& text) {
  Endpoint ep;
  mtop::bench::parse_endpoint(text, ep);  // already validated by EndpointValidator
  return ep;
}

int run(int argc, char** argv) {
  CLI::App app{"MTop benchmark load generator and echo target"};
  app.require_subcommand(1);
  const EndpointValidator valid_endpoint;

  std::string listen = "127.0.0.1:0";
  auto* echo = app.add_subcommand("echo", "echo server (prints echo listening=HOST:PORT)");
  echo->add_option("--listen", listen, "host:port to listen on (port 0: any)")->check(valid_endpoint);

  std::string target;
  mtop::bench::RateOptions rate;
  auto* rate_cmd = app.add_subcommand("rate", "tunnels per second");
  rate_cmd->add_option("--to", target, "host:port to connect to")->required()->check(valid_endpoint);
  rate_cmd->add_option("--seconds", rate.seconds, "how long")->check(CLI::Range(0.1, 3600.0));
  rate_cmd->add_option("--concurrency", rate.concurrency, "tunnels at once")->check(CLI::Range(1, 10000));
  rate_cmd->add_option("--size", rate.size, "bytes each way")->check(CLI::Range(1, 1 << 20));

  mtop::bench::PingPongOptions pp;
  auto* pp_cmd = app.add_subcommand("pingpong", "round-trip latency on one connection");
  pp_cmd->add_option("--to", target, "host:port to connect to")->required()->check(valid_endpoint);
  pp_cmd->add_option("--rounds", pp.rounds, "timed round trips")->check(CLI::Range(1, 100'000'000));
  pp_cmd->add_option("--warmup", pp.warmup, "untimed round trips first")->check(CLI::Range(1, 1'000'000));
  pp_cmd->add_option("--size", pp.size, "bytes each way")->check(CLI::Range(1, 1 << 20));

  mtop::bench::ConnLatOptions cl;
  auto* cl_cmd = app.add_subcommand("connlat", "connect-to-first-echo latency, one at a time");
  cl_cmd->add_option("--to", target, "host:port to connect to")->required()->check(valid_endpoint);
  cl_cmd->add_option("--count", cl.count, "timed connections")->check(CLI::Range(1, 1'000'000));
  cl_cmd->add_option("--warmup", cl.warmup, "untimed connections first")->check(CLI::Range(1, 1000));
  cl_cmd->add_option("--size", cl.size, "bytes each way")->check(CLI::Range(1, 1 << 20));
  long pause_ms = 0;
  cl_cmd->add_option("--pause-ms", pause_ms, "wait after each connection closes")->check(CLI::Range(0, 60'000));

  mtop::bench::IdleOptions idle;
  long hold_seconds = 600;
  auto* idle_cmd = app.add_subcommand("idle", "hold N established tunnels until SIGUSR1");
  idle_cmd->add_option("--to", target, "host:port to connect to")->required()->check(valid_endpoint);
  idle_cmd->add_option("--count", idle.count, "tunnels to hold")->check(CLI::Range(1, 1'000'000));
  idle_cmd->add_option("--concurrency", idle.concurrency, "set-ups at once")->check(CLI::Range(1, 10000));
  idle_cmd->add_option("--hold-seconds", hold_seconds, "longest hold")->check(CLI::Range(1, 86400));
  idle_cmd->add_flag("--stdin", idle.watch_stdin, "a line or EOF on stdin also ends the hold");

  CLI11_PARSE(app, argc, argv);
  if (*echo) return mtop::bench::run_echo({endpoint(listen)});
  if (*rate_cmd) {
    rate.target = endpoint(target);
    return mtop::bench::run_rate(rate);
  }
  if (*pp_cmd) {
    pp.target = endpoint(target);
    return mtop::bench::run_pingpong(pp);
  }
  if (*cl_cmd) {
    cl.target = endpoint(target);
    cl.pause = std::chrono::milliseconds(pause_ms);
    return mtop::bench::run_connlat(cl);
  }
  idle.target = endpoint(target);
  idle.hold = std::chrono::seconds(hold_seconds);
  return mtop::bench::run_idle(idle);
}

}  // namespace

int main(int argc, char** argv) {
  // The command line set-up can throw too (CLI11 errors, bad_alloc), not only the run.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 1;
  }
}
