#!/usr/bin/python3
"""Runs a daemonizing command as a child subreaper, so the daemon it leaves
behind becomes our child and its exit status can be reported.

Usage: reaper.py COMMAND...
Prints JSON lines on stdout:
  {"mount_rc": N, "stderr": "...", "daemons": [pid, ...]}   after COMMAND returns
  {"pid": P, "status": S}                                       per child that exits
  {"done": true}                                                 when no child is left
S is the exit code, or -signal if the child was killed by a signal.
"""

import ctypes
import json
import os
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def children():
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                out.append(int(entry))
    return out


def emit(obj):
    print(json.dumps(obj), flush=True)


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
    proc = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    emit({"mount_rc": proc.returncode, "stderr": proc.stderr, "daemons": children()})
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        emit({"pid": pid, "status": os.waitstatus_to_exitcode(status)})
    emit({"done": True})


if __name__ == "__main__":
    main()
