// EventThread: a libuv loop on a thread of its own, for programs that do not run a loop (or
// run another one) and want a Server or a Climber beside them.
//
//   auto t = mtop::EventThread::start();
//   std::unique_ptr<mtop::Server> server;
//   (*t)->call([&] { server = std::move(*mtop::Server::create((*t)->loop(), config)); });
//   (*t)->call([&] { server->start(); });
//   ...
//   (*t)->call([&] { server.reset(); });   // objects of the loop die on the loop
//   t->reset();                             // joins the thread
//
// Theory of operation: the thread runs uv_run() until the EventThread is destroyed; a
// uv_async_t carries posted functions to it. call() runs a function there and waits for it;
// post() does not wait. Objects bound to loop() must be created, used and destroyed through
// call()/post() (or from callbacks already on the thread). The destructor runs every posted
// function still queued, closes the loop's remaining handles, joins the thread and closes the
// loop: destroy the loop's objects before it.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

#include "mtop/export.hpp"
#include "mtop/result.hpp"

namespace mtop {

class MTOP_CPP_API EventThread {
 public:
  /// Starts the thread and its loop. Errc::system_error if either cannot be made.
  static Result<std::unique_ptr<EventThread>> start();
  /// Runs what is queued, closes the loop's remaining handles, joins the thread, closes the
  /// loop. Not from the loop's own thread.
  ~EventThread();
  EventThread(const EventThread&) = delete;
  EventThread& operator=(const EventThread&) = delete;

  uv_loop_t* loop() noexcept;
  /// True on the loop's own thread.
  bool on_thread() const noexcept;
  /// Runs `fn` on the loop's thread and returns when it has run (runs it at once when called
  /// on that thread). Exceptions from `fn` are rethrown here. Safe from any thread; throws
  /// std::logic_error when called while the destructor is closing the loop.
  void call(const std::function<void()>& fn);
  /// Queues `fn` to run on the loop's thread, after what was queued before it; returns at
  /// once. Safe from any thread. `fn` must not throw (as with std::thread, an exception
  /// escaping it ends the program). Once the destructor is closing the loop, `fn` is dropped.
  void post(std::function<void()> fn);

 private:
  struct Impl;
  explicit EventThread(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtop
