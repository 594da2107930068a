// The pure pieces of admission control: the shared per-source table, the grouping of sources
// into keys, the allow/deny lists, the new-tunnel token bucket and the log-once gate. Time is
// a plain number here: every case is exact.
#include <catch2/catch.hpp>

#include <string>

#include "auth/source_filter.hpp"
#include "auth/source_log_gate.hpp"
#include "auth/source_rate_limit.hpp"
#include "auth/source_table.hpp"

using namespace mtop::auth;

namespace {

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  REQUIRE(a);
  return *a;
}

SourceFilter filter(const std::vector<std::string>& allow, const std::vector<std::string>& deny) {
  auto f = SourceFilter::parse(allow, deny);
  INFO(f.message());
  REQUIRE(f);
  return *f;
}

SourceRateLimit::Options rate(double per_second, std::uint32_t burst, std::size_t max = 100) {
  SourceRateLimit::Options o;
  o.per_second = per_second;
  o.burst = burst;
  o.max_sources = max;
  return o;
}

}  // namespace

TEST_CASE("source key: addresses, subnets, IPv4-mapped IPv6", "[auth][admission]") {
  // One IPv4 address; the mapped form of the same peer is the same source.
  CHECK(source_key(ip("203.0.113.7")) == source_key(ip("::ffff:203.0.113.7")));
  CHECK(source_key(ip("203.0.113.7")) != source_key(ip("203.0.113.8")));
  // /24 groups the neighbours, also through the mapped form.
  CHECK(source_key(ip("203.0.113.7"), 24, 64) == source_key(ip("::ffff:203.0.113.200"), 24, 64));
  CHECK(source_key(ip("203.0.113.7"), 24, 64) != source_key(ip("203.0.114.7"), 24, 64));
  // Odd prefix lengths cut inside a byte.
  CHECK(source_key(ip("10.0.0.1"), 9, 64) == source_key(ip("10.127.255.255"), 9, 64));
  CHECK(source_key(ip("10.0.0.1"), 9, 64) != source_key(ip("10.128.0.0"), 9, 64));
  // IPv6: the default /64, the full address with 128.
  CHECK(source_key(ip("2001:db8:1:2::1")) == source_key(ip("2001:db8:1:2:ffff::9")));
  CHECK(source_key(ip("2001:db8:1:2::1")) != source_key(ip("2001:db8:1:3::1")));
  CHECK(source_key(ip("2001:db8:1:2::1"), 32, 128) != source_key(ip("2001:db8:1:2::2"), 32, 128));
  CHECK(source_key(ip("2001:db8:1:2::1"), 32, 48) == source_key(ip("2001:db8:1:ffff::1"), 32, 48));
  // The families never meet: 0.0.0.0/0 and ::/0 are different keys.
  CHECK(source_key(ip("1.2.3.4"), 0, 0) == source_key(ip("9.9.9.9"), 0, 0));
  CHECK(source_key(ip("1.2.3.4"), 0, 0) != source_key(ip("2001:db8::1"), 0, 0));
}

TEST_CASE("source table: bounded, least recently touched goes first", "[auth][admission]") {
  SourceTable<int> t(2);
  const SourceKey a = source_key(ip("192.0.2.1"));
  const SourceKey b = source_key(ip("192.0.2.2"));
  const SourceKey c = source_key(ip("192.0.2.3"));
  t.insert(a, 1);
  t.insert(b, 2);
  REQUIRE(t.touch(a));  // a is now the most recent: b goes first
  t.insert(c, 3);
  CHECK(t.size() == 2);
  CHECK(t.peek(b) == nullptr);
  CHECK(*t.peek(a) == 1);
  CHECK(*t.peek(c) == 3);
  t.drop_oldest_while([](int v) { return v == 1; });  // a is the oldest now
  CHECK(t.size() == 1);
  t.drop_oldest_while([](int) { return false; });
  CHECK(t.size() == 1);
  t.erase(c);
  t.erase(c);  // absent: nothing happens
  CHECK(t.size() == 0);
  CHECK(SourceTable<int>(0).capacity() == 1);
}

TEST_CASE("source filter: deny wins over allow, empty allow admits all", "[auth][admission]") {
  const SourceFilter open = filter({}, {});
  CHECK(open.empty());
  CHECK(open.refusal(ip("198.51.100.1")).empty());

  const SourceFilter deny_only = filter({}, {"10.0.0.0/8", "2001:db8::/32"});
  CHECK(deny_only.refusal(ip("10.1.2.3")) == "in deny_sources 10.0.0.0/8");
  CHECK(deny_only.refusal(ip("::ffff:10.1.2.3")) == "in deny_sources 10.0.0.0/8");
  CHECK(deny_only.refusal(ip("2001:db8::5")) == "in deny_sources 2001:db8::/32");
  CHECK(deny_only.refusal(ip("11.0.0.1")).empty());

  const SourceFilter both = filter({"192.0.2.0/24", "127.0.0.1"}, {"192.0.2.128/25"});
  CHECK(both.refusal(ip("192.0.2.1")).empty());
  CHECK(both.refusal(ip("::ffff:127.0.0.1")).empty());
  CHECK(both.refusal(ip("192.0.2.200")) == "in deny_sources 192.0.2.128/25");  // deny wins
  CHECK(both.refusal(ip("198.51.100.1")) == "not in allow_sources");
  CHECK(both.refusal(ip("::1")) == "not in allow_sources");

  // A mapped-range entry still matches the mapped form.
  CHECK(filter({}, {"::ffff:0:0/96"}).refusal(ip("::ffff:1.2.3.4")) ==
        "in deny_sources ::ffff:0.0.0.0/96");  // as inet_ntop writes it
}

