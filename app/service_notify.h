// Tells a service manager (systemd, through $NOTIFY_SOCKET; see
// sd_notify(3)) how the daemon is doing, so a Type=notify unit is "started"
// once the mount serves and "stopping" when it is unmounted. Without
// $NOTIFY_SOCKET each call does nothing.
//
// Thread-safety: safe to call from any thread.
#pragma once

#include <string>

namespace zm {

// READY=1: the mount at `mountpoint` answers requests. Also names this
// process as the service's main one (it is the forked daemon without -f).
void NotifyReady(const std::string& mountpoint);

// STOPPING=1: the mount is gone and the daemon is finishing.
void NotifyStopping();

}  // namespace zm
