// CertWatch (libmtop/api/cert_watch.hpp): a change to a watched file, made the ways ACME
// clients make it (rewrite in place, rename over, symlink swap), calls back once after it has
// settled. Real files in a temp folder, a real loop; every wait bounded.
#include "api/cert_watch.hpp"

#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include "../uv/uv_test_support.hpp"

using namespace mtop;

namespace {

struct Folder {
  std::string dir;
  Folder() {
    char tmpl[] = "/tmp/mtop-certwatch-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    dir = tmpl;
  }
  ~Folder() { (void)std::system(("rm -rf '" + dir + "'").c_str()); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string path = dir + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
};

/// Lets the loop run for `ms` (the predicate never holds).
void run_for(test::TestLoop& loop, std::uint64_t ms) {
  loop.run_until([] { return false; }, ms);
}

}  // namespace

TEST_CASE("cert watch: rewrite, rename over and symlink swap each call back once", "[cert_watch]") {
  Folder f;
  test::TestLoop loop;
  const std::string cert = f.write("cert1.pem", "one");
  const std::string key = f.write("key.pem", "key");
  const std::string link = f.dir + "/cert.pem";
  REQUIRE(::symlink(cert.c_str(), link.c_str()) == 0);
  int calls = 0;
  {
    auto w = CertWatch::start(loop.get(), {link, key, key}, 20, [&] { ++calls; });
    REQUIRE(w);
    CHECK((*w)->paths().size() == 2);  // the key named twice is watched once
    run_for(loop, 100);
    CHECK(calls == 0);  // nothing changed yet

    // The certificate and the key written one after the other: one call, after both.
    f.write("cert1.pem", "one, longer now");
    run_for(loop, 50);
    f.write("key.pem", "new key");
    REQUIRE(loop.run_until([&] { return calls > 0; }, 5'000));
    run_for(loop, 500);
    CHECK(calls == 1);

    // A new file renamed over the key (a new inode).
    const std::string fresh = f.write("key.tmp", "other key");
    REQUIRE(std::rename(fresh.c_str(), key.c_str()) == 0);
    REQUIRE(loop.run_until([&] { return calls == 2; }, 5'000));

    // certbot: the symlink pointed at a new file in archive/.
    const std::string cert2 = f.write("cert2.pem", "two");
    const std::string tmp_link = f.dir + "/cert.pem.new";
    REQUIRE(::symlink(cert2.c_str(), tmp_link.c_str()) == 0);
    REQUIRE(std::rename(tmp_link.c_str(), link.c_str()) == 0);
    REQUIRE(loop.run_until([&] { return calls == 3; }, 5'000));
    run_for(loop, 500);
    CHECK(calls == 3);
  }
  CHECK(loop.close() == 0);  // the watch closed every handle
}

TEST_CASE("cert watch: bad arguments are refused", "[cert_watch]") {
  test::TestLoop loop;
  CHECK(CertWatch::start(loop.get(), {"/x"}, 0, [] {}).error() == Errc::invalid_argument);
  CHECK(CertWatch::start(loop.get(), {"/x"}, 10, nullptr).error() == Errc::invalid_argument);
  CHECK(loop.close() == 0);
}
