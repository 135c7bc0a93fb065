"""Hosts in network namespaces for the shared-tier tests and benchmark:
client hosts running zarrmount daemons, memcached nodes and an nginx origin
with added latency, joined by a bridge in a switch namespace. Every
namespace is made by Net.build() and removed by Net.delete().

A daemon runs on a host's network through ``nsenter --net`` (not ``ip netns
exec``, which would also give it a private mount namespace), so its mount
is seen by the caller.
"""

import json
import os
import random
import signal
import subprocess
import time

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

    def __init__(self, latency_ms=LATENCY_MS):
        self.tag = f"{NS_PREFIX}{os.getpid()}"
        self.made = []
        self.procs = {}  # host -> Popen of its server
        self.latency_ms = latency_ms
        self.node_memory_mb = 64

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
                                       self.addr(host), "-m", self.node_memory_mb, "-t", 2, "-u", "nobody"),
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
                   "        location @files {{ }}\n" % (self.latency_ms / 1000.0))
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


class Data:
    """Random files on the origin and a v0 reference set of chunks of them
    (1 KiB .. 1 MiB, a few exactly 1 MiB), with the bytes each key holds."""

    def __init__(self, root, base_url, refs_path, files=FILES, file_size=FILE_SIZE, sizes=None):
        """``sizes(rnd, j)``: the length of chunk j (default: 1 KiB .. 1 MiB)."""
        sizes = sizes or (lambda rnd, j: MiB if j % 7 == 3 else int(2 ** rnd.uniform(10, 20)))
        rnd = random.Random(20261202)
        self.want, refs = {}, {".zgroup": json.dumps({"zarr_format": 2})}
        for i in range(files):
            name = f"f{i}.bin"
            blob = rnd.randbytes(file_size)
            with open(os.path.join(root, name), "wb") as f:
                f.write(blob)
            pos, j = 0, 0
            while True:
                length = sizes(rnd, j)
                if pos + length > file_size:
                    break
                key = f"f{i}/{j}"
                refs[key] = [f"{base_url}/{name}", pos, length]
                self.want[key] = blob[pos:pos + length]
                pos += length + rnd.randrange(1024)
                j += 1
        make_refs.write(refs, str(refs_path))
        self.refs = str(refs_path)
        self.keys = sorted(self.want)


# Tests run on busy shared machines: a node slower than 50 ms there is not
# sick, and a node taken for dead would change what the tests count.
TIMEOUT_MS = 250


def shared_url(query=f"?timeout_ms={TIMEOUT_MS}&retry_s={RETRY_S}"):
    return "memcached://" + ",".join(f"{Net.addr(n)}:{MC_PORT}" for n in NODES) + query



class HostMount(zmount.Mount):
    """A mount whose daemon runs on a host's network."""

    def __init__(self, net, host, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.net, self.host = net, host

    def command(self, *more):
        return self.net.enter(self.host, *super().command(*more))


def status(m):
    r = subprocess.run([zmount.ZARRMOUNT, "status", m.mnt, "--json"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def read_all(m, keys, want, before_read=None):
    """Reads every key; returns (keys with wrong bytes, slowest read in s).
    ``before_read(i)``, if given, is called before the i-th read."""
    wrong, slowest = [], 0.0
    for i, k in enumerate(keys):
        if before_read:
            before_read(i)
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


def groups_on(net, node):
    """The blocks (and object records) whose values ``node`` holds."""
    return {k.split(".")[0] for k in net.mc("keys", [node])[net.addr(node)]}
