#include "app/service_notify.h"

#include <dlfcn.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>

#include "base/log.h"

namespace zm {
namespace {

// libsystemd is loaded only when a service manager listens ($NOTIFY_SOCKET
// set). Linked, it and what it links (libgcrypt, libgpg-error, liblzma,
// libcap) were mapped into every process of the program: a scan and each of
// its workers paid about 0.6 MiB of resident memory for a call none of them
// makes.
using NotifyFunction = decltype(&sd_notify);

NotifyFunction LoadNotify() {
  static const NotifyFunction loaded = []() -> NotifyFunction {
    void* lib = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      LogWarning(std::string("cannot notify the service manager: ") + ::dlerror());
      return nullptr;
    }
    auto fn = reinterpret_cast<NotifyFunction>(::dlsym(lib, "sd_notify"));
    if (!fn) LogWarning("cannot notify the service manager: libsystemd.so.0 has no sd_notify");
    return fn;
  }();
  return loaded;
}

void Notify(const std::string& state) {
  if (!std::getenv("NOTIFY_SOCKET")) return;
  // A notification that cannot be sent changes nothing for the mount; the
  // service manager times out and says so.
  NotifyFunction notify = LoadNotify();
  if (notify && notify(0, state.c_str()) < 0) LogWarning("cannot notify the service manager");
}

}  // namespace

void NotifyReady(const std::string& mountpoint) {
  Notify("READY=1\nMAINPID=" + std::to_string(::getpid()) + "\nSTATUS=serving " + mountpoint);
}

void NotifyStopping() { Notify("STOPPING=1\nSTATUS=unmounted"); }

}  // namespace zm
