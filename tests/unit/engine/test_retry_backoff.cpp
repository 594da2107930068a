// The climber's reconnect schedule for a reverse tunnel (ReverseClient, docs/CLIMBER.md):
// 1 s, doubling up to 60 s, back to 1 s after a success. The integration test
// (test_reverse.py ServerRestart) checks the first delays on a real climber; the cap and the
// reset are checked here, where nobody waits a minute for them.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "engine/retry_backoff.hpp"
#include "engine/reverse_client.hpp"

using namespace mtop;

namespace {

std::vector<std::uint64_t> failures(RetryBackoff& b, int n) {
  std::vector<std::uint64_t> delays;
  for (int i = 0; i < n; ++i) delays.push_back(b.failed());
  return delays;
}

}  // namespace

TEST_CASE("reverse reconnect: 1 s doubling, capped at 60 s") {
  RetryBackoff b(ReverseClient::kFirstRetryMs, ReverseClient::kMaxRetryMs);
  CHECK(failures(b, 10) == std::vector<std::uint64_t>{1'000, 2'000, 4'000, 8'000, 16'000, 32'000,
                                                      60'000, 60'000, 60'000, 60'000});
}

TEST_CASE("reverse reconnect: a success starts again at 1 s") {
  RetryBackoff b(ReverseClient::kFirstRetryMs, ReverseClient::kMaxRetryMs);
  (void)failures(b, 3);
  b.succeeded();
  CHECK(failures(b, 3) == std::vector<std::uint64_t>{1'000, 2'000, 4'000});
  // From the cap too, and a success with no failure before changes nothing.
  (void)failures(b, 20);
  b.succeeded();
  b.succeeded();
  CHECK(b.failed() == 1'000);
}

TEST_CASE("retry back-off: a cap that is not a power of two of the first delay") {
  RetryBackoff b(300, 1'000);
  CHECK(failures(b, 5) == std::vector<std::uint64_t>{300, 600, 1'000, 1'000, 1'000});
  RetryBackoff one(500, 500);
  CHECK(failures(one, 3) == std::vector<std::uint64_t>{500, 500, 500});
}
