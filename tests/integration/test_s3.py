"""Cloud object stores and remote origins, mounted.

Against s3rver (a real S3-compatible server that checks Signature V4), nginx
and a small header-checking HTTP server, all on 127.0.0.1:
  - s3:// anonymous (public bucket) and signed (private bucket), session
    tokens, wrong secrets and unknown keys (EACCES), missing objects and
    unknown buckets (EIO), with the store's error Code and Message logged;
  - the credential chain: environment, ~/.aws/credentials and ~/.aws/config
    with AWS_PROFILE / --s3-profile, AWS_SHARED_CREDENTIALS_FILE, and the
    endpoint from AWS_ENDPOINT_URL(_S3), the profile or --s3-endpoint;
  - remote reference files over s3:// and http://, plain and gzip;
  - --map (longest prefix, to http:// and file://), gs:// mapped;
  - --header / --bearer-token-env scoped to a URL prefix;
  - no secret ever in the log, the mount's stderr or `zarrmount status`.
"""

import errno
import gzip
import http.server
import json
import os
import random
import subprocess
import threading

import pytest

import nginx_server
import s3_server
import zmount

KEY_ID = "AKIDZARRMOUNTTEST01"
SECRET = "zmSecret/Known+Value0123456789abcdefXYZ"
TOKEN = "zmSessionTokenKnown+Value//9876543210=="
WRONG_SECRET = "zmWrongSecret/Known+Value0123456789ABC"
BEARER = "zmBearerTokenKnownValue0123456789"
OTHER_ID, OTHER_SECRET = "AKIDZARRMOUNTOTHER", "otherSecretValue0123456789"

DATA = random.Random(7).randbytes(300 * 1024)
PUB_KEY = "data/obj 1.bin"  # a space, to be percent-encoded (and signed so)
PRIV_KEY = "data/obj.bin"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    try:
        server = s3_server.S3rver(tmp_path_factory.mktemp("s3rver"),
                                  [(KEY_ID, SECRET), (OTHER_ID, OTHER_SECRET)],
                                  ["pub", "private-data"]).start()
    except RuntimeError as e:
        pytest.fail(str(e))
    server.put("pub", PUB_KEY, DATA)
    server.put("private-data", PRIV_KEY, DATA)
    rel_refs = {".zgroup": '{"zarr_format": 2}',
                "x/range": ["s3://private-data/" + PRIV_KEY, 1000, 5000],
                "x/rel": [PRIV_KEY, 7, 100],  # relative to the reference file
                "x/whole": ["s3://private-data/" + PRIV_KEY]}
    text = json.dumps(rel_refs).encode()
    server.put("private-data", "refs.json", text)
    server.put("private-data", "refs.json.gz", gzip.compress(text))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """nginx serving DATA as /refs/data.bin, with reference files beside it."""
    root = tmp_path_factory.mktemp("webroot")
    os.makedirs(root / "refs")
    (root / "refs" / "data.bin").write_bytes(DATA)
    refs = {".zgroup": '{"zarr_format": 2}', "x/range": ["data.bin", 1000, 5000],
            "x/whole": ["data.bin"]}
    (root / "refs" / "refs.json").write_text(json.dumps(refs))
    (root / "refs" / "refs.json.gz").write_bytes(gzip.compress(json.dumps(refs).encode()))
    server = nginx_server.Nginx(str(root), tmp_path_factory.mktemp("nginx-s3")).start()
    yield server
    server.stop()


class HeaderServer:
    """Serves DATA (whole, 200) under /scoped/ only to requests carrying
    "Authorization: Bearer BEARER" and "X-Zm: yes", else 401 with the
    Authorization header echoed in the body (a careless server); serves
    /open/ to anyone. Records each request's headers."""

    def __init__(self):
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.do_GET(head=True)

            def do_GET(self, head=False):
                seen.append((self.path, dict(self.headers)))
                auth = self.headers.get("Authorization", "")
                ok = self.path.startswith("/open/") or (
                    auth == f"Bearer {BEARER}" and self.headers.get("X-Zm") == "yes")
                body = DATA if ok else f"denied: you sent '{auth}'".encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def header_server():
    server = HeaderServer()
    yield server
    server.stop()


