"""Where a daemon's CPU goes during one measured pass, from perf samples.

    perf record -g -p "$(pgrep -d, zarrmount)" -o perf.data   # while it reads
    /usr/bin/python3 scripts/bench/cpu_profile.py perf.data    # the split, in %

`Recording(pids, path)` runs `perf record` (call graphs) on the daemon's
processes for the length of a `with` block; `split(path)` files every sample
under one category, from its innermost frame and the frames that called it:

  decode              the codecs' libraries (libdeflate, zlib, zstd, blosc, ...)
  MAC                 libcrypto (the shared tier's GMAC and HMAC)
  checksum            libxxhash (the disk tier's XXH3)
  user copies         memcpy/memmove in user space (out of LMDB's map, out of
                      libmemcached's buffers, the join of a block's parts)
  page faults         first touches of new memory, in user or kernel code
  network receive     the kernel's socket, TCP/IP and softirq work, and the
                      recv/send/poll system calls behind them
  disk cache writes   the kernel's side of writing the disk tier's file (pwrite)
  FUSE reply          the kernel's copy of a reply into the reader's pages
  FUSE requests       waiting for and reading requests from /dev/fuse
  scheduling          switching and waking threads, locks in the kernel
  other kernel / other user

Samples are turned into seconds in proportion to the CPU time measured
outside perf (`seconds(split, cpu_s)`), so that perf's own overhead does not
count. Leaf-only attribution would file a fault taken inside memcpy as a
copy and a TCP receive's copy as a copy of ours: the call chain decides.
"""

import collections
import shutil
import signal
import subprocess
import time

CATEGORIES = ("decode", "MAC", "checksum", "user copies", "page faults", "network receive",
              "disk cache writes", "FUSE reply", "FUSE requests", "scheduling", "other kernel",
              "other user")

_NET = ("tcp_", "sock_", "__sys_recv", "__sys_send", "__x64_sys_recv", "__x64_sys_send",
        "ip_rcv", "ip_finish", "ip_output", "__netif", "net_rx_action", "__napi_poll",
        "do_sys_poll", "__x64_sys_poll", "__x64_sys_ppoll", "skb_", "inet_", "veth_",
        "__dev_queue_xmit", "process_backlog")
_SCHED = ("finish_task_switch", "__schedule", "schedule", "try_to_wake_up", "_raw_spin",
          "futex_", "native_queued_spin", "__pv_queued_spin", "pv_native_safe_halt")
_COPY = ("memcpy", "memmove", "__memcpy", "__memmove")
_CODECS = ("libdeflate", "libz.so", "libzstd", "libblosc", "liblz4", "libsnappy", "libbz2",
           "liblzma")


def available():
    return shutil.which("perf") is not None


class Recording:
    """perf record -g on `pids` while the block runs."""

    def __init__(self, pids, path, freq=4999):
        self.args = ["perf", "record", "-q", "-F", str(freq), "-g",
                     "-p", ",".join(str(p) for p in pids), "-o", path]

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # perf attaches before the pass begins
        if self.proc.poll() is not None:
            raise RuntimeError("perf record failed: " + self.proc.stderr.read().decode().strip())
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        return False


def _frames(path):
    """Yields each sample's frames, innermost first, as (symbol, dso)."""
    out = subprocess.run(["perf", "script", "-i", path, "-F", "ip,sym,dso"],
                         capture_output=True, text=True, check=True).stdout
    frames = []
    for line in out.splitlines():
        line = line.strip()
        if not line:
            if frames:
                yield frames
            frames = []
            continue
        # "ffffffff8185e854 fuse_dev_do_read ([kernel.kallsyms])"
        parts = line.split(" ", 1)
        rest = parts[1] if len(parts) > 1 else ""
        sym, _, dso = rest.rpartition(" (")
        frames.append((sym, dso.rstrip(")")))
    if frames:
        yield frames


def _category(frames):
    sym, dso = frames[0]
    syms = [s for s, _ in frames]
    if any(s in ("exc_page_fault", "asm_exc_page_fault") for s in syms):
        return "page faults"
    if "kernel" in dso:
        if any(s.startswith(("fuse_dev_do_write", "fuse_dev_write")) for s in syms):
            return "FUSE reply"
        if any(s.startswith(_NET) for s in syms):
            return "network receive"
        if any(s.startswith(("__x64_sys_pwrite64", "ext4_buffered_write_iter")) for s in syms):
            return "disk cache writes"
        if any(s.startswith(("fuse_dev_do_read", "fuse_dev_read")) for s in syms):
            return "FUSE requests"
        if sym.startswith(_SCHED):
            return "scheduling"
        return "other kernel"
    if any(c in dso for c in _CODECS):
        return "decode"
    if "libcrypto" in dso:
        return "MAC"
    if "libxxhash" in dso or sym.startswith("XXH"):
        return "checksum"
    if "libc.so" in dso and any(c in sym for c in _COPY):
        return "user copies"
    return "other user"


def split(path):
    """Samples per category (a Counter over CATEGORIES)."""
    counts = collections.Counter({c: 0 for c in CATEGORIES})
    for frames in _frames(path):
        counts[_category(frames)] += 1
    return counts


def seconds(counts, cpu_s):
    """`counts` scaled so that they sum to `cpu_s`."""
    total = sum(counts.values()) or 1
    return {c: cpu_s * counts[c] / total for c in CATEGORIES}


def main(argv):
    if len(argv) != 2:
        raise SystemExit("usage: cpu_profile.py PERF.DATA  (from perf record -g)")
    counts = split(argv[1])
    total = sum(counts.values()) or 1
    print(f"{total} samples")
    for c in CATEGORIES:
        print(f"  {c:18} {100 * counts[c] / total:5.1f}%")


if __name__ == "__main__":
    import sys
    main(sys.argv)
