// Tells a service manager what the program is doing (systemd's sd_notify protocol: Type=notify
// units wait for READY=1 before they count the service as started, and show STATUS= in
// `systemctl status`). Built with libsystemd when it is found (MTOP_WITH_SYSTEMD); without it,
// or when the program was not started by systemd ($NOTIFY_SOCKET unset), every call does nothing.
#pragma once

#include <string_view>

namespace mtop::app {

/// Listeners are up: the service is started (or a reload has finished).
void notify_ready(std::string_view status);
/// A reload (SIGHUP) has begun; call notify_ready() when it is done.
void notify_reloading();
/// Shutting down (draining live tunnels).
void notify_stopping(std::string_view status);

}  // namespace mtop::app