TEST_CASE("source filter: bad entries name the list and the entry", "[auth][admission]") {
  auto error = [](const std::vector<std::string>& allow, const std::vector<std::string>& deny) {
    auto f = SourceFilter::parse(allow, deny);
    CHECK_FALSE(f);
    return f ? std::string() : std::string(f.message());
  };
  CHECK(error({"10.0.0.0/33"}, {}) ==
        "allow_sources: \"10.0.0.0/33\": bad prefix length \"33\" (0-32)");
  CHECK(error({}, {"2001:db8::/129"}) ==
        "deny_sources: \"2001:db8::/129\": bad prefix length \"129\" (0-128)");
  CHECK(error({}, {"10.0.0.1/8"}).rfind("deny_sources: \"10.0.0.1/8\": host bits set", 0) == 0);
  CHECK(error({}, {"example.com"}) ==
        "deny_sources: \"example.com\": not an IP address: \"example.com\"");
}

TEST_CASE("rate limit: a burst, then the refill rate", "[auth][admission]") {
  SourceRateLimit r(rate(2, 3));  // 2 a second, bursts of 3
  const auto a = ip("203.0.113.7");
  CHECK(r.take(a, 1'000));
  CHECK(r.take(a, 1'000));
  CHECK(r.take(a, 1'000));
  CHECK_FALSE(r.take(a, 1'000));  // the burst is used up
  CHECK_FALSE(r.take(a, 1'499));  // 0.998 of a token
  CHECK(r.take(a, 1'500));        // one token after 500 ms
  CHECK_FALSE(r.take(a, 1'500));
  // Other sources have their own bucket; the mapped form is the same source.
  CHECK(r.take(ip("203.0.113.8"), 1'500));
  CHECK_FALSE(r.take(ip("::ffff:203.0.113.7"), 1'500));
  // Refused attempts do not cost tokens: 1 s later exactly two are back.
  CHECK(r.take(a, 2'500));
  CHECK(r.take(a, 2'500));
  CHECK_FALSE(r.take(a, 2'500));
}

TEST_CASE("rate limit: slow rates are exact, the bucket never overfills", "[auth][admission]") {
  SourceRateLimit r(rate(0.5, 1));  // one every 2 s
  const auto a = ip("2001:db8::1");
  CHECK(r.take(a, 0));
  CHECK_FALSE(r.take(a, 1'999));  // 0.9995 of a token
  CHECK(r.take(a, 2'000));        // exactly one
  CHECK_FALSE(r.take(a, 2'000));
  // The same /64 is the same source.
  CHECK_FALSE(r.take(ip("2001:db8::2"), 3'000));
  // A day later the bucket holds one token, not thousands.
  CHECK(r.take(a, 86'400'000));
  CHECK_FALSE(r.take(a, 86'400'000));
}

TEST_CASE("rate limit: memory is bounded and full buckets expire", "[auth][admission]") {
  SourceRateLimit r(rate(1, 2, 3));  // full again 2 s after the last take
  CHECK(r.take(ip("192.0.2.1"), 0));
  CHECK(r.take(ip("192.0.2.2"), 100));
  CHECK(r.take(ip("192.0.2.3"), 200));
  CHECK(r.tracked() == 3);
  CHECK(r.take(ip("192.0.2.4"), 300));  // over the cap: the oldest is forgotten
  CHECK(r.tracked() == 3);
  // 192.0.2.1 was forgotten, so it starts with a full bucket again.
  CHECK(r.take(ip("192.0.2.1"), 300));
  CHECK(r.take(ip("192.0.2.1"), 300));
  CHECK_FALSE(r.take(ip("192.0.2.1"), 300));
  // Once every bucket has refilled they are all dropped on the next take.
  CHECK(r.take(ip("198.51.100.1"), 10'000));
  CHECK(r.tracked() == 1);
}

TEST_CASE("log gate: once per source per interval, with the count held back", "[auth][admission]") {
  SourceLogGate g(SourceLogGate::Options{60'000, 100});
  const auto a = ip("203.0.113.7");
  CHECK(g.admit(a, 0) == std::optional<std::uint64_t>(0));
  CHECK_FALSE(g.admit(a, 1));
  CHECK_FALSE(g.admit(ip("::ffff:203.0.113.7"), 2));  // the same peer
  CHECK_FALSE(g.admit(a, 59'999));
  CHECK(g.admit(ip("203.0.113.8"), 100) == std::optional<std::uint64_t>(0));  // its own window
  CHECK(g.admit(a, 60'000) == std::optional<std::uint64_t>(3));
  CHECK_FALSE(g.admit(a, 60'001));
  CHECK(g.admit(a, 200'000) == std::optional<std::uint64_t>(1));
}

TEST_CASE("log gate: bounded, ended windows are forgotten", "[auth][admission]") {
  SourceLogGate g(SourceLogGate::Options{1'000, 2});
  CHECK(g.admit(ip("192.0.2.1"), 0));
  CHECK(g.admit(ip("192.0.2.2"), 10));
  CHECK(g.admit(ip("192.0.2.3"), 20));  // over the cap: 192.0.2.1's window is forgotten
  CHECK(g.tracked() == 2);
  CHECK(g.admit(ip("192.0.2.1"), 30));  // so it may be logged again (a line, not memory)
  CHECK(g.tracked() == 2);
  CHECK(g.admit(ip("198.51.100.1"), 5'000));  // every window has ended: all dropped
  CHECK(g.tracked() == 1);
}
