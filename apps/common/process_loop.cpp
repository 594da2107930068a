#include "process_loop.hpp"

#include <csignal>
#include <string>
#include <utility>

#include "service_notify.hpp"

namespace mtop::app {

namespace {

const char* signal_name(int signum) {
  return signum == SIGINT ? "SIGINT" : "SIGTERM";
}

}  // namespace

bool ProcessLoop::init() {
  if (const int rc = uv_loop_init(&loop_); rc != 0) {
    log_.error(std::string("cannot start the event loop: ") + uv_strerror(rc));
    return false;
  }
  loop_ready_ = true;
  return true;
}

bool ProcessLoop::watch(int signum, uv_signal_cb cb) {
  uv_signal_t& h = signals_[watched_];
  if (const int rc = uv_signal_init(&loop_, &h); rc != 0) {
    log_.error(std::string("cannot watch signals: ") + uv_strerror(rc));
    return false;
  }
  ++watched_;
  h.data = this;
  if (const int rc = uv_signal_start(&h, cb, signum); rc != 0) {
    log_.error(std::string("cannot watch signals: ") + uv_strerror(rc));
    return false;
  }
  return true;
}

bool ProcessLoop::run(SignalHooks hooks) {
  hooks_ = std::move(hooks);
  if (!watch(SIGINT, &on_stop_signal) || !watch(SIGTERM, &on_stop_signal) ||
      (hooks_.hup && !watch(SIGHUP, &on_hup))) {
    return false;
  }
  // Listeners are up (the program started them before run()): a Type=notify unit is started.
  notify_ready("running");
  uv_run(&loop_, UV_RUN_DEFAULT);
  return true;
}

void ProcessLoop::on_stop_signal(uv_signal_t* handle, int signum) {
  auto* p = static_cast<ProcessLoop*>(handle->data);
  if (p->draining_) {
    p->log_.warn(std::string("second signal (") + signal_name(signum) +
                 "): closing everything now");
    p->hooks_.stop_now();
    uv_stop(&p->loop_);
    return;
  }
  p->draining_ = true;
  notify_stopping("draining");
  p->log_.info(std::string("received ") + signal_name(signum) +
               ": not accepting new connections; draining live ones (send again to stop at "
               "once)");
  p->hooks_.drain([p] {
    p->log_.info("drained; exiting");
    uv_stop(&p->loop_);
  });
}

void ProcessLoop::on_hup(uv_signal_t* handle, int) {
  notify_reloading();
  static_cast<ProcessLoop*>(handle->data)->hooks_.hup();
  notify_ready("running");
}

ProcessLoop::~ProcessLoop() {
  if (!loop_ready_) return;
  for (int i = 0; i < watched_; ++i) {
    uv_close(reinterpret_cast<uv_handle_t*>(&signals_[i]), nullptr);
  }
  // Close callbacks of what the program's objects closed, then anything left over.
  for (int i = 0; i < 100 && uv_loop_alive(&loop_); ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop_) != 0) log_.warn("some handles were still open at exit");
}

}  // namespace mtop::app
