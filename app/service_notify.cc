#include "app/service_notify.h"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "base/log.h"

namespace zm {
namespace {

void Notify(const std::string& state) {
  // A notification that cannot be sent changes nothing for the mount; the
  // service manager times out and says so.
  if (sd_notify(0, state.c_str()) < 0) LogWarning("cannot notify the service manager");
}

}  // namespace

void NotifyReady(const std::string& mountpoint) {
  Notify("READY=1\nMAINPID=" + std::to_string(::getpid()) + "\nSTATUS=serving " + mountpoint);
}

void NotifyStopping() { Notify("STOPPING=1\nSTATUS=unmounted"); }

}  // namespace zm
