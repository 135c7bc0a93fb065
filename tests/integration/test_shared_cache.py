"""The shared (memcached) tier across real hosts: network namespaces that the
tests create (and always delete), joined by a bridge in a switch namespace:

  a, b, c...  client hosts: a zarrmount daemon each (nsenter --net, so the
              mount itself lands in our mount namespace and the test reads it)
  mc1..mc3    three memcached nodes (Debian's memcached)
  origin      nginx serving the data with 20 ms added to every request

What is shown:
  * a host reads what another host read with no origin request: its blocks
    come from the shared tier (the daemon's counters say so);
  * a node that stops answering (link down) costs a short timeout, then is
    skipped;
  * a node killed mid-run: no wrong byte, every read within its deadline,
    and only the lost node's share of blocks comes from the origin; once the
    node is back (empty) it is refilled, and then a new host needs no origin;
  * every stored value overwritten by a client without the key with
    well-formed garbage of the same size: all refused, fetched again, the
    bytes still right, the tier healed;
  * the mount refuses a shared tier without a key file, or with a key file
    others can read, with one line saying what to do.

Data: random files on the origin and a v0 reference set of chunks of them
from 1 KiB to 1 MiB (one block each; 1 MiB blocks are split in two values).
"""

import json
import os
import random
import signal
import subprocess
import time

import pytest

import make_refs
import nginx_server
import zmount
from procs import stop_process

KiB = 1 << 10
MiB = 1 << 20
SUBNET = "10.231.7"
HOSTS = {"a": 11, "b": 12, "c": 13, "d": 14, "mc1": 21, "mc2": 22, "mc3": 23, "origin": 30}
NODES = ("mc1", "mc2", "mc3")
MC_PORT = 11211
ORIGIN_PORT = 8080
LATENCY_MS = 20
RETRY_S = 2  # a failed node is tried again after this
FILES = 6
FILE_SIZE = 3 * MiB
READ_DEADLINE_S = 5.0  # one chunk read, at most (20 ms origin, 50 ms node timeout, busy host)
NS_PREFIX = "zmsc"

# Runs inside a namespace: a client of memcached's text protocol with no
# key, for inspecting and poisoning the nodes. argv[1]: JSON request.
MC_TOOL = r"""
import json, os, socket, sys, urllib.parse
req = json.loads(sys.argv[1])
def talk(s, data, until):
    s.sendall(data)
    buf = b""
    while not buf.endswith(until):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    return buf
def keys(s):
    out = talk(s, b"lru_crawler metadump all\r\n", b"END\r\n").decode()
    return [urllib.parse.unquote(l.split()[0][4:]) for l in out.splitlines() if l.startswith("key=")]
def get(s, k):
    out = talk(s, b"get " + k.encode() + b"\r\n", b"END\r\n")
    if not out.startswith(b"VALUE"):
        return None
    head, rest = out.split(b"\r\n", 1)
    return rest[: int(head.split()[3])]
result = {}
for addr in req["nodes"]:
    s = socket.create_connection((addr, 11211), timeout=10)
    if req["op"] == "keys":
        result[addr] = keys(s)
    elif req["op"] == "flush":
        result[addr] = talk(s, b"flush_all\r\n", b"\r\n").decode().strip()
    elif req["op"] == "poison":
        n = 0
        for k in keys(s):
            v = get(s, k)
            if v is None:
                continue
            # Well formed: the header's first 64 bytes (magic, key, sizes,
            # checksum) kept, the MAC and the data replaced, same length.
            bad = v[:64] + os.urandom(len(v) - 64)
            r = talk(s, b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(bad), bad), b"\r\n")
            n += r == b"STORED\r\n"
        result[addr] = n
    s.close()
print(json.dumps(result))
"""


