// io::LoopCall: a function from another thread runs on the loop; the wait is bounded; shut()
// wakes a waiting thread at once and nothing queued runs afterwards.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "must.hpp"
#include "uv/loop_call.hpp"
#include "uv_test_support.hpp"

using namespace mtop;

TEST_CASE("loop call: runs on the loop thread, in order, and the caller sees the result",
          "[loop_call]") {
  test::TestLoop loop;
  auto lc = must(io::LoopCall::create(loop.get()));
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::atomic<int> done{0};
  std::vector<int> order;
  bool on_loop = true;
  std::thread t([&] {
    for (int i = 0; i < 3; ++i) {
      int seen = -1;
      CHECK(lc->call(
          [&, i] {
            on_loop = on_loop && std::this_thread::get_id() == loop_thread;
            order.push_back(i);
            seen = i * 10;
          },
          5'000));
      CHECK(seen == i * 10);  // the function ran to its end before call() returned
    }
    // Set on the loop, so that run_until sees it at once (a plain store would wait for the
    // loop's next event).
    CHECK(lc->call([&] { done = 1; }, 5'000));
  });
  CHECK(loop.run_until([&] { return done.load() == 1; }));
  t.join();
  CHECK(on_loop);
  CHECK(order == std::vector<int>{0, 1, 2});
  lc.reset();
  CHECK(loop.close() == 0);
}

TEST_CASE("loop call: a loop that does not run makes the call fail in time, and it never runs",
          "[loop_call]") {
  test::TestLoop loop;
  auto lc = must(io::LoopCall::create(loop.get()));
  bool ran = false;
  bool result = true;
  std::thread t([&] { result = lc->call([&] { ran = true; }, 50); });
  t.join();  // the loop is not running: the call gives up after 50 ms
  CHECK_FALSE(result);
  loop.run_until([] { return false; }, 50);  // the dropped function must not run now
  CHECK_FALSE(ran);
  lc.reset();
  CHECK(loop.close() == 0);
}

TEST_CASE("loop call: shut() wakes a waiting caller at once; later calls fail", "[loop_call]") {
  test::TestLoop loop;
  auto lc = must(io::LoopCall::create(loop.get()));
  std::atomic<bool> returned{false};
  bool result = true;
  bool ran = false;
  std::thread t([&] {
    result = lc->call([&] { ran = true; }, 60'000);
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let it wait
  lc->shut();
  t.join();  // no 60 s wait
  CHECK(returned);
  CHECK_FALSE(result);
  CHECK_FALSE(lc->call([&] { ran = true; }, 1'000));
  loop.run_until([] { return false; }, 20);
  CHECK_FALSE(ran);
  lc.reset();
  CHECK(loop.close() == 0);
}
