"""Fixtures for zarrmount's mounted integration tests.

Needs root (FUSE), /usr/sbin/nginx and the Debian data packages listed in
scripts/install-deps.sh. The binary is $ZARRMOUNT (default build/zarrmount).
"""

import os
import threading

import pytest

import nginx_server
import prepare_data
import zmount

TEST_TIMEOUT = float(os.environ.get("ZARRMOUNT_TEST_TIMEOUT", "240"))


@pytest.fixture(scope="session")
def zarrmount_bin():
    path = zmount.ZARRMOUNT
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"zarrmount binary not found at {path} (set ZARRMOUNT)")
    return path


@pytest.fixture(scope="session")
def datadir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def nginx(datadir, tmp_path_factory):
    server = nginx_server.Nginx(datadir, tmp_path_factory.mktemp("nginx")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dataset(datadir, nginx):
    """{name: manifest entry} for every reference set built by prepare_data."""
    return {e["name"]: e for e in prepare_data.prepare(datadir, nginx.url)}


class MountFactory:
    def __init__(self, base):
        self.base = base
        self.mounts = []
        self.count = 0

    def __call__(self, refs, cache_dir=None, start=True, extra=(), local_roots=("/",),
                 env=None):
        """A Mount of ``refs`` on a new mountpoint; started unless start=False.
        Mounts sharing ``cache_dir`` share the persistent cache."""
        self.count += 1
        mnt = os.path.join(self.base, f"mnt{self.count}")
        cache = cache_dir or os.path.join(self.base, f"cache{self.count}")
        m = zmount.Mount(refs, mnt, cache, os.path.join(self.base, f"mnt{self.count}.log"),
                         extra, local_roots, env)
        self.mounts.append(m)
        if start:
            m.start()
        return m

    def cleanup(self):
        for m in self.mounts:
            m.cleanup()


@pytest.fixture
def mount(zarrmount_bin, tmp_path):
    factory = MountFactory(str(tmp_path))
    yield factory
    factory.cleanup()


@pytest.fixture(autouse=True)
def watchdog():
    """A test that hangs on a FUSE request is cut loose: after TEST_TIMEOUT
    seconds our daemons are killed, which fails the blocked calls."""
    fired = []

    def fire():
        fired.append(True)
        for m in list(zmount.ACTIVE):
            m.abort()
    timer = threading.Timer(TEST_TIMEOUT, fire)
    timer.daemon = True
    timer.start()
    yield
    timer.cancel()
    assert not fired, f"watchdog: test exceeded {TEST_TIMEOUT}s, daemons were killed"
