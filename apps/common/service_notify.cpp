#include "service_notify.hpp"

#include <string>

#ifdef MTOP_WITH_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace mtop::app {

namespace {

void notify(const std::string& state) {
#ifdef MTOP_WITH_SYSTEMD
  // unset_environment = 0: a reload or a stop notifies the same socket later. Failure to
  // notify is not an error of ours: the service manager then times the start out and says so.
  (void)sd_notify(0, state.c_str());
#else
  (void)state;
#endif
}

}  // namespace

void notify_ready(std::string_view status) {
  notify("READY=1\nSTATUS=" + std::string(status));
}

void notify_reloading() {
  notify("RELOADING=1\nSTATUS=reloading");
}

void notify_stopping(std::string_view status) {
  notify("STOPPING=1\nSTATUS=" + std::string(status));
}

}  // namespace mtop::app
