"""Child processes of the tests (servers): stopping them for sure."""

import subprocess


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL if ``proc`` is still there after ``timeout`` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