def sh(*args, check=True):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=check,
                          timeout=60)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def remove_stale_namespaces():
    """Namespaces a killed earlier run of this suite left behind."""
    for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(NS_PREFIX):
            continue
        pid = name[len(NS_PREFIX):].split("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            sh("ip", "netns", "del", name, check=False)


class Net:
    """The hosts and their switch; delete() removes everything."""

    def __init__(self):
        self.tag = f"{NS_PREFIX}{os.getpid()}"
        self.made = []
        self.procs = {}  # host -> Popen of its server

    def ns(self, host):
        return f"{self.tag}-{host}"

    @staticmethod
    def addr(host):
        return f"{SUBNET}.{HOSTS[host]}"

    def build(self):
        sw = self.ns("sw")
        sh("ip", "netns", "add", sw)
        self.made.append(sw)
        sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", sw, "link", "set", "br0", "up")
        for host in HOSTS:
            ns = self.ns(host)
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", sw, "link", "add", f"p-{host}", "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            sh("ip", "-n", sw, "link", "set", f"p-{host}", "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.addr(host)}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        return self

    def delete(self):
        for p in self.procs.values():
            stop_process(p)
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)

    def exec(self, host, *args):
        """A command run in ``host``'s namespaces (network and a private mount)."""
        return ["ip", "netns", "exec", self.ns(host), *map(str, args)]

    def enter(self, host, *args):
        """A command run on ``host``'s network, in our mount namespace."""
        return ["nsenter", f"--net=/var/run/netns/{self.ns(host)}", *map(str, args)]

    # ---- memcached nodes ------------------------------------------------------

    def start_node(self, host):
        p = subprocess.Popen(self.exec(host, "/usr/bin/memcached", "-p", MC_PORT, "-U", 0, "-l",
                                       self.addr(host), "-m", 64, "-t", 2, "-u", "nobody"),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs[host] = p
        self.wait_port(host, MC_PORT)

    def kill_node(self, host):
        p = self.procs.pop(host)
        p.send_signal(signal.SIGKILL)
        p.wait(10)

    def wait_port(self, host, port, timeout=10):
        deadline = time.monotonic() + timeout
        probe = f"import socket; socket.create_connection(('{self.addr(host)}', {port}), timeout=1)"
        while subprocess.run(self.exec("a", "/usr/bin/python3", "-c", probe),
                             capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, f"{host} does not listen on port {port}"
            time.sleep(0.1)

    def mc(self, op, nodes=NODES):
        """Runs MC_TOOL from host d (a client with no key); its JSON answer."""
        req = json.dumps({"op": op, "nodes": [self.addr(n) for n in nodes]})
        r = subprocess.run(self.exec("d", "/usr/bin/python3", "-c", MC_TOOL, req),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    # ---- the origin -------------------------------------------------------------

    def start_origin(self, root, prefix):
        """nginx on the origin host; every request waits LATENCY_MS first."""
        os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
        conf = os.path.join(prefix, "nginx.conf")
        listen = "listen 127.0.0.1:{port};"
        assert listen in nginx_server.CONF, "nginx_server.CONF changed: no listen line to move"
        delayed = ("        location / {{ echo_sleep %.3f; echo_exec @files; }}\n"
                   "        location @files {{ }}\n" % (LATENCY_MS / 1000.0))
        text = nginx_server.CONF.replace(listen, f"listen {self.addr('origin')}:{{port}};")
        with open(conf, "w") as f:
            f.write(text.format(prefix=prefix, root=root, port=ORIGIN_PORT,
                                load_echo=f"load_module {nginx_server.ECHO_MODULE};",
                                slow=delayed.format()))
        self.procs["origin"] = subprocess.Popen(
            self.exec("origin", nginx_server.NGINX, "-p", prefix, "-c", conf, "-e",
                      os.path.join(prefix, "error.log")),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_port("origin", ORIGIN_PORT)
        return f"http://{self.addr('origin')}:{ORIGIN_PORT}"


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def net(tmp_path_factory):
    if not os.path.exists(nginx_server.ECHO_MODULE):
        pytest.fail(f"the nginx echo module is missing ({nginx_server.ECHO_MODULE})")
    remove_stale_namespaces()
    n = Net()
    try:
        n.build()
        for node in NODES:
            n.start_node(node)
        yield n
    finally:
        n.delete()


class Data:
    """Random files on the origin and a v0 reference set of chunks of them
    (1 KiB .. 1 MiB, a few exactly 1 MiB), with the bytes each key holds."""

    def __init__(self, root, base_url, refs_path):
        rnd = random.Random(20261202)
        self.want, refs = {}, {".zgroup": json.dumps({"zarr_format": 2})}
        for i in range(FILES):
            name = f"f{i}.bin"
            blob = rnd.randbytes(FILE_SIZE)
            with open(os.path.join(root, name), "wb") as f:
                f.write(blob)
            pos, j = 0, 0
            while True:
                length = MiB if j % 7 == 3 else int(2 ** rnd.uniform(10, 20))
                if pos + length > FILE_SIZE:
                    break
                key = f"f{i}/{j}"
                refs[key] = [f"{base_url}/{name}", pos, length]
                self.want[key] = blob[pos:pos + length]
                pos += length + rnd.randrange(1024)
                j += 1
        make_refs.write(refs, str(refs_path))
        self.refs = str(refs_path)
        self.keys = sorted(self.want)


@pytest.fixture(scope="module")
def data(net, tmp_path_factory):
    root = tmp_path_factory.mktemp("origin_data")
    os.chmod(root, 0o755)
    url = net.start_origin(str(root), str(tmp_path_factory.mktemp("origin_nginx")))
    return Data(str(root), url, tmp_path_factory.mktemp("refs") / "refs.json")


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("key") / "shared.key"
    path.write_bytes(os.urandom(32))
    os.chmod(path, 0o600)
    return str(path)


def shared_url(query=f"?timeout_ms=50&retry_s={RETRY_S}"):
    return "memcached://" + ",".join(f"{Net.addr(n)}:{MC_PORT}" for n in NODES) + query


class HostMount(zmount.Mount):
    """A mount whose daemon runs on a host's network."""

    def __init__(self, net, host, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.net, self.host = net, host

    def command(self, *more):
        return self.net.enter(self.host, *super().command(*more))


@pytest.fixture
def host_mount(net, data, key_file, tmp_path):
    made = []

    def make(host, extra=()):
        i = len(made)
        m = HostMount(net, host, data.refs, tmp_path / f"mnt{i}", tmp_path / f"cache{i}",
                      tmp_path / f"mnt{i}.log",
                      ["--shared-cache", shared_url(), "--shared-cache-key-file", key_file,
                       "--no-prefetch", *extra])
        made.append(m)
        m.start()
        return m
    yield make
    for m in made:
        m.cleanup()


def status(m):
    r = subprocess.run([zmount.ZARRMOUNT, "status", m.mnt, "--json"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def read_all(m, keys, want):
    """Reads every key; returns (keys with wrong bytes, slowest read in s)."""
    wrong, slowest = [], 0.0
    for k in keys:
        t0 = time.monotonic()
        with open(m.path(k), "rb") as f:
            got = f.read()
        slowest = max(slowest, time.monotonic() - t0)
        if got != want[k]:
            wrong.append(k)
    return wrong, slowest


def wait_shared_puts(m, at_least, timeout=30):
    """Waits until the daemon's background writes to the shared tier have
    stored at least ``at_least`` blocks and stopped growing."""
    deadline, last = time.monotonic() + timeout, -1
    while True:
        s = status(m)["shared_cache"]
        done = s["shared_puts"] + s["shared_queue_drops"] + s["shared_errors"]
        if done >= at_least and done == last:
            return s
        assert time.monotonic() < deadline, f"shared writes stalled: {s}"
        last = done
        time.sleep(0.3)


def warm(net, data, key_file, tmp_path):
    r = subprocess.run(net.enter("a", zmount.ZARRMOUNT, "warm", "--json", "--cache-dir",
                                 tmp_path / "warm-cache", "--shared-cache", shared_url(),
                                 "--shared-cache-key-file", key_file, data.refs),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def groups_on(net, node):
    """The blocks (and object records) whose values ``node`` holds."""
    return {k.split(".")[0] for k in net.mc("keys", [node])[net.addr(node)]}


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------

def test_second_host_reads_from_the_shared_tier(net, data, host_mount):
    net.mc("flush")
    a = host_mount("a")
    wrong, _ = read_all(a, data.keys, data.want)
    assert not wrong, f"host a read wrong bytes: {wrong[:5]}"
    assert status(a)["origin_requests"] > 0
    wait_shared_puts(a, len(data.keys))

    b = host_mount("b")
    wrong, slowest = read_all(b, data.keys, data.want)
    assert not wrong, f"host b read wrong bytes: {wrong[:5]}"
    s = status(b)
    assert s["origin_requests"] == 0, s
    assert s["shared_hits"] >= len(data.keys), s
    assert s["shared_cache"]["shared_rejected"] == 0, s
    assert [n["state"] for n in s["shared_cache"]["nodes"]] == ["up"] * 3, s
    text = subprocess.run([zmount.ZARRMOUNT, "status", b.mnt], capture_output=True, text=True).stdout
    assert "from shared cache" in text and f"{net.addr('mc2')}:{MC_PORT} up" in text, text


def test_node_killed_then_restarted(net, data, key_file, host_mount, tmp_path):
    net.mc("flush")
    w = warm(net, data, key_file, tmp_path)
    assert w["failed_keys"] == 0
    lost = groups_on(net, "mc2")
    assert 0 < len(lost) < len(data.keys) + FILES, "mc2 should hold a share, not all"
    try:
        net.kill_node("mc2")
        c = host_mount("c")
        wrong, slowest = read_all(c, data.keys, data.want)
        assert not wrong, f"wrong bytes with a node down: {wrong[:5]}"
        assert slowest < READ_DEADLINE_S, f"a read took {slowest:.2f} s with a node down"
        s = status(c)
        # Only the lost node's share came from the origin.
        assert 0 < s["misses"] <= len(lost), (s, len(lost))
        states = {n["name"]: n["state"] for n in s["shared_cache"]["nodes"]}
        assert states[f"{net.addr('mc2')}:{MC_PORT}"] == "down", states
    finally:
        if "mc2" not in net.procs:
            net.start_node("mc2")

    # Back, empty: a new host finds mc2's share missing and refills it ...
    time.sleep(RETRY_S + 1)
    d = host_mount("d")
    wrong, slowest = read_all(d, data.keys, data.want)
    assert not wrong
    s = status(d)
    assert s["misses"] <= len(lost), (s, len(lost))
    wait_shared_puts(d, s["misses"])
    assert groups_on(net, "mc2"), "the restarted node was not refilled"
    # ... and then a host needs no origin at all.
    b = host_mount("b")
    wrong, _ = read_all(b, data.keys, data.want)
    assert not wrong
    assert status(b)["origin_requests"] == 0, status(b)


def test_silent_node_costs_a_short_timeout(net, data, key_file, host_mount, tmp_path):
    """A node that stops answering (its link down: packets vanish, nothing
    is refused) costs a connect timeout, then is skipped."""
    net.mc("flush")
    warm(net, data, key_file, tmp_path)
    lost = groups_on(net, "mc3")
    sh("ip", "-n", net.ns("mc3"), "link", "set", "eth0", "down")
    try:
        c = host_mount("c")
        t0 = time.monotonic()
        wrong, slowest = read_all(c, data.keys, data.want)
        elapsed = time.monotonic() - t0
        assert not wrong, f"wrong bytes with a silent node: {wrong[:5]}"
        assert slowest < READ_DEADLINE_S, f"a read took {slowest:.2f} s with a silent node"
        s = status(c)
        assert s["misses"] <= len(lost), (s, len(lost))
        states = {n["name"]: n["state"] for n in s["shared_cache"]["nodes"]}
        assert states[f"{net.addr('mc3')}:{MC_PORT}"] == "down", states
        # Each pooled connection pays the timeout once, not each read: the
        # whole pass costs about what the origin share costs.
        assert elapsed < len(lost) * 0.2 + 5, f"{elapsed:.1f} s for {len(data.keys)} reads"
    finally:
        sh("ip", "-n", net.ns("mc3"), "link", "set", "eth0", "up")


def test_values_forged_without_the_key_are_refused_and_healed(net, data, key_file, host_mount,
                                                               tmp_path):
    net.mc("flush")
    warm(net, data, key_file, tmp_path)
    poisoned = sum(net.mc("poison").values())
    assert poisoned >= len(data.keys)

    c = host_mount("c")
    wrong, _ = read_all(c, data.keys, data.want)
    assert not wrong, f"forged values were served: {wrong[:5]}"
    s = status(c)
    assert s["shared_cache"]["shared_rejected"] >= len(data.keys), s
    assert s.get("shared_hits", 0) == 0, s
    assert s["misses"] == len(data.keys), s
    with open(c.log) as f:
        refusals = [line for line in f if "refused the value" in line]
    assert len(refusals) == 1, f"refusals should be logged once a minute, got {len(refusals)}"
    wait_shared_puts(c, len(data.keys))

    # The fill path stored the origin's bytes again: the tier is healed.
    b = host_mount("b")
    wrong, _ = read_all(b, data.keys, data.want)
    assert not wrong
    s = status(b)
    assert s["origin_requests"] == 0 and s["shared_cache"]["shared_rejected"] == 0, s


def test_refused_without_a_private_key(net, data, key_file, tmp_path):
    base = [zmount.ZARRMOUNT, "--shared-cache", shared_url(), data.refs, str(tmp_path)]
    r = subprocess.run(base, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert r.stderr.count("\n") == 1 and "--shared-cache-key-file" in r.stderr, r.stderr
    assert "--shared-cache-unauthenticated" in r.stderr, r.stderr
    loose = tmp_path / "loose.key"
    loose.write_bytes(os.urandom(32))
    os.chmod(loose, 0o644)
    r = subprocess.run(base[:1] + ["--shared-cache-key-file", str(loose)] + base[1:],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert r.stderr.count("\n") == 1 and "chmod 600" in r.stderr, r.stderr
