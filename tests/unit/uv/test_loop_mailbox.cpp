// io::LoopMailbox: functions posted from other threads run on the loop's thread in the order
// each thread posted them; once the mailbox is gone a post is refused and nothing runs.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include "must.hpp"
#include "uv/loop_mailbox.hpp"
#include "uv_test_support.hpp"

using namespace mtop;

TEST_CASE("loop mailbox: posts from two threads run on the loop, each thread's in order",
          "[loop_mailbox]") {
  test::TestLoop loop;
  auto box = must(io::LoopMailbox::open(loop.get()));
  const auto loop_thread = std::this_thread::get_id();
  std::array<std::vector<int>, 2> seen;
  bool on_loop = true;
  std::atomic<int> ran{0};
  auto poster = [&, sender = box->sender()](int who) {
    for (int i = 0; i < 500; ++i) {
      CHECK(sender.post([&, who, i] {
        on_loop = on_loop && std::this_thread::get_id() == loop_thread;
        seen[who].push_back(i);
        ++ran;
      }));
    }
  };
  std::thread a(poster, 0);
  std::thread b(poster, 1);
  CHECK(loop.run_until([&] { return ran.load() == 1'000; }));
  a.join();
  b.join();
  CHECK(on_loop);
  for (const auto& s : seen) {
    REQUIRE(s.size() == 500);
    for (int i = 0; i < 500; ++i) CHECK(s[static_cast<std::size_t>(i)] == i);
  }
}

TEST_CASE("loop mailbox: closed, queued functions never run and later posts are refused",
          "[loop_mailbox]") {
  test::TestLoop loop;
  auto box = must(io::LoopMailbox::open(loop.get()));
  const io::LoopMailbox::Sender sender = box->sender();
  bool ran = false;
  CHECK(sender.post([&] { ran = true; }));
  box.reset();  // before the loop ran it
  CHECK_FALSE(sender.post([&] { ran = true; }));
  (void)loop.run_until([] { return false; }, 50);  // gives a queued function its chance
  CHECK_FALSE(ran);
  CHECK_FALSE(io::LoopMailbox::Sender().post([] {}));
}

TEST_CASE("loop mailbox: run_queued runs what is queued at once", "[loop_mailbox]") {
  test::TestLoop loop;
  auto box = must(io::LoopMailbox::open(loop.get()));
  int n = 0;
  std::thread t([sender = box->sender(), &n] { sender.post([&n] { ++n; }); });
  t.join();
  box->run_queued();
  CHECK(n == 1);
}
