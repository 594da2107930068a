// mtop::EventThread: functions reach the loop's thread in the order posted, call() waits and
// rethrows, runs inline on the loop's own thread, and the destructor drains the queue and
// closes what is left on the loop.
#include <uv.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mtop/event_thread.hpp"

namespace {

std::unique_ptr<mtop::EventThread> start_thread() {
  auto t = mtop::EventThread::start();
  INFO(t.message());
  REQUIRE(t);
  return std::move(*t);
}

}  // namespace

TEST_CASE("event thread: posts run in order on the loop's thread, call() waits", "[event_thread]") {
  auto t = start_thread();
  CHECK_FALSE(t->on_thread());
  std::vector<int> order;  // touched only on the loop's thread until call() returns
  std::thread::id seen;
  for (int i = 0; i < 100; ++i) {
    t->post([&order, &seen, &t, i] {
      if (!t->on_thread()) return;  // recorded as a missing entry below
      seen = std::this_thread::get_id();
      order.push_back(i);
    });
  }
  t->call([&order] { order.push_back(100); });  // behind every post before it
  REQUIRE(order.size() == 101);
  for (int i = 0; i <= 100; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
  CHECK(seen != std::this_thread::get_id());
}

TEST_CASE("event thread: posts from many threads all run", "[event_thread]") {
  auto t = start_thread();
  std::atomic<int> runs{0};
  std::vector<std::thread> posters;
  for (int p = 0; p < 4; ++p) {
    posters.emplace_back([&] {
      for (int i = 0; i < 250; ++i) t->post([&runs] { ++runs; });
    });
  }
  for (auto& th : posters) th.join();
  t->call([] {});  // every post above was queued before this
  CHECK(runs == 1000);
}

TEST_CASE("event thread: call() on the loop's thread runs inline", "[event_thread]") {
  auto t = start_thread();
  std::vector<int> order;
  t->call([&] {
    order.push_back(1);
    t->call([&] {
      CHECK(t->on_thread());
      order.push_back(2);
    });
    order.push_back(3);  // the inner call() has run already: no deadlock, no queueing
  });
  CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("event thread: call() rethrows what the function threw", "[event_thread]") {
  auto t = start_thread();
  CHECK_THROWS_WITH(t->call([] { throw std::runtime_error("from the loop"); }), "from the loop");
  // The loop goes on afterwards.
  int x = 0;
  t->call([&] { x = 7; });
  CHECK(x == 7);
  // Inline on the loop's own thread, the exception passes straight through.
  t->call([&] {
    CHECK_THROWS_AS(t->call([] { throw std::logic_error("inline"); }), std::logic_error);
  });
}

TEST_CASE("event thread: the loop is usable for libuv handles", "[event_thread]") {
  auto t = start_thread();
  std::promise<void> fired;
  uv_timer_t timer;
  t->call([&] {
    uv_timer_init(t->loop(), &timer);
    timer.data = &fired;
    uv_timer_start(
        &timer, [](uv_timer_t* h) { static_cast<std::promise<void>*>(h->data)->set_value(); }, 1,
        0);
  });
  // A safety bound only: the timer fires within a millisecond or two.
  CHECK(fired.get_future().wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  t->call([&] { uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr); });
}

TEST_CASE("event thread: the destructor drains the queue and closes handles left open",
          "[event_thread]") {
  // Storage for handles the test leaves open: it outlives the EventThread, whose destructor
  // closes them (libuv frees nothing of a handle itself).
  uv_timer_t repeating;
  uv_idle_t idle;
  std::atomic<int> queued_runs{0};
  {
    auto t = start_thread();
    t->call([&] {
      uv_timer_init(t->loop(), &repeating);
      uv_timer_start(
          &repeating, [](uv_timer_t*) {}, 1, 1);
      uv_idle_init(t->loop(), &idle);
      uv_idle_start(&idle, [](uv_idle_t*) {});
    });
    // Queued right before the destructor: they still run.
    for (int i = 0; i < 10; ++i) t->post([&queued_runs] { ++queued_runs; });
  }  // returns: the loop ran out of handles, the thread was joined, the loop closed
  CHECK(queued_runs == 10);
  CHECK(uv_is_closing(reinterpret_cast<uv_handle_t*>(&repeating)));
  CHECK(uv_is_closing(reinterpret_cast<uv_handle_t*>(&idle)));
}