# ---- helpers -----------------------------------------------------------------


def clean_env(home, **extra):
    """Our environment without any AWS_ variable, HOME at ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(home)
    env.update(extra)
    return env


def signed_env(home, s3, **extra):
    return clean_env(home, AWS_ENDPOINT_URL=s3.url, AWS_ACCESS_KEY_ID=KEY_ID,
                     AWS_SECRET_ACCESS_KEY=SECRET, **extra)


def write_refs(tmp_path, refs, name="refs.json"):
    path = tmp_path / name
    path.write_text(json.dumps(refs))
    return str(path)


def range_refs(url):
    return {".zgroup": '{"zarr_format": 2}', "x/range": [url, 1000, 5000]}


def full_refs(url):
    return dict(range_refs(url), **{"x/whole": [url]})


def read(m, key):
    with open(m.path(key), "rb") as f:
        return f.read()


def read_errno(m, key):
    try:
        read(m, key)
    except OSError as e:
        return e.errno
    return None


def check_full(m):
    assert read(m, "x/range") == DATA[1000:6000]
    assert os.stat(m.path("x/whole")).st_size == len(DATA)
    assert read(m, "x/whole") == DATA


def log_text(m):
    with open(m.log, errors="replace") as f:
        return f.read()


def failed_mount(mount, refs, env, extra=()):
    """Runs a mount that must fail; returns its stderr."""
    m = mount(refs, start=False, env=env, extra=extra)
    proc = subprocess.run(m.command(), capture_output=True, text=True, env=env,
                          timeout=zmount.MOUNT_TIMEOUT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc
    assert not zmount.is_mounted(m.mnt)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return proc.stderr


def write_aws_files(home, credentials=None, config=None):
    os.makedirs(home / ".aws", exist_ok=True)
    if credentials is not None:
        (home / ".aws" / "credentials").write_text(credentials)
    if config is not None:
        (home / ".aws" / "config").write_text(config)


# ---- anonymous and signed ------------------------------------------------------


def test_anonymous_read_of_a_public_bucket(s3, mount, tmp_path):
    refs = write_refs(tmp_path, full_refs("s3://pub/" + PUB_KEY))
    m = mount(refs, env=clean_env(tmp_path, AWS_ENDPOINT_URL=s3.url))
    check_full(m)
    assert "credentials: none found" in log_text(m)


def test_anonymous_option_sends_requests_unsigned(s3, mount, tmp_path):
    # With a wrong secret in the environment, only unsigned requests succeed.
    env = clean_env(tmp_path, AWS_ENDPOINT_URL=s3.url, AWS_ACCESS_KEY_ID=KEY_ID,
                    AWS_SECRET_ACCESS_KEY=WRONG_SECRET)
    refs = write_refs(tmp_path, full_refs("s3://pub/" + PUB_KEY))
    check_full(mount(refs, env=env, extra=["--s3-anonymous"]))
    m = mount(write_refs(tmp_path, range_refs("s3://pub/" + PUB_KEY), "signed.json"), env=env)
    assert read_errno(m, "x/range") == errno.EACCES


def test_signed_read_of_a_private_bucket(s3, mount, tmp_path):
    refs = write_refs(tmp_path, full_refs("s3://private-data/" + PRIV_KEY))
    check_full(mount(refs, env=signed_env(tmp_path, s3)))


def test_session_token_is_sent_and_signed(s3, mount, tmp_path):
    refs = write_refs(tmp_path, full_refs("s3://private-data/" + PRIV_KEY))
    m = mount(refs, env=signed_env(tmp_path, s3, AWS_SESSION_TOKEN=TOKEN))
    check_full(m)
    assert "with a session token" in log_text(m)


def test_missing_credentials_for_a_private_bucket_is_eacces(s3, mount, tmp_path):
    refs = write_refs(tmp_path, range_refs("s3://private-data/" + PRIV_KEY))
    m = mount(refs, env=clean_env(tmp_path, AWS_ENDPOINT_URL=s3.url))
    assert read_errno(m, "x/range") == errno.EACCES
    log = log_text(m)
    assert "s3://private-data/data/obj.bin" in log
    assert "AccessDenied: Access Denied" in log
    assert "no AWS credentials found" in log


@pytest.mark.parametrize("key_id,secret,code", [
    (KEY_ID, WRONG_SECRET, "SignatureDoesNotMatch"),
    ("AKIDNOBODYKNOWS", SECRET, "InvalidAccessKeyId"),
])
def test_wrong_credentials_are_eacces_with_the_stores_answer(s3, mount, tmp_path, key_id,
                                                             secret, code):
    env = clean_env(tmp_path, AWS_ENDPOINT_URL=s3.url, AWS_ACCESS_KEY_ID=key_id,
                    AWS_SECRET_ACCESS_KEY=secret)
    m = mount(write_refs(tmp_path, range_refs("s3://private-data/" + PRIV_KEY)), env=env)
    assert read_errno(m, "x/range") == errno.EACCES
    log = log_text(m)
    assert f"HTTP 403 {code}" in log
    assert "s3://private-data/data/obj.bin" in log
    assert secret not in log
    # A whole-object reference is sized at mount: the mount fails, one line.
    err = failed_mount(mount, write_refs(tmp_path, full_refs("s3://private-data/" + PRIV_KEY),
                                         "whole.json"), env)
    assert code in err and "s3://private-data/data/obj.bin" in err and "x/whole" in err
    assert secret not in err


def test_missing_object_is_eio_and_names_the_key(s3, mount, tmp_path):
    env = signed_env(tmp_path, s3)
    m = mount(write_refs(tmp_path, range_refs("s3://private-data/data/nope.bin")), env=env)
    assert read_errno(m, "x/range") == errno.EIO
    assert "s3://private-data/data/nope.bin" in log_text(m)
    assert "NoSuchKey" in log_text(m)
    err = failed_mount(mount, write_refs(tmp_path, full_refs("s3://private-data/data/nope.bin"),
                                         "whole.json"), env)
    assert "NoSuchKey" in err and "s3://private-data/data/nope.bin" in err


def test_unknown_bucket_is_eio_with_nosuchbucket(s3, mount, tmp_path):
    m = mount(write_refs(tmp_path, range_refs("s3://no-such-bucket/x.bin")),
              env=signed_env(tmp_path, s3))
    assert read_errno(m, "x/range") == errno.EIO
    assert "NoSuchBucket: The specified bucket does not exist" in log_text(m)


# ---- endpoint and credential chain -------------------------------------------------


def test_endpoint_from_environment_and_option(s3, mount, tmp_path):
    refs = write_refs(tmp_path, full_refs("s3://private-data/" + PRIV_KEY))
    creds = dict(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)
    dead = "http://127.0.0.1:1"  # nobody listens there
    # AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL
    check_full(mount(refs, env=clean_env(tmp_path, AWS_ENDPOINT_URL=dead,
                                         AWS_ENDPOINT_URL_S3=s3.url, **creds)))
    # the option beats both
    m = mount(refs, env=clean_env(tmp_path, AWS_ENDPOINT_URL=dead, AWS_ENDPOINT_URL_S3=dead,
                                  **creds), extra=["--s3-endpoint", s3.url + "/"])
    check_full(m)
    assert f"endpoint {s3.url} (path-style)" in log_text(m)
    # and with the dead one, the read fails (the endpoint is really used)
    m = mount(write_refs(tmp_path, range_refs("s3://private-data/" + PRIV_KEY), "r.json"),
              env=clean_env(tmp_path, AWS_ENDPOINT_URL=dead, **creds),
              extra=["--retries", "0"])
    assert read_errno(m, "x/range") == errno.EIO


def test_credentials_from_aws_files_and_profiles(s3, mount, tmp_path):
    home = tmp_path / "home"
    write_aws_files(home, credentials=(
        "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"
        "[team]\naws_access_key_id=%s\naws_secret_access_key=%s  # inline comment\n"
        % (KEY_ID, WRONG_SECRET, KEY_ID, SECRET)),
        config=(
        "[default]\nregion = us-east-1\n\n"
        "[profile cfg]\nendpoint_url = %s\naws_access_key_id = %s\n"
        "aws_secret_access_key = %s\n" % (s3.url, OTHER_ID, OTHER_SECRET)))
    refs = write_refs(tmp_path, full_refs("s3://private-data/" + PRIV_KEY))
    ranged = write_refs(tmp_path, range_refs("s3://private-data/" + PRIV_KEY), "r.json")
    # default profile: the wrong secret
    m = mount(ranged, env=clean_env(home, AWS_ENDPOINT_URL=s3.url))
    assert read_errno(m, "x/range") == errno.EACCES
    assert "profile 'default' in" in log_text(m)
    # AWS_PROFILE and --s3-profile choose the right one
    check_full(mount(refs, env=clean_env(home, AWS_ENDPOINT_URL=s3.url, AWS_PROFILE="team")))
    check_full(mount(refs, env=clean_env(home, AWS_ENDPOINT_URL=s3.url),
                     extra=["--s3-profile", "team"]))
    # a profile of the config file, with its endpoint_url
    m = mount(refs, env=clean_env(home, AWS_PROFILE="cfg"))
    check_full(m)
    assert "profile 'cfg' in " + str(home / ".aws" / "config") in log_text(m)
    # the environment beats the files
    check_full(mount(refs, env=clean_env(home, AWS_ENDPOINT_URL=s3.url,
                                         AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)))
    # files named by AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n"
                         % (KEY_ID, SECRET))
    check_full(mount(refs, env=clean_env(home, AWS_ENDPOINT_URL=s3.url,
                                         AWS_SHARED_CREDENTIALS_FILE=str(elsewhere))))
    # a profile that does not exist: EACCES, and the log says so
    m = mount(ranged, env=clean_env(home, AWS_ENDPOINT_URL=s3.url, AWS_PROFILE="nope"))
    assert read_errno(m, "x/range") == errno.EACCES
    assert "AWS profile 'nope' not found" in log_text(m)


# ---- secrets -------------------------------------------------------------------------


def test_secrets_never_appear_in_logs_errors_or_status(s3, mount, tmp_path, header_server):
    secrets = [WRONG_SECRET, SECRET, TOKEN, BEARER]
    env = clean_env(tmp_path, AWS_ENDPOINT_URL=s3.url, AWS_ACCESS_KEY_ID=KEY_ID,
                    AWS_SECRET_ACCESS_KEY=WRONG_SECRET, AWS_SESSION_TOKEN=TOKEN,
                    ZM_TOKEN=BEARER)
    hs = f"http://127.0.0.1:{header_server.port}"
    refs = {".zgroup": '{"zarr_format": 2}',
            "x/s3": ["s3://private-data/" + PRIV_KEY, 0, 100],
            "x/nokey": ["s3://private-data/missing.bin", 0, 100],
            # the server answers 401 and echoes the token it got
            "x/http": [hs + "/scoped/f.bin", 0, 100]}
    path = write_refs(tmp_path, refs)
    extra = ["--bearer-token-env", "ZM_TOKEN", "-f"]
    m = mount(path, env=env, extra=["--bearer-token-env", "ZM_TOKEN"])
    assert read_errno(m, "x/s3") == errno.EACCES
    assert read_errno(m, "x/http") == errno.EACCES
    assert any(h.get("Authorization") == f"Bearer {BEARER}" for _, h in header_server.seen)
    status = subprocess.run([zmount.ZARRMOUNT, "status", m.mnt, "--json"], capture_output=True,
                            text=True, timeout=30)
    assert status.returncode == 0, status.stderr
    # The right secret (and the token), and a missing object.
    good = dict(env, AWS_SECRET_ACCESS_KEY=SECRET)
    m2 = mount(path, env=good, extra=["--bearer-token-env", "ZM_TOKEN"])
    assert read_errno(m2, "x/nokey") == errno.EIO
    log = log_text(m) + log_text(m2)
    assert "SignatureDoesNotMatch" in log and "NoSuchKey" in log and "HTTP 401" in log
    assert "***" in log  # the echoed token was there, and was hidden
    # A failing whole-object mount, with its error on stderr.
    err = failed_mount(mount, write_refs(tmp_path, {"w": ["s3://private-data/" + PRIV_KEY]},
                                         "w.json"), env, extra)
    check = subprocess.run([zmount.ZARRMOUNT, "--check", *extra[:2],
                            write_refs(tmp_path, {"w": [hs + "/scoped/f.bin"]}, "c.json")],
                           capture_output=True, text=True, env=env, timeout=60)
    assert check.returncode == 1 and "HTTP 401" in check.stderr
    for text in (log, status.stdout, status.stderr, err, check.stdout, check.stderr):
        for secret in secrets:
            assert secret not in text


# ---- remote reference files ---------------------------------------------------------


@pytest.mark.parametrize("name", ["refs.json", "refs.json.gz"])
def test_reference_file_over_s3(s3, mount, tmp_path, name):
    m = mount(f"s3://private-data/{name}", env=signed_env(tmp_path, s3))
    check_full(m)
    assert read(m, "x/rel") == DATA[7:107]
    status = subprocess.run([zmount.ZARRMOUNT, "status", m.mnt, "--json"], capture_output=True,
                            text=True, timeout=30)
    assert json.loads(status.stdout)["source"] == f"s3://private-data/{name}"


@pytest.mark.parametrize("name", ["refs.json", "refs.json.gz"])
def test_reference_file_over_http(web, mount, tmp_path, name):
    check_full(mount(f"{web.url}/refs/{name}", env=clean_env(tmp_path)))


def test_missing_remote_reference_file_fails_the_mount(s3, web, mount, tmp_path):
    err = failed_mount(mount, "s3://private-data/nope.json", signed_env(tmp_path, s3))
    assert "s3://private-data/nope.json" in err and "NoSuchKey" in err
    err = failed_mount(mount, f"{web.url}/refs/nope.json", clean_env(tmp_path))
    assert f"{web.url}/refs/nope.json" in err and "HTTP 404" in err


# ---- --map and gs:// -----------------------------------------------------------------


def test_map_redirects_to_http_and_file_longest_prefix_wins(web, mount, tmp_path):
    local = tmp_path / "mirror"
    local.mkdir()
    (local / "data.bin").write_bytes(DATA)
    refs = write_refs(tmp_path, full_refs("s3://archive/data.bin"))
    env = clean_env(tmp_path)
    m = mount(refs, env=env, extra=["--map", f"s3://archive/={web.url}/refs/"])
    check_full(m)
    assert any(r[1] == "/refs/data.bin" for r in web.requests())
    # the longer prefix wins over the shorter (dead) one, whichever comes first
    check_full(mount(refs, env=env, extra=["--map", "s3://=http://127.0.0.1:1/",
                                           "--map", f"s3://archive/data=file://{local}/data"]))
    check_full(mount(refs, env=env, extra=["--map", f"s3://archive/data=file://{local}/data",
                                           "--map", "s3://=http://127.0.0.1:1/"]))


def test_gs_mapped_to_the_local_server(web, mount, tmp_path):
    refs = write_refs(tmp_path, full_refs("gs://some-bucket/refs/data.bin"))
    check_full(mount(refs, env=clean_env(tmp_path),
                     extra=["--map", f"gs://some-bucket/={web.url}/"]))


def test_bad_map_is_a_usage_error(tmp_path):
    proc = subprocess.run([zmount.ZARRMOUNT, "--map", "no-equals-sign", "--check", "x.json"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--map" in proc.stderr


# ---- headers --------------------------------------------------------------------------


def test_headers_and_bearer_token_go_only_under_their_prefix(header_server, mount, tmp_path):
    base = f"http://127.0.0.1:{header_server.port}"
    refs = write_refs(tmp_path, {".zgroup": '{"zarr_format": 2}',
                                 "x/range": [base + "/scoped/f.bin", 1000, 5000],
                                 "x/whole": [base + "/scoped/f.bin"],
                                 "y/open": [base + "/open/f.bin", 10, 20]})
    m = mount(refs, env=clean_env(tmp_path, ZM_TOKEN=BEARER),
              extra=["--bearer-token-env", f"{base}/scoped/ ZM_TOKEN",
                     "--header", f"{base}/scoped/ X-Zm: yes"])
    check_full(m)
    assert read(m, "y/open") == DATA[10:30]
    scoped = [h for p, h in header_server.seen if p.startswith("/scoped/")]
    opened = [h for p, h in header_server.seen if p.startswith("/open/")]
    assert scoped and all(h.get("Authorization") == f"Bearer {BEARER}" for h in scoped)
    assert opened and not any("Authorization" in h or "X-Zm" in h for h in opened)
    log = log_text(m)
    assert "header Authorization: *** for " + base + "/scoped/" in log
    assert BEARER not in log
    # without them the server refuses: EACCES
    m = mount(write_refs(tmp_path, {"x/range": [base + "/scoped/f.bin", 0, 10]}, "r.json"),
              env=clean_env(tmp_path))
    assert read_errno(m, "x/range") == errno.EACCES


def test_bearer_token_variable_must_be_set(tmp_path):
    proc = subprocess.run([zmount.ZARRMOUNT, "--check", "--bearer-token-env", "ZM_UNSET_VAR",
                           write_refs(tmp_path, {"a": "b"})],
                          capture_output=True, text=True, timeout=30, env=clean_env(tmp_path))
    assert proc.returncode == 1 and "ZM_UNSET_VAR" in proc.stderr


# ---- warm --------------------------------------------------------------------------


def test_warm_takes_the_origin_options(s3, mount, tmp_path):
    """`zarrmount warm` reaches s3:// as a mount does (--s3-endpoint, --map,
    --s3-anonymous); what it fetched then reads --offline."""
    refs = write_refs(tmp_path, full_refs("s3://mirror-of-pub/" + PUB_KEY))
    cache = tmp_path / "warm-cache"
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=WRONG_SECRET)
    options = ["--s3-endpoint", s3.url, "--map", "s3://mirror-of-pub/=s3://pub/",
               "--s3-anonymous"]
    warm = subprocess.run([zmount.ZARRMOUNT, "warm", "--cache-dir", str(cache), *options,
                           "--json", refs], capture_output=True, text=True, env=env, timeout=120)
    assert warm.returncode == 0, warm.stderr
    out = json.loads(warm.stdout)
    assert out["failed_keys"] == 0 and out["keys"] == 2, warm.stdout
    # Each option counts: without the map the bucket does not exist, without
    # --s3-anonymous the wrong secret signs the requests.
    for i, (left_out, answer) in enumerate(((options[2:4], "NoSuchBucket"),
                                            (options[4:], "403"))):
        fewer = [o for o in options if o not in left_out]
        bad = subprocess.run([zmount.ZARRMOUNT, "warm", "--cache-dir", str(tmp_path / f"c{i}"),
                              "--json", *fewer, refs],
                             capture_output=True, text=True, env=env, timeout=120)
        assert bad.returncode != 0, (fewer, bad.stdout)
        assert answer in bad.stderr, (fewer, bad.stderr)
    m = mount(refs, cache_dir=str(cache), env=env, extra=["--offline"])
    check_full(m)


def test_convert_takes_the_request_options(s3, mount, tmp_path):
    """`zarrmount convert` reads a reference file over S3 with the mount's
    request options (--s3-endpoint here, the environment's endpoint dead),
    and what it writes mounts and reads the same as the original."""
    env = clean_env(tmp_path, AWS_ENDPOINT_URL="http://127.0.0.1:1", AWS_ACCESS_KEY_ID=KEY_ID,
                    AWS_SECRET_ACCESS_KEY=SECRET)

    def convert(*args):
        return subprocess.run([zmount.ZARRMOUNT, "convert", "s3://private-data/refs.json.gz", *args],
                              capture_output=True, text=True, timeout=120, env=env,
                              stdin=subprocess.DEVNULL)

    out = tmp_path / "converted.json"
    dead = convert("-o", str(out))
    assert dead.returncode != 0 and len(dead.stderr.strip().splitlines()) == 1, dead.stderr
    assert "refs.json.gz" in dead.stderr
    done = convert("--s3-endpoint", s3.url, "-o", str(out))
    assert done.returncode == 0, done.stderr
    m = mount(str(out), env=signed_env(tmp_path, s3))
    check_full(m)
    assert read(m, "x/rel") == DATA[7:107]
