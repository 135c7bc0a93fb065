"""A small stand-in for Cloud Storage's XML API on 127.0.0.1 (stdlib only).

The directories under ``root`` are buckets and the files below them their
objects (key: the path under the bucket). It answers

  GET  /BUCKET?list-type=2&prefix=P[&continuation-token=T]   (or /BUCKET/?...)
       a ListBucketResult page of at most ``page_size`` keys, in byte order,
       truncated with a NextContinuationToken (opaque: base64 of the last
       key) as Cloud Storage does; any other listing request is 400;
       (with ``fail_continued`` set: 503 for every page after the first);
  GET and HEAD /BUCKET/KEY   the object, with single ranges (``bytes=a-b``,
       ``a-``); 404 with Cloud Storage's NoSuchKey XML when absent.

zarrmount reaches it with ``--map gs://BUCKET/=URL/BUCKET/`` (URL: ``url``).
Every request is logged in ``requests`` as (method, path with query).
"""

import base64
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape


def _keys(bucket_dir):
    out = []
    for root, _dirs, files in os.walk(bucket_dir):
        for f in files:
            out.append(os.path.relpath(os.path.join(root, f), bucket_dir).replace(os.sep, "/"))
    return sorted(out, key=lambda k: k.encode())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, code, body=b"", ctype="application/xml", headers=(), head=False):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _error(self, code, name, head=False):
        body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{name}</Code>"
                f"<Message>{name}</Message></Error>").encode()
        self._reply(code, body, head=head)

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head):
        server = self.server
        with server.lock:
            server.requests.append((self.command, self.path))
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        bucket, _, key = path.lstrip("/").partition("/")
        bucket_dir = os.path.join(server.root, bucket)
        if not bucket or not os.path.isdir(bucket_dir):
            return self._error(404, "NoSuchBucket", head)
        if not key:
            return self._list(bucket, bucket_dir, urllib.parse.parse_qs(url.query), head)
        file = os.path.join(bucket_dir, *key.split("/"))
        if not os.path.isfile(file):
            return self._error(404, "NoSuchKey", head)
        with open(file, "rb") as f:
            data = f.read()
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            first = int(first)
            last = min(int(last), len(data) - 1) if last else len(data) - 1
            if first >= len(data):
                return self._reply(416, b"", headers=[("Content-Range", f"bytes */{len(data)}")],
                                   head=head)
            return self._reply(206, data[first:last + 1], "application/octet-stream",
                               [("Content-Range", f"bytes {first}-{last}/{len(data)}")], head)
        self._reply(200, data, "application/octet-stream", head=head)

    def _list(self, bucket, bucket_dir, query, head):
        if query.get("list-type") != ["2"]:
            return self._error(400, "InvalidArgument", head)
        if self.server.owner.fail_continued and "continuation-token" in query:
            return self._error(503, "ServiceUnavailable", head)
        prefix = query.get("prefix", [""])[0]
        after = ""
        if "continuation-token" in query:
            after = base64.b64decode(query["continuation-token"][0]).decode()
        keys = [k for k in _keys(bucket_dir) if k.startswith(prefix) and k.encode() > after.encode()]
        page, rest = keys[:self.server.page_size], keys[self.server.page_size:]
        parts = ["<?xml version='1.0' encoding='UTF-8'?>",
                 "<ListBucketResult xmlns='http://doc.s3.amazonaws.com/2006-03-01'>",
                 f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>",
                 f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{self.server.page_size}</MaxKeys>",
                 f"<IsTruncated>{'true' if rest else 'false'}</IsTruncated>"]
        if rest:
            token = base64.b64encode(page[-1].encode()).decode()
            parts.append(f"<NextContinuationToken>{token}</NextContinuationToken>")
        for k in page:
            size = os.path.getsize(os.path.join(bucket_dir, *k.split("/")))
            parts.append(f"<Contents><Key>{escape(k)}</Key><Generation>1</Generation>"
                         f"<MetaGeneration>1</MetaGeneration><Size>{size}</Size></Contents>")
        parts.append("</ListBucketResult>")
        self._reply(200, "".join(parts).encode(), head=head)


class GcsServer:
    def __init__(self, root, page_size=1000):
        self.root = os.path.abspath(root)
        self.page_size = page_size
        self.fail_continued = False
        self._httpd = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def requests(self):
        with self._httpd.lock:
            return list(self._httpd.requests)

    def start(self):
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.root = self.root
        self._httpd.page_size = self.page_size
        self._httpd.owner = self
        self._httpd.lock = threading.Lock()
        self._httpd.requests = []
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
